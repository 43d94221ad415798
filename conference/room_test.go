package conference_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/cms"
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
	// amp is the tone's amplitude (default 0.25: -12 dBFS).
	amp float64
	// level, when >= 0, is the RFC 6464 level its packets claim (header extension id 1,
	// offered with a=extmap); set before the call.
	level int

	closed sync.Once

	mu     sync.Mutex
	heard  []float32
	dialog sip.Dialog // its call either way
	remote *net.UDPAddr
}

var answerAudioPort = regexp.MustCompile(`m=audio (\d+) `)

// dialTone calls the Bridge's user as a toneLeg.
func dialTone(t *testing.T, b *conference.Bridge, user, codec string, freq float64, clip *testmedia.Clip) *toneLeg {
	return dialToneLevel(t, b, user, codec, freq, clip, -1)
}

// dialToneLevel is dialTone with RFC 6464 levels (level >= 0) claimed by every packet.
func dialToneLevel(t *testing.T, b *conference.Bridge, user, codec string, freq float64, clip *testmedia.Clip, level int) *toneLeg {
	return dialToneWith(t, b, user, codec, freq, clip, level, false)
}

// dialToneWith is dialToneLevel, quiet from the start when quiet.
func dialToneWith(t *testing.T, b *conference.Bridge, user, codec string, freq float64, clip *testmedia.Clip, level int, quiet bool) *toneLeg {
	t.Helper()
	l := newToneLeg(t, codec, freq, clip, nil)
	l.level, l.quiet = level, quiet
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	if clip != nil {
		offer = string(rtpsend.SDP(net.IPv4(127, 0, 0, 1), l.video.LocalAddr().(*net.UDPAddr).Port, 0, clip.SPS, clip.PPS, nil, 0, 0))
	}
	offer += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\na=sendrecv\r\n", l.audio.LocalAddr().(*net.UDPAddr).Port, l.pt, l.pt, codec)
	if level >= 0 {
		offer += "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n"
	}
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
	l = newToneLeg(t, codec, freq, clip, func(l *toneLeg) sip.Option {
		return sip.WithInviteHandler(func(c *sip.Call) ([]byte, error) {
			if l.getDialog() != nil {
				return nil, &sip.StatusError{Code: 486, Reason: "Busy Here"}
			}
			ans := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			ans += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\na=sendrecv\r\n", l.audio.LocalAddr().(*net.UDPAddr).Port, l.pt, l.pt, codec)
			if clip != nil {
				ans += fmt.Sprintf("m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4d401f\r\n"+
					"a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=sendonly\r\n",
					l.video.LocalAddr().(*net.UDPAddr).Port)
			} else {
				ans += "m=video 0 RTP/AVP 96\r\n"
			}
			l.setDialog(c)
			if err := l.start(c.Offer, clip); err != nil {
				return nil, err
			}
			return []byte(ans), nil
		})
	})
	return l, l.ua.UDPAddr().String()
}

