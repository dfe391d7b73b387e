package main_test

import (
	"bytes"
	"context"

	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/internal/cli"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/gobuild"
	"github.com/leasehold/leasehold/test/support/testserver"

	_ "github.com/leasehold/leasehold/pkg/backends/redis"
	_ "github.com/leasehold/leasehold/pkg/backends/sqlite"
)

var (
	// lockctlBin is the lockctl binary built once for all tests.
	lockctlBin string
	// redisURL is the shared Redis server's URL; tests get a namespace each.
	redisURL string
	// postgresServer is the shared PostgreSQL server, for the exit code
	// tests.
	postgresServer *testserver.Postgres
	nsSeq          atomic.Int64
)

// liveness bounds every wait for something that must happen; it is never a
// pass/fail timing threshold, only a guard against hanging (-race on two
// cores is slow).
const liveness = 2 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lockctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lockctlBin = filepath.Join(dir, "lockctl")
	args := append([]string{"build", "-o", lockctlBin}, gobuild.Flags()...)
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building lockctl:", err)
		return 1
	}
	// With a password, so that a refused login can be tested.
	redis, stop, err := testserver.StartRedisForMain("--requirepass", "lockctl-test-password")
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Redis:", err)
		return 1
	}
	redisURL = redis.URL()
	pg, stopPG, err := testserver.StartPostgresForMain()
	if err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		return 1
	}
	postgresServer = pg
	code := m.Run()
	stopPG()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// backendCase is a backend the process tests run against.
type backendCase struct {
	name string
	url  func(t *testing.T) string
}

var backendCases = []backendCase{
	{"sqlite", func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	}},
	{"redis", func(t *testing.T) string {
		return fmt.Sprintf("%s?namespace=lockctl-%d", redisURL, nsSeq.Add(1))
	}},
}

func forEachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			f(t, bc.url(t))
		})
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer that the process's output copier and the
// test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running lockctl.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed once the process has exited
	err            error         // from Wait, valid after done
}

// startLockctl starts lockctl on backend in dir ("" for the test's
// folder), with a state folder of its own so that nothing touches the real
// home folder. A process still running when the test ends is killed.
func startLockctl(t *testing.T, backend, dir string, args ...string) *process {
	t.Helper()
	return startLockctlEnv(t, backend, dir, nil, args...)
}

// startLockctlEnv is startLockctl with extra environment variables.
func startLockctlEnv(t *testing.T, backend, dir string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(lockctlBin, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), cli.BackendEnv+"="+backend,
		// The race detector's default one-second pause at exit would make
		// every invocation slow; a race still fails the run (exit 66).
		"GORACE=atexit_sleep_ms=0")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// A command's children may keep its output pipes open after it exits.
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// lockctl's command dies with it (Pdeathsig).
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for p to exit and returns what it did.
func (p *process) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(liveness):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("lockctl %v did not exit; stderr:\n%s", p.cmd.Args[1:], &p.stderr)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		t.Fatalf("lockctl %v: %v", p.cmd.Args[1:], p.err)
	}
	return result{code: p.cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// lockctl runs lockctl to completion.
func lockctl(t *testing.T, backend string, args ...string) result {
	t.Helper()
	return startLockctl(t, backend, "", args...).wait(t)
}

func mustSucceed(t *testing.T, r result, args ...string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("lockctl %v: exit %d, stderr: %s", args, r.code, r.stderr)
	}
}

func getLock(t *testing.T, backend, key string) cli.LockView {
	t.Helper()
	r := lockctl(t, backend, "get", "--key", key, "-o", "json")
	mustSucceed(t, r, "get", key)
	var v cli.LockView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("get -o json printed %q: %v", r.stdout, err)
	}
	return v
}

