package kubeenv

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionFromGoMod(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ gomod, want, err string }{
		{"module x\n\nrequire (\n\tk8s.io/api v0.37.2\n\tk8s.io/apimachinery v0.37.2\n)\n", "1.37.2", ""},
		{"module x\n\nrequire k8s.io/api v0.36.1\n", "1.36.1", ""},
		{"module x\n\nrequire k8s.io/api v1.0.0\n", "", "is not a v0.X.Y version"},
		{"module x\n", "", "does not require k8s.io/api"},
	} {
		write(tc.gomod)
		got, err := Version(dir)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: Version = %q, %v; want %q", tc.gomod, got, err, tc.want)
		case tc.err != "" && (err == nil || !contains(err.Error(), tc.err)):
			t.Errorf("%q: Version error = %v; want one saying %q", tc.gomod, err, tc.err)
		}
	}
}

func TestAssetsDir(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	v, err := Version(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBEBUILDER_ASSETS", "")
	got, err := AssetsDir(root)
	want := filepath.Join(root, "bin", "k8s", v+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	if err != nil || got != want {
		t.Errorf("AssetsDir = %q, %v; want %q", got, err, want)
	}
	t.Setenv("KUBEBUILDER_ASSETS", "/elsewhere")
	if got, _ := AssetsDir(root); got != "/elsewhere" {
		t.Errorf("AssetsDir with KUBEBUILDER_ASSETS = %q, want /elsewhere", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
