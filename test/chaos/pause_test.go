//go:build chaos

package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leasehold/leasehold/internal/history"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// helperEnv, when set to a SQLite URL, makes the test binary run as a
// holder process (runHelper) instead of running tests.
const helperEnv = "LEASEHOLD_CHAOS_HOLDER_URL"

const (
	pauseKey    = "chaos:pause"
	helperName  = "paused-process"
	helperWork  = time.Second
	pauseLength = leaseDuration + time.Second
)

// runHelper is the holder process: it loops Hold, work, write, release on
// pauseKey and tells the parent on stdout what it believes and does
// ("acquired N TOKEN", "write N TOKEN", "end N" for its N-th grant), until
// its stdin closes. N ties a late "end" from a context.AfterFunc to its
// own grant rather than to the next one.
func runHelper(rawURL string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	b, err := sqlite.Open(ctx, rawURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opening SQLite:", err)
		return 1
	}
	m := lockmanager.New(b)
	defer m.Close()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	for n := 0; ctx.Err() == nil; {
		s, err := hold(ctx, m, helperName, pauseKey)
		if err != nil {
			pause(ctx, 20*time.Millisecond)
			continue
		}
		n++
		token := s.FencingToken()
		say("acquired %d %d", n, token)
		stop := context.AfterFunc(s.Context(), func() { say("end %d", n) })
		t := time.NewTimer(helperWork)
		select {
		case <-s.Context().Done():
		case <-ctx.Done():
		case <-t.C:
			if s.Context().Err() == nil {
				say("write %d %d", n, token)
			}
		}
		t.Stop()
		say("end %d", n)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), liveness)
		_ = s.Release(rctx)
		rcancel()
		stop()
		s.end()
	}
	return 0
}

// holderProcess is the parent's view of a helper process: it records the
// helper's beliefs and writes into the workload's history as they arrive
// (the parent's clock, so later than the helper's own: a believed
// interval is recorded as ending no earlier than it did).
type holderProcess struct {
	cmd      *exec.Cmd
	stdin    io.Closer
	acquired chan struct{} // one value per "acquired" line
	done     chan struct{} // the output reader has finished
}

func startHolderProcess(t *testing.T, w *workload, rawURL string) *holderProcess {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+rawURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &holderProcess{cmd: cmd, stdin: stdin, acquired: make(chan struct{}, 100), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		holds := map[string]*history.Hold{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			verb, n, token := f[0], f[1], uint64(0)
			if len(f) > 2 {
				token, _ = strconv.ParseUint(f[2], 10, 64)
			}
			switch verb {
			case "acquired":
				holds[n] = w.rec.Begin(pauseKey, helperName, token)
				w.grants[0].Add(1)
				select {
				case p.acquired <- struct{}{}:
				default:
				}
			case "write":
				if !w.reg.Write(pauseKey, helperName, token) {
					w.rejected.Add(1)
				}
			case "end":
				if h := holds[n]; h != nil {
					h.End()
				}
			}
		}
	}()
	return p
}

// stop asks the helper to release and exit (closing its stdin), resuming
// it first in case it is paused, and kills it if it does not exit in time.
func (p *holderProcess) stop(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.stdin.Close()
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("holder process: %v", err)
		}
	case <-time.After(liveness):
		_ = p.cmd.Process.Kill()
		if err := <-exited; err != nil {
			t.Logf("holder process killed: %v", err)
		}
		t.Errorf("holder process did not exit within %s", liveness)
	}
}

// runPauseScenario: a holder process is stopped (SIGSTOP) in the middle of
// its work for longer than the lease, while in-process clients contend for
// the same key in the same SQLite file, then resumed (SIGCONT). A stopped
// process cannot notice that its lease ended: when it resumes, it still
// believes it holds the lock until its expiry timer runs, so its believed
// interval overlaps the next holder's. No lease protocol can prevent that;
// fencing is what protects the resource: the in-process clients write at
// once on acquiring, so the resumed process's late write carries a lower
// token than one already accepted and must be refused.
func runPauseScenario(t *testing.T) {
	began := time.Now()
	rawURL := "sqlite://" + filepath.Join(t.TempDir(), "pause.db") + "?namespace=" + url.QueryEscape(newNamespace("sqlite", "pause"))
	const inProcess = 3
	c := openSQLiteURL(t, rawURL, inProcess)
	w := newWorkload([]string{pauseKey}, workRange{0, 0})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	helper := startHolderProcess(t, w, rawURL)
	wait := w.run(ctx, c.managers)

	faults := 0
	var err error
	for until := time.Now().Add(*duration); err == nil && (faults == 0 || time.Now().Before(until)); {
		select {
		case <-helper.acquired:
		case <-time.After(liveness):
			err = fmt.Errorf("the holder process did not acquire %q within %s", pauseKey, liveness)
			continue
		}
		// The helper works for a second after acquiring: stop it in the
		// middle, for longer than the lease.
		pause(ctx, 100*time.Millisecond)
		if err = helper.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			break
		}
		pause(ctx, pauseLength)
		if err = helper.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			break
		}
		faults++
		for len(helper.acquired) > 0 {
			<-helper.acquired // grants from before the pause
		}
	}
	if err == nil {
		err = w.progress(ctx, w.grantCounts())
	}
	helper.stop(t)
	cancel()
	if werr := wait(); werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	close(w.failures)
	for err := range w.failures {
		t.Error(err)
	}
	intervals := w.rec.Intervals()
	r := result{
		backend: "sqlite+process", scenario: "holder-paused (SIGSTOP)", acquisitions: len(intervals), faults: faults,
		rejected: w.rejected.Load(), lost: w.lost.Load(), overlapAllowed: true, took: time.Since(began),
	}
	for _, v := range history.Check(intervals, w.reg.Writes()) {
		switch v.Kind {
		case history.Overlap:
			r.overlaps++
			if r.overlaps <= maxLogged {
				t.Logf("overlap (inherent to a paused process; fencing protects): %s", v)
			}
			continue
		case history.StaleWriteSeen:
			r.staleAccepted++
		case history.TokenOrder:
			r.tokenErrs++
		}
		t.Errorf("violation: %s", v)
	}
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
}
