// Package lockmetrics exports a lockmanager.Manager's operations as
// Prometheus metrics. It lives apart from package lockmanager so that
// programs which do not use Prometheus do not link its client.
//
// Pass an Observer to lockmanager.WithObserver:
//
//	obs, err := lockmetrics.NewObserver(prometheus.DefaultRegisterer)
//	...
//	m := lockmanager.New(backend, lockmanager.WithObserver(obs))
package lockmetrics
