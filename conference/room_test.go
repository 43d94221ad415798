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
	call   *sip.OutboundCall
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

	mu    sync.Mutex
	heard []float32
}

var answerAudioPort = regexp.MustCompile(`m=audio (\d+) `)

// dialTone calls the Bridge's user as a toneLeg.
func dialTone(t *testing.T, b *conference.Bridge, user, codec string, freq float64, clip *testmedia.Clip) *toneLeg {
	t.Helper()
	l := &toneLeg{codec: codec, freq: freq, rate: 8000}
	pt := 0
	if codec == "G722" {
		pt, l.rate = 9, 16000
	}
	var err error
	l.ua, err = sip.New(sip.WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	l.audio, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	withVideo := clip != nil
	if withVideo {
		l.video, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		v := string(rtpsend.SDP(net.IPv4(127, 0, 0, 1), l.video.LocalAddr().(*net.UDPAddr).Port, 0, clip.SPS, clip.PPS, nil, 0, 0))
		offer = v // the session lines and the video m-line
	}
	offer += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\na=sendrecv\r\n", l.audio.LocalAddr().(*net.UDPAddr).Port, pt, pt, codec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.call, err = l.ua.Dial(ctx, "sip:"+user+"@"+b.UA().UDPAddr().String(), []byte(offer), sip.DialOptions{})
	require.NoError(t, err)
	m := answerAudioPort.FindSubmatch(l.call.Answer)
	require.NotNil(t, m, "%s", l.call.Answer)
	port, _ := strconv.Atoi(string(m[1]))
	remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	run, stop := context.WithCancel(context.Background())
	l.stop = stop
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.send(run, remote, uint8(pt)) }()
	go func() { defer l.wg.Done(); l.receive() }()
	if withVideo {
		l.sender, err = rtpsend.ForAnswer(l.video, l.call.Answer, clip.SPS, clip.PPS, 48000)
		require.NoError(t, err)
		var video []media.Frame
		for _, f := range clip.Interleaved() {
			if f.Codec.IsVideo() {
				video = append(video, f)
			}
		}
		l.wg.Add(2)
		go func() { defer l.wg.Done(); _ = l.sender.Play(run, video, clip.Duration, time.Minute, nil) }()
		go func() { defer l.wg.Done(); _ = l.sender.AnswerKeyframes(run) }()
	}
	t.Cleanup(l.close)
	return l
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

func (l *toneLeg) close() {
	if l.call != nil {
		select {
		case <-l.call.Done():
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = l.call.Hangup(ctx)
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

	require.NoError(t, b.SetMute(legs[1].call.CallID(), ptr(true), nil))
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
// its parameter sets, no two switches are closer than the hold-off (1.5 s) in the
// outputs' time, and the room reports who speaks and who is shown.
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
	id := func(i int) string { return legs[i].call.CallID() }
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
	require.GreaterOrEqual(t, r.Switches, uint64(3), "%+v", r)
	outs.mu.Lock()
	ann := append([]announce(nil), outs.announced...)
	outs.mu.Unlock()
	require.GreaterOrEqual(t, len(ann), 3, "the start and two switches announced: %+v", ann)
	for i, a := range ann {
		require.True(t, a.keyframe, "announcement %d (%v) on a keyframe: %+v", i, a.pts, ann)
		if i > 0 {
			require.GreaterOrEqual(t, a.pts-ann[i-1].pts, 1500*time.Millisecond, "no switch sooner than the hold-off: %+v", ann)
		}
	}
}
