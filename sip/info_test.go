package sip

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInteropSippINFO(t *testing.T) {
	type dtmf struct {
		digit byte
		dur   time.Duration
	}
	digits := make(chan dtmf, 2)
	keyframes := make(chan struct{}, 2)
	u, calls := streamer(t,
		WithDTMF(func(c *Call, d byte, dur time.Duration) { digits <- dtmf{d, dur} }),
		WithKeyframeRequest(func(c *Call) { keyframes <- struct{}{} }))
	p, c := sippCall(t, u, calls, "-sf", filepath.Join("testdata", "info.xml"))
	require.Equal(t, dtmf{'5', 160 * time.Millisecond}, <-digits)
	<-keyframes
	require.Eventually(t, func() bool { return c.State() == DialogEstablished }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.RequestKeyframe(ctx))
	require.NoError(t, c.SendDTMF(ctx, '7', 100*time.Millisecond))
	require.Error(t, c.SendDTMF(ctx, 'x', 0))
	require.NoError(t, p.Wait(time.Minute), "sipp checked our INFO bodies:\n%s", p.Output())
}

func TestParseDTMFRelay(t *testing.T) {
	d, dur, ok := parseDTMFRelay("Signal=#\r\nDuration=250\r\n")
	require.True(t, ok)
	require.Equal(t, byte('#'), d)
	require.Equal(t, 250*time.Millisecond, dur)
	for _, bad := range []string{"", "Signal=55", "Signal=x", "Signal=1\nDuration=-4", "Duration=100"} {
		_, _, ok := parseDTMFRelay(bad)
		require.False(t, ok, bad)
	}
}
