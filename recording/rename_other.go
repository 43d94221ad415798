//go:build !linux

package recording

import (
	"errors"
	"os"
)

// renameat2NoReplace is not available here: renameNoReplace falls back to a hard link.
func renameat2NoReplace(from, to string) error {
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.ErrUnsupported}
}
