// Package cronjobexample_test checks the CronJob example against a real
// API server (envtest, with the DistributedLock CRD): the manifests pass a
// server-side dry-run apply with strict field validation, and, applied,
// the CronJob's own command (lockctl run, run here as a process) takes the
// lock with the ServiceAccount's rights alone and hands the work its
// fencing token.
package cronjobexample_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/test/support/gobuild"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

const (
	manifest  = "nightly-report.yaml"
	namespace = "reports"
)

var (
	root       string
	kubectlBin string
	lockctlBin string
	// adminKubeconfig is system:masters; saKubeconfig the same server as
	// the example's ServiceAccount (impersonated).
	adminKubeconfig, saKubeconfig string
	k8s                           client.Client
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	logf.SetLogger(logr.Discard()) // envtest logs through it
	var err error
	if root, err = kubeenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "cronjob-example-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lockctlBin = filepath.Join(dir, "lockctl")
	build := exec.Command("go", append(append([]string{"build", "-o", lockctlBin}, gobuild.Flags()...), "./cmd/lockctl")...)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building lockctl:", err)
		return 1
	}
	env, err := kubeenv.EnvironmentIn(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectlBin = filepath.Join(env.BinaryAssetsDirectory, "kubectl")
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

func setUp(env *envtest.Environment, dir string) error {
	admin, err := env.AddUser(envtest.User{Name: "example-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	adminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(adminKubeconfig, raw, 0o600); err != nil {
		return err
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return err
	}
	for _, u := range cfg.AuthInfos {
		u.Impersonate = "system:serviceaccount:" + namespace + ":nightly-report"
	}
	saKubeconfig = filepath.Join(dir, "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, saKubeconfig); err != nil {
		return err
	}
	scheme := clientgoscheme.Scheme
	if k8s, err = client.New(admin.Config(), client.Options{Scheme: scheme}); err != nil {
		return err
	}
	// What the example says must be there first: the namespace, and what
	// make deploy installs (config/default: the CRD and the ClusterRole
	// leasehold-lock-editor; its Deployment gets no Pods without nodes).
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	out, err := exec.Command(kubectlBin, "--kubeconfig", adminKubeconfig, "apply",
		"-k", filepath.Join(root, "config", "default")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("applying config/default: %w: %s", err, out)
	}
	return nil
}

// kubectl runs kubectl as the admin with stdin and returns its combined
// output and error.
func kubectl(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), kubectlBin, append([]string{"--kubeconfig", adminKubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readManifest(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDryRunApply applies the example with a server-side dry run and
// strict field validation, and checks that the same check refuses a
// misspelt field, so that it is not a check that always passes.
func TestDryRunApply(t *testing.T) {
	args := []string{"apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-"}
	out, err := kubectl(t, readManifest(t), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, want := range []string{"serviceaccount/nightly-report serverside-applied (server dry run)",
		"rolebinding.rbac.authorization.k8s.io/nightly-report-locks serverside-applied (server dry run)",
		"cronjob.batch/nightly-report serverside-applied (server dry run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply printed %q; want a line %q", out, want)
		}
	}

	broken := bytes.Replace(readManifest(t), []byte("concurrencyPolicy:"), []byte("concurrencyPolicyy:"), 1)
	if out, err := kubectl(t, broken, args...); err == nil || !strings.Contains(out, "concurrencyPolicyy") {
		t.Errorf("a misspelt field passed the dry run (err %v):\n%s", err, out)
	}
}

// TestCronJobCommandTakesTheLock applies the example for real, then runs
// the CronJob's container command and environment as a local process with
// the ServiceAccount's identity: lockctl run must take the lock in the
// namespace with the RoleBinding's rights and hand the work its token.
func TestCronJobCommandTakesTheLock(t *testing.T) {
	if out, err := kubectl(t, readManifest(t), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	container := cronJobContainer(t)
	if container.Command[0] != "lockctl" || container.Command[1] != "run" {
		t.Fatalf("the CronJob's command is %q; want lockctl run", container.Command)
	}

	env := make([]string, 0, 3+len(container.Env))
	env = append(env, "KUBECONFIG="+saKubeconfig, "HOME="+t.TempDir(), "PATH="+os.Getenv("PATH"))
	vars := map[string]string{}
	for _, e := range container.Env {
		value := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			value = namespace // what the downward API gives the Pod
		}
		for name, v := range vars { // Kubernetes' $(VAR) expansion of earlier variables
			value = strings.ReplaceAll(value, "$("+name+")", v)
		}
		vars[e.Name] = value
		env = append(env, e.Name+"="+value)
	}
	if got, want := vars["LEASEHOLD_BACKEND"], "kubernetes://"+namespace; got != want {
		t.Fatalf("LEASEHOLD_BACKEND = %q, want %q", got, want)
	}

	args := append(slices.Clone(container.Command[1:]), container.Args...)
	cmd := exec.CommandContext(t.Context(), lockctlBin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the CronJob's command as the ServiceAccount: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`report written with fencing token ([1-9][0-9]*)\n`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the work did not get a fencing token:\n%s", out)
	}

	// The lock it took is the namespace's DistributedLock nightly-report,
	// with the token the work got, released after the work.
	got, err := kubectl(t, nil, "get", "distributedlock", "nightly-report", "-n", namespace,
		"-o", "jsonpath={.spec.key} {.spec.fencingToken} holder={.spec.holderIdentity}")
	if want := fmt.Sprintf("nightly-report %s holder=", m[1]); err != nil || got != want {
		t.Errorf("DistributedLock %s/nightly-report: %q (err %v); want %q", namespace, got, err, want)
	}

	// Without the RoleBinding the same command is refused, so the binding
	// is what grants the right.
	if out, err := kubectl(t, nil, "delete", "rolebinding", "nightly-report-locks", "-n", namespace); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cmd = exec.CommandContext(t.Context(), lockctlBin, args...)
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("without the RoleBinding: err %v, output:\n%s\nwant a permission denied failure", err, out)
	}
}

func cronJobContainer(t *testing.T) corev1.Container {
	t.Helper()
	for doc := range strings.SplitSeq(string(readManifest(t)), "\n---\n") {
		var cj batchv1.CronJob
		if err := yaml.Unmarshal([]byte(doc), &cj); err != nil {
			t.Fatal(err)
		}
		if cj.Kind == "CronJob" {
			return cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		}
	}
	t.Fatal("no CronJob in " + manifest)
	return corev1.Container{}
}
