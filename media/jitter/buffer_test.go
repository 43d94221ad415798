package jitter

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1700000000, 0)

func raw(seq uint16, ts uint32) []byte {
	b := make([]byte, 12, 16)
	b[0] = 0x80
	b[1] = 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	return append(b, byte(seq), 0xaa)
}

func newBuf(t testing.TB) *Buffer {
	b := &Buffer{ClockRate: 90000, Capacity: 64, MinDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	require.NoError(t, b.Init())
	return b
}

func popAll(b *Buffer, now time.Time) (seqs []uint16, lost int) {
	for {
		p, l, ok := b.Pop(now)
		if !ok {
			return seqs, lost
		}
		seqs = append(seqs, p.SequenceNumber)
		lost += l
	}
}

func TestInOrder(t *testing.T) {
	b := newBuf(t)
	for i := uint16(0); i < 5; i++ {
		require.NoError(t, b.Push(raw(100+i, uint32(i)*3000), t0.Add(time.Duration(i)*33*time.Millisecond)))
	}
	seqs, lost := popAll(b, t0.Add(time.Second))
	require.Equal(t, []uint16{100, 101, 102, 103, 104}, seqs)
	require.Zero(t, lost)
}

func TestReorderDuplicateLate(t *testing.T) {
	b := newBuf(t)
	require.NoError(t, b.Push(raw(10, 0), t0))
	require.NoError(t, b.Push(raw(12, 6000), t0))
	require.NoError(t, b.Push(raw(11, 3000), t0))
	require.ErrorIs(t, b.Push(raw(12, 6000), t0), ErrDuplicate)
	seqs, _ := popAll(b, t0.Add(b.Stats().Delay))
	require.Equal(t, []uint16{10, 11, 12}, seqs)
	require.ErrorIs(t, b.Push(raw(11, 3000), t0), ErrLate)
	st := b.Stats()
	require.EqualValues(t, 1, st.Duplicates)
	require.EqualValues(t, 1, st.Late)
	require.EqualValues(t, 1, st.Reordered)
}

func TestLossSkippedAfterDelay(t *testing.T) {
	b := newBuf(t)
	require.NoError(t, b.Push(raw(1, 0), t0.Add(-time.Second)))
	require.NoError(t, b.Push(raw(4, 9000), t0))
	seqs, _ := popAll(b, t0)
	require.Equal(t, []uint16{1}, seqs, "2 and 3 may still come")
	require.Equal(t, []uint16{2, 3}, b.Missing(nil))
	due, ok := b.NextDeadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(b.Stats().Delay), due)
	_, _, ok = b.Pop(due.Add(-time.Millisecond))
	require.False(t, ok)
	p, lost, ok := b.Pop(due)
	require.True(t, ok)
	require.EqualValues(t, 4, p.SequenceNumber)
	require.Equal(t, 2, lost)
	require.EqualValues(t, 2, b.Stats().Lost)
}

// The stream's first packet waits the target delay before it is released, and packets
// sent before it that arrive in that time start the stream instead of being late (a
// keyframe's burst reordered on the way: its parameter sets come first).
func TestStartTakesEarlierPackets(t *testing.T) {
	b := newBuf(t)
	require.NoError(t, b.Push(raw(107, 0), t0))
	_, _, ok := b.Pop(t0)
	require.False(t, ok, "the first packet waits")
	due, ok := b.NextDeadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(b.Stats().Delay), due)
	for s := uint16(100); s < 107; s++ {
		require.NoError(t, b.Push(raw(s, 0), t0.Add(time.Millisecond)))
	}
	due, ok = b.NextDeadline() // the delay follows the jitter the late ones showed
	require.True(t, ok)
	require.Equal(t, t0.Add(b.Stats().Delay), due)
	seqs, _ := popAll(b, due.Add(-time.Millisecond))
	require.Empty(t, seqs, "the wait runs from the first packet's arrival")
	seqs, lost := popAll(b, due)
	require.Equal(t, []uint16{100, 101, 102, 103, 104, 105, 106, 107}, seqs, "in order from the earliest")
	require.Zero(t, lost)
	require.ErrorIs(t, b.Push(raw(99, 0), due), ErrLate, "once the stream runs, earlier is late")
	require.EqualValues(t, 0, b.Stats().Lost)
}

func TestSequenceWrap(t *testing.T) {
	b := newBuf(t)
	for i, s := range []uint16{65534, 0, 65535, 1} {
		require.NoError(t, b.Push(raw(s, uint32(i)*3000), t0))
	}
	seqs, lost := popAll(b, t0.Add(time.Second))
	require.Equal(t, []uint16{65534, 65535, 0, 1}, seqs)
	require.Zero(t, lost)
}

func TestJumpResyncs(t *testing.T) {
	b := newBuf(t)
	require.NoError(t, b.Push(raw(5, 0), t0))
	require.NoError(t, b.Push(raw(30000, 90000), t0))
	seqs, _ := popAll(b, t0.Add(time.Second))
	require.Equal(t, []uint16{30000}, seqs)
	require.EqualValues(t, 1, b.Stats().Resyncs)
}

func TestBounds(t *testing.T) {
	b := newBuf(t)
	require.ErrorIs(t, b.Push(make([]byte, 2000), t0), ErrTooLarge)
	require.ErrorIs(t, b.Push([]byte{0x80, 0}, t0), ErrMalformed)
	require.Error(t, (&Buffer{}).Init())
}

func TestDelayFollowsJitter(t *testing.T) {
	b := newBuf(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ { // 20 ms packets arriving with up to 60 ms of jitter
		arr := t0.Add(time.Duration(i)*20*time.Millisecond + time.Duration(r.IntN(60))*time.Millisecond)
		_ = b.Push(raw(uint16(i), uint32(i)*1800), arr)
		popAll(b, arr)
	}
	st := b.Stats()
	require.Greater(t, st.Jitter, 10*time.Millisecond)
	require.Greater(t, st.Delay, b.MinDelay)
	require.LessOrEqual(t, st.Delay, b.MaxDelay)

	calm := newBuf(t)
	for i := 0; i < 500; i++ {
		arr := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		_ = calm.Push(raw(uint16(i), uint32(i)*1800), arr)
	}
	require.Equal(t, calm.MinDelay, calm.Stats().Delay)
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	b := newBuf(t)
	pkt := raw(0, 0)
	seq := uint16(0)
	step := func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		_ = b.Push(pkt, t0)
		_, _, _ = b.Pop(t0)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	require.Zero(t, testing.AllocsPerRun(1000, step))
}

func BenchmarkPushPop(b *testing.B) {
	buf := &Buffer{ClockRate: 90000}
	require.NoError(b, buf.Init())
	pkt := raw(0, 0)
	pkt = append(pkt, make([]byte, 1100)...)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		_ = buf.Push(pkt, t0)
		_, _, _ = buf.Pop(t0)
	}
}

func FuzzBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5})
	f.Add([]byte{5, 3, 4, 1, 2, 200, 0, 255, 7, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		in := bytes.Clone(ops)
		b := &Buffer{ClockRate: 8000, Capacity: 16}
		require.NoError(t, b.Init())
		now := t0
		base := uint16(65530)
		var lastOut int64 = -1
		for i, op := range ops {
			now = now.Add(time.Duration(op%7) * 10 * time.Millisecond)
			if op%5 == 0 {
				for {
					p, _, ok := b.Pop(now)
					if !ok {
						break
					}
					ext := int64(b.next - 1)
					require.Greater(t, ext, lastOut, "released out of order")
					lastOut = ext
					_ = p
				}
				continue
			}
			seq := base + uint16(op)*uint16(i%3+1)
			_ = b.Push(raw(seq, uint32(seq)*160), now)
			require.LessOrEqual(t, b.count, len(b.slots))
		}
		require.Equal(t, in, ops)
	})
}

// A missing packet's deadline is when the first packet after it has waited the delay.
func TestDeadline(t *testing.T) {
	b := newBuf(t)
	require.NoError(t, b.Push(raw(1, 0), t0))
	require.NoError(t, b.Push(raw(4, 9000), t0.Add(10*time.Millisecond)))
	require.NoError(t, b.Push(raw(6, 15000), t0.Add(20*time.Millisecond)))
	for _, c := range []struct {
		seq uint16
		ok  bool
		at  time.Time
	}{{2, true, t0.Add(10 * time.Millisecond)}, {3, true, t0.Add(10 * time.Millisecond)}, {5, true, t0.Add(20 * time.Millisecond)},
		{1, false, time.Time{}}, {4, false, time.Time{}}, {7, false, time.Time{}}} {
		due, ok := b.Deadline(c.seq)
		require.Equal(t, c.ok, ok, "seq %d", c.seq)
		if ok {
			require.Equal(t, c.at.Add(b.Stats().Delay), due, "seq %d", c.seq)
		}
	}
}
