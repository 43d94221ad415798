package media

import (
	"errors"
	"net"
	"time"
)

// Receiver is a session's receive pipeline without sockets and without the wall clock:
// per track the jitter buffer, depacketizer, B-frame reordering and the call's Clock,
// and the RTCP decisions (receiver reports, NACKs, rate-limited PLI/FIR) written to the
// function given to NewReceiver. Packets come in with Push and time moves with Advance,
// both at times the caller chooses, so a test (or an application with a transport of
// its own) drives it deterministically. A Session is a Receiver with UDP sockets, SRTP,
// latching and a goroutine (or a Poller) calling it.
//
// A Receiver is not safe for concurrent use: one goroutine pushes and advances.
type Receiver struct {
	s       *Session
	started bool
	now     time.Time
}

// receiverPeer is the source every pushed packet is taken from.
var receiverPeer = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5004}

// NewReceiver returns a Receiver whose RTCP goes to rtcpOut (the marshalled compound
// packet; it must not keep it). The options are a Session's (WithFrames, WithClock,
// WithDTMF, WithRTCPApp, WithSessionEvents, WithKeyframeHook, WithMediaTimeouts...);
// those about sockets and SRTP do not apply.
func NewReceiver(rtcpOut func([]byte) error, opts ...SessionOption) (*Receiver, error) {
	if rtcpOut == nil {
		return nil, errors.New("media: a Receiver needs a function for its RTCP")
	}
	r := &Receiver{}
	opts = append(opts, func(s *Session) error {
		s.rtcpOut = rtcpOut
		s.now = func() time.Time { return r.now }
		return nil
	})
	s, err := NewSession(opts...)
	if err != nil {
		return nil, err
	}
	r.s = s
	return r, nil
}

// AddTrack adds a receive track, before the first Push.
func (r *Receiver) AddTrack(cfg TrackConfig) error { return r.s.AddTrack(cfg) }

func (r *Receiver) at(now time.Time) {
	if !r.started {
		r.started = true
		r.s.started = true
		r.s.initRx(now)
	}
	if now.After(r.now) {
		r.now = now
	}
}

// Push takes one datagram (RTP, or RTCP) that arrived at at. It does not keep packet.
func (r *Receiver) Push(packet []byte, at time.Time) {
	r.at(at)
	r.s.receive(packet, receiverPeer, at)
}

// Advance releases what the jitter buffers hold until now (frames to WithFrames), sends
// the periodic receiver report and watches for a media timeout.
func (r *Receiver) Advance(now time.Time) {
	r.at(now)
	r.s.service(now)
}

// Flush gives out everything the jitter buffers and the B-frame reorderers hold (the
// stream has ended).
func (r *Receiver) Flush() { r.s.drainHeld() }

// NextDeadline is when the receiver next needs Advance (at the latest, limit).
func (r *Receiver) NextDeadline(limit time.Time) time.Time { return r.s.nextDeadline(r.now, limit) }

// RequestKeyframe asks the sender for a keyframe (PLI/FIR when negotiated, at most one
// every 500 ms of the receiver's time).
func (r *Receiver) RequestKeyframe() { r.s.RequestKeyframe() }

// Stats returns the counters.
func (r *Receiver) Stats() SessionStats { return r.s.Stats() }
