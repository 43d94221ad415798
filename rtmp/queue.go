package rtmp

import (
	"sync"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
)

// slot is one queued frame. Its buffer comes from the queue's free list and goes back to
// it (by way of the consumer) when the frame has been sent.
type slot struct {
	codec   media.Codec
	video   bool
	key     bool
	nonRef  bool
	dropped bool
	dts     time.Duration
	pts     time.Duration
	buf     []byte
	// ps says the frame announced H.264 parameter sets (Frame.Track), copied to sps, pps.
	ps       bool
	sps, pps []byte
}

// frameQueue is the bounded queue between WriteFrame and the network. When full it drops
// the least important data first: non-reference video, then all queued video (the rest of
// the GOP is undecodable without it, so video then waits for a keyframe), then the oldest
// audio. It never blocks and allocates only while its buffers grow to the stream's size.
//
// Buffers are reused last-in first-out: a queue that keeps up circulates two or three
// buffers that stay in the CPU's cache, instead of walking through a buffer per slot
// (which, across hundreds of streams, made every frame copy a cache miss, and grew every
// slot's buffer to the largest keyframe it ever held).
type frameQueue struct {
	mu        sync.Mutex
	slots     []slot
	free      [][]byte // LIFO, buffers of at most smallFrame bytes
	big       []byte   // one spare buffer for a frame above smallFrame (a keyframe)
	head, n   int
	bytes     int
	maxBytes  int
	maxFrame  int
	waitKey   bool // drop video until a keyframe
	wantKey   bool // a keyframe request is due
	notify    chan struct{}
	manual    bool // notify on flush (or at manualFlushFrames), not on every push
	pending   int  // frames pushed since the last notification (manual)
	dropVideo uint64
	dropAudio uint64
}

func newFrameQueue(frames, bytes, maxFrame int) *frameQueue {
	return &frameQueue{slots: make([]slot, frames), free: make([][]byte, 0, frames+1), maxBytes: bytes, maxFrame: maxFrame, waitKey: true, notify: make(chan struct{}, 1)}
}

func (q *frameQueue) at(i int) *slot { return &q.slots[(q.head+i)%len(q.slots)] }

// push copies f into the queue. It reports whether f was queued and whether the source
// should be asked for a keyframe.
func (q *frameQueue) push(f *media.Frame) (queued, requestKey bool) {
	video := f.Codec.IsVideo()
	q.mu.Lock()
	defer q.mu.Unlock()
	defer func() {
		requestKey = q.wantKey
		q.wantKey = false
	}()
	if len(f.Data) > q.maxFrame {
		q.countDrop(video)
		if video {
			q.waitKey, q.wantKey = true, true
		}
		return false, false
	}
	if video {
		if q.waitKey && !f.Keyframe {
			q.dropVideo++
			return false, false
		}
		if f.Keyframe {
			q.waitKey = false
		}
	}
	nonRef := video && f.Codec == media.CodecH264 && !f.Keyframe && h264.IsNonReference(f.Data)
	for q.n == len(q.slots) || q.bytes+len(f.Data) > q.maxBytes {
		if !q.makeRoom(video, nonRef) {
			q.countDrop(video)
			return false, false
		}
	}
	s := q.at(q.n)
	s.codec, s.video, s.key, s.nonRef, s.dropped = f.Codec, video, f.Keyframe, nonRef, false
	s.dts, s.pts = f.DTS, f.PTS
	if s.buf == nil {
		s.buf = q.take(len(f.Data))
	}
	s.buf = append(s.buf[:0], f.Data...)
	s.ps = video && f.Track != nil && f.Track.SPS != nil && f.Track.PPS != nil
	if s.ps {
		s.sps, s.pps = append(s.sps[:0], f.Track.SPS...), append(s.pps[:0], f.Track.PPS...)
	}
	q.n++
	q.bytes += len(f.Data)
	if q.manual {
		if q.pending++; q.pending < manualFlushFrames {
			return true, false
		}
	}
	q.wake()
	return true, false
}

