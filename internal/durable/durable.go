// Package durable holds the filesystem steps that make a change survive a crash, shared
// by the recorder and the uploader.
package durable

import "os"

// SyncDir fsyncs a directory, so that a file created in it or renamed into it keeps its
// name after a crash (fsync(2): a file's own sync does not cover its directory entry).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
