package fencekube

import (
	"fmt"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

const (
	// LabelLock opts an object in and names its lock's DistributedLock.
	LabelLock = "fencing.leasehold.dev/lock"
	// AnnotationToken carries the writer's fencing token in decimal.
	AnnotationToken = "fencing.leasehold.dev/token"
	// PolicyName is the ValidatingAdmissionPolicy in config/fencing.
	PolicyName = "leasehold-fencing"
)

// Stamp labels obj as fenced by the lock of key and sets its token
// annotation to token. It changes nothing else.
func Stamp(obj metav1.Object, key string, token uint64) error {
	if err := fencing.CheckLock("key", key); err != nil {
		return err
	}
	if err := fencing.CheckToken("token", token); err != nil {
		return err
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelLock] = kubernetes.ObjectName(key)
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationToken] = strconv.FormatUint(token, 10)
	obj.SetAnnotations(ann)
	return nil
}

// StampSession stamps obj with the key and fencing token of the lock s
// holds.
func StampSession(obj metav1.Object, s *lockmanager.Session) error {
	return Stamp(obj, s.Lock().Key, s.FencingToken())
}

// StampFromEnv stamps obj with the key and token `lockctl run` passed in
// the environment (see fencing.FromEnv).
func StampFromEnv(obj metav1.Object) error {
	key, token, err := fencing.FromEnv()
	if err != nil {
		return err
	}
	return Stamp(obj, key, token)
}

// PerLockBinding returns a binding of the fencing policy to the lock of key
// in namespace alone: guarded writes there are evaluated against that lock
// only, and refused if it does not exist. Use it instead of the
// namespace-wide binding of config/fencing when a namespace holds many
// locks.
func PerLockBinding(namespace, key string) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	name := kubernetes.ObjectName(key)
	deny := admissionregistrationv1.DenyAction
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: bindingName(namespace, name)},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        PolicyName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			ParamRef: &admissionregistrationv1.ParamRef{
				Name:                    name,
				Namespace:               namespace,
				ParameterNotFoundAction: &deny,
			},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
				ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{LabelLock: name}},
			},
		},
	}
}

// bindingName is PolicyName-NAMESPACE-LOCK; both parts are DNS labels, so
// the result is a valid object name (at most 17+1+63+1+63 bytes).
func bindingName(namespace, lock string) string {
	return fmt.Sprintf("%s-%s-%s", PolicyName, namespace, lock)
}
