package media

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/sipcast/sipcast/media/rtpdtmf"
)

// receiver is a session's receive pipeline: per track the jitter buffer, depacketizer,
// B-frame reordering and the call's Clock; the RTCP it reads (Sender Reports, APP, BYE)
// and the RTCP decisions it makes (receiver reports, NACKs, rate-limited PLI/FIR), which
// leave through out. It never touches a socket or the wall clock: packets come with
// their arrival time and time moves when its owner says (service). A Session embeds it
// with the transport around it; a Receiver offers it alone.
type receiver struct {
	log           *slog.Logger
	onFrame       func(*Frame)
	onPolledFrame func(*Frame)
	// inPoll: the Poller is polling this session now (written and read on the Poller's
	// goroutine under the session's pollMu): frames go to onPolledFrame.
	inPoll       bool
	onDTMF       func(rtpdtmf.Event)
	onApp        func(AppPacket)
	onEvent      func(SessionEvent)
	onKeyframe   func()
	timeoutFirst time.Duration
	timeoutAfter time.Duration
	lossPolicy   LossPolicy

	clock  *Clock
	tracks map[uint8]*track
	// early keeps Sender Reports of sources no track has seen yet (a report may overtake
	// the stream's first RTP packet); a track that takes the source replays it.
	earlyMu sync.Mutex
	early   [4]earlyReport
	earlyN  int
	started bool

	kfMu         sync.Mutex
	kf           kfState
	kfSent       atomic.Uint64
	kfAnswered   atomic.Uint64
	kfLatency    atomic.Int64
	kfLatencyMax atomic.Int64
	// kfRequestedAt is when the current keyframe request started (Unix ns): the tracks
	// judge the sender's answer from it (LossAdaptive).
	kfRequestedAt atomic.Int64
	// kfInFlight says a request is out and unanswered (not merely wanted: the rate limit
	// may hold one back).
	kfInFlight atomic.Bool
	firSeq     atomic.Uint32
	ssrc       uint32
	rx         rx
	// now is the clock of keyframe-request rate limiting (time.Now for a Session; a
	// Receiver's is the time of its last Push or Advance).
	now func() time.Time
	// out sends the RTCP the receiver makes; canReport says whether a receiver report
	// has somewhere to go (nil: always).
	out       func(pkts ...rtcp.Packet) error
	canReport func() bool

	packets atomic.Uint64
	bytes   atomic.Uint64
	frames  atomic.Uint64
	plis    atomic.Uint64
	nacks   atomic.Uint64
}

func newReceiverCore() receiver {
	return receiver{
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		timeoutFirst: 30 * time.Second,
		timeoutAfter: 10 * time.Second,
		tracks:       make(map[uint8]*track),
		ssrc:         randomSSRC(),
	}
}

// finish sets what the options left unset.
func (r *receiver) finish() {
	if r.now == nil {
		r.now = time.Now
	}
	if r.clock == nil {
		r.clock = NewClock(r.now())
	}
}

// addTrack adds a receive track.
func (r *receiver) addTrack(cfg TrackConfig) error {
	t, err := newTrack(cfg)
	if err != nil {
		return err
	}
	t.policy = r.lossPolicy
	t.keyframeSeen = r.keyframeArrived
	t.requestedAt, t.inFlight = &r.kfRequestedAt, &r.kfInFlight
	r.tracks[cfg.PayloadType] = t
	r.clock.AddTrack(t.cid, cfg.ClockRate)
	return nil
}

// pushRTP takes one RTP packet of a known track, from the peer (the transport has
// decrypted and accepted it), that arrived at now.
func (r *receiver) pushRTP(b []byte, t *track, from *net.UDPAddr, now time.Time) {
	rx := &r.rx
	if rx.lastPacket.IsZero() {
		r.event(SessionEvent{Type: EventFirstPacket, Remote: from})
	}
	rx.lastPacket, rx.timedOut = now, false
	r.packets.Add(1)
	r.bytes.Add(uint64(len(b)))
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	if old, ok := t.source(); ok && ssrc != old {
		// A new source: start the track's clock and sequence space over.
		r.clock.RemoveTrack(t.cid)
		r.clock.AddTrack(t.cid, t.cfg.ClockRate)
		t.reset()
	}
	if old, ok := t.source(); !ok || old != ssrc {
		t.setSource(ssrc)
		r.replayEarly(t, ssrc)
	}
	if t.firstArrival.IsZero() {
		t.firstArrival = now
	}
	if t.buf.Push(b, now) == nil && t.cfg.NACK && t.nackNext > 0 {
		// A retransmission comes below the highest sequence number: only such a packet
		// is looked up among the NACKed ones.
		seq := uint16(b[2])<<8 | uint16(b[3])
		if h, _ := t.buf.Highest(); uint16(h) != seq {
			t.recovered(seq, now)
		}
	}
	if t.cfg.NACK {
		rx.missing = r.nack(t, rx.missing[:0], now)
	}
}