// waitForFile waits until path exists and returns its content.
func waitForFile(t *testing.T, path string, running *process) string {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if running != nil {
			select {
			case <-running.done:
				t.Fatalf("lockctl exited before %s appeared: %v, stderr:\n%s", path, running.err, &running.stderr)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shell quotes s for sh.
func shell(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestRunPassesExitStatusAndEnvironment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		envFile := filepath.Join(t.TempDir(), "env")
		script := fmt.Sprintf(`printf '%%s\n%%s\n%%s\n' "$LEASEHOLD_KEY" "$LEASEHOLD_HOLDER" "$LEASEHOLD_FENCING_TOKEN" > %s; exit 3`, shell(envFile))
		r := lockctl(t, backend, "run", "--key", "job:a", "--holder", "worker #1", "--", "sh", "-c", script)
		if r.code != 3 {
			t.Fatalf("exit %d, want the command's 3; stderr: %s", r.code, r.stderr)
		}
		if r.stderr != "" {
			t.Errorf("stderr = %q, want nothing: the status is the command's own", r.stderr)
		}
		got := strings.Split(strings.TrimSuffix(waitForFile(t, envFile, nil), "\n"), "\n")
		after := getLock(t, backend, "job:a")
		want := []string{"job:a", "worker #1", fmt.Sprint(after.FencingToken)}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("the command saw LEASEHOLD_KEY, _HOLDER, _FENCING_TOKEN = %q, want %q", got, want)
		}
		if after.Held || after.FencingToken == 0 {
			t.Errorf("after run: %+v; want the lock released, with its token kept", after)
		}
	})
}

// TestRunStopsCommandWhenLeaseLost makes the lease be lost the way an
// operator would: release --delete with the holder and current version read
// by get, retried while heartbeats change the version.
func TestRunStopsCommandWhenLeaseLost(t *testing.T) {
	cases := []struct {
		name string
		trap string // what the command does on SIGTERM
		args []string
		code int
		kill bool // SIGKILL expected
	}{
		{
			name: "SIGTERM",
			trap: `trap 'echo term > marker; exit 0' TERM`,
			args: []string{"--grace", "10m"},
			code: cli.ExitLeaseLost,
		},
		{
			name: "SIGKILLAfterGrace",
			trap: `trap '' TERM`,
			args: []string{"--grace", "1s", "--lost-exit-code", "99"},
			code: 99,
			kill: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, backend string) {
				dir := t.TempDir()
				script := tc.trap + `; echo $$ > ready.tmp && mv ready.tmp ready; while :; do sleep 0.1; done`
				args := append([]string{"run", "--key", "k", "--holder", "h", "--lease", "3s"}, tc.args...)
				p := startLockctl(t, backend, dir, append(args, "--", "sh", "-c", script)...)
				waitForFile(t, filepath.Join(dir, "ready"), p)
				deleteLease(t, backend, "k")
				r := p.wait(t)
				if r.code != tc.code {
					t.Fatalf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
				}
				if !strings.Contains(r.stderr, `lockctl: lease on "k" lost`) {
					t.Errorf("stderr %q does not report the lost lease", r.stderr)
				}
				_, err := os.Stat(filepath.Join(dir, "marker"))
				sentKill := strings.Contains(r.stderr, "sending SIGKILL")
				if tc.kill {
					if !sentKill {
						t.Errorf("stderr %q: no SIGKILL for a command that ignores SIGTERM", r.stderr)
					}
				} else {
					if err != nil {
						t.Errorf("the command's SIGTERM trap did not run: %v", err)
					}
					if sentKill {
						t.Errorf("stderr %q: SIGKILL sent to a command that exited on SIGTERM", r.stderr)
					}
				}
			})
		})
	}
}

