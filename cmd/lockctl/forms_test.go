package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/internal/cli"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/gobuild"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// waitForOutput waits until p's stdout contains want and returns it.
func waitForOutput(t *testing.T, p *process, want string) string {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		if out := p.stdout.String(); strings.Contains(out, want) {
			return out
		}
		select {
		case <-p.done:
			t.Fatalf("lockctl %v exited before printing %q: %v; stdout %q, stderr %q", p.cmd.Args[1:], want, p.err, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lockctl %v did not print %q", p.cmd.Args[1:], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startHold starts "lockctl hold KEY -o json" and returns the process and
// the grant it printed.
func startHold(t *testing.T, backend, key string, args ...string) (*process, cli.LockView) {
	t.Helper()
	p := startLockctl(t, backend, "", append([]string{"hold", key, "-o", "json"}, args...)...)
	out := waitForOutput(t, p, "}")
	var v cli.LockView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("hold printed %q: %v", out, err)
	}
	return p, v
}

func TestPositionalKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		r := lockctl(t, backend, "acquire", "pos", "--holder", "h", "-o", "json")
		mustSucceed(t, r, "acquire KEY")
		var granted cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &granted); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"get", "pos"}, {"get", "--key", "pos"}, {"get", "pos", "--key", "pos"}} {
			r := lockctl(t, backend, append(args, "-o", "json")...)
			mustSucceed(t, r, args...)
			var got cli.LockView
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Version != granted.Version {
				t.Errorf("%v printed %q (%v), want version %s", args, r.stdout, err, granted.Version)
			}
		}
		r = lockctl(t, backend, "renew", "pos", "--holder", "h", "--version", granted.Version, "-o", "json")
		mustSucceed(t, r, "renew KEY")
		var renewed cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &renewed); err != nil {
			t.Fatal(err)
		}
		r = lockctl(t, backend, "list", "po", "-o", "json")
		mustSucceed(t, r, "list PREFIX")
		var listed []cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Key != "pos" {
			t.Errorf("list po printed %q (%v), want the one lock", r.stdout, err)
		}
		mustSucceed(t, lockctl(t, backend, "release", "pos", "--holder", "h", "--version", renewed.Version), "release KEY")
		if got := getLock(t, backend, "pos"); got.Held {
			t.Errorf("after release KEY: %+v, want released", got)
		}
		// run KEY, with flags between the key and "--", and the command's own
		// flags after it.
		dir := t.TempDir()
		r = startLockctl(t, backend, dir, "run", "pos", "--holder", "runner", "--", "sh", "-c", `echo "$LEASEHOLD_KEY $LEASEHOLD_HOLDER" > seen`, "-x").wait(t)
		mustSucceed(t, r, "run KEY -- COMMAND")
		if got := waitForFile(t, filepath.Join(dir, "seen"), nil); got != "pos runner\n" {
			t.Errorf("run KEY --holder runner: the command saw %q", got)
		}
	})
}

