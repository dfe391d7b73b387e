// Package gobuild gives the go build flags that make a binary built by a
// test (lockctl, the manager, the kubectl plugin) match the test binary
// that builds it: with the race detector when the test runs with -race.
//
// Besides finding races in the child processes, this keeps one compiled
// copy of the dependencies: make test compiles every package with -race,
// so a child built without it would compile Kubernetes' client libraries a
// second time on a cold machine.
package gobuild

// Flags returns the flags to pass to go build: -race when this binary was
// built with the race detector, none otherwise.
func Flags() []string {
	if race {
		return []string{"-race"}
	}
	return nil
}
