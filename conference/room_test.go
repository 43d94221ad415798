package conference_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/mixer/g722"
	"github.com/sipcast/sipcast/sip"
)

// toneLeg is a conference participant of the tests: a SIP caller that sends a sine
// tone in G.711 µ-law or G.722 (20 ms packets, in real time), optionally the test
// clip's H.264 too, and keeps the audio it is sent, decoded.
type toneLeg struct {
	ua     *sip.UA
	call   *sip.OutboundCall // a caller's call
	run    context.Context
	pt     int
	audio  *net.UDPConn
	video  *net.UDPConn
	sender *rtpsend.Sender
	codec  string // "PCMU" or "G722"
	rate   int
	freq   float64
	wg     sync.WaitGroup
	stop   context.CancelFunc
	// silent stops the tone (the leg sends silence), for speaker changes.
	silent sync.Mutex
	quiet  bool

	closed sync.Once

	mu     sync.Mutex
	heard  []float32
	dialog sip.Dialog // its call either way
}

var answerAudioPort = regexp.MustCompile(`m=audio (\d+) `)

// dialTone calls the Bridge's user as a toneLeg.
func dialTone(t *testing.T, b *conference.Bridge, user, codec string, freq float64, clip *testmedia.Clip) *toneLeg {
	t.Helper()
	l := newToneLeg(t, codec, freq, clip, nil)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	if clip != nil {
		offer = string(rtpsend.SDP(net.IPv4(127, 0, 0, 1), l.video.LocalAddr().(*net.UDPAddr).Port, 0, clip.SPS, clip.PPS, nil, 0, 0))
	}
	offer += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\na=sendrecv\r\n", l.audio.LocalAddr().(*net.UDPAddr).Port, l.pt, l.pt, codec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	l.call, err = l.ua.Dial(ctx, "sip:"+user+"@"+b.UA().UDPAddr().String(), []byte(offer), sip.DialOptions{})
	require.NoError(t, err)
	l.setDialog(l.call)
	require.NoError(t, l.start(l.call.Answer, clip))
	return l
}

// answerTone is a toneLeg that answers calls (the first; a dial-out's callee): addr is
// its SIP address. Its answer takes the offer's H.264 (payload type 96) when clip is
// given, and codec.
func answerTone(t *testing.T, codec string, freq float64, clip *testmedia.Clip) (l *toneLeg, addr string) {
	t.Helper()
	l = newToneLeg(t, codec, freq, clip, sip.WithInviteHandler(func(c *sip.Call) ([]byte, error) {
		if l.getDialog() != nil {
			return nil, &sip.StatusError{Code: 486, Reason: "Busy Here"}
		}
		ans := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		ans += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\na=sendrecv\r\n", l.audio.LocalAddr().(*net.UDPAddr).Port, l.pt, l.pt, codec)
		if clip != nil {
			ans += fmt.Sprintf("m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4d401f\r\na=sendonly\r\n",
				l.video.LocalAddr().(*net.UDPAddr).Port)
		} else {
			ans += "m=video 0 RTP/AVP 96\r\n"
		}
		l.setDialog(c)
		if err := l.start(c.Offer, clip); err != nil {
			return nil, err
		}
		return []byte(ans), nil
	}))
	return l, l.ua.UDPAddr().String()
}

func newToneLeg(t *testing.T, codec string, freq float64, clip *testmedia.Clip, opt sip.Option) *toneLeg {
	t.Helper()
	l := &toneLeg{codec: codec, freq: freq, rate: 8000}
	if codec == "G722" {
		l.pt, l.rate = 9, 16000
	}
	opts := []sip.Option{sip.WithUDP("127.0.0.1:0")}
	if opt != nil {
		opts = append(opts, opt)
	}
	var err error
	l.ua, err = sip.New(opts...)
	require.NoError(t, err)
	l.audio, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	if clip != nil {
		l.video, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
	}
	l.run, l.stop = context.WithCancel(context.Background())
	t.Cleanup(l.close)
	return l
}