// deleteLease deletes key's record with its holder's identity, as an
// operator (or a bug) might, retrying while the holder's heartbeat renews
// (version mismatch). It works in-process: a get and a release through
// lockctl could take longer than a heartbeat on a loaded machine.
func deleteLease(t *testing.T, backend, key string) {
	t.Helper()
	ctx := context.Background()
	m, err := lockmanager.Open(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	for {
		cur, err := m.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		err = m.Release(ctx, lockmanager.ReleaseOptions{Key: key, Holder: cur.Holder, Version: cur.Version, Delete: true})
		if err == nil {
			return
		}
		if !errors.Is(err, lockmanager.ErrVersionMismatch) {
			t.Fatalf("Release --delete by the operator: %v", err)
		}
	}
}

func TestRunForwardsSIGTERMAndReleases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		dir := t.TempDir()
		script := `trap 'echo term > marker; exit 7' TERM; echo ready > ready.tmp && mv ready.tmp ready; while :; do sleep 0.1; done`
		p := startLockctl(t, backend, dir, "run", "--key", "fwd", "--", "sh", "-c", script)
		waitForFile(t, filepath.Join(dir, "ready"), p)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		r := p.wait(t)
		if r.code != 7 {
			t.Fatalf("exit %d, want the command's 7; stderr: %s", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
			t.Errorf("the command did not get SIGTERM: %v", err)
		}
		if l := getLock(t, backend, "fwd"); l.Held {
			t.Errorf("after run: %+v, want released", l)
		}
	})
}

// TestRunNeverOverlaps starts several runs of one key at once. Each
// command appends "start TOKEN" and "end TOKEN" to a shared file (O_APPEND
// through >>): the intervals must not interleave and tokens must increase.
func TestRunNeverOverlaps(t *testing.T) {
	const runners = 4
	forEachBackend(t, func(t *testing.T, backend string) {
		log := filepath.Join(t.TempDir(), "log")
		script := fmt.Sprintf(`echo "start $LEASEHOLD_FENCING_TOKEN" >> %[1]s; sleep 0.2; echo "end $LEASEHOLD_FENCING_TOKEN" >> %[1]s`, shell(log))
		procs := make([]*process, 0, runners)
		for range runners {
			procs = append(procs, startLockctl(t, backend, "", "run", "--key", "shared", "--wait", "2m", "--lease", "3s", "--", "sh", "-c", script))
		}
		for _, p := range procs {
			if r := p.wait(t); r.code != 0 {
				t.Errorf("run: exit %d, stderr: %s", r.code, r.stderr)
			}
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != 2*runners {
			t.Fatalf("log has %d lines, want %d:\n%s", len(lines), 2*runners, b)
		}
		var last uint64
		for i := 0; i < len(lines); i += 2 {
			var start, end uint64
			if _, err := fmt.Sscanf(lines[i], "start %d", &start); err != nil {
				t.Fatalf("line %d %q: want start: %v\n%s", i, lines[i], err, b)
			}
			if _, err := fmt.Sscanf(lines[i+1], "end %d", &end); err != nil || end != start {
				t.Fatalf("line %d %q: want end %d (intervals interleave)\n%s", i+1, lines[i+1], start, b)
			}
			if start <= last {
				t.Fatalf("token %d after %d: not increasing\n%s", start, last, b)
			}
			last = start
		}
	})
}

func TestAcquireRenewReleaseGetList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		r := lockctl(t, backend, "acquire", "--key", "app:b", "--holder", "h:1", "--lease", "1m", "--metadata", "job=nightly", "-o", "json")
		mustSucceed(t, r, "acquire")
		var granted cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &granted); err != nil {
			t.Fatalf("acquire -o json printed %q: %v", r.stdout, err)
		}
		if granted.Key != "app:b" || granted.Holder != "h:1" || !granted.Held || granted.Version == "" ||
			granted.FencingToken == 0 || granted.LeaseDuration != "1m0s" || granted.Metadata["job"] != "nightly" {
			t.Errorf("acquire printed %+v", granted)
		}
		mustSucceed(t, lockctl(t, backend, "acquire", "--key", "app:a", "--holder", "h:2"), "acquire app:a")
		mustSucceed(t, lockctl(t, backend, "acquire", "--key", "other", "--holder", "h:2"), "acquire other")

		if got := getLock(t, backend, "app:b"); got.Version != granted.Version || got.FencingToken != granted.FencingToken {
			t.Errorf("get = %+v, want the granted %+v", got, granted)
		}

		for _, format := range []string{"json", "yaml"} {
			r = lockctl(t, backend, "list", "--prefix", "app:", "-o", format)
			mustSucceed(t, r, "list")
			var listed []cli.LockView
			if err := unmarshal(format, r.stdout, &listed); err != nil {
				t.Fatalf("list -o %s printed %q: %v", format, r.stdout, err)
			}
			if len(listed) != 2 || listed[0].Key != "app:a" || listed[1].Key != "app:b" || listed[1].Version != granted.Version {
				t.Errorf("list -o %s = %+v, want app:a, app:b", format, listed)
			}
		}
		r = lockctl(t, backend, "list", "--prefix", "none:", "-o", "json")
		mustSucceed(t, r, "list none")
		if strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("empty list -o json = %q, want []", r.stdout)
		}

		r = lockctl(t, backend, "acquire", "--key", "app:b", "--holder", "intruder")
		if r.code != cli.ExitHeld || !strings.Contains(r.stderr, `held by "h:1"`) {
			t.Errorf("acquire of a held lock: exit %d, stderr %q; want %d naming the holder", r.code, r.stderr, cli.ExitHeld)
		}

		r = lockctl(t, backend, "renew", "--key", "app:b", "--holder", "h:1", "--version", granted.Version, "--lease", "2m", "-o", "json")
		mustSucceed(t, r, "renew")
		var renewed cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &renewed); err != nil {
			t.Fatal(err)
		}
		if renewed.Version == granted.Version || renewed.FencingToken != granted.FencingToken || renewed.LeaseDuration != "2m0s" {
			t.Errorf("renew printed %+v; want a new version, the same token", renewed)
		}

		r = lockctl(t, backend, "release", "--key", "app:b", "--holder", "h:1", "--version", granted.Version)
		if r.code != cli.ExitConflict {
			t.Errorf("release with a stale version: exit %d, want %d; stderr %q", r.code, cli.ExitConflict, r.stderr)
		}
		r = lockctl(t, backend, "release", "--key", "app:b", "--holder", "h:1", "--version", renewed.Version, "--delete")
		mustSucceed(t, r, "release")
		if r.stdout != "" {
			t.Errorf("release printed %q, want nothing", r.stdout)
		}
		r = lockctl(t, backend, "get", "--key", "app:b")
		if r.code != cli.ExitNotFound {
			t.Errorf("get after release --delete: exit %d, want %d; stderr %q", r.code, cli.ExitNotFound, r.stderr)
		}
	})
}