// newToneLeg makes a leg's sockets, then its UA (with the option opt makes of it: an
// INVITE handler, which may read the leg).
func newToneLeg(t *testing.T, codec string, freq float64, clip *testmedia.Clip, opt func(*toneLeg) sip.Option) *toneLeg {
	t.Helper()
	l := &toneLeg{codec: codec, freq: freq, rate: 8000, amp: 0.25, level: -1}
	if codec == "G722" {
		l.pt, l.rate = 9, 16000
	}
	var err error
	l.audio, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	if clip != nil {
		l.video, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
	}
	l.run, l.stop = context.WithCancel(context.Background())
	opts := []sip.Option{sip.WithUDP("127.0.0.1:0")}
	if opt != nil {
		opts = append(opts, opt(l))
	}
	l.ua, err = sip.New(opts...)
	require.NoError(t, err)
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
	l.mu.Lock()
	l.remote = to
	l.mu.Unlock()
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

// setAmp sets the tone's amplitude.
func (l *toneLeg) setAmp(a float64) {
	l.silent.Lock()
	l.amp = a
	l.silent.Unlock()
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
		q, amp := l.quiet, l.amp
		l.silent.Unlock()
		for i := range pcm {
			pcm[i] = 0
			if !q {
				pcm[i] = int16(amp * 32767 * math.Sin(2*math.Pi*l.freq*float64(k+i)/float64(l.rate)))
			}
		}
		k += n
		if pt == 9 {
			payload = enc.Encode(payload[:0], pcm)
		} else {
			payload = g711.ULaw.Encode(payload[:0], pcm)
		}
		p.Payload = payload
		if l.level >= 0 {
			_ = p.Header.SetExtension(1, []byte{byte(l.level)})
		}
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

// roomBridge is a Bridge whose every call joins the room "room1"; outs, when set, gets
// the room's outputs (Config.Outputs). Closed at the test's end.
func roomBridge(t *testing.T, outs *roomOutputs) *conference.Bridge {
	t.Helper()
	cfg := conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, MediaIP: net.IPv4(127, 0, 0, 1),
		Controller: &roomController{out: conference.Outputs{Room: "room1"}}}
	if outs != nil {
		cfg.Outputs = []conference.OutputFunc{func(ci conference.CallInfo, _ []media.Track) (media.FrameWriter, error) {
			if ci.ID != "room1" {
				return nil, nil
			}
			return outs, nil
		}}
	}
	b, err := conference.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

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
	b := roomBridge(t, outs)
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
	if !assert.Eventually(t, func() bool { return check(-1) == "" }, 20*time.Second, 50*time.Millisecond) {
		t.Fatal("mix-minus: ", check(-1))
	}
	aac, _ := outs.counts()
	require.Positive(t, aac, "the room's outputs carry the mix")

	ci, ok := b.Call("room1")
	require.True(t, ok, "the room's outputs are a call in the Bridge")
	require.Len(t, ci.Tracks, 1, "audio only: %+v", ci.Tracks)

	require.NoError(t, b.SetMute(legs[1].id(), ptr(true), nil))
	if !assert.Eventually(t, func() bool { return check(1) == "" }, 20*time.Second, 50*time.Millisecond) {
		t.Fatal("leg 1 muted: ", check(1))
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
// its parameter sets, the room switches exactly twice for the two speakers after the
// first (no flapping), and it reports who speaks and who is shown. (The legs send
// the same clip: the hold-off is checked in the decoded stream by the interop test.)
func TestRoomVideoFollowsTheSpeakerGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	outs := &roomOutputs{audioSorted: true}
	b := roomBridge(t, outs)
	freqs := []float64{440, 1000, 1700}
	var legs []*toneLeg
	for i, codec := range []string{"PCMU", "G722", "PCMU"} {
		legs = append(legs, dialToneWith(t, b, string(rune('a'+i)), codec, freqs[i], clip, -1, i != 0))
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
	// The first picture is the first member whose video reached the room (the first
	// leg's, unless a loaded machine delayed it): one switch, or two when the first
	// speaker's picture had to follow another's.
	first := room().Switches
	require.Contains(t, []uint64{1, 2}, first)
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
	require.Equal(t, first+2, r.Switches, "two speakers after the first, two switches: no flapping: %+v", r)
	outs.mu.Lock()
	ann := append([]announce(nil), outs.announced...)
	outs.mu.Unlock()
	require.GreaterOrEqual(t, len(ann), 3, "the start and two switches announced: %+v", ann)
	for i, a := range ann {
		require.True(t, a.keyframe, "announcement %d (%v) on a keyframe: %+v", i, a.pts, ann)
	}
}

// heardLevels is each frequency's level in x (dBFS of its amplitude) as the median of
// five Hann-windowed stretches: a phase break in the audio a leg was sent (a packet
// lost to a starved machine) lowers one stretch's figure, not the whole second's.
func heardLevels(x []float32, rate int, freqs ...float64) []float64 {
	out := make([]float64, len(freqs))
	n := len(x) / 5
	for i, f := range freqs {
		var lv [5]float64
		for k := range lv {
			lv[k] = hannLevel(x[k*n:(k+1)*n], rate, f)
		}
		slices.Sort(lv[:])
		out[i] = lv[2]
	}
	return out
}

// hannLevel is frequency f's amplitude in x, Hann-windowed (sidelobes far down, so a
// loud neighbour does not leak into a tone that must be absent), in dBFS.
func hannLevel(x []float32, rate int, f float64) float64 {
	c := 2 * math.Cos(2*math.Pi*f/float64(rate))
	var s1, s2, sum float64
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(x)-1))
		s0 := float64(v)*w + c*s1 - s2
		s2, s1 = s1, s0
		sum += w
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 20 * math.Log10(2*math.Sqrt(max(p, 0))/sum+1e-10)
}

// hearing checks that each leg hears the others' tones (at most 6 dB under what they
// sent, the limiter's headroom) and not its own or a muted one's (40 dB under): ""
// when it does, or what is wrong.
func hearing(legs []*toneLeg, muted map[int]bool) string {
	freqs := make([]float64, len(legs))
	for i, l := range legs {
		freqs[i] = l.freq
	}
	for i, l := range legs {
		x := l.last(time.Second)
		if x == nil {
			return fmt.Sprintf("leg %d heard %d samples", i, l.heardSamples())
		}
		lv := heardLevels(x, l.rate, freqs...)
		for j := range freqs {
			hear := j != i && !muted[j]
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

// waitHearing waits until hearing passes.
func waitHearing(t *testing.T, legs []*toneLeg, muted map[int]bool, what string) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return hearing(legs, muted) == "" }, 20*time.Second, 50*time.Millisecond) {
		t.Fatal(what+": ", hearing(legs, muted))
	}
}

// A CMS conference with Config.Mix, Go only: POST /calls opens a space's conference
// (streaming and recording automatic), three legs are dialled out through the API to
// three callees (G.711, G.722, G.711, each sending a tone and the clip's video), each
// hears the other two and not itself; the conference streams and records the mix (its
// outputs are the call named by the conference); GET /calls/{id}/callLegs lists the
// three legs connected; PUT /callLegs/{id} rxAudioMute=true takes one leg's tone out of
// what the others hear, and GET /callLegs/{id} reports the mute. Then a caller dials the
// space's URI and joins the same conference: it hears the two unmuted callees, and they
// hear it.
func TestCMSMixedConferenceGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	streamURL, streams := goRTMP(t)
	r := newCMSRigWith(t, cms.Config{Mix: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client, err := cmsapi.NewClient(r.api.URL, tmsUser, tmsPass, cmsapi.WithHTTPClient(r.api.Client()))
	require.NoError(t, err)
	_, err = client.CreateObject(ctx, "system/cdrReceivers", &cmsapi.CdrReceiver{URI: r.cdrURL})
	require.NoError(t, err)
	cp, err := client.CreateObject(ctx, "callProfiles", &cmsapi.CallProfile{StreamingMode: "automatic", RecordingMode: "automatic"})
	require.NoError(t, err)
	space, err := client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Mixed", URI: "mixed.room",
		StreamURL: streamURL("mixed"), CallProfile: cp})
	require.NoError(t, err)
	var legs []*toneLeg
	for i, codec := range []string{"PCMU", "G722", "PCMU"} {
		l, addr := answerTone(t, codec, []float64{440, 1000, 1700}[i], clip)
		legs = append(legs, l)
		_, err = client.CreateObject(ctx, "outboundDialPlanRules", &cmsapi.OutboundDialPlanRule{Domain: fmt.Sprintf("leg%d.test", i),
			Priority: cmsapi.Int(10), SipProxy: addr, SipControlEncryption: "unencrypted", FailureAction: "stop"})
		require.NoError(t, err)
	}
	confID := created(t, r.do(t, "POST", "/api/v1/calls", "coSpace="+space), "calls")
	var legIDs []string
	for i := range legs {
		legIDs = append(legIDs, created(t, r.do(t, "POST", "/api/v1/calls/"+confID+"/callLegs", fmt.Sprintf("remoteParty=desk@leg%d.test", i)), "callLegs"))
	}
	waitHearing(t, legs, nil, "three dialled-out legs")
	require.Eventually(t, func() bool {
		ex := r.do(t, "GET", "/api/v1/calls/"+confID+"/callLegs", "")
		return strings.Count(ex.body, "<callLeg ") == 3
	}, 20*time.Second, 20*time.Millisecond)
	for _, id := range legIDs {
		require.Contains(t, r.do(t, "GET", "/api/v1/callLegs/"+id, "").body, "<state>connected</state>")
	}
	for started := false; !started; {
		select {
		case e := <-streams:
			started = e.Publish && e.Start && e.Key == "live/mixed"
		case <-ctx.Done():
			t.Fatalf("the conference's stream never started: %v", r.events.all())
		}
	}
	require.Eventually(t, func() bool {
		ci, ok := r.bridge.Call(confID)
		return ok && ci.Room != nil && len(ci.Room.Members) == 3 && ci.Publisher.AudioFrames > 50 && ci.Publisher.VideoFrames > 25 &&
			ci.Recorder.AudioFrames > 50
	}, 20*time.Second, 20*time.Millisecond, "the conference's outputs: %+v", func() any { ci, _ := r.bridge.Call(confID); return ci })

	modified(t, r.do(t, "PUT", "/api/v1/callLegs/"+legIDs[1], "rxAudioMute=true"))
	waitHearing(t, legs, map[int]bool{1: true}, "leg 1 muted")
	require.Contains(t, r.do(t, "GET", "/api/v1/callLegs/"+legIDs[1], "").body, "<rxAudioMute>true</rxAudioMute>")

	caller := dialTone(t, r.bridge, "mixed.room", "G722", 2300, nil)
	waitHearing(t, append(legs, caller), map[int]bool{1: true}, "a caller dialled into the space")
	require.Eventually(t, func() bool {
		ex := r.do(t, "GET", "/api/v1/calls/"+confID+"/callLegs", "")
		return strings.Count(ex.body, "<callLeg ") == 4
	}, 20*time.Second, 20*time.Millisecond, "the dial-in joined the API's conference")
	_, err = r.cdr.WaitFor(ctx, cmsapi.CDRRecordingStart, nil)
	require.NoError(t, err)
	require.NoError(t, client.Delete(ctx, "calls/"+confID))
	require.Eventually(t, func() bool { _, ok := r.bridge.Call(confID); return !ok }, 20*time.Second, 20*time.Millisecond,
		"the conference's outputs end with it")
	_, err = r.cdr.WaitFor(ctx, cmsapi.CDRRecordingEnd, nil)
	require.NoError(t, err)
}

