package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Direction selects which way a fault applies.
type Direction int

const (
	// Upstream is client to server.
	Upstream Direction = 1 << iota
	// Downstream is server to client.
	Downstream
	// Both is both directions.
	Both = Upstream | Downstream
)

// chunkSize bounds one read; queueDepth bounds the chunks buffered per
// direction before the reader stops reading (back-pressure).
const (
	chunkSize  = 32 << 10
	queueDepth = 64
)

// Proxy forwards TCP connections from its listener to one target.
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	latency   [2]time.Duration // by dirIndex
	blackhole [2]bool
	changed   chan struct{} // closed and replaced on every control change
	links     map[*link]struct{}
	closed    bool

	wg sync.WaitGroup
}

// Start listens on 127.0.0.1 on a free port and forwards every accepted
// connection to target, which must be a loopback host:port.
func Start(target string) (*Proxy, error) {
	if err := checkLoopback(target); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listening: %w", err)
	}
	p := &Proxy{ln: ln, target: target, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// checkLoopback refuses targets that are not literal loopback addresses or
// "localhost": the proxy is a test tool and must never relay to a network.
func checkLoopback(target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("faultproxy: target %q is not host:port: %w", target, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("faultproxy: target %q is not a loopback address", target)
	}
	return nil
}

// Addr returns the proxy's address, 127.0.0.1:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetLatency delays every chunk sent in dir by d from now on (0 removes the
// delay).
func (p *Proxy) SetLatency(dir Direction, d time.Duration) {
	p.update(func() {
		for _, i := range dirIndexes(dir) {
			p.latency[i] = d
		}
	})
}

// Blackhole holds every byte sent in dir until Heal, without closing or
// resetting any connection.
func (p *Proxy) Blackhole(dir Direction) {
	p.update(func() {
		for _, i := range dirIndexes(dir) {
			p.blackhole[i] = true
		}
	})
}

// Heal removes latency and blackholes; held bytes are then delivered.
func (p *Proxy) Heal() {
	p.update(func() {
		p.latency = [2]time.Duration{}
		p.blackhole = [2]bool{}
	})
}

// ResetAll resets every open connection (RST to both ends, held bytes
// lost). New connections are accepted as before.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
}

// Close stops accepting, resets every connection and waits for all the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return nil
	}
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

func dirIndexes(dir Direction) []int {
	var out []int
	if dir&Upstream != 0 {
		out = append(out, 0)
	}
	if dir&Downstream != 0 {
		out = append(out, 1)
	}
	return out
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve dials the target for one client connection and pumps both ways.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		// The server is down (a restart): the client sees its connection
		// reset, as it would if it had dialled the server directly.
		resetConn(client)
		return
	}
	l := &link{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.reset()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); p.pump(l, client, server, 0) }()
	go func() { defer pumps.Done(); p.pump(l, server, client, 1) }()
	pumps.Wait()
	l.reset()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is bytes read at one moment, due for delivery at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst in direction dir through a queue, so that reading
// goes on (up to queueDepth chunks) while delivery waits for latency or a
// blackhole.
func (p *Proxy) pump(l *link, src, dst net.Conn, dir int) {
	queue := make(chan chunk, queueDepth)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer close(queue)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				due := time.Now().Add(p.latency[dir])
				p.mu.Unlock()
				select {
				case queue <- chunk{data: buf[:n], due: due}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer reader.Wait()
	for c := range queue {
		if !p.hold(l, dir, c.due) {
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			l.reset()
			return
		}
	}
	// src reached EOF: pass the half-close on, so that a server's orderly
	// close reaches the client (and vice versa).
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// hold waits until due has passed and direction dir is not blackholed. It
// returns false if the link was reset meanwhile.
func (p *Proxy) hold(l *link, dir int, due time.Time) bool {
	for {
		p.mu.Lock()
		blocked, changed := p.blackhole[dir], p.changed
		p.mu.Unlock()
		if blocked {
			select {
			case <-changed:
				continue
			case <-l.done:
				return false
			}
		}
		wait := time.Until(due)
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed: // re-check the blackhole
		case <-l.done:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

// reset closes both ends with an RST (linger 0), so both peers see a
// connection reset rather than an orderly close.
func (l *link) reset() {
	l.once.Do(func() {
		close(l.done)
		resetConn(l.client)
		resetConn(l.server)
	})
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close() // the connection is gone either way
}