// subscribers counts the Redis connections subscribed to a channel of
// namespace ns: a lockctl waiting for a lock holds one.
func subscribers(t *testing.T, rdb *goredis.Client, ns string) int64 {
	t.Helper()
	ctx := context.Background()
	channels, err := rdb.PubSubChannels(ctx, "*"+ns+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(channels) == 0 {
		return 0
	}
	counts, err := rdb.PubSubNumSub(ctx, channels...).Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// TestRunWaitsByDefault holds a lock with "lockctl hold", starts "lockctl
// run" on it without wait flags, sees it wait (subscribed for the release,
// its command not started), stops the holder and sees the run take over.
// --no-wait fails at once instead.
func TestRunWaitsByDefault(t *testing.T) {
	ns := fmt.Sprintf("lockctl-wait-%d", nsSeq.Add(1))
	backend := redisURL + "?namespace=" + ns
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer func() { _ = rdb.Close() }()

	holder, grant := startHold(t, backend, "k", "--holder", "first")
	if r := lockctl(t, backend, "run", "k", "--no-wait", "--", "true"); r.code != cli.ExitHeld {
		t.Errorf("run --no-wait on a held lock: exit %d, want %d; stderr %q", r.code, cli.ExitHeld, r.stderr)
	}
	before := subscribers(t, rdb, ns)
	dir := t.TempDir()
	runner := startLockctl(t, backend, dir, "run", "k", "--", "sh", "-c", `echo "$LEASEHOLD_FENCING_TOKEN" > token`)
	deadline := time.Now().Add(liveness)
	for subscribers(t, rdb, ns) <= before {
		select {
		case <-runner.done:
			t.Fatalf("run exited while the lock was held: %v, stderr %q", runner.err, runner.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("run did not start waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "token")); err == nil {
		t.Fatal("run started its command while another holder had the lock")
	}
	if err := holder.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := holder.wait(t); r.code != 0 {
		t.Errorf("hold after SIGTERM: exit %d, want 0; stderr %q", r.code, r.stderr)
	}
	r := runner.wait(t)
	mustSucceed(t, r, "run after the holder left")
	var token uint64
	if _, err := fmt.Sscan(waitForFile(t, filepath.Join(dir, "token"), nil), &token); err != nil || token <= grant.FencingToken {
		t.Errorf("run's command got token %d (%v), want one above the holder's %d", token, err, grant.FencingToken)
	}
}

func TestHold(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, backend string) {
				p, grant := startHold(t, backend, "h", "--holder", "holder-1", "--lease", "3s")
				if !grant.Held || grant.Holder != "holder-1" || grant.FencingToken == 0 || grant.Version == "" {
					t.Fatalf("hold printed %+v, want the grant with its token and version", grant)
				}
				if got := getLock(t, backend, "h"); !got.Held || got.FencingToken != grant.FencingToken {
					t.Errorf("get while held: %+v, want held with token %d", got, grant.FencingToken)
				}
				if r := lockctl(t, backend, "acquire", "h", "--holder", "other"); r.code != cli.ExitHeld {
					t.Errorf("acquire by another while held: exit %d, want %d", r.code, cli.ExitHeld)
				}
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				r := p.wait(t)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("hold after %v: exit %d, stderr %q; want 0 and nothing", sig, r.code, r.stderr)
				}
				if got := getLock(t, backend, "h"); got.Held || got.Holder != "" {
					t.Errorf("get after hold ended: %+v, want released", got)
				}
			})
		})
	}
}

// TestBreak breaks a lock held by a live "lockctl hold": the hold sees its
// lease lost (75), the record is released, the next grant's token is
// higher. A break guarded by a version that is no longer current clears
// nothing.
func TestBreak(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		p, grant := startHold(t, backend, "b", "--holder", "stuck")

		r := lockctl(t, backend, "break", "b", "--reason", "test", "--version", "not-the-version")
		if r.code != cli.ExitConflict || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "lockctl: ") {
			t.Errorf("break --version stale: exit %d, stderr %q; want %d and one line", r.code, r.stderr, cli.ExitConflict)
		}
		if got := getLock(t, backend, "b"); !got.Held || got.Holder != "stuck" {
			t.Fatalf("after a refused break: %+v, want still held by stuck", got)
		}

		r = lockctl(t, backend, "break", "b", "--reason", "host rebooted mid-run")
		mustSucceed(t, r, "break")
		for _, want := range []string{`"b"`, `"stuck"`, fmt.Sprint(grant.FencingToken), "host rebooted mid-run"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("break printed %q, want it to mention %s", r.stdout, want)
			}
		}
		if got := getLock(t, backend, "b"); got.Held || got.Holder != "" {
			t.Errorf("after break: %+v, want released", got)
		}
		if r := p.wait(t); r.code != cli.ExitLeaseLost || !strings.Contains(r.stderr, `lockctl: lease on "b" lost`) {
			t.Errorf("hold whose lock was broken: exit %d, stderr %q; want %d", r.code, r.stderr, cli.ExitLeaseLost)
		}
		r = lockctl(t, backend, "acquire", "b", "--holder", "next", "-o", "json")
		mustSucceed(t, r, "acquire after break")
		var next cli.LockView
		if err := json.Unmarshal([]byte(r.stdout), &next); err != nil || next.FencingToken <= grant.FencingToken {
			t.Errorf("next grant %+v (%v): want a token above %d", next, err, grant.FencingToken)
		}

		mustSucceed(t, lockctl(t, backend, "release", "b", "--holder", "next", "--version", next.Version), "release")
		r = lockctl(t, backend, "break", "b", "--reason", "again")
		if r.code != 0 || !strings.Contains(r.stdout, "nothing to break") {
			t.Errorf("break of a free lock: exit %d, stdout %q; want 0 and nothing to break", r.code, r.stdout)
		}
		if r := lockctl(t, backend, "break", "missing", "--reason", "x"); r.code != cli.ExitNotFound {
			t.Errorf("break of a missing lock: exit %d, want %d", r.code, cli.ExitNotFound)
		}
	})
}

