package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
)

// The schema markers repeat the contract's bounds as literal numbers
// (markers cannot name a constant). The generated CRD must state exactly
// the bounds the Go constants do, so that the API server and the clients
// refuse the same objects.
func TestCRDSchemaStatesTheContractBounds(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "locks.leasehold.dev_distributedlocks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]map[string]any
						}
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var spec map[string]map[string]any
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" {
			spec = v.Schema.OpenAPIV3Schema.Properties["spec"].Properties
		}
	}
	if spec == nil {
		t.Fatal("no v1alpha1 spec schema in the CRD")
	}
	// number reads an integer keyword of a field's schema (JSON numbers
	// arrive as float64).
	number := func(field, keyword string) int64 {
		v, ok := spec[field][keyword].(float64)
		if !ok {
			t.Errorf("spec.%s has no %s", field, keyword)
		}
		return int64(v)
	}
	// rule reports whether one of a field's CEL rules contains want.
	rule := func(field, want string) {
		rules, _ := spec[field]["x-kubernetes-validations"].([]any)
		for _, r := range rules {
			if m, ok := r.(map[string]any); ok && strings.Contains(fmt.Sprint(m["rule"]), want) {
				return
			}
		}
		t.Errorf("spec.%s has no rule containing %q", field, want)
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"spec.key maxLength", number("key", "maxLength"), locksv1alpha1.MaxKeyBytes},
		{"spec.holderIdentity maxLength", number("holderIdentity", "maxLength"), locksv1alpha1.MaxHolderIdentityBytes},
		{"spec.leaseDurationSeconds minimum", number("leaseDurationSeconds", "minimum"), int64(locksv1alpha1.MinLeaseDurationSeconds)},
		{"spec.leaseDurationSeconds maximum", number("leaseDurationSeconds", "maximum"), int64(locksv1alpha1.MaxLeaseDurationSeconds)},
		{"spec.metadata maxProperties", number("metadata", "maxProperties"), locksv1alpha1.MaxMetadataEntries},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	podUID, _ := spec["holderPod"]["properties"].(map[string]any)["uid"].(map[string]any)["maxLength"].(float64)
	if int64(podUID) != backends.MaxPodUIDBytes {
		t.Errorf("spec.holderPod.uid maxLength = %v, want %d", podUID, backends.MaxPodUIDBytes)
	}
	rule("key", fmt.Sprintf("size(bytes(self)) <= %d", locksv1alpha1.MaxKeyBytes))
	rule("holderIdentity", fmt.Sprintf("size(bytes(self)) <= %d", locksv1alpha1.MaxHolderIdentityBytes))
	rule("metadata", fmt.Sprintf(".sum() <= %d", locksv1alpha1.MaxMetadataBytes))
}