// takeRTCP reads a (decrypted, accepted) compound RTCP packet that arrived at now.
func (r *receiver) takeRTCP(b []byte, now time.Time) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		r.log.Debug("media: bad RTCP", "err", err)
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			known := false
			for _, t := range r.tracks {
				if ssrc, ok := t.source(); ok && ssrc == p.SSRC {
					known = true
					r.clock.SenderReport(t.cid, ntpTime(p.NTPTime), p.RTPTime, now)
					t.lsr.Store(uint32(p.NTPTime >> 16))
					t.lsrAt.Store(now.UnixNano())
				}
			}
			if !known {
				r.earlyMu.Lock()
				r.early[r.earlyN%len(r.early)] = earlyReport{ok: true, ssrc: p.SSRC, ntp: p.NTPTime, rtp: p.RTPTime, at: now}
				r.earlyN++
				r.earlyMu.Unlock()
			}
		case *rtcp.ApplicationDefined:
			if r.onApp != nil {
				var name [4]byte
				copy(name[:], p.Name)
				r.onApp(AppPacket{SSRC: p.SSRC, SubType: p.SubType, Name: name, Data: p.Data})
			}
		case *rtcp.Goodbye:
			r.event(SessionEvent{Type: EventBye})
		}
	}
}

// stats returns the receiver's counters.
func (r *receiver) stats() SessionStats {
	st := SessionStats{Packets: r.packets.Load(), Bytes: r.bytes.Load(), Frames: r.frames.Load(), PLIs: r.plis.Load(), NACKs: r.nacks.Load(),
		KeyframeRequests: r.kfSent.Load(), KeyframesAnswered: r.kfAnswered.Load(),
		KeyframeLatency: time.Duration(r.kfLatency.Load()), KeyframeLatencyMax: time.Duration(r.kfLatencyMax.Load())}
	for _, t := range r.tracks {
		st.Concealed += t.concealed.Load()
		st.Frozen += t.frozen.Load()
		st.EmptyFrames += t.emptyFrames.Load()
		st.Recovered += t.recoveredN.Load()
		st.NACKTooLate += t.nackTooLate.Load()
		st.PacketsLost += t.packetsLost.Load()
		st.Late += t.late.Load()
		st.Jitter = max(st.Jitter, time.Duration(t.jitter.Load()))
	}
	return st
}

// replayEarly gives a track the Sender Report its new source sent before its first RTP
// packet was read.
func (r *receiver) replayEarly(t *track, ssrc uint32) {
	r.earlyMu.Lock()
	defer r.earlyMu.Unlock()
	for i := range r.early {
		if e := &r.early[i]; e.ok && e.ssrc == ssrc {
			r.clock.SenderReport(t.cid, ntpTime(e.ntp), e.rtp, e.at)
			t.lsr.Store(uint32(e.ntp >> 16))
			t.lsrAt.Store(e.at.UnixNano())
			e.ok = false
		}
	}
}

// AudioSpecificConfig returns the AAC configuration of an AAC track, once known.
func (r *receiver) AudioSpecificConfig(payloadType uint8) []byte {
	if t := r.tracks[payloadType]; t != nil {
		return t.audioSpecificConfig()
	}
	return nil
}

