// Package host describes the machine a measurement ran on, for the
// headers of the reports in bench/results.
package host

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine is a report's record of where and when it was measured.
type Machine struct {
	Date        string `json:"date"`
	CPUs        int    `json:"nproc"`
	CPUModel    string `json:"cpuModel"`
	GoVersion   string `json:"goVersion"`
	LoadAtStart string `json:"loadAverageAtStart"`
	LoadAtEnd   string `json:"loadAverageAtEnd"`
	Commit      string `json:"commit"`
	Elapsed     string `json:"elapsed"`

	start time.Time
}

// Describe records the machine now, at the start of a measurement, with
// the commit checked out in repo.
func Describe(repo string) Machine {
	m := Machine{
		Date:        time.Now().UTC().Format(time.RFC3339),
		CPUs:        runtime.NumCPU(),
		CPUModel:    CPUModel(),
		GoVersion:   runtime.Version(),
		LoadAtStart: LoadAverage(),
		start:       time.Now(),
	}
	if out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// Finish records the load at the end and the time the measurement took.
func (m *Machine) Finish() {
	m.LoadAtEnd = LoadAverage()
	m.Elapsed = time.Since(m.start).Round(time.Second).String()
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %s, load average %s, commit %s", m.CPUs, m.CPUModel, m.GoVersion, m.LoadAtStart, m.Commit)
}

// unknown stands for a figure of the machine that could not be read.
const unknown = "unknown"

// CPUModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return unknown
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return unknown
}

// LoadAverage returns the 1, 5 and 15 minute load averages of
// /proc/loadavg, or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return unknown
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
