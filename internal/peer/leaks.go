package peer

import (
	"testing"

	"go.uber.org/goleak"
)

// leakOptions: goleak looks for goroutines (by identity, not by count) that were not
// running when the test started. Its retries add up to about 0.4 s: enough for a
// goroutine that has signalled its WaitGroup to return, not enough to hide one that Close
// forgot to join (the count-based check before polled for 5 s). os/signal's goroutine is
// the process's, started once.
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("os/signal.signal_recv"),
	goleak.IgnoreTopFunction("os/signal.loop"),
}

// CheckNoLeaks fails the test if goroutines started during it are still running once its
// cleanups have run (Close must join everything). Call it first in the test, so that its
// check runs after every later cleanup.
func CheckNoLeaks(t *testing.T) {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakOptions...)
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}