// start sends the tone (and the clip's video) to what remote (the peer's SDP) gives.
func (l *toneLeg) start(remote []byte, clip *testmedia.Clip) error {
	m := answerAudioPort.FindSubmatch(remote)
	if m == nil {
		return fmt.Errorf("no audio in %s", remote)
	}
	port, _ := strconv.Atoi(string(m[1]))
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.send(l.run, to, uint8(l.pt)) }()
	go func() { defer l.wg.Done(); l.receive() }()
	if clip == nil {
		return nil
	}
	var err error
	if l.sender, err = rtpsend.ForAnswer(l.video, remote, clip.SPS, clip.PPS, 48000); err != nil {
		return err
	}
	l.sender.Audio = nil
	var video []media.Frame
	for _, f := range clip.Interleaved() {
		if f.Codec.IsVideo() {
			video = append(video, f)
		}
	}
	l.wg.Add(2)
	go func() { defer l.wg.Done(); _ = l.sender.Play(l.run, video, clip.Duration, time.Minute, nil) }()
	go func() { defer l.wg.Done(); _ = l.sender.AnswerKeyframes(l.run) }()
	return nil
}

func (l *toneLeg) setQuiet(q bool) {
	l.silent.Lock()
	l.quiet = q
	l.silent.Unlock()
}

// send sends the tone, 20 ms a packet, until ctx ends.
func (l *toneLeg) send(ctx context.Context, to *net.UDPAddr, pt uint8) {
	n := l.rate / 50
	pcm := make([]int16, n)
	enc := g722.NewEncoder()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: uint32(l.freq), SequenceNumber: 1}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var k int
	var payload []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.silent.Lock()
		q := l.quiet
		l.silent.Unlock()
		for i := range pcm {
			pcm[i] = 0
			if !q {
				pcm[i] = int16(0.25 * 32767 * math.Sin(2*math.Pi*l.freq*float64(k+i)/float64(l.rate)))
			}
		}
		k += n
		if pt == 9 {
			payload = enc.Encode(payload[:0], pcm)
		} else {
			payload = g711.ULaw.Encode(payload[:0], pcm)
		}
		p.Payload = payload
		b, _ := p.Marshal()
		_, _ = l.audio.WriteToUDP(b, to)
		p.SequenceNumber++
		p.Timestamp += 160
	}
}

// receive decodes what the leg is sent, until its socket closes.
func (l *toneLeg) receive() {
	buf := make([]byte, 2048)
	dec := g722.NewDecoder()
	var pcm []int16
	for {
		n, _, err := l.audio.ReadFromUDP(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.PayloadType >= 72 && p.PayloadType <= 79 {
			continue // RTCP
		}
		pcm = pcm[:0]
		if l.codec == "G722" {
			pcm = dec.Decode(pcm, p.Payload)
		} else {
			pcm = g711.ULaw.Decode(pcm, p.Payload)
		}
		l.mu.Lock()
		for _, v := range pcm {
			l.heard = append(l.heard, float32(v)/32768)
		}
		l.mu.Unlock()
	}
}

// last is the last d of what the leg heard (nil: not that much yet).
func (l *toneLeg) last(d time.Duration) []float32 {
	n := int(d * time.Duration(l.rate) / time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heard) < n {
		return nil
	}
	return append([]float32(nil), l.heard[len(l.heard)-n:]...)
}

func (l *toneLeg) heardSamples() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.heard)
}

func (l *toneLeg) setDialog(d sip.Dialog) {
	l.mu.Lock()
	l.dialog = d
	l.mu.Unlock()
}

func (l *toneLeg) getDialog() sip.Dialog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dialog
}

// id is the leg's call in the Bridge (its Call-ID).
func (l *toneLeg) id() string { return l.getDialog().CallID() }

func (l *toneLeg) close() { l.closed.Do(l.doClose) }

