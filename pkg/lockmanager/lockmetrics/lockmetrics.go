package lockmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Observer is a lockmanager.Observer that exports these metrics:
//
//	leasehold_client_operations_total{operation,outcome}
//	leasehold_client_operation_duration_seconds{operation}
//	leasehold_client_sessions_ended_total{reason}
//
// The outcome and reason labels are lockmanager.Outcome's.
type Observer struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sessions *prometheus.CounterVec
}

var _ lockmanager.Observer = (*Observer)(nil)

// NewObserver creates the metrics and registers them with reg.
func NewObserver(reg prometheus.Registerer) (*Observer, error) {
	o := &Observer{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "leasehold", Subsystem: "client", Name: "operations_total",
			Help: "Lock operations by operation and outcome.",
		}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "leasehold", Subsystem: "client", Name: "operation_duration_seconds",
			Help:    "Duration of lock operations, waiting included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12),
		}, []string{"operation"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "leasehold", Subsystem: "client", Name: "sessions_ended_total",
			Help: "Heartbeat sessions ended, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{o.ops, o.duration, o.sessions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ObserveOperation implements lockmanager.Observer.
func (o *Observer) ObserveOperation(op lockmanager.Operation, outcome string, elapsed time.Duration) {
	o.ops.WithLabelValues(string(op), outcome).Inc()
	o.duration.WithLabelValues(string(op)).Observe(elapsed.Seconds())
}

// ObserveSessionEnd implements lockmanager.Observer.
func (o *Observer) ObserveSessionEnd(outcome string) {
	o.sessions.WithLabelValues(outcome).Inc()
}
