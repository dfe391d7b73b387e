package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// liveness bounds every wait for something that must happen; it is
// generous because CI machines are loaded, and never decides a pass.
const liveness = 30 * time.Second

// echoServer echoes every line back on loopback until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func start(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and reads its echo, failing after liveness.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(liveness)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("writing: %v", err)
	}
	got, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the echo of %q: %v", line, err)
	}
	if got != line+"\n" {
		t.Fatalf("echo = %q, want %q", got, line+"\n")
	}
}

func TestForwardsBothWays(t *testing.T) {
	p := start(t, echoServer(t))
	c, r := dial(t, p)
	for _, line := range []string{"one", "two", string(make([]byte, 100<<10))} {
		roundTrip(t, c, r, line)
	}
}

func TestRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{"10.0.0.1:5432", "example.com:80", "0.0.0.0:6379", "[::]:1", "nonsense"} {
		t.Run(target, func(t *testing.T) {
			if p, err := Start(target); err == nil {
				_ = p.Close()
				t.Fatalf("Start(%q) succeeded, want an error", target)
			}
		})
	}
	for _, target := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1"} {
		p, err := Start(target)
		if err != nil {
			t.Fatalf("Start(%q): %v", target, err)
		}
		_ = p.Close()
	}
}

// Latency delays each direction by at least what was asked: a round trip
// with latency d each way takes at least 2d. (A lower bound cannot fail
// on a slow machine.)
func TestLatencyDelaysEachDirection(t *testing.T) {
	p := start(t, echoServer(t))
	c, r := dial(t, p)
	roundTrip(t, c, r, "warm")
	const d = 50 * time.Millisecond
	p.SetLatency(Upstream, d)
	p.SetLatency(Downstream, d)
	begin := time.Now()
	roundTrip(t, c, r, "slow")
	if took := time.Since(begin); took < 2*d {
		t.Fatalf("round trip with %s each way took %s, want at least %s", d, took, 2*d)
	}
	p.Heal()
	roundTrip(t, c, r, "healed")
}

// A blackhole holds bytes without closing the connection; Heal delivers
// them in order.
func TestBlackholeHoldsUntilHeal(t *testing.T) {
	for _, dir := range []Direction{Upstream, Downstream, Both} {
		t.Run(map[Direction]string{Upstream: "upstream", Downstream: "downstream", Both: "both"}[dir], func(t *testing.T) {
			p := start(t, echoServer(t))
			c, r := dial(t, p)
			roundTrip(t, c, r, "before")
			p.Blackhole(dir)
			if _, err := io.WriteString(c, "held-1\nheld-2\n"); err != nil {
				t.Fatal(err)
			}
			// Nothing may come back while the blackhole is in place: the
			// deadline ends the read, not a reset or EOF.
			if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if got, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read during blackhole = %q, %v; want a deadline error", got, err)
			}
			p.Heal()
			if err := c.SetReadDeadline(time.Now().Add(liveness)); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"held-1\n", "held-2\n"} {
				got, err := r.ReadString('\n')
				if err != nil || got != want {
					t.Fatalf("after heal read %q, %v; want %q", got, err, want)
				}
			}
			roundTrip(t, c, r, "after")
		})
	}
}

// A new connection made during a blackhole is accepted and held too.
func TestBlackholeAppliesToNewConnections(t *testing.T) {
	p := start(t, echoServer(t))
	p.Blackhole(Both)
	c, r := dial(t, p)
	if _, err := io.WriteString(c, "x\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during blackhole: %v; want a deadline error", err)
	}
	p.Heal()
	if err := c.SetReadDeadline(time.Now().Add(liveness)); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); err != nil || got != "x\n" {
		t.Fatalf("after heal read %q, %v", got, err)
	}
}

// ResetAll breaks open connections (the client sees an error, not data)
// and the proxy keeps accepting new ones.
func TestResetAll(t *testing.T) {
	p := start(t, echoServer(t))
	c, r := dial(t, p)
	roundTrip(t, c, r, "before")
	p.ResetAll()
	if err := c.SetDeadline(time.Now().Add(liveness)); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "lost\n")
	if got, err := r.ReadString('\n'); err == nil {
		t.Fatalf("read after reset returned %q, want an error", got)
	}
	c2, r2 := dial(t, p)
	roundTrip(t, c2, r2, "new connection")
}

// A target that is down resets the client's connection instead of hanging.
func TestTargetDownResetsClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p := start(t, addr)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return // reset while connecting: what the test asks for
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := c.SetDeadline(time.Now().Add(liveness)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("read through a proxy to a closed port succeeded")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("read through a proxy to a closed port hung until the deadline")
	}
}

// Close ends held connections too (goleak in TestMain checks that every
// goroutine is gone).
func TestCloseEndsHeldConnections(t *testing.T) {
	p := start(t, echoServer(t))
	c, _ := dial(t, p)
	p.Blackhole(Both)
	_, _ = io.WriteString(c, "held\n")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