func (l *toneLeg) doClose() {
	if d := l.getDialog(); d != nil {
		select {
		case <-d.Done():
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = d.Hangup(ctx)
			cancel()
		}
	}
	if l.stop != nil {
		l.stop()
	}
	l.audio.Close()
	if l.video != nil {
		l.video.Close()
	}
	l.wg.Wait()
	l.ua.Close()
}

// tones is the level (dBFS of the tone's amplitude) of each frequency in x.
func tones(x []float32, rate int, freqs ...float64) []float64 {
	out := make([]float64, len(freqs))
	for i, f := range freqs {
		// Goertzel's power per sample squared is (A/2)^2 for a sine of amplitude A.
		out[i] = 10 * math.Log10(4*peer.Goertzel(x, rate, f)+1e-20)
	}
	return out
}

// roomController routes every call into one room.
type roomController struct {
	out conference.Outputs
}

func (r *roomController) Bind(*conference.Bridge)                    {}
func (r *roomController) Route(*sip.Call) (conference.Outputs, bool) { return r.out, true }
func (r *roomController) Event(conference.Event)                     {}
func (r *roomController) Shutdown()                                  {}

// roomOutputs counts what a room's outputs carry (Config.Outputs, for the room's call).
type roomOutputs struct {
	mu        sync.Mutex
	aac, h264 int
	keyframes int
	// announced are the video frames announcing parameter sets (the start and each
	// switch): their times and whether each was a keyframe.
	announced   []announce
	lastAudio   time.Duration
	audioSorted bool
}

func (o *roomOutputs) WriteFrame(f *media.Frame) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch f.Codec {
	case media.CodecAAC:
		if o.aac > 0 && f.PTS <= o.lastAudio {
			o.audioSorted = false
		}
		o.aac++
		o.lastAudio = f.PTS
	case media.CodecH264:
		o.h264++
		if f.Keyframe {
			o.keyframes++
		}
		if f.Track != nil {
			o.announced = append(o.announced, announce{f.PTS, f.Keyframe})
		}
	}
	return nil
}

type announce struct {
	pts      time.Duration
	keyframe bool
}

func (o *roomOutputs) counts() (aac, h264 int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.aac, o.h264
}

// Three callers in one room, Go only: a G.711 µ-law caller with a 440 Hz tone, a G.722
// caller with 1000 Hz and a G.711 caller with 1700 Hz. Each hears the other two tones
// (at most 6 dB under what they sent, the limiter's headroom) and not its own (40 dB
// under them); the room's outputs carry AAC. Muting one (rx) takes its tone out of
// what the others hear.
func TestRoomMixMinusGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	outs := &roomOutputs{audioSorted: true}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, MediaIP: net.IPv4(127, 0, 0, 1),
		Controller: &roomController{out: conference.Outputs{Room: "room1"}},
		Outputs: []conference.OutputFunc{func(ci conference.CallInfo, _ []media.Track) (media.FrameWriter, error) {
			if ci.ID != "room1" {
				return nil, nil
			}
			return outs, nil
		}}})
	require.NoError(t, err)
	defer b.Close()
	freqs := []float64{440, 1000, 1700}
	legs := []*toneLeg{
		dialTone(t, b, "a", "PCMU", freqs[0], nil),
		dialTone(t, b, "b", "G722", freqs[1], nil),
		dialTone(t, b, "c", "PCMU", freqs[2], nil),
	}
	check := func(muted int) string {
		for i, l := range legs {
			x := l.last(time.Second)
			if x == nil {
				return fmt.Sprintf("leg %d heard %d samples", i, l.heardSamples())
			}
			lv := tones(x, l.rate, freqs...)
			for j := range freqs {
				hear := j != i && j != muted
				if hear && lv[j] < -12-6 { // sent at -12 dBFS
					return fmt.Sprintf("leg %d hears %.0f Hz at %.1f dB: %.1f", i, freqs[j], lv[j], lv)
				}
				if !hear && lv[j] > -12-40 {
					return fmt.Sprintf("leg %d hears %.0f Hz (not to be heard) at %.1f dB: %.1f", i, freqs[j], lv[j], lv)
				}
			}
		}
		return ""
	}
	var why string
	if !assert.Eventually(t, func() bool { why = check(-1); return why == "" }, 20*time.Second, 50*time.Millisecond) {
		t.Fatal("mix-minus: ", why)
	}
	aac, _ := outs.counts()
	require.Positive(t, aac, "the room's outputs carry the mix")

	ci, ok := b.Call("room1")
	require.True(t, ok, "the room's outputs are a call in the Bridge")
	require.Len(t, ci.Tracks, 1, "audio only: %+v", ci.Tracks)

	require.NoError(t, b.SetMute(legs[1].id(), ptr(true), nil))
	if !assert.Eventually(t, func() bool { why = check(1); return why == "" }, 20*time.Second, 50*time.Millisecond) {
		t.Fatal("leg 1 muted: ", why)
	}

	for _, l := range legs {
		l.close()
	}
	require.Eventually(t, func() bool { _, ok := b.Call("room1"); return !ok }, 20*time.Second, 20*time.Millisecond,
		"the room ends with its last leg")
	outs.mu.Lock()
	require.True(t, outs.audioSorted, "the mix's AAC times increase")
	outs.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

