// Package dockerfile_test checks the Dockerfile without Docker: every
// package of this module that a `go build` in it compiles must be copied
// into its stage and let through by .dockerignore, and every -X in its
// ldflags must name a package the command imports (else the linker
// silently ignores it). A missing COPY line otherwise shows only when
// someone runs docker build.
//
// It reads the small part of the Dockerfile syntax the file uses: FROM
// (with AS, and stages built FROM an earlier stage), COPY of folders to
// the same path, RUN lines with go build, comments and line continuations.
package dockerfile_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

const module = "github.com/leasehold/leasehold"

// stage is one FROM of the Dockerfile.
type stage struct {
	name   string
	copies []string // folders and files copied from the build context
	builds []build
}

// build is one `go build` in a RUN line.
type build struct {
	line    int
	pkgs    []string // ./cmd/manager
	xPkgs   []string // the packages of -X pkg.Var=value
	command string
}

var (
	goBuildPkg = regexp.MustCompile(`(?:^|\s)(\./[^\s"'\\]+)`)
	xFlag      = regexp.MustCompile(`-X[\s=]+['"]?([^\s='"]+)\.[A-Za-z_][A-Za-z0-9_]*=`)
)

// parse reads the stages of a Dockerfile.
func parse(text string) ([]*stage, error) {
	var stages []*stage
	byName := map[string]*stage{}
	var logical strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && logical.Len() == 0) {
			continue // comments end no instruction, even inside a continuation
		}
		if logical.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		inst := logical.String()
		logical.Reset()
		fields := strings.Fields(inst)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			s := &stage{}
			if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			if base, ok := byName[fields[1]]; ok {
				s.copies = slices.Clone(base.copies)
			}
			stages = append(stages, s)
			if s.name != "" {
				byName[s.name] = s
			}
		case "COPY":
			if len(stages) == 0 {
				return nil, fmt.Errorf("line %d: COPY before FROM", start)
			}
			if slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--from=") }) {
				continue // from another stage or image, not the context
			}
			args := slices.DeleteFunc(fields[1:], func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(args) < 2 {
				return nil, fmt.Errorf("line %d: COPY needs a source and a destination", start)
			}
			srcs, dest := args[:len(args)-1], clean(args[len(args)-1])
			for _, src := range srcs {
				src = clean(src)
				if dest != "." && dest != src {
					return nil, fmt.Errorf("line %d: COPY %s to %s: the build expects each folder at its own path", start, src, dest)
				}
				stages[len(stages)-1].copies = append(stages[len(stages)-1].copies, src)
			}
		case "RUN":
			_, after, ok := strings.Cut(inst, "go build ")
			if !ok {
				continue
			}
			b := build{line: start, command: inst}
			for _, m := range goBuildPkg.FindAllStringSubmatch(after, -1) {
				b.pkgs = append(b.pkgs, m[1])
			}
			for _, m := range xFlag.FindAllStringSubmatch(after, -1) {
				b.xPkgs = append(b.xPkgs, m[1])
			}
			if len(b.pkgs) == 0 {
				return nil, fmt.Errorf("line %d: go build names no ./ package", start)
			}
			stages[len(stages)-1].builds = append(stages[len(stages)-1].builds, b)
		}
	}
	return stages, sc.Err()
}

func clean(p string) string { return path.Clean(strings.TrimSuffix(p, "/")) }

// pkgInfo is a package of this module that a command compiles.
type pkgInfo struct {
	importPath string
	dir        string   // relative to the repository root
	files      []string // relative to the repository root
}

// depsCache keeps go list's answers: each call takes a second or two.
var depsCache = map[string][]pkgInfo{}

