package workload

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/leasehold/leasehold/test/support/history"
)

// The process scenarios: a holder that is a process of its own, killed
// with SIGKILL or frozen with SIGSTOP in the middle of its work, while the
// cluster's clients contend for the same key. A process scenario's
// clients write at once on acquiring, so that a late write from the
// process meets a higher token already written.
const (
	processKey    = "chaos:process"
	processHolder = "holder-process"
	// processWork is how long the holder process works before it writes:
	// it is stopped or killed 100 ms into it.
	processWork = time.Second
)

// holderEnv carries the holder process's settings (holderSettings as
// JSON) from the scenario to the process.
const holderEnv = "LEASEHOLD_CHAOS_HOLDER"

type holderSettings struct {
	Key, Holder                         string
	Work, Lease, SafetyMargin, HoldWait time.Duration
	AcquireTimeout, Liveness            time.Duration
	Clients                             int
	// LateWriter: the holder checks its lease when its work begins and
	// writes when the work ends, whatever became of the lease meanwhile
	// (the pattern fencing exists for), to the scenario's real resource
	// itself, when the parent says "go" on its stdin (so that the parent
	// records the writes to one resource in the order they happen).
	LateWriter bool
}

// HolderProcess reports whether this process was started by a process
// scenario to be its holder: its main must then call RunHolderProcess.
func HolderProcess() bool { return os.Getenv(holderEnv) != "" }

// HolderConfig returns the Config of the scenario that started this
// holder process, for the Locker that open in RunHolderProcess builds.
func HolderConfig() (Config, error) {
	s, err := holderSettingsFromEnv()
	if err != nil {
		return Config{}, err
	}
	return Config{
		Clients: s.Clients, Keys: []string{s.Key}, Lease: s.Lease, SafetyMargin: s.SafetyMargin,
		HoldWait: s.HoldWait, AcquireTimeout: s.AcquireTimeout, Liveness: s.Liveness,
	}, nil
}

func holderSettingsFromEnv() (holderSettings, error) {
	var s holderSettings
	if err := json.Unmarshal([]byte(os.Getenv(holderEnv)), &s); err != nil {
		return s, fmt.Errorf("%s: %w", holderEnv, err)
	}
	return s, nil
}

// RunHolderProcess is the holder process's main: it loops Hold, work,
// write, release on the scenario's key through the Locker open returns,
// and tells the parent on stdout what it believes and does ("acquired N
// TOKEN FENCED", "write N", "end N" for its N-th grant), until its stdin
// closes. N ties a late "end" from a context.AfterFunc to its own grant
// rather than to the next one. A late writer (holderSettings.LateWriter)
// writes to the Resource that resource opens (nil for a scenario without
// one) once the parent answers its "write N" with a line on stdin, and
// reports "wrote N true|false" (accepted or refused) or "wrote N error
// MESSAGE". It returns the process's exit code.
func RunHolderProcess(open func(ctx context.Context) (Locker, error), resource func(ctx context.Context) (Resource, error)) int {
	s, err := holderSettingsFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proceed := make(chan struct{}, 1) // the parent's go-ahead for a write
	go func() {
		defer cancel()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			select {
			case proceed <- struct{}{}:
			default:
			}
		}
	}()
	l, err := open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder process: opening the locker:", err)
		return 1
	}
	defer l.Close()
	var res Resource
	if s.LateWriter {
		if resource == nil {
			fmt.Fprintln(os.Stderr, "holder process: a late writer needs a resource")
			return 2
		}
		if res, err = resource(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "holder process: opening the resource:", err)
			return 1
		}
		defer res.Close()
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	for n := 0; ctx.Err() == nil; {
		hctx, hcancel := context.WithTimeout(ctx, s.AcquireTimeout)
		lease, err := l.Hold(hctx, s.Key, s.Holder)
		hcancel()
		if err != nil {
			pause(ctx, 20*time.Millisecond)
			continue
		}
		n++
		token, fenced := lease.Token()
		say("acquired %d %d %t", n, token, fenced)
		stop := context.AfterFunc(lease.Context(), func() { say("end %d", n) })
		t := time.NewTimer(s.Work)
		if s.LateWriter {
			// The lease was checked as the work began (it was just
			// granted); the write follows the work without a second look.
			select {
			case <-ctx.Done():
			case <-t.C:
				say("write %d", n)
				lateWrite(ctx, res, proceed, s, n, token, say)
			}
		} else {
			select {
			case <-lease.Context().Done():
			case <-ctx.Done():
			case <-t.C:
				if lease.Context().Err() == nil {
					say("write %d", n)
				}
			}
		}
		t.Stop()
		say("end %d", n)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), s.Liveness)
		_ = lease.Release(rctx)
		rcancel()
		stop()
	}
	return 0
}

