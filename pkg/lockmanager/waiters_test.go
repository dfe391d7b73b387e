package lockmanager

import (
	"fmt"
	"testing"
	"time"
)

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

// The window a woken waiter spreads its try over stays wakeSpread unless
// the backend refuses watched tries and other processes take the key; it
// then grows with the number of other holders, up to maxWakeWindow.
func TestWakeWindow(t *testing.T) {
	kw := &keyWaiters{key: "k"}
	ws := newWaiters(nil)
	defer ws.close()
	ws.answered(4 * time.Millisecond)
	for i := range 7 {
		ws.granted(kw, fmt.Sprintf("other-%d", i), false)
	}
	if got := ws.wakeWindow(kw); got != wakeSpread {
		t.Errorf("backend that does not refuse from its watch: window %v, want %v", got, wakeSpread)
	}
	ws.refuses = true
	if got, want := ws.wakeWindow(kw), wakeTries*8*4*time.Millisecond; got != want {
		t.Errorf("7 other holders, round trip 4ms: window %v, want %v", got, want)
	}
	// A holder this Manager granted is not another process, even when a
	// refusal names it too (another waiter of this Manager held it).
	ws.granted(kw, "other-0", true)
	ws.granted(kw, "me", true)
	if got, want := ws.wakeWindow(kw), wakeTries*7*4*time.Millisecond; got != want {
		t.Errorf("6 other holders: window %v, want %v", got, want)
	}
	own := &keyWaiters{key: "own"}
	ws.granted(own, "me", true)
	ws.granted(own, "me-too", true)
	if got := ws.wakeWindow(own); got != wakeSpread {
		t.Errorf("a key only this Manager takes: window %v, want %v", got, wakeSpread)
	}
	many := &keyWaiters{key: "many"}
	for i := range 100 {
		ws.granted(many, fmt.Sprintf("h-%d", i), false)
	}
	if len(many.holders) != recentHolders {
		t.Errorf("%d grants remembered, want the last %d", len(many.holders), recentHolders)
	}
	if got := ws.wakeWindow(many); got != maxWakeWindow {
		t.Errorf("100 other holders: window %v, want the bound %v", got, maxWakeWindow)
	}
}
