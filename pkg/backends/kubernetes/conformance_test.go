package kubernetes_test

import (
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

func TestConformance(t *testing.T) {
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			ensureNamespace(t, k8s, namespace)
			b, err := kubernetes.New(k8s, kubernetes.WithNamespace(namespace))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		// renewTime is a MicroTime: microseconds survive the round trip.
		TimeTolerance: time.Millisecond,
	})
}
