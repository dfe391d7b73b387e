package helmchart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// The release the chart is rendered as: config/default's namespace, and
// the chart's name as the release name, as the README installs it.
const (
	releaseName      = "leasehold"
	releaseNamespace = "leasehold-system"
)

// chartLabels are the labels in which the chart may differ from
// config/default: they say which chart and release made an object
// (config/ says app.kubernetes.io/managed-by: kustomize).
var chartLabels = []string{
	"helm.sh/chart",
	"app.kubernetes.io/managed-by",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/version",
}

// TestMain quietens Helm's chart loader, which logs at info level each
// link it follows (crds/ and files/ are links into config/).
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

// object is one parsed manifest.
type object = map[string]any

// TestDefaultValuesInstallConfigDefault renders the chart with its default
// values and config/default, and requires the same objects, field for
// field, but for the chart's labels and the Namespace (the chart leaves
// the release's namespace to helm install --create-namespace unless
// namespace.create is set; TestNamespaceCreate compares it).
func TestDefaultValuesInstallConfigDefault(t *testing.T) {
	root := repoRoot(t)
	want := byKey(t, kustomize(t, root, "config/default"))
	got := byKey(t, renderChart(t, root, nil))

	nsKey := key("Namespace", "", releaseNamespace)
	if _, ok := want[nsKey]; !ok {
		t.Fatalf("config/default has no %s: the test's premise is out of date", nsKey)
	}
	delete(want, nsKey)
	compareObjects(t, "kubectl kustomize config/default", want, "the chart (default values)", got)
}

// TestNamespaceCreate: namespace.create=true renders config/default's
// Namespace, with its Pod Security label.
func TestNamespaceCreate(t *testing.T) {
	root := repoRoot(t)
	all := byKey(t, kustomize(t, root, "config/default"))
	nsKey := key("Namespace", "", releaseNamespace)
	got := byKey(t, renderChart(t, root, []string{"namespace.create=true"}))
	compareObjects(t, "kubectl kustomize config/default", map[string]object{nsKey: all[nsKey]},
		"the chart (namespace.create=true)", map[string]object{nsKey: got[nsKey]})
}

// TestPrometheusObjects: metrics.serviceMonitor.enable and
// metrics.prometheusRule.enable add config/prometheus' ServiceMonitor and
// PrometheusRule, and nothing else; without them neither is rendered.
func TestPrometheusObjects(t *testing.T) {
	root := repoRoot(t)
	want := byKey(t, kustomize(t, root, "config/prometheus"))
	if len(want) != 2 {
		t.Fatalf("config/prometheus renders %d objects, want the ServiceMonitor and the PrometheusRule", len(want))
	}
	defaults := byKey(t, renderChart(t, root, nil))
	for k := range want {
		if _, ok := defaults[k]; ok {
			t.Errorf("the chart renders %s with default values, want it only when enabled", k)
		}
	}
	got := byKey(t, renderChart(t, root, []string{
		"metrics.serviceMonitor.enable=true", "metrics.prometheusRule.enable=true"}))
	for k := range defaults {
		delete(got, k)
	}
	compareObjects(t, "kubectl kustomize config/prometheus", want, "the chart (ServiceMonitor and PrometheusRule on)", got)
}

