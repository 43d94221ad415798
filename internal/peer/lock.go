package peer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Serialize runs the rest of a timing-sensitive interop test (lip sync, reconnect timing)
// alone among the test binaries of this machine: go test runs packages in parallel, and
// on a two-core CI machine a peer like ffmpeg pacing real-time media must not compete
// with another package's race-detector run. The lock is released when the test ends.
func Serialize(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "sipcast-interop.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("interop lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("interop lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
