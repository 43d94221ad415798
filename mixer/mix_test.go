package mixer_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/mixer"
)

var goertzel = peer.Goertzel

// party is a participant sending a tone: its frames, made on demand.
type party struct {
	in   *mixer.MixInput
	rate int
	f    float64
	amp  float64
	n    int // samples sent
}

func (p *party) frame() []int16 {
	pcm := make([]int16, p.rate/50)
	for i := range pcm {
		pcm[i] = int16(p.amp * 32767 * math.Sin(2*math.Pi*p.f*float64(p.n+i)/float64(p.rate)))
	}
	return pcm
}

// send writes the party's next frame, timed by its own samples.
func (p *party) send() {
	ts := time.Duration(p.n) * time.Second / time.Duration(p.rate)
	p.in.Write(ts, p.frame(), -1)
	p.n += p.rate / 50
}

// run steps the mixer for steps, each party sending a frame first (those in quiet
// skip theirs), and collects each party's mix-minus and the full mix after warm.
func run(m *mixer.Mixer, parties []*party, steps, warm int, quiet map[*party]bool) (map[*party][]float32, []float32) {
	heard := map[*party][]float32{}
	var mix []float32
	for s := range steps {
		for _, p := range parties {
			if quiet[p] {
				p.n += p.rate / 50
				continue
			}
			p.send()
		}
		m.Step()
		if s >= warm {
			for _, p := range parties {
				heard[p] = append(heard[p], p.in.MixMinus()...)
			}
			mix = append(mix, m.Mix()...)
		}
	}
	return heard, mix
}

// Three parties (G.711-rate, wideband and 48 kHz) with distinct tones: each hears the
// other two and not itself, the full mix carries all three; rx-muting one removes its
// tone from the others' and from the mix, and tx-muting one gives it silence.
func TestMixMinus(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{})
	require.NoError(t, err)
	var parties []*party
	for i, c := range []struct {
		rate int
		f    float64
	}{{8000, 440}, {16000, 1000}, {48000, 2500}} {
		in, err := m.Add(string(rune('a'+i)), c.rate)
		require.NoError(t, err)
		parties = append(parties, &party{in: in, rate: c.rate, f: c.f, amp: 0.2})
	}
	rate := 16000
	has := func(x []float32, f float64) bool { return goertzel(x, rate, f) > 1e-4 }
	heard, mix := run(m, parties, 60, 10, nil)
	for _, p := range parties {
		for _, q := range parties {
			require.Equal(t, p != q, has(heard[p], q.f), "%s hears %s's %v Hz", p.in.ID(), q.in.ID(), q.f)
		}
		require.True(t, has(mix, p.f), "the mix has %s", p.in.ID())
	}
	require.Zero(t, parties[0].in.Late+parties[0].in.Early+parties[0].in.Refused)

	parties[1].in.SetRxMute(true)
	parties[2].in.SetTxMute(true)
	heard, mix = run(m, parties, 60, 10, nil)
	require.False(t, has(mix, parties[1].f), "muted: not in the mix")
	require.False(t, has(heard[parties[0]], parties[1].f), "muted: not heard by the others")
	require.True(t, has(heard[parties[0]], parties[2].f))
	require.True(t, has(heard[parties[1]], parties[0].f), "an rx-muted party still hears")
	for _, v := range heard[parties[2]] {
		require.Zero(t, v, "tx-muted: silence")
	}
}

// Loud parties whose sum is beyond full scale: every output stays under the limit, the
// tones are not flattened into a clipped square (the third harmonic stays small), and
// once the loud party stops the others are heard at their own level again.
func TestMixLimiter(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{})
	require.NoError(t, err)
	var parties []*party
	for i, f := range []float64{300, 310, 320} {
		in, err := m.Add(string(rune('a'+i)), 16000)
		require.NoError(t, err)
		parties = append(parties, &party{in: in, rate: 16000, f: f, amp: 0.6})
	}
	heard, mix := run(m, parties, 100, 5, nil)
	peak := 0.0
	for _, x := range append(append([]float32(nil), mix...), heard[parties[0]]...) {
		peak = max(peak, math.Abs(float64(x)))
	}
	require.LessOrEqual(t, peak, 0.9+1e-6, "under the limit")
	require.Less(t, goertzel(mix, 16000, 900), goertzel(mix, 16000, 300)/1000, "no clipping's third harmonic")

	// The loud ones stop: a quiet party is heard as it is (the gain has recovered).
	quiet := map[*party]bool{parties[1]: true, parties[2]: true}
	parties[0].amp = 0.1
	_, mix = run(m, parties, 50, 30, quiet)
	rms := 0.0
	for _, v := range mix {
		rms += float64(v) * float64(v)
	}
	rms = math.Sqrt(rms / float64(len(mix)))
	require.InDelta(t, 0.1/math.Sqrt2, rms, 0.005, "the gain back at 1")
}

