package media

import (
	"sync"
	"time"
)

// Clock puts the RTP timestamps of a call's tracks on one timeline, so that audio and
// video line up (lip sync) and a recording or stream gets one set of timestamps.
//
// Until a track's first RTCP Sender Report, its timestamps are anchored at the arrival
// time of its first packet. A Sender Report ties the track's RTP clock to the sender's
// NTP clock, which all the sender's tracks share; from then on the track is mapped
// through the most recent report, with its RTP clock rate measured between reports, so
// a sender clock that runs fast or slow does not accumulate error and tracks that started
// at different times line up. Timestamp wrap is handled (32-bit RTP time is extended to
// 64 bits).
//
// Clock is safe for concurrent use (RTP and RTCP arrive on different goroutines).
type Clock struct {
	mu      sync.Mutex
	start   time.Time // session time zero
	tracks  map[uint32]*trackClock
	haveNTP bool
	// ntpOffset maps sender NTP time to session time: session = ntp - ntpOffset.
	ntpOffset time.Duration
}

type trackClock struct {
	rate    float64 // nominal ticks per second
	started bool
	lastRaw uint32
	lastExt int64
	// arrival anchor
	refExt  int64
	refTime time.Duration
	// sender report anchors: the first and the latest
	haveSR            bool
	firstSRExt, srExt int64
	firstSRNTP, srNTP time.Duration
	measured          float64 // measured ticks per second, 0 until two reports are apart
	anchored          bool
	// a report that arrived before the first packet, checked once the track is anchored
	pendingSR  bool
	pendingNTP time.Time
	pendingRTP uint32
	pendingAt  time.Time
	rejected   int
}

// MaxSenderReportSkew bounds how far a Sender Report's RTP time may be from the RTP time
// of the packets arriving with it (the stream's first packet anchors that comparison).
// Beyond it the report contradicts the stream it describes and is ignored; the track
// stays on arrival time. ffmpeg, for one, anchors a stream's RTP base at its first send
// while the first packet carries base plus its first PTS: 80 ms off for H.264 with two
// B-frames, 1.5 s for a stream that starts 1.5 s late. An honest sender's report is
// within a few milliseconds of its packets on a LAN, and within the network's delay
// variation elsewhere.
const MaxSenderReportSkew = 40 * time.Millisecond

// NewClock returns a clock whose zero is start.
func NewClock(start time.Time) *Clock {
	return &Clock{start: start, tracks: make(map[uint32]*trackClock)}
}

// AddTrack declares a track (by SSRC, or any id the caller uses consistently) and its
// nominal clock rate.
func (c *Clock) AddTrack(id uint32, clockRate int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tracks[id]; !ok {
		c.tracks[id] = &trackClock{rate: float64(clockRate)}
	}
}

// RemoveTrack forgets a track (its SSRC changed).
func (c *Clock) RemoveTrack(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tracks, id)
}

func (t *trackClock) extend(ts uint32) int64 {
	if !t.started {
		t.started, t.lastRaw, t.lastExt = true, ts, int64(ts)
		return t.lastExt
	}
	ext := t.lastExt + int64(int32(ts-t.lastRaw))
	if ext > t.lastExt {
		t.lastRaw, t.lastExt = ts, ext
	}
	return ext
}

// SenderReport records an RTCP Sender Report of a track: the sender's NTP time (as a
// time.Time) for RTP timestamp rtpTS, received at arrival.
func (c *Clock) SenderReport(id uint32, ntp time.Time, rtpTS uint32, arrival time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tracks[id]
	if t == nil {
		return
	}
	if !t.anchored {
		t.pendingSR, t.pendingNTP, t.pendingRTP, t.pendingAt = true, ntp, rtpTS, arrival
		return
	}
	c.applySR(t, ntp, rtpTS, arrival)
}

// hasReport reports whether a track is mapped through a Sender Report.
func (c *Clock) hasReport(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tracks[id]
	return t != nil && (t.haveSR || t.pendingSR)
}

// Rejected returns how many Sender Reports of a track were ignored as inconsistent.
func (c *Clock) Rejected(id uint32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tracks[id]; t != nil {
		return t.rejected
	}
	return 0
}

func (c *Clock) applySR(t *trackClock, ntp time.Time, rtpTS uint32, arrival time.Time) {
	ext := t.extend(rtpTS)
	// Where the stream itself puts this RTP time, against when the report arrived.
	streamTime := t.refTime + time.Duration(float64(ext-t.refExt)/t.rate*float64(time.Second))
	if skew := streamTime - arrival.Sub(c.start); skew > MaxSenderReportSkew || skew < -MaxSenderReportSkew {
		t.rejected++
		return
	}
	ntpD := time.Duration(ntp.UnixNano())
	if !c.haveNTP {
		// Align the sender's clock with the session timeline at this moment, so that
		// switching from arrival times to sender reports does not jump.
		c.haveNTP = true
		c.ntpOffset = ntpD - arrival.Sub(c.start)
	}
	if !t.haveSR {
		t.haveSR = true
		t.firstSRExt, t.firstSRNTP = ext, ntpD
	} else if span := (ntpD - t.firstSRNTP).Seconds(); span >= 1 {
		m := float64(ext-t.firstSRExt) / span
		// Accept measurements within 1 % of nominal; anything else is a jump or a bogus
		// report, not drift.
		if m > t.rate*0.99 && m < t.rate*1.01 {
			t.measured = m
		}
	}
	t.srExt, t.srNTP = ext, ntpD
}

// Map returns the session time of RTP timestamp ts of a track, for a packet that arrived
// at arrival. Presentation times may go backwards (B-frames); keeping decode times
// monotonic is the caller's job.
func (c *Clock) Map(id uint32, ts uint32, arrival time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tracks[id]
	if t == nil {
		return arrival.Sub(c.start)
	}
	ext := t.extend(ts)
	if !t.anchored {
		t.anchored, t.refExt, t.refTime = true, ext, arrival.Sub(c.start)
		if t.pendingSR {
			t.pendingSR = false
			c.applySR(t, t.pendingNTP, t.pendingRTP, t.pendingAt)
		}
	}
	if t.haveSR {
		rate := t.rate
		if t.measured > 0 {
			rate = t.measured
		}
		ntp := t.srNTP + time.Duration(float64(ext-t.srExt)/rate*float64(time.Second))
		return ntp - c.ntpOffset
	}
	return t.refTime + time.Duration(float64(ext-t.refExt)/t.rate*float64(time.Second))
}
