package media

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// FuzzHandleRTCP feeds arbitrary compound RTCP to a session's handler: no panic, and the
// input is not modified.
func FuzzHandleRTCP(f *testing.F) {
	sr, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: 0xe000000000000000, RTPTime: 1000}).Marshal()
	app, _ := (&rtcp.ApplicationDefined{SubType: 1, SSRC: 1, Name: "CISC", Data: []byte("rtmp://h/a/s\x00\x00\x00\x00")}).Marshal()
	bye, _ := (&rtcp.Goodbye{Sources: []uint32{1}}).Marshal()
	f.Add(sr)
	f.Add(app)
	f.Add(append(append(sr, app...), bye...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &Session{receiver: receiver{
			log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			tracks:  map[uint8]*track{},
			clock:   NewClock(time.Unix(0, 0)),
			onApp:   func(AppPacket) {},
			onEvent: func(SessionEvent) {},
		}}
		tr, err := newTrack(TrackConfig{PayloadType: 96, Encoding: EncodingH264, ClockRate: 90000})
		if err != nil {
			t.Fatal(err)
		}
		tr.setSource(1)
		s.tracks[96] = tr
		s.clock.AddTrack(tr.cid, 90000)
		in := bytes.Clone(b)
		s.parseRTCP(b, time.Unix(1, 0))
		s.clock.Map(tr.cid, 5000, time.Unix(2, 0))
		if !bytes.Equal(in, b) {
			t.Fatal("input modified")
		}
	})
}