// drainHeld gives out what the jitter buffers and the B-frame reorderers still hold:
// the session is closing, and no packet is coming to complete or follow them. The last
// frames of a call reach its outputs instead of being lost at the hang-up.
func (r *receiver) drainHeld() {
	rx := &r.rx
	if rx.emit == nil {
		return // never received
	}
	far := r.now().Add(time.Hour)
	for _, t := range r.tracks {
		for {
			p, lost, ok := t.buf.Pop(far)
			if !ok {
				break
			}
			t.depacketize(p, lost, r.clock, t.buf.Arrival(), rx.emit, r.onDTMF, func() {})
		}
		if t.emit != nil { // it depacketized something: a last picture may wait for its marker
			t.keyframeNeeded = noKeyframe // closing: no request goes out
			t.dp.flush(t, t.buf.Arrival())
		}
		js := t.buf.Stats()
		t.packetsLost.Store(js.Lost)
		t.late.Store(js.Late)
		t.jitter.Store(int64(js.Jitter))
		t.reorder.flush(rx.emit)
	}
}

func noKeyframe() {}

func (r *receiver) event(e SessionEvent) {
	if r.onEvent != nil {
		r.onEvent(e)
	}
}

// Keyframe requests escalate and back off. A request sends PLI (when negotiated); if no
// keyframe comes within KeyframeAnswerBound, FIR (when negotiated); then the keyframe hook
// (SIP INFO picture_fast_update, where the call has it). While one is pending, more
// requests add nothing; once every step went unanswered it starts over after a backoff
// that doubles from 500 ms to at most 4 s, and a keyframe resets it.
const (
	keyframeMinInterval = 500 * time.Millisecond
	keyframeMaxBackoff  = 4 * time.Second
)

// kfStep is one step of a keyframe request.
type kfStep uint8

const (
	stepPLI kfStep = iota
	stepFIR
	stepHook
)

// kfState is the keyframe request in progress (guarded by receiver.kfMu).
type kfState struct {
	pending bool
	steps   [3]kfStep
	n, step int
	at      time.Time // the request's start (its answer latency counts from here)
	stepAt  time.Time // when the current step went out
	last    time.Time // the last start (rate limit)
	backoff time.Duration
	// deferred says a request came within keyframeMinInterval of the last one: it goes
	// out when the interval has passed, unless a keyframe came first.
	deferred bool
}

// RequestKeyframe asks the sender for a keyframe (see the escalation above). It may be
// called from any goroutine; it never blocks.
func (r *receiver) RequestKeyframe() {
	now := r.now()
	r.kfMu.Lock()
	k := &r.kf
	if k.pending {
		r.kfMu.Unlock()
		return
	}
	if !k.last.IsZero() && now.Sub(k.last) < keyframeMinInterval {
		k.deferred = true // sent once the interval has passed (escalateKeyframe)
		r.kfMu.Unlock()
		return
	}
	step := r.startRequestLocked(now)
	r.kfMu.Unlock()
	r.sendKeyframeStep(step)
}

// startRequestLocked starts a request at now and returns its first step (kfMu held).
func (r *receiver) startRequestLocked(now time.Time) kfStep {
	k := &r.kf
	k.n, k.deferred = 0, false
	if r.negotiated(func(c TrackConfig) bool { return c.PLI }) {
		k.steps[k.n], k.n = stepPLI, k.n+1
	}
	if r.negotiated(func(c TrackConfig) bool { return c.FIR }) {
		k.steps[k.n], k.n = stepFIR, k.n+1
	}
	k.steps[k.n], k.n = stepHook, k.n+1
	k.pending, k.step, k.at, k.stepAt, k.last = true, 0, now, now, now
	r.kfRequestedAt.Store(now.UnixNano())
	r.kfInFlight.Store(true)
	if k.backoff == 0 {
		k.backoff = keyframeMinInterval
	}
	return k.steps[0]
}

func (r *receiver) negotiated(f func(TrackConfig) bool) bool {
	for _, t := range r.tracks {
		if t.codec.IsVideo() && f(t.cfg) {
			return true
		}
	}
	return false
}

