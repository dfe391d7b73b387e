package lockmanager_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Importing the package must not link clients a program may not use:
// Prometheus support lives in package lockmetrics.
func TestDependenciesExcludeOptionalClients(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/prometheus/") {
			t.Errorf("package lockmanager imports %s", dep)
		}
	}
}