// lateWrite waits for the parent's go-ahead, writes to res with token and
// reports the outcome.
func lateWrite(ctx context.Context, res Resource, proceed <-chan struct{}, s holderSettings, n int, token uint64,
	say func(string, ...any)) {
	select {
	case <-proceed:
	case <-ctx.Done():
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.Liveness)
	defer cancel()
	accepted, err := res.Write(wctx, s.Key, fmt.Sprintf("%s with token %d", s.Holder, token), token)
	if err != nil {
		say("wrote %d error %s", n, strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	say("wrote %d %t", n, accepted)
}

// holderProcess is the parent's view of a holder process: it records the
// process's beliefs and writes into the workload's history as they arrive
// (on the parent's clock, so later than the process's own: a believed
// interval is recorded as ending no earlier than it did).
type holderProcess struct {
	w        *Workload
	name     string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	acquired chan struct{} // one value per "acquired" line
	lateDone chan struct{} // one value per outcome of a paused grant's write
	done     chan struct{} // the output reader has finished

	mu    sync.Mutex
	holds map[string]grant // by N
	last  string           // N of the latest grant
	dead  bool
	// writing: the process is writing to the workload's resource, and
	// the parent holds w.resMu until it reports the outcome.
	writing bool
}

type grant struct {
	h      *history.Hold
	token  uint64
	fenced bool
	paused bool // the process was stopped during this grant's work
}

// processes numbers the holder processes, so that each has a holder ID of
// its own: a process started with the ID of one that was killed would take
// over its lease at once (same holder: the grant is extended), which is
// how a restarted process reclaims its lease, not a failover.
var processes atomic.Int64

func startHolderProcess(c *Cluster, w *Workload) (*holderProcess, error) {
	name := fmt.Sprintf("%s-%d", processHolder, processes.Add(1))
	settings, err := json.Marshal(holderSettings{
		Key: w.keys[0], Holder: name, Work: processWork,
		Lease: w.cfg.Lease, SafetyMargin: w.cfg.SafetyMargin, HoldWait: w.cfg.HoldWait,
		AcquireTimeout: w.cfg.AcquireTimeout, Liveness: w.cfg.Liveness, Clients: w.cfg.Clients,
		LateWriter: w.res != nil,
	})
	if err != nil {
		return nil, err
	}
	cmd := c.Spawn()
	cmd.Env = append(cmd.Environ(), holderEnv+"="+string(settings))
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the holder process: %w", err)
	}
	p := &holderProcess{w: w, name: name, cmd: cmd, stdin: stdin,
		acquired: make(chan struct{}, 100), lateDone: make(chan struct{}, 100), done: make(chan struct{}), holds: map[string]grant{}}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.line(strings.Fields(sc.Text()))
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.writing {
			// It exited or was killed in the middle of its write.
			p.writing = false
			w.resMu.Unlock()
		}
	}()
	return p, nil
}

func (p *holderProcess) line(f []string) {
	if len(f) < 2 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	verb, n := f[0], f[1]
	switch verb {
	case "acquired":
		if p.dead || len(f) < 4 {
			// Sent just before the kill, read after it: the process
			// believed for a moment that has already been cut short.
			return
		}
		token, _ := strconv.ParseUint(f[2], 10, 64)
		fenced := f[3] == "true"
		h, token, fenced := p.w.beginToken(0, p.name, token, fenced)
		p.holds[n] = grant{h: h, token: token, fenced: fenced}
		p.last = n
		select {
		case p.acquired <- struct{}{}:
		default:
		}
	case "write":
		if p.w.res != nil {
			// The process writes to the resource itself: one writer at a
			// time, so that the history records the resource's order.
			p.w.resMu.Lock()
			p.writing = true
			if _, err := fmt.Fprintln(p.stdin, "go"); err != nil {
				p.writing = false
				p.w.resMu.Unlock()
			}
			return
		}
		if g, ok := p.holds[n]; ok {
			p.w.write(context.Background(), p.w.keys[0], p.name, g.token, g.fenced)
		}
	case "wrote":
		if !p.writing {
			return
		}
		p.writing = false
		defer p.w.resMu.Unlock()
		g, ok := p.holds[n]
		switch {
		case len(f) < 3:
			p.w.fail(fmt.Errorf("%s: unexpected line %q", p.name, strings.Join(f, " ")))
		case f[2] == "error":
			p.w.fail(fmt.Errorf("%s: write to %s with token %d: %s", p.name, p.w.res.Name(), g.token, strings.Join(f[3:], " ")))
		case ok:
			accepted := f[2] == "true"
			p.w.observe(p.w.keys[0], p.name, g.token, accepted)
			if accepted {
				raise(&p.w.highest[0], g.token)
			}
			if g.paused {
				p.w.lateWrites.Add(1)
				if !accepted {
					p.w.lateRefused.Add(1)
				}
				p.lateDone <- struct{}{}
			}
		}
	case "end":
		if g, ok := p.holds[n]; ok {
			g.h.End()
		}
	}
}

// kill kills the process with SIGKILL: from now on it believes nothing.
func (p *holderProcess) kill() error {
	p.mu.Lock()
	p.dead = true
	err := p.cmd.Process.Signal(syscall.SIGKILL)
	for _, g := range p.holds {
		g.h.End()
	}
	p.mu.Unlock()
	<-p.done
	_ = p.cmd.Wait() // killed: the error only says so
	return err
}