// TestValuesLandWhereTheyShould sets non-default values and checks the
// fields they must change (and, with the same objects, that the rest of
// the install is untouched where the test says so).
func TestValuesLandWhereTheyShould(t *testing.T) {
	root := repoRoot(t)
	managerKey := key("Deployment", releaseNamespace, "leasehold-controller-manager")

	t.Run("image, replicas and manager flags", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{
			"controllerManager.image.repository=registry.example.com/leasehold/manager",
			"controllerManager.image.tag=v1.2.3",
			"controllerManager.image.pullPolicy=Always",
			"controllerManager.replicas=3",
			"controllerManager.watchNamespaces={team-a,team-b}",
			"controllerManager.reapGrace=30s",
			"controllerManager.clockSkewAllowance=2s",
			"controllerManager.maxConcurrentReconciles=16",
			"controllerManager.kubeAPI.qps=50",
			"controllerManager.kubeAPI.burst=100",
			"controllerManager.reapEvents.qps=5",
			"controllerManager.reapEvents.burst=10",
			"controllerManager.memoryLimitRatio=0.5",
			"controllerManager.logging.level=debug",
			"controllerManager.extraArgs={--zap-encoder=console}",
			"controllerManager.resources.limits.memory=1Gi",
		}))
		dep := mustGet(t, got, managerKey)
		if r := field(t, dep, "spec", "replicas"); r != float64(3) {
			t.Errorf("spec.replicas = %v, want 3", r)
		}
		c := managerContainer(t, dep)
		for path, want := range map[string]any{
			"image":                   "registry.example.com/leasehold/manager:v1.2.3",
			"imagePullPolicy":         "Always",
			"resources.limits.memory": "1Gi",
		} {
			if got := field(t, c, strings.Split(path, ".")...); got != want {
				t.Errorf("manager container %s = %v, want %v", path, got, want)
			}
		}
		wantArgs := []string{
			"--leader-elect",
			"--metrics-bind-address=:8443",
			"--health-probe-bind-address=:8081",
			"--zap-devel=false",
			"--zap-log-level=debug",
			"--memory-limit=$(MEMORY_LIMIT)",
			"--namespaces=team-a,team-b",
			"--clock-skew-allowance=2s",
			"--reap-grace=30s",
			"--max-concurrent-reconciles=16",
			"--kube-api-qps=50",
			"--kube-api-burst=100",
			"--reap-event-qps=5",
			"--reap-event-burst=10",
			"--memory-limit-ratio=0.5",
			"--zap-encoder=console",
		}
		if diff := cmp.Diff(wantArgs, args(t, c)); diff != "" {
			t.Errorf("manager args (-want +got):\n%s", diff)
		}
	})

	t.Run("leader election off", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"controllerManager.leaderElection.enable=false"}))
		if a := args(t, managerContainer(t, mustGet(t, got, managerKey))); slices.Contains(a, "--leader-elect") {
			t.Errorf("manager args %q contain --leader-elect with leaderElection.enable=false", a)
		}
	})

	t.Run("leader election namespace", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"controllerManager.leaderElection.namespace=kube-leases"}))
		a := args(t, managerContainer(t, mustGet(t, got, managerKey)))
		if !slices.Contains(a, "--leader-election-namespace=kube-leases") {
			t.Errorf("manager args %q lack --leader-election-namespace=kube-leases", a)
		}
		mustGet(t, got, key("Role", "kube-leases", "leasehold-manager-role"))
		mustGet(t, got, key("RoleBinding", "kube-leases", "leasehold-leader-election-rolebinding"))
	})

	t.Run("plain HTTP metrics", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"metrics.secure=false", "metrics.port=8080",
			"metrics.serviceMonitor.enable=true"}))
		c := managerContainer(t, mustGet(t, got, managerKey))
		a := args(t, c)
		for _, want := range []string{"--metrics-bind-address=:8080", "--metrics-secure=false"} {
			if !slices.Contains(a, want) {
				t.Errorf("manager args %q lack %s", a, want)
			}
		}
		if diff := cmp.Diff([]any{
			object{"name": "http", "containerPort": float64(8080), "protocol": "TCP"},
			object{"name": "probes", "containerPort": float64(8081), "protocol": "TCP"},
		}, field(t, c, "ports")); diff != "" {
			t.Errorf("manager container ports (-want +got):\n%s", diff)
		}
		svc := mustGet(t, got, key("Service", releaseNamespace, "leasehold-controller-manager-metrics-service"))
		if diff := cmp.Diff([]any{object{"name": "http", "port": float64(8080), "protocol": "TCP", "targetPort": "http"}},
			field(t, svc, "spec", "ports")); diff != "" {
			t.Errorf("metrics Service ports (-want +got):\n%s", diff)
		}
		mon := mustGet(t, got, key("ServiceMonitor", releaseNamespace, "leasehold-controller-manager-metrics-monitor"))
		if diff := cmp.Diff([]any{object{"path": "/metrics", "port": "http", "scheme": "http"}},
			field(t, mon, "spec", "endpoints")); diff != "" {
			t.Errorf("ServiceMonitor endpoints (-want +got):\n%s", diff)
		}
		// No TokenReviews without HTTPS: the manager needs no right for them.
		for _, name := range []string{"leasehold-metrics-auth-role", "leasehold-metrics-reader"} {
			if _, ok := got[key("ClusterRole", "", name)]; ok {
				t.Errorf("ClusterRole %s rendered with metrics.secure=false", name)
			}
		}
	})

	t.Run("metrics certificate", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"metrics.certSecretName=leasehold-metrics-cert"}))
		dep := mustGet(t, got, managerKey)
		c := managerContainer(t, dep)
		if a := args(t, c); !slices.Contains(a, "--metrics-cert-dir=/tmp/k8s-metrics-server/metrics-certs") {
			t.Errorf("manager args %q lack --metrics-cert-dir", a)
		}
		if diff := cmp.Diff([]any{object{"name": "metrics-certs", "mountPath": "/tmp/k8s-metrics-server/metrics-certs", "readOnly": true}},
			field(t, c, "volumeMounts")); diff != "" {
			t.Errorf("manager volumeMounts (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]any{object{"name": "metrics-certs", "secret": object{"secretName": "leasehold-metrics-cert"}}},
			field(t, dep, "spec", "template", "spec", "volumes")); diff != "" {
			t.Errorf("Pod volumes (-want +got):\n%s", diff)
		}
	})

	t.Run("metrics off", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"metrics.enable=false"}))
		c := managerContainer(t, mustGet(t, got, managerKey))
		if a := args(t, c); !slices.Contains(a, "--metrics-bind-address=0") {
			t.Errorf("manager args %q lack --metrics-bind-address=0", a)
		}
		for _, k := range []string{
			key("Service", releaseNamespace, "leasehold-controller-manager-metrics-service"),
			key("ClusterRole", "", "leasehold-metrics-auth-role"),
			key("ClusterRoleBinding", "", "leasehold-metrics-auth-rolebinding"),
			key("ClusterRole", "", "leasehold-metrics-reader"),
		} {
			if _, ok := got[k]; ok {
				t.Errorf("%s rendered with metrics.enable=false", k)
			}
		}
	})

	t.Run("client roles off", func(t *testing.T) {
		got := byKey(t, renderChart(t, root, []string{"rbacHelpers.enable=false"}))
		for _, name := range []string{"leasehold-lock-editor", "leasehold-lock-viewer"} {
			if _, ok := got[key("ClusterRole", "", name)]; ok {
				t.Errorf("ClusterRole %s rendered with rbacHelpers.enable=false", name)
			}
		}
		mustGet(t, got, key("ClusterRole", "", "leasehold-manager-role"))
	})
}

