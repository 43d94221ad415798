package recording

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameat2NoReplace is renameat2(2) with RENAME_NOREPLACE: fs.ErrExist when to exists.
func renameat2NoReplace(from, to string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