// Three callers with video (the clip, 2 s GOP, answering PLI with its next keyframe)
// and tones in one room, Go only. The room shows the first leg's picture from the
// start; when only the second speaks, the picture follows it after the hold-off, on a
// keyframe it asked for; then the third. Every switch is announced on a keyframe with
// its parameter sets, the room switches exactly three times (the first picture, two
// speakers: no flapping), and it reports who speaks and who is shown. (The legs send
// the same clip: the hold-off is checked in the decoded stream by the interop test.)
func TestRoomVideoFollowsTheSpeakerGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	outs := &roomOutputs{audioSorted: true}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, MediaIP: net.IPv4(127, 0, 0, 1),
		Controller: &roomController{out: conference.Outputs{Room: "room1"}},
		Outputs: []conference.OutputFunc{func(ci conference.CallInfo, _ []media.Track) (media.FrameWriter, error) {
			if ci.ID != "room1" {
				return nil, nil
			}
			return outs, nil
		}}})
	require.NoError(t, err)
	defer b.Close()
	freqs := []float64{440, 1000, 1700}
	var legs []*toneLeg
	for i, codec := range []string{"PCMU", "G722", "PCMU"} {
		l := dialTone(t, b, string(rune('a'+i)), codec, freqs[i], clip)
		l.setQuiet(i != 0)
		legs = append(legs, l)
	}
	room := func() conference.RoomInfo {
		ci, ok := b.Call("room1")
		if !ok || ci.Room == nil {
			return conference.RoomInfo{}
		}
		return *ci.Room
	}
	id := func(i int) string { return legs[i].id() }
	require.Eventually(t, func() bool { r := room(); return len(r.Members) == 3 && r.Showing == id(0) && r.Speaker == id(0) },
		20*time.Second, 20*time.Millisecond, "the first speaker shown: %+v", room)
	for _, next := range []int{1, 2} {
		for i, l := range legs {
			l.setQuiet(i != next)
		}
		require.Eventually(t, func() bool { r := room(); return r.Speaker == id(next) && r.Showing == id(next) },
			20*time.Second, 20*time.Millisecond, "the picture follows leg %d: %+v", next, room)
	}
	_, h264 := outs.counts()
	require.Eventually(t, func() bool { _, n := outs.counts(); return n > h264+25 }, 20*time.Second, 20*time.Millisecond,
		"the outputs go on with the last speaker's picture")
	r := room()
	require.Equal(t, uint64(3), r.Switches, "the first picture and two switches, no flapping: %+v", r)
	outs.mu.Lock()
	ann := append([]announce(nil), outs.announced...)
	outs.mu.Unlock()
	require.GreaterOrEqual(t, len(ann), 3, "the start and two switches announced: %+v", ann)
	for i, a := range ann {
		require.True(t, a.keyframe, "announcement %d (%v) on a keyframe: %+v", i, a.pts, ann)
	}
}