// A hostile member, Go only: besides its silent audio it sends garbage (payloads of
// every wrong length, random bytes, RTCP-looking junk), floods the room with 20,000
// packets of random sequence numbers and timestamps at once, then stops sending at
// all; and another member hangs up. The three others hear each other all along as
// they should, and the room's inbox stays bounded.
func TestRoomHostileMemberGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	b := roomBridge(t, nil)
	legs := []*toneLeg{
		dialTone(t, b, "a", "PCMU", 440, nil),
		dialTone(t, b, "b", "G722", 1000, nil),
		dialTone(t, b, "c", "PCMU", 1700, nil),
	}
	bad := dialTone(t, b, "d", "PCMU", 2300, nil)
	bad.setQuiet(true)
	leaver := dialTone(t, b, "e", "G722", 2900, nil)
	leaver.setQuiet(true)
	waitHearing(t, legs, nil, "before")

	bad.mu.Lock()
	to := bad.remote
	bad.mu.Unlock()
	rng := rand.New(rand.NewPCG(7, 7))
	junk := make([]byte, 1400)
	for i := range 20000 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 2300, SequenceNumber: uint16(rng.Uint32()), Timestamp: rng.Uint32()}}
		switch i % 4 {
		case 0: // a 20 ms packet of silence, anywhere on the timeline
			p.Payload = bytes.Repeat([]byte{0xff}, 160)
		case 1: // a wrong length of random bytes
			n := rng.IntN(len(junk))
			for k := range n {
				junk[k] = byte(rng.Uint32())
			}
			p.Payload = junk[:n]
		case 2: // another payload type
			p.PayloadType, p.Payload = uint8(rng.IntN(128)), junk[:rng.IntN(200)]
		case 3: // not RTP at all
			_, _ = bad.audio.WriteToUDP(junk[:rng.IntN(64)], to)
			continue
		}
		pkt, err := p.Marshal()
		require.NoError(t, err)
		_, _ = bad.audio.WriteToUDP(pkt, to)
	}
	waitHearing(t, legs, nil, "after the flood")
	bad.stop() // it stops sending at all
	require.NoError(t, leaver.getDialog().Hangup(context.Background()))
	heard := legs[0].heardSamples()
	require.Eventually(t, func() bool { return legs[0].heardSamples() > heard+2*legs[0].rate }, 20*time.Second, 20*time.Millisecond)
	waitHearing(t, legs, nil, "one member silent, one gone")
	ci, ok := b.Call("room1")
	require.True(t, ok)
	require.Len(t, ci.Room.Members, 4, "the member that hung up left: %+v", ci.Room)
}