// TestWaitRunsOut checks --wait's exit code, and that without a terminal
// stderr carries the error line and nothing else (no status line).
func TestWaitRunsOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		mustSucceed(t, lockctl(t, backend, "acquire", "--key", "w", "--holder", "a", "--lease", "1m"), "acquire")
		for _, args := range [][]string{
			{"acquire", "--key", "w", "--holder", "b", "--wait", "1500ms"},
			{"run", "--key", "w", "--wait", "1500ms", "--", "true"},
		} {
			r := lockctl(t, backend, args...)
			if r.code != cli.ExitHeld {
				t.Errorf("%v: exit %d, want %d; stderr %q", args, r.code, cli.ExitHeld, r.stderr)
			}
			if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `held by "a"`) {
				t.Errorf("%v: stderr %q, want one line naming the holder", args, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("%v: stdout %q, want nothing", args, r.stdout)
			}
		}
	})
}

func TestUsageErrors(t *testing.T) {
	backend := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	cases := []struct {
		name string
		args []string
		want string // in the one stderr line
	}{
		{"acquire without a key", []string{"acquire"}, "a lock key is needed: lockctl acquire KEY"},
		{"get without a key", []string{"get"}, "a lock key is needed: lockctl get KEY"},
		{"run without a key", []string{"run"}, "a lock key is needed"},
		{"key and --key differ", []string{"get", "a", "--key", "b"}, `"a" as KEY and "b" as --key`},
		{"renew without --version", []string{"renew", "--key", "k", "--holder", "h"}, `"version" not set`},
		{"release without --holder", []string{"release", "--key", "k", "--version", "v"}, `"holder" not set`},
		{"empty key", []string{"acquire", "--key", ""}, "KEY: invalid argument: Key"},
		{"empty positional key", []string{"get", ""}, "KEY: invalid argument: Key"},
		{"bad lease duration", []string{"acquire", "--key", "k", "--lease", "ten"}, `"--lease"`},
		{"bad wait duration", []string{"run", "--key", "k", "--wait", "1x", "--", "true"}, `"--wait"`},
		{"bad grace duration", []string{"run", "--key", "k", "--grace", "soon", "--", "true"}, `"--grace"`},
		{"negative grace", []string{"run", "--key", "k", "--grace", "-1s", "--", "true"}, "--grace"},
		{"lease below 1s", []string{"acquire", "--key", "k", "--lease", "999ms"}, "--lease must be between 1s"},
		{"run lease below 1s", []string{"run", "--key", "k", "--lease", "500ms", "--", "true"}, "--lease must be between 1s"},
		{"lease not whole ms", []string{"renew", "--key", "k", "--holder", "h", "--version", "v", "--lease", "1.0001s"}, "--lease"},
		{"wait above 24h", []string{"acquire", "--key", "k", "--wait", "25h"}, "--wait"},
		{"unknown output format", []string{"get", "--key", "k", "-o", "xml"}, `unknown format "xml"`},
		{"unknown list format", []string{"list", "-o", "csv"}, `unknown format "csv"`},
		{"unknown backend scheme", []string{"get", "--key", "k", "--backend", "mysql://u:secret@h/db"}, `unknown backend scheme "mysql"`},
		{"backend without scheme", []string{"list", "--backend", "locks.db"}, "needs a scheme"},
		{"run without command", []string{"run", "--key", "k"}, "needs a command"},
		{"run KEY without command", []string{"run", "k", "--wait", "1m"}, "needs a command"},
		{"run flag after KEY", []string{"run", "k", "--colour", "--", "true"}, "unknown flag: --colour"},
		{"no-wait and wait", []string{"run", "k", "-n", "--wait", "1m", "--", "true"}, "--no-wait and --wait"},
		{"hold no-wait and wait", []string{"hold", "k", "--no-wait", "--wait", "1m"}, "--no-wait and --wait"},
		{"bad metadata", []string{"acquire", "k", "--metadata", "novalue"}, "want KEY=VALUE"},
		{"break without reason", []string{"break", "k"}, `"reason" not set`},
		{"break empty reason", []string{"break", "k", "--reason", ""}, "--reason must be 1 to 1024 bytes"},
		{"break reason with newline", []string{"break", "k", "--reason", "a\nb"}, "--reason must be 1 to 1024 bytes"},
		{"two keys", []string{"get", "a", "b"}, `lockctl get takes one KEY, got 2 arguments: ["a" "b"]`},
		{"two prefixes", []string{"list", "a", "b"}, "lockctl list takes one PREFIX, got 2"},
		{"misspelt command", []string{"holdd"}, `unknown command "holdd" for "lockctl"; Did you mean this?; hold (see 'lockctl --help')`},
		{"lost exit code 0", []string{"run", "--key", "k", "--lost-exit-code", "0", "--", "true"}, "--lost-exit-code"},
		{"unknown flag", []string{"get", "--key", "k", "--colour"}, "unknown flag: --colour"},
		{"unknown command", []string{"lock"}, `unknown command "lock"`},
		{"arguments to version", []string{"version", "extra"}, `unknown command "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := lockctl(t, backend, tc.args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", r.code, cli.ExitUsage, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "lockctl: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line starting with \"lockctl: \" containing %q", r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr %q repeats the backend URL's password", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

// TestPartialPodEnvironment: the Pod variables come all three or not at
// all; one missing is a usage error naming it, before any lock is taken.
func TestPartialPodEnvironment(t *testing.T) {
	backend := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	for _, args := range [][]string{{"acquire", "k"}, {"hold", "k"}, {"run", "k", "--", "true"}} {
		r := startLockctlEnv(t, backend, "", []string{"LEASEHOLD_POD_NAME=worker-0", "LEASEHOLD_POD_NAMESPACE=jobs"}, args...).wait(t)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "LEASEHOLD_POD_UID: must be set with") {
			t.Errorf("lockctl %v: exit %d, stderr %q; want %d naming LEASEHOLD_POD_UID", args, r.code, r.stderr, cli.ExitUsage)
		}
	}
}

func TestDefaultBackendIsSQLiteInStateFolder(t *testing.T) {
	cases := []struct {
		name string
		env  func(dir string) []string
		path string // of the database, under dir
	}{
		{"XDG_STATE_HOME", func(dir string) []string { return []string{"XDG_STATE_HOME=" + filepath.Join(dir, "state")} },
			"state/leasehold/locks.db"},
		{"HOME", func(dir string) []string { return []string{"XDG_STATE_HOME=", "HOME=" + dir} },
			".local/state/leasehold/locks.db"},
		{"relative XDG_STATE_HOME is ignored", func(dir string) []string {
			return []string{"XDG_STATE_HOME=relative", "HOME=" + dir}
		}, ".local/state/leasehold/locks.db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(lockctlBin, "acquire", "--key", "k", "--holder", "h")
			cmd.Dir = dir
			cmd.Env = append(withoutVar(os.Environ(), cli.BackendEnv), append(tc.env(dir), "GORACE=atexit_sleep_ms=0")...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("acquire: %v\n%s", err, out)
			}
			db := filepath.Join(dir, tc.path)
			if _, err := os.Stat(db); err != nil {
				t.Fatalf("default database: %v", err)
			}
			fi, err := os.Stat(filepath.Dir(db))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o700 {
				t.Errorf("folder %s has mode %o, want 700", filepath.Dir(db), perm)
			}
			// The next invocation finds the same lock there.
			cmd = exec.Command(lockctlBin, "get", "--key", "k", "-o", "json")
			cmd.Dir = dir
			cmd.Env = append(withoutVar(os.Environ(), cli.BackendEnv), append(tc.env(dir), "GORACE=atexit_sleep_ms=0")...)
			if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), `"holder": "h"`) {
				t.Errorf("get from the default database: %v\n%s", err, out)
			}
		})
	}
}

func withoutVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestRunReportsCommandThatCannotStart checks that the command is looked
// up before the wait: with the lock held by someone else and run waiting by
// default, a missing or non-executable command exits 127 or 126 at once,
// and the record is untouched (no fencing token taken).
func TestRunReportsCommandThatCannotStart(t *testing.T) {
	backend := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	notExecutable := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, lockctl(t, backend, "acquire", "k", "--holder", "other", "--lease", "1h"), "acquire")
	before := getLock(t, backend, "k")
	for _, tc := range []struct {
		command string
		code    int
	}{
		{"leasehold-no-such-command", cli.ExitCommandNotFound},
		{notExecutable, cli.ExitCannotExecute},
	} {
		r := lockctl(t, backend, "run", "k", "--", tc.command)
		if r.code != tc.code || !strings.HasPrefix(r.stderr, "lockctl: starting") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("run %s: exit %d, stderr %q; want %d and one lockctl line", tc.command, r.code, r.stderr, tc.code)
		}
		if after := getLock(t, backend, "k"); after.Version != before.Version || after.FencingToken != before.FencingToken {
			t.Errorf("run %s: the record changed from %+v to %+v; want it untouched", tc.command, before, after)
		}
	}
	// On a free lock too, no grant is made.
	fresh := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	if r := lockctl(t, fresh, "run", "k", "--", "leasehold-no-such-command"); r.code != cli.ExitCommandNotFound {
		t.Errorf("run on a free lock: exit %d, want %d; stderr %q", r.code, cli.ExitCommandNotFound, r.stderr)
	}
	if r := lockctl(t, fresh, "get", "k"); r.code != cli.ExitNotFound {
		t.Errorf("get after run of a missing command: exit %d, want %d (no record); stderr %q", r.code, cli.ExitNotFound, r.stderr)
	}
}

// unmarshal decodes JSON or YAML output.
func unmarshal(format, s string, v any) error {
	if format == "yaml" {
		return yaml.Unmarshal([]byte(s), v)
	}
	return json.Unmarshal([]byte(s), v)
}