// TestRunWaitsForProcessGroup: a command that leaves a child running in
// the background keeps the lock until that child has exited.
func TestRunWaitsForProcessGroup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		dir := t.TempDir()
		script := `(while [ ! -e go ]; do sleep 0.05; done; echo done > marker) & echo $$ > main.tmp && mv main.tmp main; exit 0`
		p := startLockctl(t, backend, dir, "run", "g", "--grace", "10m", "--", "sh", "-c", script)
		waitForFile(t, filepath.Join(dir, "main"), p)
		// The command has exited (or is about to); its child waits for "go".
		if got := getLock(t, backend, "g"); !got.Held {
			t.Fatalf("while the command's child runs: %+v, want the lock held", got)
		}
		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := p.wait(t)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("run: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
			t.Errorf("run exited before the command's child finished: %v", err)
		}
		if got := getLock(t, backend, "g"); got.Held {
			t.Errorf("after run: %+v, want released", got)
		}
	})
}

// TestRunStopsLeftoverChildrenAfterGrace: a background child that outlives
// the command by more than --grace gets SIGTERM, then SIGKILL; run exits
// with the command's status and releases.
func TestRunStopsLeftoverChildrenAfterGrace(t *testing.T) {
	backend := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	r := lockctl(t, backend, "run", "s", "--grace", "200ms", "--", "sh", "-c", `(trap "" TERM; while :; do sleep 0.05; done) & exit 4`)
	if r.code != 4 {
		t.Errorf("run: exit %d, want the command's 4; stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "lockctl: the command exited but left processes in its group running") {
		t.Errorf("stderr %q, want the SIGTERM to the leftover processes reported", r.stderr)
	}
	if got := getLock(t, backend, "s"); got.Held {
		t.Errorf("after run: %+v, want released", got)
	}
}

// TestReleasedRecordShape: a released record prints the same fields on
// every backend, with no times (omitted in JSON, - in the table).
func TestReleasedRecordShape(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		mustSucceed(t, lockctl(t, backend, "run", "rel", "--", "true"), "run")
		r := lockctl(t, backend, "get", "rel", "-o", "json")
		mustSucceed(t, r, "get -o json")
		var fields map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &fields); err != nil {
			t.Fatal(err)
		}
		names := slices.Sorted(maps.Keys(fields))
		if want := []string{"fencingToken", "held", "holder", "key", "version"}; !slices.Equal(names, want) {
			t.Errorf("released record as JSON has fields %v, want %v:\n%s", names, want, r.stdout)
		}
		r = lockctl(t, backend, "get", "rel")
		mustSucceed(t, r, "get")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("get printed %q", r.stdout)
		}
		row := strings.Fields(lines[1])
		if len(row) != 6 || row[1] != "-" || row[4] != "-" {
			t.Errorf("released record row %q, want - for HOLDER and EXPIRES", lines[1])
		}
	})
}