// TestBadValuesAreRefused: values the manager would refuse at start, or
// that make no sense together, fail the render with a message naming the
// value.
func TestBadValuesAreRefused(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		set  []string
		want []string
	}{
		{[]string{"controllerManager.replicas=-1"}, []string{"/controllerManager/replicas", "minimum"}},
		{[]string{"controllerManager.image.pullPolicy=Sometimes"}, []string{"/controllerManager/image/pullPolicy"}},
		{[]string{"controllerManager.memoryLimitRatio=1.5"}, []string{"/controllerManager/memoryLimitRatio"}},
		{[]string{"controllerManager.reapGrace=soon"}, []string{"/controllerManager/reapGrace"}},
		{[]string{"controllerManager.watchNamespaces={Team_A}"}, []string{"/controllerManager/watchNamespaces/0"}},
		{[]string{"controllerManager.kubeAPI.qps=0"}, []string{"/controllerManager/kubeAPI/qps"}},
		{[]string{"metrics.port=70000"}, []string{"/metrics/port", "maximum"}},
		{[]string{"metrics.enable=false", "metrics.serviceMonitor.enable=true"},
			[]string{"metrics.serviceMonitor.enable needs metrics.enable"}},
		{[]string{"metrics.secure=false", "metrics.certSecretName=c"}, []string{"metrics.certSecretName needs metrics.secure"}},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			_, err := render(root, tc.set)
			if err == nil {
				t.Fatalf("rendering with %v succeeded, want an error mentioning %q", tc.set, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestCRDIsTheGeneratedFile: the chart's CRD is config/crd/bases' file,
// byte for byte (crds/ links to it), so that it cannot drift from what
// controller-gen generates.
func TestCRDIsTheGeneratedFile(t *testing.T) {
	root := repoRoot(t)
	ch, err := loader.Load(filepath.Join(root, "dist", "chart"))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds := ch.CRDObjects()
	if len(crds) != len(generated) {
		t.Fatalf("the chart has %d CRDs, config/crd/bases %d", len(crds), len(generated))
	}
	for _, path := range generated {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(crds, func(c chart.CRD) bool { return c.Name == "crds/"+filepath.Base(path) })
		if i < 0 {
			t.Errorf("the chart has no crds/%s", filepath.Base(path))
			continue
		}
		if !bytes.Equal(crds[i].File.Data, want) {
			t.Errorf("the chart's %s differs from config/crd/bases/%s", crds[i].Name, filepath.Base(path))
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := kubeenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// kustomize renders dir (relative to root) with `kubectl kustomize`.
func kustomize(t *testing.T, root, dir string) []object {
	t.Helper()
	assets, err := kubeenv.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("no kubectl (run `make setup-envtest`): %v", err)
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(root, dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := parse(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return objs
}

// renderChart renders dist/chart as `helm template --include-crds` would,
// with the --set values set.
func renderChart(t *testing.T, root string, set []string) []object {
	t.Helper()
	objs, err := render(root, set)
	if err != nil {
		t.Fatalf("rendering the chart with %v: %v", set, err)
	}
	return objs
}

func render(root string, set []string) ([]object, error) {
	ch, err := loader.Load(filepath.Join(root, "dist", "chart"))
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{
		Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true,
	}, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	var manifests bytes.Buffer
	for _, crd := range ch.CRDObjects() {
		fmt.Fprintf(&manifests, "---\n%s\n", crd.File.Data)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, ".yaml") {
			fmt.Fprintf(&manifests, "---\n# Source: %s\n%s\n", name, files[name])
		}
	}
	return parse(manifests.Bytes())
}

// parse splits a YAML stream into objects, skipping empty documents.
func parse(data []byte) ([]object, error) {
	var objs []object
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
}

func key(kind, namespace, name string) string {
	return kind + " " + namespace + "/" + name
}

// byKey indexes objects by kind, namespace and name, failing on duplicates,
// and drops the chart's labels (an empty label map then counts as none).
func byKey(t *testing.T, objs []object) map[string]object {
	t.Helper()
	m := map[string]object{}
	for _, o := range objs {
		kind, _ := o["kind"].(string)
		meta, _ := o["metadata"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		k := key(kind, ns, name)
		if _, dup := m[k]; dup {
			t.Fatalf("%s appears twice", k)
		}
		if labels, ok := meta["labels"].(map[string]any); ok {
			for _, l := range chartLabels {
				delete(labels, l)
			}
			if len(labels) == 0 {
				delete(meta, "labels")
			}
		}
		m[k] = o
	}
	return m
}

// compareObjects fails with one diff per object that differs, and the keys
// of objects on one side only.
func compareObjects(t *testing.T, wantName string, want map[string]object, gotName string, got map[string]object) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, inWant := want[k]
		g, inGot := got[k]
		switch {
		case !inGot:
			t.Errorf("%s: in %s, missing from %s", k, wantName, gotName)
		case !inWant:
			t.Errorf("%s: in %s, not in %s", k, gotName, wantName)
		default:
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("%s differs (-%s +%s):\n%s", k, wantName, gotName, diff)
			}
		}
	}
}

func mustGet(t *testing.T, objs map[string]object, k string) object {
	t.Helper()
	o, ok := objs[k]
	if !ok {
		var have []string
		for h := range objs {
			have = append(have, h)
		}
		sort.Strings(have)
		t.Fatalf("no %s among:\n%s", k, strings.Join(have, "\n"))
	}
	return o
}

// field returns the value at path, failing if a step is missing.
func field(t *testing.T, o object, path ...string) any {
	t.Helper()
	var v any = o
	for i, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is not an object", strings.Join(path[:i], "."))
		}
		if v, ok = m[p]; !ok {
			t.Fatalf("no %s", strings.Join(path[:i+1], "."))
		}
	}
	return v
}

func managerContainer(t *testing.T, dep object) object {
	t.Helper()
	for _, c := range field(t, dep, "spec", "template", "spec", "containers").([]any) {
		if c, ok := c.(map[string]any); ok && c["name"] == "manager" {
			return c
		}
	}
	t.Fatal("the Deployment has no container named manager")
	return nil
}

func args(t *testing.T, c object) []string {
	t.Helper()
	var out []string
	for _, a := range field(t, c, "args").([]any) {
		out = append(out, fmt.Sprint(a))
	}
	return out
}
