//go:build unix && !linux

package cli

import "syscall"

// sysProcAttr puts run's command in a process group of its own when
// ownGroup is set. Only Linux can tie the command's life to lockctl's.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}

// adoptOrphans is Linux only; elsewhere init reaps what the command leaves.
func adoptOrphans() {}

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
