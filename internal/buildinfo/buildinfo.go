package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by the Makefile, e.g.
//
//	-ldflags "-X github.com/leasehold/leasehold/internal/buildinfo.Version=v0.1.0"
//
// Empty means: take it from the build information the Go toolchain recorded.
var (
	Version string
	Commit  string
	Date    string
)

// Info is one binary's build.
type Info struct {
	// Version is the module version ("v0.1.0"), or "(devel)" for a build
	// of a checkout that the Makefile did not stamp.
	Version string `json:"version"`
	// Commit is the VCS revision, with "-dirty" when the tree had local
	// changes; empty when unknown.
	Commit string `json:"commit,omitempty"`
	// Date is the commit's time (RFC 3339, UTC); empty when unknown.
	Date string `json:"date,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	return fromBuildInfo(debug.ReadBuildInfo())
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{
		Version:   "(devel)",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if ok {
		if v := bi.Main.Version; v != "" {
			info.Version = v
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.Date = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && info.Commit != "" {
			info.Commit += "-dirty"
		}
	}
	if Version != "" {
		info.Version = Version
	}
	if Commit != "" {
		info.Commit = Commit
	}
	if Date != "" {
		info.Date = Date
	}
	return info
}

// String is the one line both binaries print: "v0.1.0 (commit abc123,
// 2026-11-25T10:00:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	s := i.Version + " ("
	if i.Commit != "" {
		s += "commit " + i.Commit + ", "
	}
	if i.Date != "" {
		s += i.Date + ", "
	}
	return s + fmt.Sprintf("%s %s)", i.GoVersion, i.Platform)
}
