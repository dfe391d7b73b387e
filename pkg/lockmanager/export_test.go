package lockmanager

import "time"

// Queued returns how many of m's waiters queue for key and whether its
// subscription is live.
func Queued(m *Manager, key string) (n int, live bool) {
	ws := m.waiters
	ws.mu.Lock()
	defer ws.mu.Unlock()
	kw := ws.keys[key]
	if kw == nil {
		return 0, false
	}
	return len(kw.queue), kw.sub == subLive
}

// Keys returns how many keys m keeps waiter state for.
func Keys(m *Manager) int {
	m.waiters.mu.Lock()
	defer m.waiters.mu.Unlock()
	return len(m.waiters.keys)
}

// SetLinger sets how long m's idle subscriptions linger.
func SetLinger(m *Manager, d time.Duration) { m.waiters.linger = d }
