package fencekube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/fencing/fencekube"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// manager returns a lock Manager over its own client of the test API
// server, as a separate process would have.
func manager(t *testing.T, ns string) *lockmanager.Manager {
	t.Helper()
	b, err := kubernetes.NewForConfig(context.Background(), cfg, kubernetes.WithNamespace(ns), kubernetes.WithSkewAllowance(0))
	if err != nil {
		t.Fatal(err)
	}
	m := lockmanager.New(b)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// refusal returns the message of an admission refusal, failing t for any
// other outcome.
func refusal(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("the write was accepted, want it refused")
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		t.Fatalf("the write failed with %v, want an admission refusal", err)
	}
	return err.Error()
}

// writeReport updates the report's data as writer, stamped with key and
// token, reading it first as a writer would.
func writeReport(ctx context.Context, ns string, stamp func(*corev1.ConfigMap) error, data string) error {
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "report"}, &cm); err != nil {
		return err
	}
	cm.Data = map[string]string{"body": data}
	if err := stamp(&cm); err != nil {
		return err
	}
	return k8s.Update(ctx, &cm)
}

func reportBody(t *testing.T, ns string) string {
	t.Helper()
	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "report"}, &cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data["body"]
}

func TestAdmissionPolicyRefusesALateWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := freshNamespace(t)
	const key = "report-writer"
	a, b := manager(t, ns), manager(t, ns)

	// A holds the lock for a short lease, which it will not renew.
	lockA, err := a.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: "A", LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stampA := func(cm *corev1.ConfigMap) error { return fencekube.Stamp(cm, key, lockA.FencingToken) }
	report := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "report"}, Data: map[string]string{"body": "from A"}}
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}}
	for _, cm := range []*corev1.ConfigMap{report, probe} {
		if err := stampA(cm); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Create(ctx, cm); err != nil {
			t.Fatalf("A's create of %s with its token %d: %v", cm.Name, lockA.FencingToken, err)
		}
	}
	if err := writeReport(ctx, ns, stampA, "again from A"); err != nil {
		t.Fatalf("A's update with its token: %v", err)
	}

	// B takes the lock over once A's lease expired, and holds it.
	sessB, err := lockmanager.Hold(ctx, b, lockmanager.AcquireOptions{Key: key, Holder: "B", LeaseDuration: 10 * time.Second, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sessB.Release(context.Background()) }()
	tokenB := sessB.FencingToken()
	if tokenB <= lockA.FencingToken {
		t.Fatalf("B's token %d is not above A's %d", tokenB, lockA.FencingToken)
	}

	// The API server judges by its watch cache of the lock: wait until it
	// has B's grant, on the probe, so that A's write below is judged once.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, enforceTimeout, true, func(ctx context.Context) (bool, error) {
		var cm corev1.ConfigMap
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(probe), &cm); err != nil {
			return false, err
		}
		cm.Data = map[string]string{"n": time.Now().String()}
		err := k8s.Update(ctx, &cm)
		return apierrors.IsForbidden(err), nil
	})
	if err != nil {
		t.Fatalf("the API server did not come to refuse A's token after B's grant: %v", err)
	}

	// A's late write is refused, naming the lock and both tokens.
	msg := refusal(t, writeReport(ctx, ns, stampA, "late from A"))
	want := fmt.Sprintf(`stale fencing token for lock %s (key "%s"): the write carries token %d, lower than the lock's current token %d`,
		key, key, lockA.FencingToken, tokenB)
	if !strings.Contains(msg, want) {
		t.Errorf("refusal:\n  %s\nwant it to contain:\n  %s", msg, want)
	}
	if got := reportBody(t, ns); got != "again from A" {
		t.Errorf("after A's refused write the body is %q, want %q", got, "again from A")
	}

	// B's write, stamped from its session, is accepted.
	stampB := func(cm *corev1.ConfigMap) error { return fencekube.StampSession(cm, sessB) }
	if err := writeReport(ctx, ns, stampB, "from B"); err != nil {
		t.Fatalf("B's write with its token %d: %v", tokenB, err)
	}
	if got := reportBody(t, ns); got != "from B" {
		t.Errorf("body = %q, want %q", got, "from B")
	}

	// A writer that drops the label to escape the check is still checked
	// against the lock the old object named.
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "report"}, &cm); err != nil {
		t.Fatal(err)
	}
	delete(cm.Labels, fencekube.LabelLock)
	cm.Annotations[fencekube.AnnotationToken] = fmt.Sprint(lockA.FencingToken)
	refusal(t, k8s.Update(ctx, &cm))

	// A guarded write without a token, or with a malformed one, is refused.
	for _, tok := range []string{"", "0", "12x", "9223372036854775808"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "no-token-",
			Labels: map[string]string{fencekube.LabelLock: key}}}
		if tok != "" {
			cm.Annotations = map[string]string{fencekube.AnnotationToken: tok}
		}
		msg := refusal(t, k8s.Create(ctx, cm))
		want := fmt.Sprintf(`lock %s (key "%s") fences this object: the annotation fencing.leasehold.dev/token must hold the writer's fencing token, a decimal number from 1 to 9223372036854775807, got "%s"`, key, key, tok)
		if !strings.Contains(msg, want) {
			t.Errorf("token %q: refusal:\n  %s\nwant it to contain:\n  %s", tok, msg, want)
		}
	}
}

