package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/leasehold/leasehold", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-25T10:00:00Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	checkout := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/leasehold/leasehold", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-25T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	cases := []struct {
		name                  string
		bi                    *debug.BuildInfo
		ok                    bool
		version, commit, date string // the -X overrides
		want                  Info
	}{
		{"go install of a tag", stamped, true, "", "", "",
			Info{Version: "v0.3.0", Commit: "0123abcd", Date: "2026-11-25T10:00:00Z", GoVersion: "go1.26.8", Platform: platform}},
		{"dirty checkout", checkout, true, "", "", "",
			Info{Version: "(devel)", Commit: "0123abcd-dirty", Date: "2026-11-25T10:00:00Z", GoVersion: "go1.26.8", Platform: platform}},
		{"Makefile overrides", checkout, true, "v0.3.0-2-g0123abc", "0123abcd", "2026-11-26T00:00:00Z",
			Info{Version: "v0.3.0-2-g0123abc", Commit: "0123abcd", Date: "2026-11-26T00:00:00Z", GoVersion: "go1.26.8", Platform: platform}},
		{"no build information", nil, false, "", "", "",
			Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: platform}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Version, Commit, Date = tc.version, tc.commit, tc.date
			t.Cleanup(func() { Version, Commit, Date = "", "", "" })
			if diff := cmp.Diff(tc.want, fromBuildInfo(tc.bi, tc.ok)); diff != "" {
				t.Errorf("fromBuildInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestString(t *testing.T) {
	got := Info{Version: "v0.3.0", Commit: "0123abcd", Date: "2026-11-25T10:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}.String()
	if want := "v0.3.0 (commit 0123abcd, 2026-11-25T10:00:00Z, go1.26.8 linux/amd64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	got = Info{Version: "(devel)", GoVersion: "go1.26.8", Platform: "linux/amd64"}.String()
	if want := "(devel) (go1.26.8 linux/amd64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
