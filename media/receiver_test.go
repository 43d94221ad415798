package media_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/media/testclip"
)

type receiverRun struct {
	frames           []string // codec, DTS, PTS, keyframe, hash of each frame out
	video, concealed int
	badNALs          int             // NAL units out that are not one of the clip's, whole
	nacked           map[uint16]bool // sequence numbers asked for again
	plis             int
	lost             map[uint16]bool // sequence numbers the network dropped
	keys             int
}

// runReceiver feeds the clip's RTP through a Receiver over a seeded impaired network (3%
// lost, 1% duplicated, 5% reordered by 20–40 ms, 0–15 ms jitter), on a clock stepped by
// hand in 5 ms steps: no sockets, no sleeps, no wall clock.
func runReceiver(t *testing.T, seed uint64, opts ...media.SessionOption) receiverRun {
	run := receiverRun{nacked: map[uint16]bool{}, lost: map[uint16]bool{}}
	whole := clipNALs(t)
	r, err := media.NewReceiver(func(b []byte) error {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return err
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						run.nacked[seq] = true
					}
				}
			case *rtcp.PictureLossIndication:
				run.plis++
			}
		}
		return nil
	}, append(opts, media.WithFrames(func(f *media.Frame) {
		sum := sha256.Sum256(f.Data)
		run.frames = append(run.frames, fmt.Sprintf("%v %v %v %v %v %x", f.Codec, f.DTS, f.PTS, f.Keyframe, f.Concealed, sum[:8]))
		if f.Keyframe {
			run.keys++
		}
		run.video++
		if f.Concealed {
			run.concealed++
		}
		for rest := f.Data; len(rest) > 0; {
			nalu, r, err := h264.NextAVCC(rest)
			if err != nil {
				run.badNALs++
				break
			}
			if !whole[string(nalu)] {
				run.badNALs++
			}
			rest = r
		}
	}))...)
	require.NoError(t, err)
	require.NoError(t, r.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000,
		NACK: true, PLI: true, JitterMinDelay: 20 * time.Millisecond, JitterMaxDelay: 100 * time.Millisecond}))

	type arrival struct {
		at  time.Time
		seq int
		pkt []byte
	}
	pkts := clipPackets(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Unix(1_000_000, 0)
	begin := start
	var net []arrival
	var frameTS uint32
	var inFrame int
	for i, p := range pkts {
		// A live sender: each frame at its time (25 fps; B-frames reorder the RTP
		// timestamps, so the send time follows decode order, 40 ms a frame), its
		// packets 1 ms apart.
		if ts := binary.BigEndian.Uint32(p[4:]); i == 0 || ts != frameTS {
			frameTS, inFrame = ts, 0
			if i > 0 {
				start = start.Add(40 * time.Millisecond)
			}
		}
		sent := start.Add(time.Duration(inFrame) * time.Millisecond)
		inFrame++
		jitter := time.Duration(rng.IntN(15)) * time.Millisecond
		switch x := rng.IntN(100); {
		case x < 3:
			run.lost[uint16(i)] = true
			continue
		case x < 4:
			net = append(net, arrival{sent.Add(jitter + 2*time.Millisecond), i, p})
		case x < 9:
			jitter += time.Duration(20+rng.IntN(21)) * time.Millisecond
		}
		net = append(net, arrival{sent.Add(jitter), i, p})
	}
	sort.SliceStable(net, func(a, b int) bool { return net[a].at.Before(net[b].at) })
	end := net[len(net)-1].at.Add(2 * time.Second)
	for now := begin; !now.After(end); now = now.Add(5 * time.Millisecond) {
		for len(net) > 0 && !net[0].at.After(now) {
			r.Push(net[0].pkt, net[0].at)
			net = net[1:]
		}
		r.Advance(now)
	}
	return run
}

