package lockmanager_test

import (
	"encoding/json"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leasehold/leasehold/test/support/gobuild"
)

// readmeSection is the README section whose Go program must build.
const readmeSection = "### Use it from Go\n"

// goBlock returns the first fenced Go block of the README section that
// starts with heading.
func goBlock(t *testing.T, readme, heading string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, heading)
	if !ok {
		t.Fatalf("README has no section %q", strings.TrimSpace(heading))
	}
	if next := strings.Index(section, "\n#"); next >= 0 {
		section = section[:next]
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatalf("README section %q has no ```go block", strings.TrimSpace(heading))
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatalf("README section %q has an unterminated ```go block", strings.TrimSpace(heading))
	}
	return block
}

// The README's Go program builds, as a package of this module (through a build overlay, so nothing is written to the tree).
func TestREADMEExampleBuilds(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src := goBlock(t, string(readme), readmeSection)
	if formatted, err := format.Source([]byte(src)); err == nil && string(formatted) != src {
		t.Errorf("the README's Go program is not gofmt'd; gofmt gives:\n%s", formatted)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// A package directory that does not exist on disk: the overlay alone
	// makes it.
	pkg := filepath.Join(here, "internal", "readmeexample")
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(pkg, "main.go"): file},
	})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append(append([]string{"build", "-overlay=" + overlayFile, "-o", os.DevNull}, gobuild.Flags()...), "./internal/readmeexample")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's Go program (section %q) does not build: %v\n%s\n--- program:\n%s", strings.TrimSpace(readmeSection), err, out, src)
	}
}