// escalateKeyframe moves an unanswered request on (service, the receiving goroutine).
func (r *receiver) escalateKeyframe(now time.Time) {
	r.kfMu.Lock()
	k := &r.kf
	if !k.pending && k.deferred && now.Sub(k.last) >= keyframeMinInterval {
		step := r.startRequestLocked(now)
		r.kfMu.Unlock()
		r.sendKeyframeStep(step)
		return
	}
	if !k.pending || now.Sub(k.stepAt) < KeyframeAnswerBound {
		r.kfMu.Unlock()
		return
	}
	switch {
	case k.step+1 < k.n:
		k.step++
	case now.Sub(k.stepAt) >= k.backoff: // every step unanswered: start over, later each time
		k.backoff = min(2*k.backoff, keyframeMaxBackoff)
		k.step, k.last = 0, now
	default:
		r.kfMu.Unlock()
		return
	}
	k.stepAt = now
	step := k.steps[k.step]
	r.kfMu.Unlock()
	r.sendKeyframeStep(step)
}

// keyframeArrived is told of every keyframe (the tracks' receiving goroutine): it answers
// the pending request. A keyframe that arrived damaged answers it too (the sender does
// answer), and a new request goes out at once, from its first step.
func (r *receiver) keyframeArrived(at time.Time, intact bool) {
	r.kfMu.Lock()
	k := &r.kf
	if !k.pending {
		if intact {
			k.deferred = false // what a deferred request wanted came
		}
		r.kfMu.Unlock()
		return
	}
	latency := at.Sub(k.at)
	k.backoff = keyframeMinInterval
	var again bool
	if intact {
		k.pending = false
		r.kfInFlight.Store(false)
	} else {
		k.step, k.at, k.stepAt, k.last, again = 0, at, at, at, true
		r.kfRequestedAt.Store(at.UnixNano())
	}
	step := k.steps[0]
	r.kfMu.Unlock()
	if again {
		r.sendKeyframeStep(step)
	}
	r.kfAnswered.Add(1)
	r.kfLatency.Store(int64(latency))
	for {
		m := r.kfLatencyMax.Load()
		if int64(latency) <= m || r.kfLatencyMax.CompareAndSwap(m, int64(latency)) {
			break
		}
	}
}

// sendKeyframeStep sends one step of a request, with no lock held.
func (r *receiver) sendKeyframeStep(step kfStep) {
	r.kfSent.Add(1)
	if step == stepHook {
		if r.onKeyframe != nil {
			r.onKeyframe()
		}
		return
	}
	for _, t := range r.tracks {
		ssrc, ok := t.source()
		if !ok || !t.codec.IsVideo() {
			continue
		}
		var err error
		if step == stepPLI && t.cfg.PLI {
			err = r.out(&rtcp.PictureLossIndication{SenderSSRC: r.ssrc, MediaSSRC: ssrc})
		} else if step == stepFIR && t.cfg.FIR {
			seq := uint8(r.firSeq.Add(1))
			err = r.out(&rtcp.FullIntraRequest{SenderSSRC: r.ssrc, MediaSSRC: ssrc,
				FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: seq}}})
		} else {
			continue
		}
		if err == nil {
			r.plis.Add(1)
		}
	}
}

func (r *receiver) initRx(now time.Time) {
	r.rx.start = now
	r.rx.nextRR = now.Add(time.Second)
	r.rx.emit = r.emitFrame
	r.rx.keyframe = r.RequestKeyframe
}

func (r *receiver) emitFrame(f *Frame) {
	r.frames.Add(1)
	if r.inPoll && r.onPolledFrame != nil {
		r.onPolledFrame(f)
	} else if r.onFrame != nil {
		r.onFrame(f)
	}
}