// deps lists the packages of this module that pkg compiles for the image
// (linux, no cgo), pkg included.
func deps(t *testing.T, root, pkg string) []pkgInfo {
	t.Helper()
	if d, ok := depsCache[pkg]; ok {
		return d
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}},{{join .EmbedFiles ","}}{{end}}{{end}}`, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var list []pkgInfo
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		parts := strings.SplitN(strings.TrimSpace(line), "|", 3)
		dir, err := filepath.Rel(root, parts[1])
		if err != nil {
			t.Fatal(err)
		}
		p := pkgInfo{importPath: parts[0], dir: filepath.ToSlash(dir)}
		for f := range strings.SplitSeq(parts[2], ",") {
			if f != "" {
				p.files = append(p.files, path.Join(p.dir, f))
			}
		}
		list = append(list, p)
	}
	depsCache[pkg] = list
	return list
}

// check returns every problem of the Dockerfile and .dockerignore texts
// for the repository at root, one line each, and the packages built.
func check(t *testing.T, root, dockerfile, dockerignore string) (problems, built []string) {
	t.Helper()
	stages, err := parse(dockerfile)
	if err != nil {
		return []string{err.Error()}, nil
	}
	patterns, err := ignorefile.ReadAll(strings.NewReader(dockerignore))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := patternmatcher.New(patterns)
	if err != nil {
		return []string{".dockerignore: " + err.Error()}, nil
	}
	ignored := func(file string) bool {
		m, err := ignore.MatchesOrParentMatches(file)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	copied := func(s *stage, file string) bool {
		return slices.ContainsFunc(s.copies, func(c string) bool {
			return c == "." || file == c || strings.HasPrefix(file, c+"/")
		})
	}
	for _, s := range stages {
		for _, c := range s.copies {
			if ignored(c) {
				problems = append(problems, fmt.Sprintf("stage %s: COPY %s, which .dockerignore leaves out of the build context", s.name, c))
			}
		}
		for _, b := range s.builds {
			for _, f := range []string{"go.mod", "go.sum"} {
				if !copied(s, f) {
					problems = append(problems, fmt.Sprintf("stage %s, line %d: %s is not copied", s.name, b.line, f))
				}
			}
			var imported []string
			for _, pkg := range b.pkgs {
				built = append(built, pkg)
				for _, p := range deps(t, root, pkg) {
					imported = append(imported, p.importPath)
					if !copied(s, p.dir) {
						problems = append(problems, fmt.Sprintf("stage %s, line %d: go build %s imports %s, but no COPY copies %s/",
							s.name, b.line, pkg, p.importPath, p.dir))
						continue
					}
					for _, f := range p.files {
						if ignored(f) {
							problems = append(problems, fmt.Sprintf("stage %s, line %d: go build %s needs %s, which .dockerignore leaves out",
								s.name, b.line, pkg, f))
						}
					}
				}
			}
			for _, x := range b.xPkgs {
				if !slices.Contains(imported, x) {
					problems = append(problems, fmt.Sprintf("stage %s, line %d: -X %s...: no such package among what %s imports (the linker would ignore it)",
						s.name, b.line, x, strings.Join(b.pkgs, " ")))
				}
			}
		}
	}
	return problems, built
}

func readRepo(t *testing.T) (root, dockerfile, dockerignore string) {
	t.Helper()
	root, err := kubeenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	di, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	return root, string(df), string(di)
}

// TestDockerfileCopiesWhatTheCommandsImport checks the Dockerfile as it is:
// both images' builds find every package they import.
func TestDockerfileCopiesWhatTheCommandsImport(t *testing.T) {
	root, df, di := readRepo(t)
	problems, built := check(t, root, df, di)
	for _, p := range problems {
		t.Error(p)
	}
	slices.Sort(built)
	if want := []string{"./cmd/lockctl", "./cmd/manager"}; !slices.Equal(built, want) {
		t.Errorf("the Dockerfile builds %v, want %v", built, want)
	}
}

// TestEveryCopyLineIsNeeded removes each COPY line of the Dockerfile in
// turn and expects the check to name what is then missing: so every line
// is needed, and the check notices when one goes.
func TestEveryCopyLineIsNeeded(t *testing.T) {
	root, df, di := readRepo(t)
	lines := strings.Split(df, "\n")
	n := 0
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "COPY" || strings.HasPrefix(fields[1], "--from=") {
			continue
		}
		n++
		src := clean(fields[1])
		t.Run(src, func(t *testing.T) {
			without := strings.Join(slices.Delete(slices.Clone(lines), i, i+1), "\n")
			problems, _ := check(t, root, without, di)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, src) }) {
				t.Errorf("without %q the check reports %q; want a problem naming %s", line, problems, src)
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d COPY lines from the build context; the parser misreads the Dockerfile", n)
	}
}

func TestRejects(t *testing.T) {
	root, df, di := readRepo(t)
	cases := []struct {
		name           string
		dockerfile     string
		dockerignore   string
		wantSubstrings []string
	}{
		{
			name:           "an -X package that does not exist",
			dockerfile:     strings.Replace(df, module+"/internal/buildinfo.Version", module+"/internal/buildinf.Version", 1),
			wantSubstrings: []string{"-X " + module + "/internal/buildinf...", "linker would ignore it"},
		},
		{
			name:           "a folder .dockerignore leaves out",
			dockerignore:   strings.Replace(di, "!internal/cli/\n", "", 1),
			wantSubstrings: []string{"COPY internal/cli, which .dockerignore leaves out", "needs internal/cli/"},
		},
		{
			name:           "a folder copied elsewhere",
			dockerfile:     strings.Replace(df, "COPY pkg/ pkg/", "COPY pkg/ src/pkg/", 1),
			wantSubstrings: []string{"COPY pkg to src/pkg"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, i := tc.dockerfile, tc.dockerignore
			if d == "" {
				d = df
			}
			if i == "" {
				i = di
			}
			if d == df && i == di {
				t.Fatal("the case changes nothing: the Dockerfile or .dockerignore no longer has the text it replaces")
			}
			problems, _ := check(t, root, d, i)
			all := strings.Join(problems, "\n")
			for _, want := range tc.wantSubstrings {
				if !strings.Contains(all, want) {
					t.Errorf("problems %q; want one containing %q", problems, want)
				}
			}
		})
	}
}