// Frames that arrive out of order within the delay are mixed in their place; frames
// too late are counted and left out; a flood of frames far ahead restarts the input's
// timeline without disturbing the others; frames of the wrong length are refused.
func TestMixJitterAndFlood(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{Delay: 3})
	require.NoError(t, err)
	a, _ := m.Add("a", 16000)
	b, _ := m.Add("b", 16000)
	pa := &party{in: a, rate: 16000, f: 500, amp: 0.2}
	pb := &party{in: b, rate: 16000, f: 700, amp: 0.2}
	frameAt := func(p *party, k int) []int16 { p.n = k * 320; return p.frame() }
	// a's frames 0..39 sent in pairs swapped (1, 0, 3, 2, ...); b's in order.
	var heardB []float32
	for s := range 40 {
		k := s ^ 1
		a.Write(time.Duration(k)*20*time.Millisecond, frameAt(pa, k), -1)
		pb.send()
		m.Step()
		heardB = append(heardB, b.MixMinus()...)
	}
	require.Zero(t, a.Late, "within the delay")
	require.GreaterOrEqual(t, a.Mixed, uint64(36))
	require.True(t, goertzel(heardB[3200:], 16000, 500) > 1e-4)

	// A frame from long ago: late. Frames far ahead, many of them: the timeline
	// restarts, memory stays bounded (16 slots), b is unaffected.
	a.Write(0, frameAt(pa, 0), -1)
	require.Equal(t, uint64(1), a.Late)
	for k := range 1000 {
		a.Write(time.Hour+time.Duration(k)*20*time.Millisecond, frameAt(pa, k), -1)
	}
	require.Positive(t, a.Early)
	a.Write(0, make([]int16, 17), -1)
	require.Equal(t, uint64(1), a.Refused)
	for range 20 {
		pb.send()
		m.Step()
	}
	require.Positive(t, b.Mixed)
	require.Zero(t, b.Late+b.Early+b.Refused)
}

// The dominant speaker: a speaks, then b speaks louder while a goes quiet; the
// change to b comes once b has spoken a while, no sooner than the hold-off after the
// first choice; c's short blip (100 ms) changes nothing.
func TestMixDominantSpeaker(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{HoldOff: time.Second})
	require.NoError(t, err)
	a, _ := m.Add("a", 16000)
	b, _ := m.Add("b", 16000)
	c, _ := m.Add("c", 16000)
	pa, pb, pc := &party{in: a, rate: 16000, f: 300, amp: 0.3}, &party{in: b, rate: 16000, f: 400, amp: 0.3}, &party{in: c, rate: 16000, f: 500, amp: 0.3}
	step := 0
	var changes []int
	last := (*mixer.MixInput)(nil)
	talk := func(n int, who ...*party) {
		for range n {
			for _, p := range []*party{pa, pb, pc} {
				speaking := false
				for _, w := range who {
					speaking = speaking || w == p
				}
				if speaking {
					p.send()
				} else {
					p.in.Write(time.Duration(p.n)*time.Second/16000, make([]int16, 320), -1) // silence
					p.n += 320
				}
			}
			m.Step()
			if d := m.Dominant(); d != last {
				last = d
				changes = append(changes, step)
			}
			step++
		}
	}
	talk(100, pa) // 2 s of a
	require.Equal(t, a, m.Dominant())
	talk(5, pc) // a 100 ms blip of c
	talk(20, pa)
	require.Equal(t, a, m.Dominant(), "a blip does not take the picture")
	talk(100, pb) // b talks
	require.Equal(t, b, m.Dominant())
	require.Len(t, changes, 2, "a, then b: %v", changes)
	require.GreaterOrEqual(t, changes[1]-changes[0], 50, "no change sooner than the hold-off")
	require.Greater(t, changes[1], 125, "b had to speak first")
	// RFC 6464 levels, when a leg sends them, are taken over the energy: c sends
	// quiet audio marked loud (level 0: 0 dBov).
	for range 4 { // the delay (3 steps), and one
		c.Write(time.Duration(pc.n)*time.Second/16000, make([]int16, 320), 0)
		pc.n += 320
		m.Step()
	}
	require.Equal(t, 0.0, c.Level())
}

// A 20 ms step of a 100-party conference allocates nothing.
func TestMixStepDoesNotAllocate(t *testing.T) {
	m, parties := conference100(t)
	for range 10 {
		for _, p := range parties {
			p.send()
		}
		m.Step()
	}
	frames := map[int][]int16{8000: parties[0].frame(), 16000: parties[1].frame()}
	require.Zero(t, testing.AllocsPerRun(50, func() {
		for _, p := range parties {
			p.in.Write(time.Duration(p.n)*time.Second/time.Duration(p.rate), frames[p.rate], -1)
			p.n += p.rate / 50
		}
		m.Step()
	}))
}