// wake notifies the consumer (q.mu held).
func (q *frameQueue) wake() {
	q.pending = 0
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// flush notifies the consumer of frames pushed since the last notification.
func (q *frameQueue) flush() {
	q.mu.Lock()
	if q.pending > 0 {
		q.wake()
	}
	q.mu.Unlock()
}

func (q *frameQueue) countDrop(video bool) {
	if video {
		q.dropVideo++
	} else {
		q.dropAudio++
	}
}

// makeRoom drops queued frames to fit a new one. It returns false when the new frame
// itself is the one to drop.
func (q *frameQueue) makeRoom(video, nonRef bool) bool {
	// 1. The oldest non-reference video frame.
	for i := 0; i < q.n; i++ {
		if s := q.at(i); !s.dropped && s.nonRef {
			q.tombstone(s)
			q.compact()
			return true
		}
	}
	if nonRef {
		return false
	}
	// 2. All queued video: without the dropped reference frames the rest cannot be
	// decoded, so video restarts at the next keyframe.
	dropped := false
	for i := 0; i < q.n; i++ {
		if s := q.at(i); !s.dropped && s.video {
			q.tombstone(s)
			dropped = true
		}
	}
	if dropped {
		q.waitKey, q.wantKey = true, true
		q.compact()
		return !video
	}
	if video {
		q.waitKey, q.wantKey = true, true
		return false
	}
	// 3. The oldest audio frame.
	if q.n == 0 {
		return false
	}
	q.tombstone(q.at(0))
	q.compact()
	return true
}

func (q *frameQueue) tombstone(s *slot) {
	s.dropped = true
	q.bytes -= len(s.buf)
	if s.video {
		q.dropVideo++
	} else {
		q.dropAudio++
	}
}

// compact removes tombstones, keeping order, by swapping slots (buffers move, nothing is
// allocated).
func (q *frameQueue) compact() {
	w := 0
	for r := 0; r < q.n; r++ {
		if q.at(r).dropped {
			continue
		}
		if w != r {
			*q.at(w), *q.at(r) = *q.at(r), *q.at(w)
		}
		w++
	}
	for i := w; i < q.n; i++ {
		s := q.at(i)
		s.dropped = false
		q.give(s.buf)
		s.buf = nil
	}
	q.n = w
}

// smallFrame is the largest frame a buffer of the free list holds (a P-frame of a 4 Mb/s
// stream, audio). Larger ones (keyframes) take the one big spare: the queue keeps one
// keyframe-sized buffer, not one per circulating buffer (each of which would otherwise
// grow to the largest keyframe it ever held: 200 KB a stream at 720p).
const smallFrame = 32 << 10

// take returns a freed buffer for a frame of n bytes (nil when none fits: append
// allocates): the most recently freed small one, or the big spare.
func (q *frameQueue) take(n int) []byte {
	if n > smallFrame {
		b := q.big
		q.big = nil
		return b
	}
	var b []byte
	if k := len(q.free); k > 0 {
		b = q.free[k-1]
		q.free = q.free[:k-1]
	}
	if cap(b) < n { // grown here, never past smallFrame: it stays a small buffer
		b = make([]byte, 0, min(smallFrame, max(n, 2*cap(b))))
	}
	return b
}

func (q *frameQueue) give(b []byte) {
	switch {
	case b == nil:
	case cap(b) > smallFrame:
		if cap(b) > cap(q.big) {
			q.big = b[:0] // the larger of the two is kept; the other goes to the collector
		}
	case len(q.free) < cap(q.free):
		q.free = append(q.free, b[:0])
	}
}

// pop moves the oldest frame into out, giving the queue out's old buffer in exchange.
func (q *frameQueue) pop(out *slot) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return false
	}
	s := q.at(0)
	q.give(out.buf)
	*out, *s = *s, slot{}
	q.head = (q.head + 1) % len(q.slots)
	q.n--
	q.bytes -= len(out.buf)
	return true
}

// restartVideo makes video resume at a keyframe: queued video before the first queued
// keyframe is dropped, and a keyframe is requested if none is queued.
func (q *frameQueue) restartVideo() (requestKey bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	found := false
	for i := 0; i < q.n && !found; i++ {
		s := q.at(i)
		switch {
		case !s.video:
		case s.key:
			found = true
		default:
			q.tombstone(s)
		}
	}
	q.compact()
	if !found {
		q.waitKey = true
	}
	return !found
}

func (q *frameQueue) stats() (frames, bytes int, dropVideo, dropAudio uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.bytes, q.dropVideo, q.dropAudio
}
