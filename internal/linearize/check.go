package linearize

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of checking one history.
type Verdict struct {
	// Result is porcupine's: Ok, Illegal, or Unknown when the check ran
	// out of time (which proves nothing either way).
	Result porcupine.CheckResult
	// Info describes the longest partial linearizations, for Visualize.
	Info porcupine.LinearizationInfo
	// Took is how long the check ran.
	Took time.Duration
}

// Check checks ops for linearizability against Model, giving up after
// timeout (0: no limit).
func Check(ops []porcupine.Operation, timeout time.Duration) Verdict {
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model(), ops, timeout)
	return Verdict{Result: res, Info: info, Took: time.Since(start)}
}

// Visualize writes porcupine's interactive HTML view of the check to a new
// file in dir, named after name, and returns its path. The view shows, per
// key, the longest linearizable prefix and the operation that could not be
// placed after it.
func (v Verdict) Visualize(dir, name string) (string, error) {
	f, err := os.CreateTemp(dir, filepath.Base(name)+"-*.html")
	if err != nil {
		return "", err
	}
	if err := porcupine.Visualize(Model(), v.Info, f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return f.Name(), f.Close()
}
