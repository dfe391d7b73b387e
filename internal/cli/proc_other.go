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
