package lockmanager

import "testing"

func pending(w *waiter) bool {
	select {
	case <-w.wake:
		return true
	default:
		return false
	}
}

// A wake the head cannot use passes to the next waiter; a granted head
// drops it.
func TestUnusedWakePassesToTheNextWaiter(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		signalled, owed, gets bool
		granted               bool
	}{
		{name: "pending wake, gave up", signalled: true, gets: true},
		{name: "taken wake not answered, gave up", owed: true, gets: true},
		{name: "pending wake, granted", signalled: true, granted: true},
		{name: "no wake, gave up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWaiters(nil)
			defer ws.close()
			kw, a, _, _ := ws.join("k")
			_, b, tryNow, _ := ws.join("k")
			if !tryNow {
				t.Fatal("without a live subscription a newcomer must try at once")
			}
			if tc.signalled {
				signal(a.wake)
			}
			ws.leave(kw, a, tc.granted, tc.owed)
			if got := pending(b); got != tc.gets {
				t.Fatalf("next waiter woken = %v, want %v", got, tc.gets)
			}
			ws.leave(kw, b, false, false)
			if len(ws.keys) != 0 {
				t.Fatalf("%d keys kept after every waiter left", len(ws.keys))
			}
		})
	}
}