// nextDeadline is when the tracks next need service (at the latest, limit).
func (r *receiver) nextDeadline(now, limit time.Time) time.Time {
	deadline := limit
	for _, t := range r.tracks {
		if held := t.heldUntil(r.clock); held.After(now) {
			if held.Before(deadline) {
				deadline = held
			}
			continue
		}
		if d, ok := t.buf.NextDeadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	return deadline
}

// service releases what the jitter buffers hold until now, sends the periodic Receiver
// Report and watches for a media timeout.
func (r *receiver) service(now time.Time) {
	rx := &r.rx
	for _, t := range r.tracks {
		if t.heldUntil(r.clock).After(now) {
			continue
		}
		for {
			p, lost, ok := t.buf.Pop(now)
			if !ok {
				break
			}
			t.depacketize(p, lost, r.clock, t.buf.Arrival(), rx.emit, r.onDTMF, rx.keyframe)
		}
		js := t.buf.Stats()
		t.packetsLost.Store(js.Lost)
		t.late.Store(js.Late)
		t.jitter.Store(int64(js.Jitter))
		// Frames held for B-frame reordering go out when the stream pauses.
		if t.reorder.held() && now.Sub(t.lastVideo) > 300*time.Millisecond {
			t.reorder.flush(rx.emit)
		}
	}
	r.escalateKeyframe(now)
	if now.After(rx.nextRR) {
		r.receiverReport(now)
		rx.nextRR = now.Add(5 * time.Second)
	}
	limit := r.timeoutAfter
	since := rx.lastPacket
	if rx.lastPacket.IsZero() {
		limit, since = r.timeoutFirst, rx.start
	}
	if !rx.timedOut && limit > 0 && now.Sub(since) > limit {
		rx.timedOut = true
		r.event(SessionEvent{Type: EventMediaTimeout, Silence: now.Sub(since)})
	}
}

// nack sends a Generic NACK for sequence numbers newly found missing, timed against
// the jitter buffer: a packet whose retransmission could not arrive (one round trip, as
// measured on earlier retransmissions) before the buffer gives up on it is not asked
// for. Each missing packet is decided once.
func (r *receiver) nack(t *track, missing []uint16, now time.Time) []uint16 {
	missing = t.buf.Missing(missing)
	var fresh []uint16
	for _, m := range missing {
		if t.nackValid && int16(m-t.lastNack) <= 0 {
			continue // decided already
		}
		t.lastNack, t.nackValid = m, true
		if due, ok := t.buf.Deadline(m); ok && !now.Add(t.nackRTT).Before(due) {
			t.nackTooLate.Add(1)
			continue
		}
		fresh = append(fresh, m)
		t.nacked[t.nackNext%uint32(len(t.nacked))] = nackRecord{seq: m, at: now, used: true}
		t.nackNext++
	}
	if len(fresh) == 0 {
		return missing
	}
	pairs := rtcp.NackPairsFromSequenceNumbers(fresh)
	ssrc, _ := t.source()
	if r.out(&rtcp.TransportLayerNack{SenderSSRC: r.ssrc, MediaSSRC: ssrc, Nacks: pairs}) == nil {
		r.nacks.Add(1)
	}
	return missing
}

// recovered notes a packet that arrived after a NACK asked for it (a retransmission):
// it counts, and its round trip updates the estimate the NACKs are timed by.
func (t *track) recovered(seq uint16, now time.Time) {
	for i := range t.nacked {
		n := &t.nacked[i]
		if n.used && n.seq == seq {
			n.used = false
			t.recoveredN.Add(1)
			sample := now.Sub(n.at)
			if t.nackRTT == 0 {
				t.nackRTT = sample
			} else {
				t.nackRTT += (sample - t.nackRTT) / 8
			}
			return
		}
	}
}

// receiverReport sends an RTCP Receiver Report with a block per active track (RFC 3550
// §6.4.2): loss since the last report, cumulative loss, extended highest sequence number,
// interarrival jitter, and the last Sender Report with the delay since it.
func (r *receiver) receiverReport(now time.Time) {
	if r.canReport != nil && !r.canReport() {
		return // nowhere to send it (yet)
	}
	rr := &rtcp.ReceiverReport{SSRC: r.ssrc}
	for _, t := range r.tracks {
		ssrc, ok := t.source()
		if !ok {
			continue
		}
		highest, _ := t.buf.Highest()
		st := t.buf.Stats()
		expected := uint64(highest) + 1
		received := st.Received - st.Duplicates
		var fraction uint8
		if de := expected - t.rrExpected; de > 0 && t.rrExpected > 0 {
			dr := received - t.rrReceived
			if de > dr {
				fraction = uint8((de - dr) * 256 / de)
			}
		}
		t.rrExpected, t.rrReceived = expected, received
		block := rtcp.ReceptionReport{
			SSRC: ssrc, FractionLost: fraction, TotalLost: uint32(st.Lost) & 0xffffff,
			LastSequenceNumber: highest,
			Jitter:             uint32(st.Jitter.Seconds() * float64(t.cfg.ClockRate)),
		}
		if at := t.lsrAt.Load(); at != 0 {
			block.LastSenderReport = t.lsr.Load()
			block.Delay = uint32(now.Sub(time.Unix(0, at)).Seconds() * 65536)
		}
		rr.Reports = append(rr.Reports, block)
	}
	_ = r.out(rr)
}

// rx is the receive state, owned by whichever goroutine receives (the session's own
// rtpLoop, or its Poller).
type rx struct {
	start      time.Time
	lastPacket time.Time
	timedOut   bool
	missing    []uint16
	nextRR     time.Time
	emit       func(*Frame) // r.emitFrame, bound once so that passing it does not allocate
	keyframe   func()       // r.RequestKeyframe, bound once
}

type earlyReport struct {
	ok   bool
	ssrc uint32
	ntp  uint64
	rtp  uint32
	at   time.Time
}

// Receiver is a session's receive pipeline without sockets and without the wall clock:
// per track the jitter buffer, depacketizer, B-frame reordering and the call's Clock,
// and the RTCP decisions (receiver reports, NACKs, rate-limited PLI/FIR) written to the
// function given to NewReceiver. Packets come in with Push and time moves with Advance,
// both at times the caller chooses, so a test (or an application with a transport of
// its own) drives it deterministically. A Session is the same pipeline inside a
// transport: UDP sockets, SRTP, latching and a goroutine (or a Poller) calling it.
//
// A Receiver is not safe for concurrent use: one goroutine pushes and advances.
type Receiver struct {
	r       *receiver
	started bool
	now     time.Time
	// ownClock: no WithClock; the Clock starts at the first Push or Advance.
	ownClock bool
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
	// The options are a Session's: they are applied to a shell that binds nothing, and
	// the Receiver keeps only its receive pipeline.
	shell := &Session{receiver: newReceiverCore()}
	for _, o := range opts {
		if err := o(shell); err != nil {
			return nil, err
		}
	}
	r := &Receiver{r: &shell.receiver, ownClock: shell.clock == nil}
	r.r.now = func() time.Time { return r.now }
	r.r.out = func(pkts ...rtcp.Packet) error {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			return err
		}
		return rtcpOut(b)
	}
	r.r.finish()
	return r, nil
}

