package cli

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts run's command in a process group of its own when
// ownGroup is set, and has the kernel send it SIGKILL if lockctl dies:
// nobody would renew its lease any more.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGKILL}
}

// adoptOrphans makes lockctl the parent of the processes its command leaves
// behind when it exits, so that run can reap them (reapGroup) while it
// waits for the command's process group: reparented to an init that does
// not reap, they would stay in the group as zombies.
func adoptOrphans() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }
