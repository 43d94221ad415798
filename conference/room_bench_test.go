package conference

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/sip"
)

// benchRoom is a room of n members stepped by hand (taken off the generator): G.711
// in, every packet through the room's inbox; G.722 and G.711 out in turn; speakers of
// them send tones, the others quiet noise (-70 dBov, under the mixer's silence level).
type benchRoom struct {
	b       *Bridge
	r       *room
	calls   []*call
	packets [][]byte
	frame   media.Frame
	now     time.Time
	steps   int
}

func newBenchRoom(tb testing.TB, n, speakers int) *benchRoom {
	tb.Helper()
	b, err := New(Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}})
	if err != nil {
		tb.Fatal(err)
	}
	r := b.roomFor("bench", Outputs{})
	b.gens.removeRoom(r) // stepped here, not on the ticker
	br := &benchRoom{b: b, r: r, now: time.Now()}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		c, err := newLeg(b, nil, nil, fmt.Sprint("leg", i), "bench")
		if err != nil {
			tb.Fatal(err)
		}
		codec := media.CodecG722
		if i%2 == 1 {
			codec = media.CodecPCMU
		}
		if c.gen, err = mixer.NewSilenceSource(codec); err != nil {
			tb.Fatal(err)
		}
		if i > 0 {
			r.attach()
		}
		c.room = r
		r.join(c)
		pcm := make([]int16, 160)
		for k := range pcm {
			if i < speakers {
				pcm[k] = int16(6000 * math.Sin(2*math.Pi*float64(300+100*i)*float64(k)/8000))
			} else {
				pcm[k] = int16(rng.IntN(21) - 10)
			}
		}
		br.calls = append(br.calls, c)
		br.packets = append(br.packets, g711.ULaw.Encode(nil, pcm))
	}
	tb.Cleanup(func() {
		for _, c := range br.calls {
			r.leave(c)
			c.stop()
		}
		_ = b.Close()
	})
	return br
}

// step is one 20 ms step: each member's packet into the room, then its step.
func (br *benchRoom) step() {
	for i, c := range br.calls {
		br.frame = media.Frame{Codec: media.CodecPCMU, PTS: time.Duration(br.steps) * 20 * time.Millisecond, Data: br.packets[i]}
		br.r.write(c, &br.frame)
	}
	br.r.step(br.now)
	br.now = br.now.Add(20 * time.Millisecond)
	br.steps++
}

// A 100-party conference's room step (docs/PERFORMANCE.md): its cost per 20 ms as a
// share of one core, and per participant. The network aside: receiving and sending a
// participant's packets is a call's cost (loadgen measures it).
func BenchmarkRoom100(b *testing.B) {
	for _, speakers := range []int{3, 100} {
		name := map[int]string{3: "3-speaking", 100: "all-speaking"}[speakers]
		b.Run(name, func(b *testing.B) {
			br := newBenchRoom(b, 100, speakers)
			for range 100 { // past the members' joins and the shared encodes' hand-over
				br.step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				br.step()
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(100*per/20e6, "%core")
			b.ReportMetric(per/100, "ns/participant")
		})
	}
}

// The room's 20 ms step allocates nothing in steady state (its frames, the mix, the
// encodes, the AAC handed to its outputs).
func TestRoomStepAllocatesNothing(t *testing.T) {
	br := newBenchRoom(t, 20, 3)
	for range 200 {
		br.step()
	}
	if n := testing.AllocsPerRun(200, br.step); n != 0 {
		t.Fatalf("%v allocations per step", n)
	}
}