// The receive pipeline over an impaired network, deterministically: the same seed gives
// the same frames and the same RTCP decisions; every packet the network lost was asked
// for again (NACK), a keyframe was asked for (PLI), and frames come out, keyframes
// among them.
func TestReceiverImpairedDeterministic(t *testing.T) {
	a, b := runReceiver(t, 42), runReceiver(t, 42)
	require.Equal(t, a.frames, b.frames, "the same input gives the same frames")
	require.Equal(t, a.nacked, b.nacked)
	require.Equal(t, a.plis, b.plis)
	require.NotEmpty(t, a.lost)
	for seq := range a.lost {
		require.True(t, a.nacked[seq], "lost packet %d never NACKed", seq)
	}
	require.Positive(t, a.plis, "no keyframe request after losses")
	require.Positive(t, a.keys)
	require.Greater(t, len(a.frames), 20, "frames out")
	t.Logf("%d packets lost, %d NACKed, %d PLIs, %d frames out (%d keyframes)", len(a.lost), len(a.nacked), a.plis, len(a.frames), a.keys)
	c := runReceiver(t, 43)
	require.NotEqual(t, a.lost, c.lost, "another seed, another network")
}

// clipNALs is every NAL unit of the clip, whole (and the parameter sets the receiver
// may prepend).
func clipNALs(t *testing.T) map[string]bool {
	clip, err := testclip.AV720p()
	require.NoError(t, err)
	m := map[string]bool{string(clip.SPS): true, string(clip.PPS): true}
	for _, f := range clip.Video() {
		for rest := f.Data; len(rest) > 0; {
			nalu, r, err := h264.NextAVCC(rest)
			require.NoError(t, err)
			m[string(nalu)] = true
			rest = r
		}
	}
	return m
}

// Loss costs only what it hits, on the same seeded network (3 % loss, duplicates,
// reordering, jitter) and a sender that never answers keyframe requests: frames keep
// their complete NAL units and never carry a truncated or spliced one. The clip's
// frames are one slice each, so a lost packet costs its frame, and a lost fragment of a
// keyframe its whole GOP until the stream has started. On a network that spares the
// keyframes (seed 21) concealing forwards every frame but those; freezing forwards none
// after a loss; the adaptive default, seeing its requests go unanswered, conceals after
// KeyframeAnswerBound. On one that hits them (seed 42), concealing still forwards more
// than twice what freezing does.
func TestReceiverLossPolicies(t *testing.T) {
	for _, seed := range []uint64{21, 42} {
		conceal := runReceiver(t, seed, media.WithLossPolicy(media.LossConceal))
		freeze := runReceiver(t, seed, media.WithLossPolicy(media.LossFreeze))
		adaptive := runReceiver(t, seed)
		for name, r := range map[string]receiverRun{"conceal": conceal, "freeze": freeze, "adaptive": adaptive} {
			require.Zero(t, r.badNALs, "seed %d, %s: a NAL unit out that is not one of the clip's, whole", seed, name)
		}
		t.Logf("seed %d, of 100 frames: conceal %d (%d marked), freeze %d, adaptive %d (%d marked); %d packets lost",
			seed, conceal.video, conceal.concealed, freeze.video, adaptive.video, adaptive.concealed, len(conceal.lost))
		require.Positive(t, conceal.concealed)
		require.Zero(t, freeze.concealed)
		require.Greater(t, adaptive.video, freeze.video)
		require.Positive(t, adaptive.concealed)
		if seed == 21 {
			require.GreaterOrEqual(t, conceal.video, 100-len(conceal.lost), "a lost packet costs at most its frame")
		} else {
			require.Greater(t, conceal.video, 2*freeze.video)
		}
		again := runReceiver(t, seed, media.WithLossPolicy(media.LossConceal))
		require.Equal(t, conceal.frames, again.frames, "deterministic")
	}
}

