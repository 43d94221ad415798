package httpc

import (
	"context"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	for attempt := 1; attempt < 70; attempt++ {
		ceil := min(time.Second<<min(attempt-1, 20), 30*time.Second)
		for i := 0; i < 50; i++ {
			d := Backoff(attempt, time.Second, 30*time.Second)
			if d < ceil/2 || d > ceil {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, ceil/2, ceil)
			}
		}
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("got %v", err)
	}
}

func TestTrustPool(t *testing.T) {
	if _, ok := TrustPool([]byte("no pem here")); ok {
		t.Fatal("accepted a bundle without certificates")
	}
}
