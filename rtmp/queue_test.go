package rtmp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
)

func vframe(key bool, refIdc byte, n int, ms int) *media.Frame {
	nalType := byte(1)
	if key {
		nalType = 5
	}
	nalu := make([]byte, n)
	nalu[0] = refIdc<<5 | nalType
	return &media.Frame{Codec: media.CodecH264, Keyframe: key, DTS: time.Duration(ms) * time.Millisecond, Data: h264.AppendAVCC(nil, nalu)}
}

func aframe(ms int) *media.Frame {
	return &media.Frame{Codec: media.CodecAAC, DTS: time.Duration(ms) * time.Millisecond, Data: make([]byte, 10)}
}

func drainKinds(q *frameQueue) (kinds []string) {
	var s slot
	for q.pop(&s) {
		switch {
		case !s.video:
			kinds = append(kinds, "a")
		case s.key:
			kinds = append(kinds, "K")
		case s.nonRef:
			kinds = append(kinds, "b")
		default:
			kinds = append(kinds, "P")
		}
	}
	return kinds
}

func TestQueueWaitsForKeyframe(t *testing.T) {
	q := newFrameQueue(8, 1<<20, 1<<20)
	ok, _ := q.push(vframe(false, 2, 10, 0))
	require.False(t, ok, "video before the first keyframe is dropped")
	ok, _ = q.push(aframe(0))
	require.True(t, ok)
	ok, _ = q.push(vframe(true, 3, 10, 40))
	require.True(t, ok)
	require.Equal(t, []string{"a", "K"}, drainKinds(q))
}

func TestQueueDropsNonReferenceFirst(t *testing.T) {
	q := newFrameQueue(5, 1<<20, 1<<20)
	q.push(vframe(true, 3, 10, 0))
	q.push(vframe(false, 0, 10, 40)) // b
	q.push(aframe(40))
	q.push(vframe(false, 2, 10, 80)) // P
	q.push(aframe(80))
	ok, req := q.push(aframe(120)) // full: the b frame goes
	require.True(t, ok)
	require.False(t, req)
	require.Equal(t, []string{"K", "a", "P", "a", "a"}, drainKinds(q))
	_, _, dv, da := q.stats()
	require.EqualValues(t, 1, dv) // the b frame
	require.Zero(t, da)
}

func TestQueueDropsVideoBeforeAudio(t *testing.T) {
	q := newFrameQueue(4, 1<<20, 1<<20)
	q.push(vframe(true, 3, 10, 0))
	q.push(aframe(0))
	q.push(vframe(false, 2, 10, 40))
	q.push(aframe(40))
	ok, req := q.push(aframe(80)) // full, no non-reference frame: all video goes
	require.True(t, ok)
	require.True(t, req, "dropping reference video asks for a keyframe")
	ok, _ = q.push(vframe(false, 2, 10, 120))
	require.False(t, ok, "inter frames wait for the next keyframe")
	require.Equal(t, []string{"a", "a", "a"}, drainKinds(q))
}

func TestQueueDropsOldestAudioLast(t *testing.T) {
	q := newFrameQueue(3, 1<<20, 1<<20)
	for i := 0; i < 5; i++ {
		require.True(t, func() bool { ok, _ := q.push(aframe(i * 20)); return ok }())
	}
	var s slot
	require.True(t, q.pop(&s))
	require.Equal(t, 40*time.Millisecond, s.dts, "the two oldest were dropped")
}

func TestQueueByteBound(t *testing.T) {
	q := newFrameQueue(100, 100, 60)
	ok, _ := q.push(vframe(true, 3, 200, 0))
	require.False(t, ok, "larger than the largest frame allowed")
	q.push(&media.Frame{Codec: media.CodecAAC, Data: make([]byte, 60)})
	q.push(&media.Frame{Codec: media.CodecAAC, Data: make([]byte, 60)})
	n, b, _, da := q.stats()
	require.Equal(t, 1, n)
	require.Equal(t, 60, b)
	require.EqualValues(t, 1, da)
}

func TestQueueRestartVideo(t *testing.T) {
	q := newFrameQueue(8, 1<<20, 1<<20)
	q.push(vframe(true, 3, 10, 0))
	q.push(vframe(false, 2, 10, 40))
	q.push(aframe(40))
	var s slot
	q.pop(&s) // the keyframe went out on the old connection
	require.True(t, q.restartVideo(), "no keyframe queued: ask for one")
	require.Equal(t, []string{"a"}, drainKinds(q))

	q.push(vframe(true, 3, 10, 80))
	q.push(vframe(false, 2, 10, 120))
	require.False(t, q.restartVideo(), "a keyframe is queued")
	require.Equal(t, []string{"K", "P"}, drainKinds(q))
}

func notified(q *frameQueue) bool {
	select {
	case <-q.notify:
		return true
	default:
		return false
	}
}

// WithManualFlush: pushes do not wake the sender until Flush, or until
// manualFlushFrames frames wait; without it every push does.
func TestQueueManualFlush(t *testing.T) {
	q := newFrameQueue(256, 1<<20, 1<<20)
	q.push(aframe(0))
	require.True(t, notified(q), "automatic: a push wakes the sender")
	q.manual = true
	q.push(aframe(20))
	q.push(aframe(40))
	require.False(t, notified(q), "manual: pushes alone do not wake the sender")
	q.flush()
	require.True(t, notified(q), "Flush wakes it")
	q.flush()
	require.False(t, notified(q), "a Flush with nothing new does not")
	for i := range manualFlushFrames - 1 {
		q.push(aframe(60 + 20*i))
	}
	require.False(t, notified(q))
	q.push(aframe(5000))
	require.True(t, notified(q), "the safety net: %d unflushed frames wake the sender", manualFlushFrames)
	require.Len(t, drainKinds(q), 3+manualFlushFrames, "nothing was lost")
}

// Buffers are reused last-in first-out: a queue that keeps up reuses one buffer, and
// dropped frames give theirs back.
func TestQueueReusesBuffers(t *testing.T) {
	q := newFrameQueue(8, 1<<20, 1<<20)
	var out slot
	seen := map[*byte]bool{}
	for i := range 50 {
		ok, _ := q.push(aframe(20 * i))
		require.True(t, ok)
		require.True(t, q.pop(&out))
		seen[&out.buf[:1][0]] = true
	}
	require.LessOrEqual(t, len(seen), 2, "50 frames through a queue that keeps up use two buffers, not one per slot")
	// Fill, then force drops: every buffer ends up in the free list or a slot, none lost.
	for i := range 8 {
		q.push(aframe(1000 + 20*i))
	}
	q.push(aframe(2000)) // drops the oldest audio
	n := len(drainKinds(q))
	require.Equal(t, 8, n)
	require.LessOrEqual(t, len(q.free), cap(q.free))
}