// Audio and video of one call share its Clock, and payload types are scoped per m-line:
// audio 96 (8 kHz) and video 96 (90 kHz) are two tracks on it, each timed at its own
// rate. The first frame of each track says what the track is (Frame.Track), and the
// frames after it do not.
func TestReceiverClockKeyedByTrack(t *testing.T) {
	start := time.Unix(2_000_000, 0)
	clock := media.NewClock(start)
	var video, audio []media.Frame
	keep := func(to *[]media.Frame) media.SessionOption {
		return media.WithFrames(func(f *media.Frame) {
			c := *f
			if f.Track != nil {
				c.Track = f.Track.Clone()
			}
			*to = append(*to, c)
		})
	}
	noRTCP := func([]byte) error { return nil }
	vr, err := media.NewReceiver(noRTCP, media.WithClock(clock), keep(&video))
	require.NoError(t, err)
	clip, err := testclip.AV720p()
	require.NoError(t, err)
	sprop := "sprop-parameter-sets=" + base64.StdEncoding.EncodeToString(clip.SPS) + "," + base64.StdEncoding.EncodeToString(clip.PPS)
	require.NoError(t, vr.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, FMTP: sprop}))
	ar, err := media.NewReceiver(noRTCP, media.WithClock(clock), keep(&audio))
	require.NoError(t, err)
	require.NoError(t, ar.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingPCMU, ClockRate: 8000}))

	pkts := clipPackets(t)
	var p rtp.Packet
	for i := 0; i < 100; i++ { // 2 s of audio, and the video packets of the same time
		at := start.Add(time.Duration(i) * 20 * time.Millisecond)
		a := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9}, Payload: make([]byte, 160)}
		b, err := a.Marshal()
		require.NoError(t, err)
		ar.Push(b, at)
		for len(pkts) > 0 {
			require.NoError(t, p.Unmarshal(pkts[0]))
			if time.Duration(p.Timestamp)*time.Second/90000 > time.Duration(i)*20*time.Millisecond {
				break
			}
			vr.Push(pkts[0], at)
			pkts = pkts[1:]
		}
		vr.Advance(at)
		ar.Advance(at)
	}
	end := start.Add(3 * time.Second)
	vr.Advance(end)
	ar.Advance(end)

	require.Greater(t, len(audio), 50)
	require.Greater(t, len(video), 30)
	for i, f := range audio[1:] {
		step := f.DTS - audio[i].DTS
		require.InDelta(t, float64(20*time.Millisecond), float64(step), float64(time.Millisecond), "audio frame %d: 160 samples at 8 kHz", i+1)
	}
	span := video[len(video)-1].PTS - video[0].PTS
	require.True(t, span > 1500*time.Millisecond && span < 2*time.Second, "video on its own 90 kHz clock: %v for the first 2 s of the clip", span)

	require.NotNil(t, audio[0].Track)
	require.Equal(t, media.Track{Codec: media.CodecPCMU, ClockRate: 8000, Channels: 1}, *audio[0].Track)
	require.NotNil(t, video[0].Track, "the first keyframe describes the video (parameter sets from the SDP)")
	require.True(t, video[0].Keyframe)
	require.Equal(t, 1280, video[0].Track.Width)
	require.Equal(t, 720, video[0].Track.Height)
	require.NotEmpty(t, video[0].Track.SPS)
	for _, f := range append(audio[1:], video[1:]...) {
		require.Nil(t, f.Track, "configuration unchanged: not repeated")
	}
}

