package conference_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// pcmuOffer turns a caller's audio m-line into PCMU with telephone-event (RFC 4733).
func pcmuOffer(offer string) string {
	return regexp.MustCompile(`(?s)m=audio (\d+) RTP/AVP 97\r\n.*?a=sendonly\r\n`).ReplaceAllString(offer,
		"m=audio $1 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendonly\r\n")
}

// pcmuSendrecvOffer is pcmuOffer for a caller that also receives (rtcp-mux).
func pcmuSendrecvOffer(offer string) string {
	return regexp.MustCompile(`a=sendonly\r\n`).ReplaceAllString(pcmuOffer(offer), "a=sendrecv\r\na=rtcp-mux\r\n")
}

// A PCMU caller that receives only the Bridge's generated audio presses 1, 2, #, 9
// (RFC 4733: each key's packets, its three end packets, some of them duplicated)
// between audio packets: the Bridge reports each key once, in order, on release.
func TestDTMFEventsGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Events: ev.add})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{NoVideo: true, EditOffer: pcmuSendrecvOffer})
	require.NoError(t, err)
	defer call.Close()
	buf := make([]byte, 2048)
	require.NoError(t, call.Conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, _, err := call.Conn.ReadFromUDP(buf) // the Bridge's generated audio is there before any key
	require.NoError(t, err)
	require.Greater(t, n, 12)
	dst := call.Sender.Audio.RTP
	seq, ts := uint16(1000), uint32(5000)
	send := func(pt uint8, marker bool, stamp uint32, payload []byte) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: seq, Timestamp: stamp, SSRC: 0x1234},
			Payload: payload}
		seq++
		raw, err := p.Marshal()
		require.NoError(t, err)
		_, err = call.Conn.WriteToUDP(raw, dst)
		require.NoError(t, err)
	}
	silence := g711.ULaw.Encode(nil, make([]int16, 160))
	for _, key := range []byte{1, 2, 11, 9} { // 11 is '#'
		send(0, false, ts, silence)
		ts += 160
		start := ts
		for i, d := range []uint16{160, 320, 480, 480, 480, 480} { // updates, then three ends
			end := i >= 3
			payload := make([]byte, 4)
			payload[0] = key
			if end {
				payload[1] = 0x80 | 10
			} else {
				payload[1] = 10
			}
			binary.BigEndian.PutUint16(payload[2:], d)
			send(101, i == 0, start, payload)
			if i == 1 {
				seq-- // a duplicate of the second update
				send(101, false, start, payload)
			}
		}
		ts += 480
	}
	send(0, false, ts, silence) // what follows the last key lets it out of the jitter buffer
	var digits []string
	require.Eventually(t, func() bool {
		digits = digits[:0]
		for _, e := range ev.all() {
			if e.Type == conference.EventDTMF {
				digits = append(digits, e.Digit)
			}
		}
		return len(digits) >= 4
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"1", "2", "#", "9"}, digits)
	for _, e := range ev.all() {
		if e.Type == conference.EventDTMF {
			require.Equal(t, "call "+e.CallID+": DTMF "+e.Digit, e.String())
			break
		}
	}
}

// A PCMU caller that offers to receive (sendrecv, rtcp-mux) is answered sendrecv and
// gets 20 ms packets of µ-law silence from the answer on, in sequence, and a Sender
// Report for them; one that only sends (sendonly), or any with NoGeneratedAudio, is
// answered recvonly.
func TestGeneratedAudioGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	sendrecv := pcmuSendrecvOffer
	for _, c := range []struct {
		name  string
		edit  func(string) string
		noGen bool
		want  bool
	}{{"sendrecv", sendrecv, false, true}, {"sendonly", pcmuOffer, false, false}, {"turned off", sendrecv, true, false}} {
		t.Run(c.name, func(t *testing.T) {
			b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, NoGeneratedAudio: c.noGen})
			require.NoError(t, err)
			defer b.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{NoVideo: true, EditOffer: c.edit})
			require.NoError(t, err)
			defer call.Close()
			// The caller sends a little PCMU too, so that the Bridge latches on it.
			silence := g711.ULaw.Encode(nil, make([]int16, 160))
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: silence}
			raw, _ := p.Marshal()
			_, err = call.Conn.WriteToUDP(raw, call.Sender.Audio.RTP)
			require.NoError(t, err)

			answer := string(call.Answer)
			if !c.want {
				// The answer says the Bridge will not send (and it sends only what it says).
				require.Contains(t, answer, "a=recvonly")
				require.NotContains(t, answer, "a=sendrecv")
				return
			}
			require.Contains(t, answer, "a=sendrecv")
			var got []rtp.Packet
			sr := false
			buf := make([]byte, 2048)
			for len(got) < 60 {
				require.NoError(t, call.Conn.SetReadDeadline(time.Now().Add(10*time.Second)))
				n, _, err := call.Conn.ReadFromUDP(buf)
				require.NoError(t, err, "generated audio stopped after %d packets", len(got))
				if buf[1] >= 192 && buf[1] <= 223 {
					sr = sr || buf[1] == 200
					continue
				}
				var q rtp.Packet
				require.NoError(t, q.Unmarshal(append([]byte(nil), buf[:n]...)))
				got = append(got, q)
			}
			for i, q := range got {
				require.EqualValues(t, 0, q.PayloadType)
				require.Equal(t, silence, q.Payload)
				if i > 0 {
					require.Equal(t, got[i-1].SequenceNumber+1, q.SequenceNumber)
					require.Equal(t, got[i-1].Timestamp+160, q.Timestamp)
					require.Equal(t, got[0].SSRC, q.SSRC)
				}
			}
			require.True(t, sr, "a Sender Report for the generated audio")
		})
	}
}