// Objects without the label are not evaluated, whatever they carry.
func TestObjectsNotOptedInAreUntouched(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	createLock(t, ns, "guarded", 100)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain",
		Annotations: map[string]string{fencekube.AnnotationToken: "1"}}}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatalf("creating an object without the label: %v", err)
	}
	cm.Data = map[string]string{"k": "v"}
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatalf("updating an object without the label: %v", err)
	}
	// The same write with the label is refused, so the lock is in force.
	guarded := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"}}
	if err := fencekube.Stamp(guarded, "guarded", 1); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, enforceTimeout, true, func(ctx context.Context) (bool, error) {
		err := k8s.Create(ctx, guarded)
		if err == nil {
			return false, errors.New("a guarded write with token 1, below the lock's 100, was accepted")
		}
		// Until the API server's cache has the namespace's lock, the
		// write is refused for want of any lock; then for its token.
		return strings.Contains(err.Error(), `stale fencing token for lock guarded (key "guarded"): the write carries token 1, lower than the lock's current token 100`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A per-lock binding refuses writes naming a lock that does not exist,
// which the namespace-wide binding lets through once the namespace has
// other locks, and checks the lock it names once it exists.
func TestPerLockBinding(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	createLock(t, ns, "other", 1)
	binding := fencekube.PerLockBinding(ns, "late-lock")
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), binding) })

	guarded := func(token uint64) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "w-"}}
		if err := fencekube.Stamp(cm, "late-lock", token); err != nil {
			t.Fatal(err)
		}
		return k8s.Create(ctx, cm)
	}
	// Written before the binding is enforced, such a write is accepted
	// (the namespace-wide binding has only "other" to judge by).
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, enforceTimeout, true, func(ctx context.Context) (bool, error) {
		err := guarded(2)
		// The API server words it "failed to configure binding: no params
		// found", with reason Invalid.
		return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "no params found"), nil
	})
	if err != nil {
		t.Fatalf("a write naming a missing lock was not refused under a per-lock binding: %v", err)
	}

	createLock(t, ns, "late-lock", 3)
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, enforceTimeout, true, func(ctx context.Context) (bool, error) {
		err := guarded(2)
		return err != nil && strings.Contains(err.Error(), "the write carries token 2, lower than the lock's current token 3"), nil
	})
	if err != nil {
		t.Fatalf("the per-lock binding did not come to judge by the lock: %v", err)
	}
	if err := guarded(3); err != nil {
		t.Fatalf("a write with the lock's token: %v", err)
	}
}

// createLock creates a free DistributedLock whose last token is token.
func createLock(t testing.TB, ns, key string, token int64) {
	t.Helper()
	lock := &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubernetes.ObjectName(key)},
		Spec:       locksv1alpha1.DistributedLockSpec{Key: key, FencingToken: token},
	}
	if err := k8s.Create(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
}

func TestStampValidates(t *testing.T) {
	cm := &corev1.ConfigMap{}
	if err := fencekube.Stamp(cm, "k", 0); err == nil || err.Error() != "invalid argument: token: must be at least 1 (0 is never granted), got 0" {
		t.Errorf("Stamp with token 0 = %v", err)
	}
	if err := fencekube.Stamp(cm, "jobs/nightly backup", 4); err != nil {
		t.Fatal(err)
	}
	if got, want := cm.Labels[fencekube.LabelLock], kubernetes.ObjectName("jobs/nightly backup"); got != want {
		t.Errorf("label = %q, want the lock's object name %q", got, want)
	}
	if got := cm.Annotations[fencekube.AnnotationToken]; got != "4" {
		t.Errorf("annotation = %q, want 4", got)
	}
	t.Setenv("LEASEHOLD_KEY", "deploy")
	t.Setenv("LEASEHOLD_FENCING_TOKEN", "12")
	if err := fencekube.StampFromEnv(cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels[fencekube.LabelLock] != "deploy" || cm.Annotations[fencekube.AnnotationToken] != "12" {
		t.Errorf("after StampFromEnv: labels %v, annotations %v", cm.Labels, cm.Annotations)
	}
}