// A dial-in conference with Config.Mix, Go only: two callers dial the space's URI (the
// first opens its conference), a third party joins by an API dial-out; all three hear
// each other and not themselves, and the conference ends with its last leg.
func TestCMSDialInConferenceGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	r := newCMSRigWith(t, cms.Config{Mix: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := cmsapi.NewClient(r.api.URL, tmsUser, tmsPass, cmsapi.WithHTTPClient(r.api.Client()))
	require.NoError(t, err)
	_, err = client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Huddle", URI: "huddle"})
	require.NoError(t, err)
	callee, addr := answerTone(t, "PCMU", 1700, nil)
	_, err = client.CreateObject(ctx, "outboundDialPlanRules", &cmsapi.OutboundDialPlanRule{Domain: "far.test", Priority: cmsapi.Int(10),
		SipProxy: addr, SipControlEncryption: "unencrypted", FailureAction: "stop"})
	require.NoError(t, err)
	legs := []*toneLeg{dialTone(t, r.bridge, "huddle", "PCMU", 440, nil), dialTone(t, r.bridge, "huddle", "G722", 1000, nil)}
	var calls []cmsapi.Call
	require.Eventually(t, func() bool {
		calls, err = cmsapi.ListAll[cmsapi.Call](ctx, client, "calls", nil)
		return err == nil && len(calls) == 1
	}, 20*time.Second, 20*time.Millisecond, "one conference for both callers")
	confID := calls[0].ID
	waitHearing(t, legs, nil, "the two callers")
	ci, ok := r.bridge.Call(confID)
	require.True(t, ok, "the conference's room")
	require.Len(t, ci.Room.Members, 2)
	created(t, r.do(t, "POST", "/api/v1/calls/"+confID+"/callLegs", "remoteParty=desk@far.test"), "callLegs")
	waitHearing(t, append(legs, callee), nil, "the callers and the dialled-out leg")
	for _, l := range append(legs, callee) {
		l.close()
	}
	require.Eventually(t, func() bool {
		calls, err = cmsapi.ListAll[cmsapi.Call](ctx, client, "calls", nil)
		_, up := r.bridge.Call(confID)
		return err == nil && len(calls) == 0 && !up
	}, 20*time.Second, 20*time.Millisecond, "the conference and its room end with the last leg")
}

// RFC 6464 levels decide, where a member sends them: a member whose packets claim
// silence (127) is not mixed, though it sends a tone; one whose packets claim -3 dBov
// is the dominant speaker, though its tone is as loud as a member's without levels
// (-12 dBFS, measured by its energy). The answer accepts the offer's a=extmap.
func TestRoomUsesRFC6464LevelsGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	b := roomBridge(t, nil)
	silent := dialToneLevel(t, b, "a", "PCMU", 440, nil, 127)
	loud := dialToneLevel(t, b, "b", "PCMU", 1000, nil, 3)
	plain := dialTone(t, b, "c", "G722", 1700, nil)
	require.Contains(t, string(silent.call.Answer), "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level")
	require.NotContains(t, string(plain.call.Answer), "extmap", "no levels offered, none answered")
	waitHearing(t, []*toneLeg{silent, loud, plain}, map[int]bool{0: true}, "the member claiming silence is not mixed")
	require.Eventually(t, func() bool {
		ci, ok := b.Call("room1")
		return ok && ci.Room != nil && ci.Room.Speaker == loud.id()
	}, 20*time.Second, 20*time.Millisecond, "the member claiming -3 dBov speaks")
}