// AddTrack adds a receive track, before the first Push.
func (r *Receiver) AddTrack(cfg TrackConfig) error {
	if r.started {
		return errors.New("media: AddTrack after the first Push")
	}
	return r.r.addTrack(cfg)
}

func (r *Receiver) at(now time.Time) {
	if !r.started {
		r.started = true
		r.r.started = true
		if r.ownClock {
			r.r.clock = NewClock(now)
			for _, t := range r.r.tracks {
				r.r.clock.AddTrack(t.cid, t.cfg.ClockRate)
			}
		}
		r.r.initRx(now)
	}
	if now.After(r.now) {
		r.now = now
	}
}

// Push takes one datagram (RTP, or RTCP) that arrived at at. It does not keep packet.
func (r *Receiver) Push(packet []byte, at time.Time) {
	r.at(at)
	if isRTCP(packet) {
		r.r.takeRTCP(packet, at)
		return
	}
	if len(packet) < 12 {
		return
	}
	if t := r.r.tracks[packet[1]&0x7f]; t != nil {
		r.r.pushRTP(packet, t, receiverPeer, at)
	}
}

// Advance releases what the jitter buffers hold until now (frames to WithFrames), sends
// the periodic receiver report and watches for a media timeout.
func (r *Receiver) Advance(now time.Time) {
	r.at(now)
	r.r.service(now)
}

// Flush gives out everything the jitter buffers and the B-frame reorderers hold (the
// stream has ended).
func (r *Receiver) Flush() { r.r.drainHeld() }

// NextDeadline is when the receiver next needs Advance (at the latest, limit).
func (r *Receiver) NextDeadline(limit time.Time) time.Time { return r.r.nextDeadline(r.now, limit) }

// RequestKeyframe asks the sender for a keyframe (PLI/FIR when negotiated, at most one
// every 500 ms of the receiver's time).
func (r *Receiver) RequestKeyframe() { r.r.RequestKeyframe() }

// Stats returns the counters.
func (r *Receiver) Stats() SessionStats { return r.r.stats() }
