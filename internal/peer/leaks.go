package peer

import (
	"runtime"
	"testing"
	"time"
)

// CheckNoLeaks fails the test if goroutines started during it are still running once its
// cleanups have run (Close must join everything). Call it first in the test, so that its
// check runs after every later cleanup.
func CheckNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond) // polling for exits of already-closed goroutines
		}
	})
}
