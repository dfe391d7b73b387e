package lockmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Observer is a lockmanager.LeaseObserver that exports these metrics:
//
//	leasehold_client_operations_total{operation,outcome}
//	leasehold_client_operation_duration_seconds{operation}
//	leasehold_client_sessions_ended_total{reason}
//	leasehold_client_wait_duration_seconds{backend,namespace,outcome}
//	leasehold_client_waiters{backend,namespace}
//	leasehold_client_renewal_margin_seconds{backend,namespace}
//	leasehold_client_sessions_lost_total{backend,namespace,cause}
//
// The outcome and reason labels are lockmanager.Outcome's, cause is
// lockmanager.LossCause's; backend and namespace describe the Manager's
// store (lockmanager.Description): the backend's URL scheme and the
// namespace it is scoped to. No metric has a lock key as a label.
type Observer struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sessions *prometheus.CounterVec

	wait    *prometheus.HistogramVec
	waiters *prometheus.GaugeVec
	margin  *prometheus.HistogramVec
	lost    *prometheus.CounterVec
}

var _ lockmanager.LeaseObserver = (*Observer)(nil)

// Every metric is named leasehold_client_*.
const (
	metricNamespace = "leasehold"
	metricSubsystem = "client"
)

// NewObserver creates the metrics and registers them with reg.
func NewObserver(reg prometheus.Registerer) (*Observer, error) {
	store := []string{"backend", "namespace"}
	o := &Observer{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "operations_total",
			Help: "Lock operations by operation and outcome.",
		}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "operation_duration_seconds",
			Help:    "Duration of lock operations, waiting included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12),
		}, []string{"operation"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "sessions_ended_total",
			Help: "Heartbeat sessions ended, by reason.",
		}, []string{"reason"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "wait_duration_seconds",
			Help: "Time an Acquire or Hold spent waiting for a held lock, by how the wait ended " +
				"(outcome ok: granted). A grant on the first try is not a wait and is not observed.",
			// 1 ms to about 70 minutes.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, append(store, "outcome")),
		waiters: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "waiters",
			Help: "Acquire and Hold calls waiting for a held lock now.",
		}, store),
		margin: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "renewal_margin_seconds",
			Help: "Time left on a session's lease, as the holder counts it, when a renewal's reply arrived. " +
				"Small values: the store is slow next to the lease; a reply after the lease ended counts in the lowest bucket.",
			// 10 ms to about 11 minutes.
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 17),
		}, store),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "sessions_lost_total",
			Help: "Heartbeat sessions that lost their lease, by cause (not_renewed, expired, taken_over, deleted).",
		}, append(store, "cause")),
	}
	for _, c := range []prometheus.Collector{o.ops, o.duration, o.sessions, o.wait, o.waiters, o.margin, o.lost} {
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

// ObserveWaitStart implements lockmanager.LeaseObserver.
func (o *Observer) ObserveWaitStart(s lockmanager.Description) {
	o.waiters.WithLabelValues(s.Backend, s.Namespace).Inc()
}

// ObserveWaitEnd implements lockmanager.LeaseObserver.
func (o *Observer) ObserveWaitEnd(s lockmanager.Description, outcome string, waited time.Duration) {
	o.waiters.WithLabelValues(s.Backend, s.Namespace).Dec()
	o.wait.WithLabelValues(s.Backend, s.Namespace, outcome).Observe(waited.Seconds())
}

// ObserveRenewal implements lockmanager.LeaseObserver.
func (o *Observer) ObserveRenewal(s lockmanager.Description, remaining time.Duration) {
	o.margin.WithLabelValues(s.Backend, s.Namespace).Observe(remaining.Seconds())
}

// ObserveSessionLost implements lockmanager.LeaseObserver.
func (o *Observer) ObserveSessionLost(s lockmanager.Description, cause string) {
	o.lost.WithLabelValues(s.Backend, s.Namespace, cause).Inc()
}