// Keyframe requests escalate on a manual clock: PLI, then FIR after KeyframeAnswerBound
// unanswered, then the hook (SIP INFO); then they start over after a backoff that
// doubles; more requests while one is pending add nothing; a keyframe answers it, with
// its latency counted from the first request.
func TestReceiverKeyframeEscalation(t *testing.T) {
	var sent []string
	hooks := 0
	r, err := media.NewReceiver(func(b []byte) error {
		pkts, err := rtcp.Unmarshal(b)
		require.NoError(t, err)
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication:
				sent = append(sent, "PLI")
			case *rtcp.FullIntraRequest:
				sent = append(sent, "FIR")
			}
		}
		return nil
	}, media.WithKeyframeHook(func() { hooks++; sent = append(sent, "INFO") }))
	require.NoError(t, err)
	require.NoError(t, r.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, PLI: true, FIR: true}))
	pkts := clipPackets(t)
	renumber := func(b []byte, seq uint16, ts uint32) []byte {
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(c[2:], seq)
		binary.BigEndian.PutUint32(c[4:], ts)
		return c
	}
	now := time.Unix(3_000_000, 0)
	r.Push(renumber(pkts[len(pkts)-1], 100, 900000), now) // a P-frame's packet: the source is known
	r.Advance(now)
	step := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); {
			now = now.Add(10 * time.Millisecond)
			r.Advance(now)
		}
	}
	r.RequestKeyframe()
	r.RequestKeyframe() // pending: nothing more
	require.Equal(t, []string{"PLI"}, sent)
	step(media.KeyframeAnswerBound)
	require.Equal(t, []string{"PLI", "FIR"}, sent)
	step(media.KeyframeAnswerBound)
	require.Equal(t, []string{"PLI", "FIR", "INFO"}, sent)
	step(400 * time.Millisecond)
	require.Len(t, sent, 3, "every step unanswered: it waits the backoff")
	step(200 * time.Millisecond)
	require.Equal(t, []string{"PLI", "FIR", "INFO", "PLI"}, sent, "starts over after 500 ms")
	step(2 * media.KeyframeAnswerBound)
	require.Len(t, sent, 6)
	step(800 * time.Millisecond)
	require.Len(t, sent, 6, "the backoff doubled: 1 s")
	step(300 * time.Millisecond)
	require.Len(t, sent, 7)
	require.Equal(t, 2, hooks)

	// The keyframe (the clip's first, renumbered after the P-frame) answers it.
	seq := uint16(101)
	keyframe := func(ts uint32) {
		var p rtp.Packet
		for _, b := range pkts {
			require.NoError(t, p.Unmarshal(b))
			r.Push(renumber(b, seq, ts), now)
			seq++
			if p.Marker {
				break
			}
		}
		r.Advance(now)
	}
	keyframe(990000)
	st := r.Stats()
	require.EqualValues(t, 7, st.KeyframeRequests)
	require.EqualValues(t, 1, st.KeyframesAnswered)
	require.Equal(t, now.Sub(time.Unix(3_000_000, 0)), st.KeyframeLatency, "from the first request")
	step(time.Second)
	require.Len(t, sent, 7, "answered: nothing more")
	r.RequestKeyframe()
	require.Equal(t, "PLI", sent[len(sent)-1], "a new request starts at PLI again")

	// Answered at once, and asked again within 500 ms of that request: the rate limit
	// holds the new one back and sends it when the interval has passed, not never.
	keyframe(1080000)
	n := len(sent)
	r.RequestKeyframe()
	require.Len(t, sent, n, "within the interval: deferred")
	step(400 * time.Millisecond)
	require.Len(t, sent, n)
	step(100 * time.Millisecond)
	require.Len(t, sent, n+1, "sent once the interval passed")
	require.Equal(t, "PLI", sent[n])
}

// NACKs are timed against the jitter buffer: a missing packet is asked for while a
// retransmission (one round trip, as measured on the retransmissions that came) can
// still arrive before the buffer gives up on it, and not once it cannot.
func TestReceiverNACKTimedByDeadline(t *testing.T) {
	var nacked []uint16
	r, err := media.NewReceiver(func(b []byte) error {
		pkts, err := rtcp.Unmarshal(b)
		require.NoError(t, err)
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				for _, pair := range n.Nacks {
					nacked = append(nacked, pair.PacketList()...)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	const delay = 40 * time.Millisecond
	require.NoError(t, r.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000,
		NACK: true, JitterMinDelay: delay, JitterMaxDelay: delay}))
	pkt := func(seq uint16) []byte {
		b := make([]byte, 14)
		b[0], b[1] = 0x80, 0x80|96
		binary.BigEndian.PutUint16(b[2:], seq)
		binary.BigEndian.PutUint32(b[4:], uint32(seq)*3000)
		b[12], b[13] = 0x41, 0x9a // a non-IDR slice
		return b
	}
	t0 := time.Unix(4_000_000, 0)
	r.Push(pkt(1), t0)
	r.Push(pkt(3), t0)
	require.Equal(t, []uint16{2}, nacked, "no round trip measured yet: asked for")
	// Its retransmission comes 60 ms later (the buffer has not been served meanwhile, so
	// it is still in time): the round trip is 60 ms, more than the buffer's 40 ms.
	r.Push(pkt(2), t0.Add(60*time.Millisecond))
	require.EqualValues(t, 1, r.Stats().Recovered)
	r.Push(pkt(5), t0.Add(61*time.Millisecond))
	require.Equal(t, []uint16{2}, nacked, "4 cannot come back within the 40 ms left: not asked for")
	require.EqualValues(t, 1, r.Stats().NACKTooLate)
}
