package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/internal/cli"
	_ "github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var nsSeq atomic.Int64

// memoryBackend returns a memory:// URL with a namespace of its own; the
// memory backend's store is shared by the whole test process.
func memoryBackend() string { return fmt.Sprintf("memory://cli-%d", nsSeq.Add(1)) }

// syncBuffer is a bytes.Buffer that lockctl's goroutines and the test may
// use at once.
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

// start runs lockctl in-process in the background and returns its output
// buffers and a channel with its exit code.
func start(env cli.Env, args ...string) (stdout, stderr *syncBuffer, code <-chan int) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	env.Stdout, env.Stderr = stdout, stderr
	ch := make(chan int, 1)
	go func() { ch <- cli.Run(context.Background(), args, env) }()
	return stdout, stderr, ch
}

func exitCode(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(time.Minute):
		t.Fatal("lockctl did not return")
		return 0
	}
}

// holdAsOther acquires key for another holder and returns a function that
// releases it.
func holdAsOther(t *testing.T, backend, key string) (release func()) {
	t.Helper()
	ctx := context.Background()
	m, err := lockmanager.Open(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: "other", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: key, Holder: "other", Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUntil polls cond; a liveness bound, never a timing assertion.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusLineWhileWaitingOnTerminal(t *testing.T) {
	backend := memoryBackend()
	release := holdAsOther(t, backend, "k")
	stdout, stderr, code := start(cli.Env{StderrIsTerminal: true},
		"--backend", backend, "acquire", "--key", "k", "--holder", "me", "--wait", "1h")
	waitUntil(t, "the status line", func() bool { return strings.Contains(stderr.String(), `held by "other" until`) })
	release()
	if c := exitCode(t, code); c != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q", c, stderr)
	}
	got := stderr.String()
	if !strings.HasPrefix(got, "\rlockctl: waiting for \"k\"") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("stderr %q: want status lines rewritten in place (\\r) and cleared at the end", got)
	}
	if strings.Contains(got, "\n") {
		t.Errorf("stderr %q: the status line must stay one line", got)
	}
	if !strings.Contains(stdout.String(), "me") {
		t.Errorf("stdout %q: want the grant", stdout)
	}
}

// Scripts get clean output: --quiet, or stderr not a terminal, shows no
// status line even when the wait lasts long enough for one.
func TestNoStatusLineWhenQuietOrNotTerminal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		args     []string
	}{
		{"quiet", true, []string{"--quiet"}},
		{"not a terminal", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := memoryBackend()
			holdAsOther(t, backend, "k")
			args := append([]string{"--backend", backend, "acquire", "--key", "k", "--wait", "2s"}, tc.args...)
			_, stderr, code := start(cli.Env{StderrIsTerminal: tc.terminal}, args...)
			if c := exitCode(t, code); c != cli.ExitHeld {
				t.Fatalf("exit %d, want %d", c, cli.ExitHeld)
			}
			if got := stderr.String(); strings.Contains(got, "\r") || strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "lockctl: ") {
				t.Errorf("stderr %q, want only the error line", got)
			}
		})
	}
}

func TestSignalEndsTheWait(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{
		{syscall.SIGINT, 130},
		{syscall.SIGTERM, 143},
	} {
		for _, command := range []string{"acquire", "run"} {
			t.Run(fmt.Sprintf("%s/%v", command, tc.sig), func(t *testing.T) {
				backend := memoryBackend()
				holdAsOther(t, backend, "k")
				sigs := make(chan os.Signal, 1)
				args := []string{"--backend", backend, command, "--key", "k", "--wait", "1h"}
				if command == "run" {
					args = append(args, "--", "true")
				}
				_, stderr, code := start(cli.Env{Signals: sigs}, args...)
				sigs <- tc.sig
				if c := exitCode(t, code); c != tc.code {
					t.Fatalf("exit %d, want %d; stderr %q", c, tc.code, stderr)
				}
				if got := stderr.String(); !strings.Contains(got, "interrupted by") || strings.Count(got, "\n") != 1 {
					t.Errorf("stderr %q, want one line saying it was interrupted", got)
				}
			})
		}
	}
}

func TestDefaultDatabasePath(t *testing.T) {
	home, _ := os.UserHomeDir()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG_STATE_HOME", map[string]string{"XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/state/leasehold/locks.db"},
		{"HOME", map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/leasehold/locks.db"},
		{"relative XDG_STATE_HOME", map[string]string{"XDG_STATE_HOME": "state", "HOME": "/home/u"}, "/home/u/.local/state/leasehold/locks.db"},
		{"no HOME", map[string]string{}, filepath.Join(home, ".local/state/leasehold/locks.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cli.DefaultDatabasePath(func(k string) string { return tc.env[k] })
			if err != nil || got != tc.want {
				t.Errorf("DefaultDatabasePath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDefaultHolderIsHostnameAndPID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cli.DefaultHolder(), fmt.Sprintf("%s:%d", host, os.Getpid()); got != want {
		t.Errorf("DefaultHolder = %q, want %q", got, want)
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	stdout, _, code := start(cli.Env{}, "--help")
	if c := exitCode(t, code); c != cli.ExitOK {
		t.Fatalf("exit %d", c)
	}
	for _, want := range []string{"Exit codes:", "  3    lock held", "  75   run, hold: the lease was lost", "LEASEHOLD_BACKEND"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help does not contain %q:\n%s", want, stdout)
		}
	}
}

// TestHelpInPlainWords: no pflag type jargon, run's usage line ends with
// the command (flags after it belong to the command), completion is listed.
func TestHelpInPlainWords(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"acquire", "--help"}, {"renew", "--help"}, {"hold", "--help"}, {"break", "--help"}} {
		stdout, _, code := start(cli.Env{}, args...)
		if c := exitCode(t, code); c != cli.ExitOK {
			t.Fatalf("%v: exit %d", args, c)
		}
		out := stdout.String()
		for _, jargon := range []string{"stringToString", "(default [])", "(default map[])"} {
			if strings.Contains(out, jargon) {
				t.Errorf("%v help contains %q:\n%s", args, jargon, out)
			}
		}
		if args[0] == "run" && !strings.Contains(out, "  lockctl run KEY [flags] -- COMMAND [ARG...]\n") {
			t.Errorf("run's usage line is not \"lockctl run KEY [flags] -- COMMAND [ARG...]\":\n%s", out)
		}
		if args[0] == "--help" && !strings.Contains(out, "  completion  ") {
			t.Errorf("lockctl --help does not list completion:\n%s", out)
		}
	}
}

func TestCompletionScript(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		stdout, stderr, code := start(cli.Env{}, "completion", shell)
		if c := exitCode(t, code); c != cli.ExitOK || !strings.Contains(stdout.String(), "lockctl") {
			t.Errorf("completion %s: exit %d, stderr %q, stdout %d bytes; want a script for lockctl", shell, c, stderr, len(stdout.String()))
		}
	}
}

func TestMetadataFlag(t *testing.T) {
	backend := memoryBackend()
	stdout, stderr, code := start(cli.Env{}, "--backend", backend, "acquire", "m", "--holder", "h", "-o", "json",
		"--metadata", "a=1,b=2", "--metadata", `"c=x,y"`, "--metadata", "d=")
	if c := exitCode(t, code); c != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q", c, stderr)
	}
	var got cli.LockView
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2", "c": "x,y", "d": ""}, got.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}
