package conference_test

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

// The CMS backend with only Go peers: an endpoint (an in-process SIP caller sending the
// clip) dials a space's URI and joins its conference; the API turns streaming (to an
// in-process RTMP server) and recording on and off; a call leg is dialled out through an
// outbound dial plan rule to an in-process callee; CDRs arrive; deleting the call ends
// every leg.
func TestCMSConferenceGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	streamURL, streams := goRTMP(t)
	r := newCMSRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client, err := cmsapi.NewClient(r.api.URL, tmsUser, tmsPass, cmsapi.WithHTTPClient(r.api.Client()))
	require.NoError(t, err)
	_, err = client.CreateObject(ctx, "system/cdrReceivers", &cmsapi.CdrReceiver{URI: r.cdrURL})
	require.NoError(t, err)
	cp, err := client.CreateObject(ctx, "callProfiles", &cmsapi.CallProfile{StreamingMode: "manual", RecordingMode: "manual"})
	require.NoError(t, err)
	space, err := client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board Room", URI: "board.room",
		StreamURL: streamURL("board-room-stream"), CallProfile: cp})
	require.NoError(t, err)

	// The callee of the dial-out leg: answers with an SDP of its own, sends nothing.
	calleeMedia, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer calleeMedia.Close()
	answered := make(chan *sip.Call, 1)
	callee, err := sip.New(sip.WithUDP("127.0.0.1:0"), sip.WithInviteHandler(func(c *sip.Call) ([]byte, error) {
		port := calleeMedia.LocalAddr().(*net.UDPAddr).Port
		ans, _, err := sdp.Answer(c.Offer, sdp.Config{Address: net.IPv4(127, 0, 0, 1), Direction: "sendrecv",
			Ports: func(string, int) (int, int) { return port, port + 1 }})
		answered <- c
		return ans, err
	}))
	require.NoError(t, err)
	defer callee.Close()
	_, err = client.CreateObject(ctx, "outboundDialPlanRules", &cmsapi.OutboundDialPlanRule{Domain: "example.test", Priority: cmsapi.Int(10),
		SipProxy: callee.UDPAddr().String(), SipControlEncryption: "unencrypted", FailureAction: "stop"})
	require.NoError(t, err)

	// The endpoint dials the space.
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	endpoint, _, sender := dialBridgeWith(ctx, t, r.bridge, clip, dialOpts{video: true, audio: true, user: "board.room"})

	var calls []cmsapi.Call
	require.Eventually(t, func() bool {
		calls, err = cmsapi.ListAll[cmsapi.Call](ctx, client, "calls", nil)
		return err == nil && len(calls) == 1
	}, 20*time.Second, 20*time.Millisecond, "the endpoint did not join the space")
	call := calls[0]
	assert.Equal(t, space, call.CoSpace)

	played := make(chan error, 1)
	go func() {
		frames := clip.Interleaved()
		for i := 0; i < 3; i++ { // 12 s: time for the API to switch outputs on and off
			shifted := make([]media.Frame, 0, len(frames))
			for _, f := range frames {
				f.DTS += time.Duration(i) * clip.Duration
				f.PTS += time.Duration(i) * clip.Duration
				shifted = append(shifted, f)
			}
			if err := sender.Play(ctx, shifted, 0, 0, nil); err != nil {
				played <- err
				return
			}
		}
		played <- nil
	}()

	require.NoError(t, client.Update(ctx, "calls/"+call.ID, url.Values{"streaming": {"true"}, "recording": {"true"}}))
	for started := false; !started; {
		select {
		case e := <-streams:
			started = e.Publish && e.Start && e.Key == "live/board-room-stream"
		case <-ctx.Done():
			t.Fatalf("the space's stream never started: %v", r.events.all())
		}
	}
	require.Eventually(t, func() bool {
		c := r.bridge.Calls()
		return len(c) == 1 && c[0].Publisher.VideoFrames >= 50 && c[0].Recorder.VideoFrames >= 50
	}, 20*time.Second, 20*time.Millisecond, "outputs: %+v", r.bridge.Calls())

	leg := created(t, r.do(t, "POST", "/api/v1/calls/"+call.ID+"/callLegs", "remoteParty=desk@example.test"), "callLegs")
	var dialled *sip.Call
	select {
	case dialled = <-answered:
	case <-ctx.Done():
		t.Fatal("the call leg was not dialled")
	}
	require.Eventually(t, func() bool {
		ex := r.do(t, "GET", "/api/v1/callLegs/"+leg, "")
		return strings.Contains(ex.body, "<state>connected</state>")
	}, 20*time.Second, 20*time.Millisecond)

	require.NoError(t, client.Update(ctx, "calls/"+call.ID, url.Values{"streaming": {"false"}, "recording": {"false"}}))
	require.Eventually(t, func() bool {
		return r.events.has(conference.EventStreamingStopped) && r.events.has(conference.EventRecordingFinished)
	}, 20*time.Second, 10*time.Millisecond)
	mp4s, err := filepath.Glob(filepath.Join(r.rec, "spaces", space, "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1, "the recording is under spaces/<space id>/")

	for _, typ := range []string{cmsapi.CDRStreamingStart, cmsapi.CDRStreamingEnd, cmsapi.CDRRecordingStart, cmsapi.CDRRecordingEnd, cmsapi.CDRCallLegStart} {
		_, err := r.cdr.WaitFor(ctx, typ, nil)
		require.NoError(t, err, typ)
	}
	require.NoError(t, client.Delete(ctx, "calls/"+call.ID))
	for _, c := range []<-chan struct{}{endpoint.Done(), dialled.Done()} {
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatal("deleting the call did not end every leg")
		}
	}
	_, err = r.cdr.WaitFor(ctx, cmsapi.CDRCallEnd, nil)
	require.NoError(t, err)
	cancel()
	<-played
}