// TestBackendErrorExitCodes: on every backend, a server that refuses the
// login, a missing database and an unreachable server exit 6; a malformed
// URL and an unknown parameter exit 2. Each prints one line starting with
// "lockctl: " and nothing else (no library's own log line).
func TestBackendErrorExitCodes(t *testing.T) {
	closed := closedPort(t)
	dir := t.TempDir()
	pg, err := url.Parse(postgresServer.URL())
	if err != nil {
		t.Fatal(err)
	}
	withUser := func(u url.URL, password string) string {
		u.User = url.UserPassword(u.User.Username(), password)
		return u.String()
	}
	withPath := func(u url.URL, path string) string { u.Path = path; return u.String() }
	withParam := func(u url.URL, k, v string) string {
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String()
	}
	withHost := func(u url.URL, host string) string { u.Host = host; return u.String() }
	rd, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	unreachableKubeconfig := filepath.Join(dir, "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, closed)
	if err := os.WriteFile(unreachableKubeconfig, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	closedAddr := fmt.Sprintf("127.0.0.1:%d", closed)

	cases := []struct {
		name, backend string
		env           []string
		code          int
	}{
		{"sqlite/missing folder", "sqlite://" + dir + "/no/such/folder/locks.db", nil, cli.ExitUnavailable},
		{"sqlite/unknown parameter", "sqlite://" + dir + "/locks.db?frobnicate=1", nil, cli.ExitUsage},
		{"sqlite/malformed", "sqlite://%zz", nil, cli.ExitUsage},
		{"postgres/refused login", withUser(*pg, "wrong-password"), nil, cli.ExitUnavailable},
		{"postgres/missing database", withPath(*pg, "/nosuchdb"), nil, cli.ExitUnavailable},
		{"postgres/unreachable", withHost(*pg, closedAddr), nil, cli.ExitUnavailable},
		{"postgres/unknown parameter", withParam(*pg, "frobnicate", "1"), nil, cli.ExitUsage},
		{"postgres/malformed", "postgres://u:p@127.0.0.1:99999/x", nil, cli.ExitUsage},
		{"redis/refused login", withUser(*rd, "wrong-password"), nil, cli.ExitUnavailable},
		{"redis/unreachable", withHost(*rd, closedAddr), nil, cli.ExitUnavailable},
		{"redis/missing database", withPath(*rd, "/99"), nil, cli.ExitUnavailable},
		{"redis/unknown parameter", withParam(*rd, "frobnicate", "1"), nil, cli.ExitUsage},
		{"redis/malformed", "redis://127.0.0.1:bad port/0", nil, cli.ExitUsage},
		{"kubernetes/no kubeconfig", "kubernetes://default", []string{"KUBECONFIG=" + filepath.Join(dir, "none"), "HOME=" + dir}, cli.ExitUnavailable},
		{"kubernetes/unreachable", "kubernetes://default", []string{"KUBECONFIG=" + unreachableKubeconfig}, cli.ExitUnavailable},
		{"kubernetes/unknown parameter", "kubernetes://default?frobnicate=1", []string{"KUBECONFIG=" + unreachableKubeconfig}, cli.ExitUsage},
		{"kubernetes/malformed", "kubernetes://Not_A_Namespace", []string{"KUBECONFIG=" + unreachableKubeconfig}, cli.ExitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startLockctlEnv(t, tc.backend, "", tc.env, "get", "k").wait(t)
			t.Logf("exit %d: %s", r.code, r.stderr)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "lockctl: ") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting with \"lockctl: \"", r.stderr)
			}
			if strings.Contains(r.stderr, "\t") || strings.Contains(r.stderr, ":;") || strings.Contains(r.stderr, "migrating") {
				t.Errorf("stderr %q: joiner artifacts, or a connection failure blamed on the migration", r.stderr)
			}
			for _, secret := range []string{"wrong-password", "lockctl-test-password", postgresServer.Password()} {
				if strings.Contains(r.stderr, secret) {
					t.Errorf("stderr %q repeats a password", r.stderr)
				}
			}
		})
	}
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestVersion: lockctl version prints the build information, and the
// Makefile's -ldflags -X stamping overrides what the toolchain recorded.
func TestVersion(t *testing.T) {
	r := lockctl(t, "", "version")
	mustSucceed(t, r, "version")
	if !strings.HasPrefix(r.stdout, "lockctl ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("version printed %q, want one line starting with \"lockctl \"", r.stdout)
	}

	stamped := filepath.Join(t.TempDir(), "lockctl")
	const pkg = "github.com/leasehold/leasehold/internal/buildinfo"
	args := append([]string{"build", "-o", stamped, "-ldflags",
		"-X " + pkg + ".Version=v9.8.7 -X " + pkg + ".Commit=0123abcd -X " + pkg + ".Date=2026-11-25T10:00:00Z"}, gobuild.Flags()...)
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with -ldflags: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	var info struct{ Version, Commit, Date string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("version -o json printed %q: %v", out, err)
	}
	if info.Version != "v9.8.7" || info.Commit != "0123abcd" || info.Date != "2026-11-25T10:00:00Z" {
		t.Errorf("stamped version -o json = %+v, want v9.8.7, 0123abcd, 2026-11-25T10:00:00Z", info)
	}
}