func conference100(t testing.TB) (*mixer.Mixer, []*party) {
	m, err := mixer.NewMixer(mixer.MixConfig{})
	require.NoError(t, err)
	var parties []*party
	for i := range 100 {
		rate := 8000
		if i%2 == 1 {
			rate = 16000
		}
		in, err := m.Add(string(rune('A'+i)), rate)
		require.NoError(t, err)
		parties = append(parties, &party{in: in, rate: rate, f: 200 + 10*float64(i), amp: 0.05})
	}
	return m, parties
}

// BenchmarkMix100 is one 20 ms step of a 100-party conference (half 8 kHz, half 16
// kHz inputs, every one speaking: the worst case, 100 mix-minus outputs): ns/op over
// 20 ms is the share of a core.
func BenchmarkMix100(b *testing.B) {
	m, parties := conference100(b)
	frames := map[int][]int16{8000: parties[0].frame(), 16000: parties[1].frame()}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range parties {
			p.in.Write(time.Duration(p.n)*time.Second/time.Duration(p.rate), frames[p.rate], -1)
			p.n += p.rate / 50
		}
		m.Step()
	}
}

func FuzzMixWrite(f *testing.F) {
	f.Add(int64(0), []byte{1, 2, 3, 4}, 10)
	f.Add(int64(-1), make([]byte, 640), -5)
	f.Add(int64(1<<62), make([]byte, 320), 200)
	m, err := mixer.NewMixer(mixer.MixConfig{})
	if err != nil {
		f.Fatal(err)
	}
	in, _ := m.Add("x", 16000)
	other, _ := m.Add("y", 8000)
	f.Fuzz(func(t *testing.T, ts int64, data []byte, level int) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(data[2*i]) | int16(data[2*i+1])<<8
		}
		in.Write(time.Duration(ts), pcm, level)
		other.Write(time.Duration(ts), pcm, level)
		m.Step()
		for _, x := range append(in.MixMinus(), m.Mix()...) {
			if math.IsNaN(float64(x)) || math.Abs(float64(x)) > 0.9+1e-6 {
				t.Fatalf("an output sample %v", x)
			}
		}
	})
}

// The mixer's owner stalls (600 ms of an input's frames come in one batch, then the
// steps are made up at once): the input's timeline starts again, and once the steps
// are made up its frames are mixed again, not dropped as late for ever.
func TestMixInputAfterAStall(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{Delay: 3})
	require.NoError(t, err)
	a, _ := m.Add("a", 8000)
	b, _ := m.Add("b", 16000)
	pa := &party{in: a, rate: 8000, f: 500, amp: 0.2}
	pb := &party{in: b, rate: 16000, f: 700, amp: 0.2}
	for range 20 {
		pa.send()
		pb.send()
		m.Step()
	}
	for range 30 { // the stall: frames queue, no step
		pa.send()
		pb.send()
	}
	for range 30 { // made up
		m.Step()
	}
	var heardB []float32
	for range 25 {
		pa.send()
		pb.send()
		m.Step()
		heardB = append(heardB, b.MixMinus()...)
	}
	require.Greater(t, goertzel(heardB[len(heardB)-3200:], 16000, 500), 1e-4, "b hears a again (mixed %d, late %d, early %d)", a.Mixed, a.Late, a.Early)
}

// The mixer's steps run 100 ms ahead of an input's timeline (its owner made up steps
// the input's frames had not reached): every frame would come late by a few steps. A
// few late frames in a row start the input's timeline again, and it is mixed.
func TestMixInputLateInARow(t *testing.T) {
	m, err := mixer.NewMixer(mixer.MixConfig{Delay: 3})
	require.NoError(t, err)
	a, _ := m.Add("a", 16000)
	b, _ := m.Add("b", 16000)
	pa := &party{in: a, rate: 16000, f: 500, amp: 0.2}
	pb := &party{in: b, rate: 16000, f: 700, amp: 0.2}
	for range 20 {
		pa.send()
		pb.send()
		m.Step()
	}
	for range 8 { // 160 ms of steps with no frame: a's frames now come 5 steps late
		m.Step()
	}
	var heardB []float32
	for range 25 {
		pa.send()
		pb.send()
		m.Step()
		heardB = append(heardB, b.MixMinus()...)
	}
	require.Greater(t, goertzel(heardB[len(heardB)-3200:], 16000, 500), 1e-4, "b hears a again (mixed %d, late %d)", a.Mixed, a.Late)
	require.LessOrEqual(t, a.Late, uint64(4), "a few late frames, then a new timeline")
}