// sipp as a phone (testdata/softphone_dtmf.xml): it receives only the Bridge's
// generated audio, sends the keys 1, 3, 5, 7, 9, # as RFC 4733 events (the captures
// sipp ships, replayed), and hangs up. Every key is reported, once, in order, before
// the call's end.
func TestInteropDTMFFromSipp(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	sipp := peer.Require(t, "sipp", "sip-tester")
	pcaps := "/usr/share/sip-tester" // where Debian's sip-tester puts them
	peer.RequireFile(t, filepath.Join(pcaps, "dtmf_2833_pound.pcap"), "sip-tester")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Events: ev.add,
		StreamURL: ng.URL("keys")})
	require.NoError(t, err)
	defer b.Close()
	// sipp does not replace keywords in exec actions: the test writes the captures'
	// directory into the scenario.
	xml, err := os.ReadFile(filepath.Join("testdata", "softphone_dtmf.xml"))
	require.NoError(t, err)
	scenario := filepath.Join(t.TempDir(), "softphone_dtmf.xml")
	require.NoError(t, os.WriteFile(scenario, bytes.ReplaceAll(xml, []byte("[pcaps]"), []byte(pcaps)), 0o644))
	p := peer.Start(t, sipp, b.UA().UDPAddr().String(), "-sf", scenario, "-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)), "-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)),
		"-m", "1", "-timeout", "60s", "-timeout_error", "-nostdin")
	require.NoError(t, p.Wait(time.Minute), "sipp: %s", p.Output())
	require.Eventually(t, func() bool { return ev.has(conference.EventCallEnded) }, 20*time.Second, 10*time.Millisecond)
	var digits []string
	ended := false
	for _, e := range ev.all() {
		switch e.Type {
		case conference.EventDTMF:
			require.False(t, ended, "a key reported after the call's end")
			digits = append(digits, e.Digit)
		case conference.EventCallEnded:
			ended = true
		}
	}
	require.Equal(t, []string{"1", "3", "5", "7", "9", "#"}, digits)
}

// One Bridge dials another and sends keys: as RFC 4733 events in its generated audio
// (1, #, 9, A, in order), then in SIP INFO (5, *). The callee Bridge reports each once,
// in order. Keys that are not DTMF, and too many at once, are refused.
func TestSendDTMFGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	var got eventLog
	caller, callee := bridgePair(t, got.add)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, caller.Dial(ctx, conference.DialRequest{ID: "keys", Target: "sip:ivr@" + callee.UA().UDPAddr().String(), NoVideo: true}))
	require.NoError(t, caller.SendDTMF(ctx, "keys", "1#9a", false))
	digits := func() []string {
		var d []string
		for _, e := range got.all() {
			if e.Type == conference.EventDTMF {
				d = append(d, e.Digit)
			}
		}
		return d
	}
	require.Eventually(t, func() bool { return len(digits()) >= 4 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, caller.SendDTMF(ctx, "keys", "5*", true))
	require.Eventually(t, func() bool { return len(digits()) >= 6 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"1", "#", "9", "A", "5", "*"}, digits())

	require.ErrorContains(t, caller.SendDTMF(ctx, "keys", "12x", false), `'x' is not a DTMF key`)
	require.Error(t, caller.SendDTMF(ctx, "keys", strings.Repeat("1", 65), false))
	require.Error(t, caller.SendDTMF(ctx, "nobody", "1", false))
	require.NoError(t, caller.EndCall(ctx, "keys"))
}

// A dialled leg with SendVideo sends its callee black pictures from the answer on: the
// callee Bridge receives them as H.264 frames. Without it, nothing is sent on video
// (our offer receives only).
func TestSendVideoGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	caller, callee := bridgePair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := "sip:video@" + callee.UA().UDPAddr().String()
	require.NoError(t, caller.Dial(ctx, conference.DialRequest{ID: "black", Target: target, SendVideo: true}))
	require.NoError(t, caller.Dial(ctx, conference.DialRequest{ID: "none", Target: target}))
	frames := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, c := range callee.Calls() {
			out[c.Remote] += c.VideoFrames
		}
		return out
	}
	require.Eventually(t, func() bool {
		var total uint64
		for _, n := range frames() {
			total += n
		}
		return total >= 10
	}, 10*time.Second, 10*time.Millisecond)
	var black, none int
	for _, c := range callee.Calls() {
		if c.VideoFrames > 0 {
			black++
			require.Positive(t, c.Media["video"].Packets)
		} else {
			none++
		}
	}
	require.Equal(t, 1, black, "one call sends video: %v", frames())
	require.Equal(t, 1, none)
	require.NoError(t, caller.EndCall(ctx, "black"))
	require.NoError(t, caller.EndCall(ctx, "none"))
}

// bridgePair is a caller Bridge and a callee Bridge (its events to events), on UDP
// loopback, closed when the test ends.
func bridgePair(t *testing.T, events func(conference.Event)) (caller, callee *conference.Bridge) {
	t.Helper()
	callee, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Events: events,
		StreamURL: "rtmp://127.0.0.1:1/live/unused"})
	require.NoError(t, err)
	t.Cleanup(func() { callee.Close() })
	caller, err = conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}})
	require.NoError(t, err)
	t.Cleanup(func() { caller.Close() })
	return caller, callee
}