// TestKubernetesExitCodes: an API server that refuses the kubeconfig's
// credentials, and a namespace that does not exist (Kubernetes' missing
// database), exit 6 like a refused login or a missing database on every
// other backend.
func TestKubernetesExitCodes(t *testing.T) {
	root, err := kubeenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := kubeenv.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (run `make setup-envtest`): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-valid-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, cfg.Host)
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminConfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	adminKubeconfig := filepath.Join(t.TempDir(), "admin-kubeconfig")
	if err := os.WriteFile(adminKubeconfig, adminConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kubeconfig, backend string
		args                      []string
	}{
		{"refused login", kubeconfig, "kubernetes://default", []string{"get", "k"}},
		{"missing namespace", adminKubeconfig, "kubernetes://no-such-namespace", []string{"acquire", "k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startLockctlEnv(t, tc.backend, "", []string{"KUBECONFIG=" + tc.kubeconfig}, tc.args...).wait(t)
			t.Logf("exit %d: %s", r.code, r.stderr)
			if r.code != cli.ExitUnavailable {
				t.Errorf("exit %d, want %d; stderr %q", r.code, cli.ExitUnavailable, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "lockctl: ") || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "not-a-valid-token") {
				t.Errorf("stderr %q, want one line starting with \"lockctl: \", without the token", r.stderr)
			}
		})
	}
	// acquire in a Pod (the downward API's variables set) binds the grant
	// to it, so that the controller frees the lock once the Pod is gone.
	t.Run("acquire binds the Pod of the environment", func(t *testing.T) {
		c, err := client.New(cfg, client.Options{Scheme: kubernetes.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		const uid = "3b9f5d2e-4444-4a1b-9c8d-000000000000" // envtest runs no Pods; the backend does not read it
		r := startLockctlEnv(t, "kubernetes://default", "", []string{"KUBECONFIG=" + adminKubeconfig,
			"LEASEHOLD_POD_NAME=worker-0", "LEASEHOLD_POD_NAMESPACE=default", "LEASEHOLD_POD_UID=" + uid},
			"acquire", "pod-bound").wait(t)
		if r.code != 0 {
			t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
		}
		lock := &locksv1alpha1.DistributedLock{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "pod-bound"}, lock); err != nil {
			t.Fatal(err)
		}
		if want := (&locksv1alpha1.HolderPod{Name: "worker-0", UID: uid}); lock.Spec.HolderPod == nil || *lock.Spec.HolderPod != *want {
			t.Errorf("spec.holderPod = %+v, want %+v", lock.Spec.HolderPod, want)
		}
	})
}

// TestRunForwardsSignalsToLeftoverChildren: while run waits for what the
// command left in its group, SIGTERM to lockctl still reaches them (with
// --grace 10m, run would otherwise wait ten minutes).
func TestRunForwardsSignalsToLeftoverChildren(t *testing.T) {
	backend := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	dir := t.TempDir()
	script := `(trap 'echo term > marker; exit 0' TERM; echo x > ready.tmp && mv ready.tmp ready; while :; do sleep 0.05; done) & exit 0`
	p := startLockctl(t, backend, dir, "run", "f", "--grace", "10m", "--", "sh", "-c", script)
	waitForFile(t, filepath.Join(dir, "ready"), p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	if r.code != 0 {
		t.Errorf("run: exit %d, want the command's 0; stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
		t.Errorf("the leftover child did not get SIGTERM: %v", err)
	}
	if got := getLock(t, backend, "f"); got.Held {
		t.Errorf("after run: %+v, want released", got)
	}
}
