package cli

import "syscall"

// sysProcAttr puts run's command in a process group of its own when
// ownGroup is set, and has the kernel send it SIGKILL if lockctl dies:
// nobody would renew its lease any more.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGKILL}
}
