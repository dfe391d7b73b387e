//go:build unix

package cli

import "syscall"

// reapGroup collects the exit status of every child of lockctl in process
// group pgid that has exited.
func reapGroup(pgid int) {
	var ws syscall.WaitStatus
	for {
		pid, err := syscall.Wait4(-pgid, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