// stop asks the process to release and exit (closing its stdin), resuming
// it first in case it is stopped, and kills it if it does not exit in
// time.
func (p *holderProcess) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.stdin.Close()
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("holder process: %w", err)
		}
		return nil
	case <-time.After(p.w.cfg.Liveness):
		_ = p.kill()
		<-exited //nolint:errcheck // killed: the error only says so
		return fmt.Errorf("holder process did not exit within %s", p.w.cfg.Liveness)
	}
}

// awaitGrant waits for the process's next grant.
func (p *holderProcess) awaitGrant(ctx context.Context) error {
	select {
	case <-p.acquired:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return errors.New("the holder process exited")
	case <-time.After(p.w.cfg.Liveness):
		return fmt.Errorf("the holder process did not acquire %q within %s", p.w.keys[0], p.w.cfg.Liveness)
	}
}

// killHolders: a holder process is killed with SIGKILL in the middle of
// its work, and a new one started, until the deadline. A dead process
// believes nothing, so no overlap is allowed: the others wait until its
// lease expires.
func killHolders(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
	faults := 0
	for faults == 0 || time.Now().Before(until) {
		p, err := startHolderProcess(c, w)
		if err != nil {
			return faults, err
		}
		if err := p.awaitGrant(ctx); err != nil {
			return faults, errors.Join(err, p.stop())
		}
		pause(ctx, 100*time.Millisecond)
		if err := p.kill(); err != nil {
			return faults, err
		}
		faults++
	}
	return faults, nil
}

// pauseHolders: a holder process is stopped (SIGSTOP) in the middle of
// its work for longer than the lease, while the cluster's clients contend
// for the same key, then resumed (SIGCONT). A stopped process cannot
// notice that its lease ended: when it resumes, it still believes it holds
// the lock until its expiry timer runs, so its believed interval overlaps
// the next holder's. No lease protocol can prevent that; fencing is what
// protects the resource: the other clients write at once on acquiring, so
// the resumed process's late write carries a lower token than one already
// accepted and must be refused.
func pauseHolders(ctx context.Context, c *Cluster, w *Workload, until time.Time) (faults int, err error) {
	p, err := startHolderProcess(c, w)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	for faults == 0 || time.Now().Before(until) {
		if err := p.awaitGrant(ctx); err != nil {
			return faults, err
		}
		pause(ctx, 100*time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			return faults, err
		}
		pause(ctx, w.cfg.Lease+time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			return faults, err
		}
		faults++
		for len(p.acquired) > 0 {
			<-p.acquired // grants from before the pause
		}
	}
	return faults, nil
}

// cacheMargin is how long a paused holder stays stopped after a newer
// holder's write was accepted: the Kubernetes API server judges a fenced
// write by its watch cache of the lock, which follows the lock's writes
// by milliseconds (see package fencekube).
const cacheMargin = 500 * time.Millisecond

// pauseHoldersFenced is pauseHolders on the cluster's real resource: the
// holder process is a late writer (it checks its lease as its work begins
// and writes when the work ends), stopped with SIGSTOP 100 ms into its
// work and resumed with SIGCONT only once another client has been granted
// the key and its write, with a higher token, was accepted (the process is
// then necessarily past its lease). Every resumed process's write is late,
// and the resource must refuse it.
func pauseHoldersFenced(ctx context.Context, c *Cluster, w *Workload, until time.Time) (faults int, err error) {
	p, err := startHolderProcess(c, w)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	for faults == 0 || time.Now().Before(until) {
		if err := p.awaitGrant(ctx); err != nil {
			return faults, err
		}
		pause(ctx, 100*time.Millisecond)
		token, err := p.freeze()
		if err != nil {
			return faults, err
		}
		err = w.awaitHigher(ctx, 0, token)
		if err == nil {
			pause(ctx, cacheMargin)
		}
		if cerr := p.cmd.Process.Signal(syscall.SIGCONT); cerr != nil || err != nil {
			return faults, errors.Join(err, cerr)
		}
		faults++
		// The resumed process writes at once: wait for the outcome, so
		// that the process is not stopped before its late write.
		select {
		case <-p.lateDone:
		case <-p.done:
			return faults, errors.New("the holder process exited before its late write")
		case <-time.After(w.cfg.Liveness):
			return faults, fmt.Errorf("the resumed holder process did not write within %s", w.cfg.Liveness)
		}
		for len(p.acquired) > 0 {
			<-p.acquired // grants from before the pause
		}
	}
	return faults, nil
}

// freeze stops the process with SIGSTOP and marks its latest grant as
// paused; it returns that grant's token.
func (p *holderProcess) freeze() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return 0, err
	}
	g := p.holds[p.last]
	g.paused = true
	p.holds[p.last] = g
	return g.token, nil
}

// awaitHigher waits until a write to key index k with a token above token
// has been accepted.
func (w *Workload) awaitHigher(ctx context.Context, k int, token uint64) error {
	deadline := time.Now().Add(w.cfg.Liveness)
	for w.highest[k].Load() <= token {
		if time.Now().After(deadline) {
			return fmt.Errorf("no write to %q with a token above %d was accepted within %s of the holder's pause", w.keys[k], token, w.cfg.Liveness)
		}
		if !pause(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}
