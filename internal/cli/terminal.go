package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// inTerminalForeground reports whether r is a terminal whose foreground
// process group is lockctl's: then a Ctrl-C reaches lockctl and whatever
// shares its process group.
func inTerminalForeground(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
