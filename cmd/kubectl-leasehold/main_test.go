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
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/internal/cli"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/gobuild"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

var (
	// pluginBin is kubectl-leasehold, built once, with -race when the
	// test runs with it (test/support/gobuild).
	pluginBin string
	// kubeconfig has two contexts on the envtest API server: "team-a"
	// (current, namespace team-a) and "team-b" (namespace team-b).
	kubeconfig string
	k8s        client.Client
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	logf.SetLogger(logr.Discard()) // envtest logs through it
	dir, err := os.MkdirTemp("", "kubectl-leasehold-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	pluginBin = filepath.Join(dir, "kubectl-leasehold")
	build := exec.Command("go", append(append([]string{"build", "-o", pluginBin}, gobuild.Flags()...), ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kubectl-leasehold:", err)
		return 1
	}

	env, err := kubeenv.Environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make setup-envtest` to build the control plane binaries): %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if err := setUp(env, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// setUp writes the two-context kubeconfig and creates the namespaces.
func setUp(env *envtest.Environment, dir string) error {
	admin, err := env.AddUser(envtest.User{Name: "plugin-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return err
	}
	base := cfg.Contexts[cfg.CurrentContext]
	for _, ns := range []string{"team-a", "team-b"} {
		c := base.DeepCopy()
		c.Namespace = ns
		cfg.Contexts[ns] = c
	}
	cfg.CurrentContext = "team-a"
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return err
	}
	scheme := kubernetes.Scheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	k8s, err = client.New(admin.Config(), client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	return nil
}

// plugin runs kubectl-leasehold with args, KUBECONFIG pointing at the
// test's kubeconfig (unless env sets it), and returns stdout, stderr and
// the exit code.
func plugin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), pluginBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running kubectl-leasehold %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// mustPlugin is plugin that fails the test on a non-zero exit.
func mustPlugin(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := plugin(t, env, args...)
	if code != 0 {
		t.Fatalf("kubectl-leasehold %v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

// object reads the DistributedLock called name in ns; nil when absent.
func object(t *testing.T, ns, name string) *locksv1alpha1.DistributedLock {
	t.Helper()
	var dl locksv1alpha1.DistributedLock
	err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &dl)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &dl
}

// TestNamespaceSelection acquires, reads and releases a lock with each way
// of choosing the namespace, and checks through the API server that the
// object is in that namespace only, under the name get prints.
func TestNamespaceSelection(t *testing.T) {
	cases := []struct {
		name  string
		env   []string
		flags []string
		ns    string
	}{
		{"current context's namespace", nil, nil, "team-a"},
		{"-n", nil, []string{"-n", "team-b"}, "team-b"},
		{"--namespace over the context's", nil, []string{"--namespace=team-c"}, "team-c"},
		{"--context", nil, []string{"--context", "team-b"}, "team-b"},
		{"--kubeconfig over $KUBECONFIG", []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")},
			[]string{"--kubeconfig", kubeconfig}, "team-a"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("jobs/nightly-%d", i) // a derived object name
			name := kubernetes.ObjectName(key)
			if name == key {
				t.Fatalf("key %q should not be its own object name", key)
			}
			args := func(a ...string) []string { return append(a, tc.flags...) }

			var grant cli.LockView
			out := mustPlugin(t, tc.env, args("acquire", key, "--holder", "plugin-test", "-o", "json")...)
			if err := json.Unmarshal([]byte(out), &grant); err != nil {
				t.Fatalf("acquire -o json: %v in %q", err, out)
			}
			if grant.Object != name {
				t.Errorf("acquire: object %q, want %q", grant.Object, name)
			}
			dl := object(t, tc.ns, name)
			if dl == nil || dl.Spec.Key != key || dl.Spec.HolderIdentity != "plugin-test" {
				t.Fatalf("after acquire, DistributedLock %s/%s = %+v, want key %q held by plugin-test", tc.ns, name, dl, key)
			}
			for _, other := range []string{"team-a", "team-b", "team-c"} {
				if other != tc.ns && object(t, other, name) != nil {
					t.Errorf("a DistributedLock %s exists in namespace %s too", name, other)
				}
			}

			if got, want := mustPlugin(t, tc.env, args("get", key, "-o", "name")...),
				"distributedlock.locks.leasehold.dev/"+name+"\n"; got != want {
				t.Errorf("get -o name = %q, want %q", got, want)
			}
			table := mustPlugin(t, tc.env, args("get", key)...)
			lines := strings.Split(strings.TrimSpace(table), "\n")
			if len(lines) != 2 || strings.Fields(lines[0])[6] != "OBJECT" || strings.Fields(lines[1])[6] != name {
				t.Errorf("get's table has no OBJECT column with %q:\n%s", name, table)
			}

			mustPlugin(t, tc.env, args("release", key, "--holder", "plugin-test", "--version", grant.Version)...)
			if dl := object(t, tc.ns, name); dl == nil || dl.Spec.HolderIdentity != "" {
				t.Errorf("after release, DistributedLock %s/%s = %+v, want it free", tc.ns, name, dl)
			}
		})
	}
}

// TestPlainKeyIsItsOwnObject checks that a key that is a valid object name
// names its own object, as a DistributedLock written by hand would be.
func TestPlainKeyIsItsOwnObject(t *testing.T) {
	mustPlugin(t, nil, "acquire", "db-migration", "--holder", "plugin-test", "-n", "team-b")
	if got, want := mustPlugin(t, nil, "get", "db-migration", "-n", "team-b", "-o", "name"),
		"distributedlock.locks.leasehold.dev/db-migration\n"; got != want {
		t.Errorf("get -o name = %q, want %q", got, want)
	}
	if object(t, "team-b", "db-migration") == nil {
		t.Error("no DistributedLock db-migration in team-b")
	}
}

// TestErrors checks the exit codes and the one-line errors of the
// plugin's own flags.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing namespace", []string{"get", "k", "-n", "no-such-namespace"}, cli.ExitNotFound, "kubectl-leasehold: "},
		{"invalid namespace", []string{"get", "k", "-n", "Not_A_Namespace"}, cli.ExitUsage, "kubectl-leasehold: "},
		{"unknown context", []string{"get", "k", "--context", "nowhere"}, cli.ExitUnavailable, `context was not found for specified context: nowhere`},
		{"lockctl's --backend", []string{"get", "k", "--backend", "redis://x"}, cli.ExitUsage, "unknown flag: --backend"},
		{"-o name is not lockctl's", []string{"get", "k", "-o", "wide"}, cli.ExitUsage, "use table, json, yaml or name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := plugin(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("kubectl-leasehold %v: exit %d, stderr %q; want exit %d and one line containing %q",
					tc.args, code, errOut, tc.code, tc.want)
			}
		})
	}
}
