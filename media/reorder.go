package media

import "time"

// dtsReorderer gives decode times to a video stream whose frames arrive in decoding order
// with presentation times only (RTP carries PTS). With a reorder depth R (the SPS's
// max_num_reorder_frames) it holds R frames: the i-th frame's DTS is the i-th smallest
// PTS of the stream, less R frame durations, so that DTS increases strictly and never
// exceeds PTS. With R = 0 frames pass straight through with DTS = PTS.
type dtsReorderer struct {
	depth    int
	shift    time.Duration // R frame durations, learned from the first R+1 frames
	haveStep bool
	pending  []pendingFrame // decoding order, at most depth+1
	sorted   []time.Duration
	spare    [][]byte
	lastDTS  time.Duration
	haveDTS  bool
	out      Frame
}

type pendingFrame struct {
	f   Frame
	buf []byte
}

// setDepth changes the reorder depth, flushing held frames first.
func (r *dtsReorderer) setDepth(depth int, emit func(*Frame)) {
	if depth == r.depth {
		return
	}
	r.flush(emit)
	r.depth, r.haveStep, r.shift = depth, false, 0
}

// push adds a frame (its data is copied when held) and emits what is ready.
func (r *dtsReorderer) push(f *Frame, emit func(*Frame)) {
	if r.depth <= 0 {
		r.out = *f
		r.out.DTS = r.monotonic(f.PTS)
		r.out.PTS = r.out.DTS
		emit(&r.out)
		return
	}
	var buf []byte
	if n := len(r.spare); n > 0 {
		buf, r.spare = r.spare[n-1][:0], r.spare[:n-1]
	}
	buf = append(buf, f.Data...)
	p := pendingFrame{f: *f, buf: buf}
	p.f.Data = buf
	r.pending = append(r.pending, p)
	r.insert(f.PTS)
	if !r.haveStep && len(r.sorted) == r.depth+1 {
		step := time.Duration(0)
		for i := 1; i < len(r.sorted); i++ {
			if d := r.sorted[i] - r.sorted[i-1]; d > 0 && (step == 0 || d < step) {
				step = d
			}
		}
		r.shift, r.haveStep = time.Duration(r.depth)*step, true
	}
	for len(r.pending) > r.depth {
		r.emitFirst(emit)
	}
}

func (r *dtsReorderer) insert(pts time.Duration) {
	i := len(r.sorted)
	r.sorted = append(r.sorted, pts)
	for i > 0 && r.sorted[i-1] > pts {
		r.sorted[i] = r.sorted[i-1]
		i--
	}
	r.sorted[i] = pts
}

func (r *dtsReorderer) emitFirst(emit func(*Frame)) {
	p := r.pending[0]
	copy(r.pending, r.pending[1:])
	r.pending = r.pending[:len(r.pending)-1]
	dts := r.sorted[0] - r.shift
	copy(r.sorted, r.sorted[1:])
	r.sorted = r.sorted[:len(r.sorted)-1]
	r.out = p.f
	r.out.DTS = r.monotonic(dts)
	if r.out.DTS > r.out.PTS {
		// The timeline stepped back (the switch from arrival time to Sender Reports) or
		// the depth is still being learned: a frame cannot be shown before it is decoded.
		r.out.PTS = r.out.DTS
	}
	emit(&r.out)
	r.spare = append(r.spare, p.buf)
}

func (r *dtsReorderer) monotonic(dts time.Duration) time.Duration {
	if r.haveDTS && dts < r.lastDTS {
		dts = r.lastDTS
	}
	r.lastDTS, r.haveDTS = dts, true
	return dts
}

// flush emits every held frame (end of stream, depth change).
func (r *dtsReorderer) flush(emit func(*Frame)) {
	for len(r.pending) > 0 {
		r.emitFirst(emit)
	}
}

// held reports whether frames are waiting.
func (r *dtsReorderer) held() bool { return len(r.pending) > 0 }
