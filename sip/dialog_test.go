package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The one dialog model, both ways, with only Go: an outgoing call and the incoming call
// it makes agree on state, Contact parameters and how the call ended; a keyframe
// request (SIP INFO) from the caller reaches the callee's handler.
func TestDialogModelBothWays(t *testing.T) {
	keyframes := make(chan *Call, 1)
	callee, calls := streamer(t, WithKeyframeRequest(func(c *Call) { keyframes <- c }))
	caller, err := New(WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	defer caller.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, callerHangsUp := range []bool{true, false} {
		out, err := caller.Dial(ctx, "sip:s@"+callee.UDPAddr().String(), []byte(hostileOffer), DialOptions{ContactParams: map[string]string{"x-cisco-stream": "rtmp://h/app/key"}})
		require.NoError(t, err)
		in := <-calls
		var dialogs = []Dialog{out, in}
		require.Eventually(t, func() bool { return in.State() == DialogEstablished }, 5*time.Second, 5*time.Millisecond)
		require.Equal(t, DialogEstablished, out.State())
		require.Equal(t, in.CallID(), out.CallID())
		v, ok := in.ContactParam("x-cisco-stream")
		require.True(t, ok)
		require.Equal(t, "rtmp://h/app/key", v)
		require.NoError(t, out.RequestKeyframe(ctx))
		require.Same(t, in, <-keyframes)

		hanger, other := Dialog(out), Dialog(in)
		if !callerHangsUp {
			hanger, other = in, out
		}
		require.NoError(t, hanger.Hangup(ctx))
		for _, d := range dialogs {
			select {
			case <-d.Done():
			case <-ctx.Done():
				t.Fatal("the call did not end on both sides")
			}
			require.Equal(t, DialogEnded, d.State())
		}
		require.ErrorIs(t, hanger.Err(), ErrHangupLocal)
		require.ErrorIs(t, other.Err(), ErrHangupRemote)
		var end *EndError
		require.True(t, errors.As(other.Err(), &end))
		require.NotEmpty(t, end.Reason)
	}
}
