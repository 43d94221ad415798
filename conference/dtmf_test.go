package conference_test

import (
	"context"
	"encoding/binary"
	"regexp"
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

// A PCMU caller presses 1, 2, #, 9 (RFC 4733: each key's packets, its three end packets,
// some of them duplicated) between audio packets: the Bridge reports each key once, in
// order, when it is released.
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
	call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{NoVideo: true, EditOffer: pcmuOffer})
	require.NoError(t, err)
	defer call.Close()
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
