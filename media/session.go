package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/sipcast/sipcast/media/rtpdtmf"
)

// SessionEventType says what happened to a Session.
type SessionEventType int

// Session events.
const (
	// EventFirstPacket: media started arriving (with the address it comes from).
	EventFirstPacket SessionEventType = iota
	// EventMediaTimeout: no RTP for the configured time.
	EventMediaTimeout
	// EventRemoteLatched: symmetric RTP switched the remote address to where media comes from.
	EventRemoteLatched
	// EventBye: the peer sent RTCP BYE.
	EventBye
)

// SessionEvent reports a session event.
type SessionEvent struct {
	Type   SessionEventType
	Remote net.Addr
	// Silence is how long no RTP arrived (EventMediaTimeout).
	Silence time.Duration
}

// AppPacket is an RTCP APP packet (RFC 3550 §6.7). The Cisco Meeting Server Call Bridge
// sends the stream URL in one; its layout is undocumented, so the raw fields are given.
type AppPacket struct {
	SSRC    uint32
	SubType uint8
	Name    [4]byte
	Data    []byte
}

var (
	errNoRemoteRTCP = errors.New("media: no remote RTCP address")
	errNoRemoteRTP  = errors.New("media: no remote RTP address")
)

// SessionOption configures a Session.
type SessionOption func(*Session) error

// WithPortAllocator takes RTP ports from a shared allocator (default: any free port).
func WithPortAllocator(a *PortAllocator) SessionOption {
	return func(s *Session) error { s.ports = a; return nil }
}

// WithPoller receives the session's media on a shared Poller instead of the session's
// own goroutines (see Poller). Frames are then delivered on the poller's goroutine.
func WithPoller(p *Poller) SessionOption {
	return func(s *Session) error { s.poller = p; return nil }
}

// WithLocalIP binds to ip (default 0.0.0.0).
func WithLocalIP(ip net.IP) SessionOption {
	return func(s *Session) error { s.localIP = ip; return nil }
}

// WithRTCPMux carries RTCP on the RTP port (RFC 5761).
func WithRTCPMux() SessionOption {
	return func(s *Session) error { s.mux = true; return nil }
}

// WithSessionLogger sets the logger (default: discard).
func WithSessionLogger(l *slog.Logger) SessionOption {
	return func(s *Session) error { s.log = l; return nil }
}

// WithFrames sets the function that receives every complete frame, from the session's
// receive goroutine. The frame and its data are valid only during the call; the function
// must not block.
func WithFrames(f func(*Frame)) SessionOption {
	return func(s *Session) error { s.onFrame = f; return nil }
}

// WithPolledFrames sets a function that receives, instead of WithFrames' function, the
// frames the session's Poller delivers: those always come on the Poller's one goroutine,
// so an application whose state that goroutine owns takes them without a copy or a lock.
// Frames delivered otherwise (the session's own goroutines, the last frames at Close) go
// to WithFrames' function.
func WithPolledFrames(f func(*Frame)) SessionOption {
	return func(s *Session) error { s.onPolledFrame = f; return nil }
}

// WithDTMF sets the function that receives telephone events.
func WithDTMF(f func(rtpdtmf.Event)) SessionOption {
	return func(s *Session) error { s.onDTMF = f; return nil }
}

// WithRTCPApp sets the function that receives RTCP APP packets.
func WithRTCPApp(f func(AppPacket)) SessionOption {
	return func(s *Session) error { s.onApp = f; return nil }
}

// WithSessionEvents sets the function told about session events.
func WithSessionEvents(f func(SessionEvent)) SessionOption {
	return func(s *Session) error { s.onEvent = f; return nil }
}

// WithKeyframeHook is called (besides sending PLI when negotiated) whenever a keyframe is
// needed, so the signalling side can send SIP INFO picture_fast_update (RFC 5168).
func WithKeyframeHook(f func()) SessionOption {
	return func(s *Session) error { s.onKeyframe = f; return nil }
}

// WithMediaTimeouts sets how long the session waits for the first RTP packet and how
// long media may then stop before EventMediaTimeout (defaults 30 s and 10 s).
func WithMediaTimeouts(first, after time.Duration) SessionOption {
	return func(s *Session) error { s.timeoutFirst, s.timeoutAfter = first, after; return nil }
}

// WithSRTP decrypts incoming SRTP and SRTCP with an SDES key (RFC 4568): suite is the
// a=crypto suite name (AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM)
// and key its key parameter ("inline:<base64 key||salt>"). Replayed packets are dropped.
func WithSRTP(suite, key string) SessionOption {
	return func(s *Session) error {
		var err error
		s.srtpRTP, s.srtpRTCP, err = srtpContexts(suite, key)
		return err
	}
}

// WithSRTPSend encrypts the RTCP (and RTP) the session sends with the local SDES key
// (the one in our a=crypto line). With WithSRTP but without it, nothing is sent in clear.
func WithSRTPSend(suite, key string) SessionOption {
	return func(s *Session) error {
		ctx, _, err := srtpContexts(suite, key)
		s.srtpSend = ctx
		return err
	}
}

// WithClock shares a clock between the sessions of one call (one per m-line), so their
// tracks land on one timeline and stay in sync (default: a clock of the session's own).
func WithClock(c *Clock) SessionOption {
	return func(s *Session) error { s.clock = c; return nil }
}

// WithSymmetricRTP turns latching on or off (default on). On, the session latches once on
// the source of the first valid RTP packet (a negotiated payload type), which may differ
// from the SDP address behind NAT, and sends RTP and RTCP there. Off, it sends to the SDP
// address and takes media only from the SDP address's host, latching on the first such
// source. Either way, once latched, RTP and RTCP from any other source are dropped and
// counted (SessionStats.Foreign) until SetRemote is called again (a new SDP).
func WithSymmetricRTP(enabled bool) SessionOption {
	return func(s *Session) error { s.symmetric = enabled; return nil }
}

// Session is the media of one call: its UDP sockets, its receive tracks, RTCP, and one
// clock. Create it, add tracks, Start it; Close stops and joins everything.
type Session struct {
	log       *slog.Logger
	ports     *PortAllocator
	localIP   net.IP
	mux       bool
	symmetric bool
	onFrame   func(*Frame)
	// onPolledFrame takes the frames the Poller delivers (inPoll: it is polling this
	// session now; written and read on the Poller's goroutine under pollMu).
	onPolledFrame func(*Frame)
	inPoll        bool
	onDTMF        func(rtpdtmf.Event)
	onApp         func(AppPacket)
	onEvent       func(SessionEvent)
	onKeyframe    func()
	timeoutFirst  time.Duration
	timeoutAfter  time.Duration

	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	srtpRTP  *srtp.Context // owned by the RTP goroutine
	srtpRTCP *srtp.Context // owned by whichever goroutine reads RTCP
	sendMu   sync.Mutex
	srtpSend *srtp.Context // guarded by sendMu
	sendBuf  []byte        // guarded by sendMu
	encBuf   []byte        // guarded by sendMu
	clock    *Clock
	tracks   map[uint8]*track
	// early keeps Sender Reports of sources no track has seen yet (a report may overtake
	// the stream's first RTP packet); a track that takes the source replays it.
	earlyMu sync.Mutex
	early   [4]earlyReport
	earlyN  int
	started bool

	remoteMu   sync.Mutex
	remoteRTP  *net.UDPAddr
	remoteRTCP *net.UDPAddr
	// peer is the source RTP is taken from once latched; peerRTCP the source RTCP is
	// taken from once RTCP has latched (its own socket: same host as peer, any port the
	// first time). Guarded by remoteMu.
	latched     bool
	peer        net.UDPAddr
	rtcpLatched bool
	peerRTCP    net.UDPAddr
	foreign     atomic.Uint64

	lastPLI  atomic.Int64
	firSeq   atomic.Uint32
	ssrc     uint32
	closing  chan struct{}
	closeOne sync.Once
	wg       sync.WaitGroup

	rx     rx
	poller *Poller
	// rawRTP and rawRTCP are the sockets' descriptors once a Poller has taken them out of
	// the net.UDPConns (-1 before; guarded by sendMu).
	rawRTP, rawRTCP int
	sendAddr        [28]byte  // sendTo's scratch space (guarded by sendMu)
	polled          pollState // guarded by pollMu; see poller.go
	pollMu          sync.Mutex

	// now is the clock of keyframe-request rate limiting (time.Now; a Receiver's is
	// the time of its last Push or Advance); rtcpOut, when set, takes the RTCP the
	// session sends instead of a socket (a Receiver).
	now func() time.Time
	// ownLoops says the session receives on its own goroutines (not on a Poller).
	ownLoops bool
	rtcpOut  func([]byte) error

	packets atomic.Uint64
	bytes   atomic.Uint64
	frames  atomic.Uint64
	plis    atomic.Uint64
	nacks   atomic.Uint64
}

// NewSession binds the session's sockets.
func NewSession(opts ...SessionOption) (*Session, error) {
	s := &Session{
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		symmetric:    true,
		timeoutFirst: 30 * time.Second,
		timeoutAfter: 10 * time.Second,
		tracks:       make(map[uint8]*track),
		closing:      make(chan struct{}),
		rawRTP:       -1,
		rawRTCP:      -1,
		ssrc:         randomSSRC(),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rtcpOut == nil { // a Receiver has no sockets
		var err error
		if s.ports != nil {
			s.rtpConn, s.rtcpConn, err = s.ports.listen(s.localIP, s.mux)
		} else {
			s.rtpConn, s.rtcpConn, err = listenPair(s.localIP, s.mux)
		}
		if err != nil {
			return nil, fmt.Errorf("media: binding RTP sockets: %w", err)
		}
	}
	if s.clock == nil {
		s.clock = NewClock(s.now())
	}
	return s, nil
}

type earlyReport struct {
	ok   bool
	ssrc uint32
	ntp  uint64
	rtp  uint32
	at   time.Time
}

// replayEarly gives a track the Sender Report its new source sent before its first RTP
// packet was read.
func (s *Session) replayEarly(t *track, ssrc uint32) {
	s.earlyMu.Lock()
	defer s.earlyMu.Unlock()
	for i := range s.early {
		if e := &s.early[i]; e.ok && e.ssrc == ssrc {
			s.clock.SenderReport(t.cid, ntpTime(e.ntp), e.rtp, e.at)
			t.lsr.Store(uint32(e.ntp >> 16))
			t.lsrAt.Store(e.at.UnixNano())
			e.ok = false
		}
	}
}

// listenPair binds an RTP socket on a free even port and, unless mux, RTCP on the next
// one, as peers that ignore a=rtcp (RFC 3605) expect; after a number of tries it takes
// any two ports (the SDP then says a=rtcp).
func listenPair(ip net.IP, mux bool) (rtpConn, rtcpConn *net.UDPConn, err error) {
	for range 64 {
		rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, err
		}
		p := rc.LocalAddr().(*net.UDPAddr).Port
		if mux {
			return rc, nil, nil
		}
		if p%2 == 0 && p < 65535 {
			if cc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1}); err == nil {
				return rc, cc, nil
			}
		}
		rc.Close()
	}
	rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, nil, err
	}
	cc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	return rc, cc, nil
}

// LocalPorts returns the RTP and RTCP ports (equal with rtcp-mux).
func (s *Session) LocalPorts() (rtpPort, rtcpPort int) {
	rtpPort = s.rtpConn.LocalAddr().(*net.UDPAddr).Port
	if s.rtcpConn == nil {
		return rtpPort, rtpPort
	}
	return rtpPort, s.rtcpConn.LocalAddr().(*net.UDPAddr).Port
}

// SetRemote sets where RTP and RTCP go (from the SDP) and starts latching afresh: the
// next valid RTP packet chooses the peer (see WithSymmetricRTP).
func (s *Session) SetRemote(rtpAddr, rtcpAddr *net.UDPAddr) {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	s.remoteRTP, s.remoteRTCP = rtpAddr, rtcpAddr
	s.latched, s.rtcpLatched = false, false
}

// randomSSRC returns an SSRC an off-path attacker cannot guess (RFC 3550 §8.1: random).
func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return binary.BigEndian.Uint32(b[:]) | 1
}

// AddTrack adds a receive track before Start.
func (s *Session) AddTrack(cfg TrackConfig) error {
	if s.started {
		return errors.New("media: AddTrack after Start")
	}
	t, err := newTrack(cfg)
	if err != nil {
		return err
	}
	s.tracks[cfg.PayloadType] = t
	s.clock.AddTrack(cfg.clockID(), cfg.ClockRate)
	return nil
}

// AudioSpecificConfig returns the AAC configuration of an AAC track, once known.
func (s *Session) AudioSpecificConfig(payloadType uint8) []byte {
	if t := s.tracks[payloadType]; t != nil {
		return t.audioSpecificConfig()
	}
	return nil
}

// Start starts receiving: on the session's Poller when it has one (and the platform
// supports it), otherwise on the session's own goroutines.
func (s *Session) Start() {
	if s.started {
		return
	}
	s.started = true
	if s.poller != nil {
		err := s.poller.add(s)
		if err == nil {
			return
		}
		s.log.Debug("media: receiving on the session's own goroutines", "reason", err)
	}
	s.ownLoops = true
	s.wg.Add(1)
	go s.rtpLoop()
	if s.rtcpConn != nil {
		s.wg.Add(1)
		go s.rtcpLoop()
	}
}

// Close stops the session, joins its goroutines and releases its ports. Idempotent.
// Nothing received is lost: the datagrams still queued on the socket are read, and the
// frames that the jitter buffers and the B-frame reorderers hold go out (WithFrames is
// then called on the goroutine calling Close) before it returns.
func (s *Session) Close() error {
	s.closeOne.Do(func() {
		close(s.closing)
		if s.poller != nil {
			s.poller.remove(s)
		}
		if s.rtcpConn != nil {
			s.rtcpConn.Close()
		}
		// The packets already queued on the socket (a caller that hangs up right after
		// its last packets) are read before it closes, here, once its reader (rtpLoop,
		// woken by the deadline, or the Poller) has let it go.
		if s.ownLoops {
			_ = s.rtpConn.SetReadDeadline(time.Now())
			s.wg.Wait()
			s.drainSocket()
		} else if s.started && s.poller != nil {
			s.poller.drainRemoved(s)
		}
		s.wg.Wait()
		s.rtpConn.Close()
		s.sendMu.Lock()
		closeFD(s.rawRTP)
		closeFD(s.rawRTCP)
		s.rawRTP, s.rawRTCP = -1, -1
		s.sendMu.Unlock()
		s.drainHeld()
		if s.ports != nil {
			s.ports.release(s.rtpConn.LocalAddr().(*net.UDPAddr).Port)
		}
	})
	return nil
}

// drainHeld gives out what the jitter buffers and the B-frame reorderers still hold:
// the session is closing, and no packet is coming to complete or follow them. The last
// frames of a call reach its outputs instead of being lost at the hang-up.
func (s *Session) drainHeld() {
	r := &s.rx
	if r.emit == nil {
		return // never received
	}
	far := s.now().Add(time.Hour)
	for _, t := range s.tracks {
		for {
			p, lost, ok := t.buf.Pop(far)
			if !ok {
				break
			}
			t.depacketize(p, lost, s.clock, t.buf.Arrival(), r.emit, s.onDTMF, func() {})
		}
		t.reorder.flush(r.emit)
	}
}

// SessionStats are a session's counters.
type SessionStats struct {
	Packets, Bytes, Frames uint64
	// PLIs counts keyframe requests sent (PLI or FIR).
	PLIs, NACKs uint64
	// Foreign counts RTP and RTCP packets dropped because they came from a source other
	// than the latched peer.
	Foreign uint64
}

// Stats returns the counters.
func (s *Session) Stats() SessionStats {
	return SessionStats{Packets: s.packets.Load(), Bytes: s.bytes.Load(), Frames: s.frames.Load(), PLIs: s.plis.Load(), NACKs: s.nacks.Load(),
		Foreign: s.foreign.Load()}
}

func (s *Session) event(e SessionEvent) {
	if s.onEvent != nil {
		s.onEvent(e)
	}
}

// RequestKeyframe asks the sender for a keyframe: PLI when a video track negotiated it
// (at most one every 500 ms), and the keyframe hook.
func (s *Session) RequestKeyframe() {
	now := s.now().UnixNano()
	last := s.lastPLI.Load()
	if now-last < int64(500*time.Millisecond) || !s.lastPLI.CompareAndSwap(last, now) {
		return
	}
	for _, t := range s.tracks {
		ssrc, ok := t.source()
		if !ok || !t.codec.IsVideo() {
			continue
		}
		switch {
		case t.cfg.PLI:
			if s.sendRTCP(&rtcp.PictureLossIndication{SenderSSRC: s.ssrc, MediaSSRC: ssrc}) == nil {
				s.plis.Add(1)
			}
		case t.cfg.FIR:
			seq := uint8(s.firSeq.Add(1))
			if s.sendRTCP(&rtcp.FullIntraRequest{SenderSSRC: s.ssrc, MediaSSRC: ssrc,
				FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: seq}}}) == nil {
				s.plis.Add(1)
			}
		}
	}
	if s.onKeyframe != nil {
		s.onKeyframe()
	}
}

func (s *Session) sendRTCP(pkts ...rtcp.Packet) error {
	if s.rtcpOut != nil {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			return err
		}
		return s.rtcpOut(b)
	}
	s.remoteMu.Lock()
	dst := s.remoteRTCP
	s.remoteMu.Unlock()
	if dst == nil {
		return errNoRemoteRTCP
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	switch {
	case s.srtpSend != nil:
		if b, err = s.srtpSend.EncryptRTCP(nil, b, nil); err != nil {
			return err
		}
	case s.srtpRTP != nil:
		return errors.New("media: SRTP session without a send key: RTCP not sent in clear")
	}
	conn, fd := s.rtcpConn, s.rawRTCP
	if conn == nil {
		conn, fd = s.rtpConn, s.rawRTP
	}
	if fd >= 0 {
		return sendTo(fd, b, dst, &s.sendAddr)
	}
	_, err = conn.WriteToUDP(b, dst)
	return err
}

// WriteRTP sends an RTP packet to the remote address (encrypted with WithSRTPSend when
// SRTP is on). Use it to talk back (mixers, relays) and to start media early so that NATs
// open and peers that wait for RTP start sending (Flashphoner's rtp_session_init_always).
// It is safe for concurrent use.
func (s *Session) WriteRTP(p *rtp.Packet) error {
	s.remoteMu.Lock()
	dst := s.remoteRTP
	s.remoteMu.Unlock()
	if dst == nil {
		return errNoRemoteRTP
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	var err error
	n := p.MarshalSize()
	if cap(s.sendBuf) < n {
		s.sendBuf = make([]byte, n)
	}
	s.sendBuf = s.sendBuf[:n]
	if _, err = p.MarshalTo(s.sendBuf); err != nil {
		return err
	}
	b := s.sendBuf
	switch {
	case s.srtpSend != nil:
		if s.encBuf, err = s.srtpSend.EncryptRTP(s.encBuf[:0], b, &p.Header); err != nil {
			return err
		}
		b = s.encBuf
	case s.srtpRTP != nil:
		return errors.New("media: SRTP session without a send key: RTP not sent in clear")
	}
	if s.rawRTP >= 0 {
		return sendTo(s.rawRTP, b, dst, &s.sendAddr)
	}
	_, err = s.rtpConn.WriteToUDP(b, dst)
	return err
}

func isRTCP(b []byte) bool { return len(b) > 1 && b[1] >= 192 && b[1] <= 223 }

// rx is the receive state, owned by whichever goroutine receives (the session's own
// rtpLoop, or its Poller).
type rx struct {
	start      time.Time
	lastPacket time.Time
	timedOut   bool
	missing    []uint16
	dec        []byte
	hdr        rtp.Header
	nextRR     time.Time
	emit       func(*Frame) // s.emitFrame, bound once so that passing it does not allocate
	keyframe   func()       // s.RequestKeyframe, bound once
}

func (s *Session) initRx(now time.Time) {
	s.rx.start = now
	s.rx.nextRR = now.Add(time.Second)
	s.rx.emit = s.emitFrame
	s.rx.keyframe = s.RequestKeyframe
}

func (s *Session) emitFrame(f *Frame) {
	s.frames.Add(1)
	if s.inPoll && s.onPolledFrame != nil {
		s.onPolledFrame(f)
	} else if s.onFrame != nil {
		s.onFrame(f)
	}
}

// rtpLoop owns the tracks: it reads packets, runs the jitter buffers and depacketizers,
// and emits frames. Its read deadline follows the next jitter-buffer deadline.
func (s *Session) rtpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	s.initRx(time.Now())
	for {
		loopStart := time.Now()
		deadline := s.nextDeadline(loopStart, loopStart.Add(200*time.Millisecond))
		// A deadline in the past would make the read fail without reading: always read.
		if min := loopStart.Add(time.Millisecond); deadline.Before(min) {
			deadline = min
		}
		_ = s.rtpConn.SetReadDeadline(deadline)
		n, from, err := s.rtpConn.ReadFromUDP(buf)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return // closed
			}
		}
		if n > 0 {
			s.receive(buf[:n], from, now)
		}
		select {
		case <-s.closing:
			return // Close reads what is left
		default:
		}
		s.service(now)
	}
}

// drainSocket reads what is queued on the RTP socket (the session is closing and its
// reader has stopped), until a read finds nothing within drainWait. The deadline is a bound,
// not a pace: queued datagrams are read at once (a deadline that has passed when the read
// starts would fail it without reading, hence not a shorter one).
func (s *Session) drainSocket() {
	const drainWait = 100 * time.Millisecond
	buf := make([]byte, 2048)
	for i := 0; i < 4096; i++ {
		_ = s.rtpConn.SetReadDeadline(time.Now().Add(drainWait))
		n, from, err := s.rtpConn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.receive(buf[:n], from, time.Now())
	}
}

// nextDeadline is when the tracks next need service (at the latest, limit).
func (s *Session) nextDeadline(now, limit time.Time) time.Time {
	deadline := limit
	for _, t := range s.tracks {
		if held := t.heldUntil(s.clock); held.After(now) {
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

// receive takes one datagram of the RTP socket (RTP, or RTCP when multiplexed) that
// arrived at now from from.
func (s *Session) receive(b []byte, from *net.UDPAddr, now time.Time) {
	r := &s.rx
	if !isRTCP(b) && s.srtpRTP != nil {
		var err error
		if r.dec, err = s.srtpRTP.DecryptRTP(r.dec[:0], b, &r.hdr); err != nil {
			s.log.Debug("media: SRTP packet rejected", "err", err)
			return
		}
		b = r.dec
	}
	if isRTCP(b) {
		s.handleRTCP(b, from, now, true)
		return
	}
	if len(b) < 12 {
		return
	}
	t := s.tracks[b[1]&0x7f]
	if t == nil {
		return
	}
	if !s.acceptRTP(from) {
		return
	}
	if r.lastPacket.IsZero() {
		s.event(SessionEvent{Type: EventFirstPacket, Remote: from})
	}
	r.lastPacket, r.timedOut = now, false
	s.packets.Add(1)
	s.bytes.Add(uint64(len(b)))
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	if old, ok := t.source(); ok && ssrc != old {
		// A new source: start the track's clock and sequence space over.
		s.clock.RemoveTrack(t.cid)
		s.clock.AddTrack(t.cid, t.cfg.ClockRate)
		t.reset()
	}
	if old, ok := t.source(); !ok || old != ssrc {
		t.setSource(ssrc)
		s.replayEarly(t, ssrc)
	}
	if t.firstArrival.IsZero() {
		t.firstArrival = now
	}
	_ = t.buf.Push(b, now)
	if t.cfg.NACK {
		r.missing = s.nack(t, r.missing[:0])
	}
}

// service releases what the jitter buffers hold until now, sends the periodic Receiver
// Report and watches for a media timeout.
func (s *Session) service(now time.Time) {
	r := &s.rx
	for _, t := range s.tracks {
		if t.heldUntil(s.clock).After(now) {
			continue
		}
		for {
			p, lost, ok := t.buf.Pop(now)
			if !ok {
				break
			}
			t.depacketize(p, lost, s.clock, t.buf.Arrival(), r.emit, s.onDTMF, r.keyframe)
		}
		// Frames held for B-frame reordering go out when the stream pauses.
		if t.reorder.held() && now.Sub(t.lastVideo) > 300*time.Millisecond {
			t.reorder.flush(r.emit)
		}
	}
	if now.After(r.nextRR) {
		s.receiverReport(now)
		r.nextRR = now.Add(5 * time.Second)
	}
	limit := s.timeoutAfter
	since := r.lastPacket
	if r.lastPacket.IsZero() {
		limit, since = s.timeoutFirst, r.start
	}
	if !r.timedOut && limit > 0 && now.Sub(since) > limit {
		r.timedOut = true
		s.event(SessionEvent{Type: EventMediaTimeout, Silence: now.Sub(since)})
	}
}

// nack sends a Generic NACK for sequence numbers newly found missing.
func (s *Session) nack(t *track, missing []uint16) []uint16 {
	missing = t.buf.Missing(missing)
	var fresh []uint16
	for _, m := range missing {
		if !t.nackValid || int16(m-t.lastNack) > 0 {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) == 0 {
		return missing
	}
	t.lastNack, t.nackValid = fresh[len(fresh)-1], true
	pairs := rtcp.NackPairsFromSequenceNumbers(fresh)
	ssrc, _ := t.source()
	if s.sendRTCP(&rtcp.TransportLayerNack{SenderSSRC: s.ssrc, MediaSSRC: ssrc, Nacks: pairs}) == nil {
		s.nacks.Add(1)
	}
	return missing
}

func sameAddr(a *net.UDPAddr, b *net.UDPAddr) bool {
	return a.Port == b.Port && a.IP.Equal(b.IP)
}

func copyAddr(a *net.UDPAddr) net.UDPAddr {
	return net.UDPAddr{IP: append(net.IP(nil), a.IP...), Port: a.Port, Zone: a.Zone}
}

// acceptRTP says whether a valid RTP packet from from is the peer's, latching on the
// first one (see WithSymmetricRTP). Packets from anyone else are counted as foreign.
func (s *Session) acceptRTP(from *net.UDPAddr) bool {
	s.remoteMu.Lock()
	if s.latched {
		ok := sameAddr(&s.peer, from)
		s.remoteMu.Unlock()
		if !ok {
			s.foreign.Add(1)
		}
		return ok
	}
	if !s.symmetric {
		if s.remoteRTP != nil && !s.remoteRTP.IP.Equal(from.IP) {
			s.remoteMu.Unlock()
			s.foreign.Add(1)
			return false
		}
		s.latched, s.peer = true, copyAddr(from)
		s.remoteMu.Unlock()
		return true
	}
	s.latched, s.peer = true, copyAddr(from)
	changed := s.remoteRTP == nil || !sameAddr(s.remoteRTP, from)
	if changed {
		dst := copyAddr(from)
		s.remoteRTP = &dst
		if s.mux || s.remoteRTCP == nil || !s.remoteRTCP.IP.Equal(from.IP) {
			rtcpAddr := copyAddr(from)
			if !s.mux {
				rtcpAddr.Port++
			}
			s.remoteRTCP = &rtcpAddr
		}
	}
	s.remoteMu.Unlock()
	if changed {
		s.event(SessionEvent{Type: EventRemoteLatched, Remote: from})
	}
	return true
}

// acceptRTCP says whether RTCP from from is the peer's: with rtcp-mux, the latched RTP
// source itself; on an RTCP socket, the peer's host, and once RTCP has latched (on the
// first accepted packet) that source alone. Before RTP latched, the SDP address's host.
func (s *Session) acceptRTCP(from *net.UDPAddr, onRTPSocket bool) bool {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	var host net.IP
	switch {
	case onRTPSocket && s.latched:
		if !sameAddr(&s.peer, from) {
			s.foreign.Add(1)
			return false
		}
		return true
	case !onRTPSocket && s.rtcpLatched:
		if !sameAddr(&s.peerRTCP, from) {
			s.foreign.Add(1)
			return false
		}
		return true
	case s.latched:
		host = s.peer.IP
	case s.remoteRTCP != nil:
		host = s.remoteRTCP.IP
	case s.remoteRTP != nil:
		host = s.remoteRTP.IP
	}
	if host != nil && !host.Equal(from.IP) {
		s.foreign.Add(1)
		return false
	}
	if !onRTPSocket {
		s.rtcpLatched, s.peerRTCP = true, copyAddr(from)
		if s.symmetric {
			dst := copyAddr(from)
			s.remoteRTCP = &dst // symmetric RTCP: reports go where the peer's come from
		}
	}
	return true
}

func (s *Session) rtcpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.rtcpConn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.handleRTCP(buf[:n], from, time.Now(), false)
	}
}

// handleRTCP takes RTCP that arrived at now from from, on the RTCP socket or (rtcp-mux)
// the RTP socket; RTCP from anyone but the peer is dropped before it is parsed.
func (s *Session) handleRTCP(b []byte, from *net.UDPAddr, now time.Time, onRTPSocket bool) {
	if !s.acceptRTCP(from, onRTPSocket) {
		return
	}
	s.parseRTCP(b, now)
}

// ntpTime converts an RTCP NTP timestamp.
func ntpTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - 2208988800
	frac := int64(ntp&0xffffffff) * int64(time.Second) >> 32
	return time.Unix(secs, frac)
}

func (s *Session) parseRTCP(b []byte, now time.Time) {
	if s.srtpRTCP != nil {
		dec, err := s.srtpRTCP.DecryptRTCP(nil, b, nil)
		if err != nil {
			s.log.Debug("media: SRTCP packet rejected", "err", err)
			return
		}
		b = dec
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		s.log.Debug("media: bad RTCP", "err", err)
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			known := false
			for _, t := range s.tracks {
				if ssrc, ok := t.source(); ok && ssrc == p.SSRC {
					known = true
					s.clock.SenderReport(t.cid, ntpTime(p.NTPTime), p.RTPTime, now)
					t.lsr.Store(uint32(p.NTPTime >> 16))
					t.lsrAt.Store(now.UnixNano())
				}
			}
			if !known {
				s.earlyMu.Lock()
				s.early[s.earlyN%len(s.early)] = earlyReport{ok: true, ssrc: p.SSRC, ntp: p.NTPTime, rtp: p.RTPTime, at: now}
				s.earlyN++
				s.earlyMu.Unlock()
			}
		case *rtcp.ApplicationDefined:
			if s.onApp != nil {
				var name [4]byte
				copy(name[:], p.Name)
				s.onApp(AppPacket{SSRC: p.SSRC, SubType: p.SubType, Name: name, Data: p.Data})
			}
		case *rtcp.Goodbye:
			s.event(SessionEvent{Type: EventBye})
		}
	}
}

// startupHold is how long a track's first frames wait for a Sender Report (which most
// senders, ffmpeg among them, send with the first packet), so that the timeline does not
// step from arrival time to the sender's clock after the first frames.
const startupHold = 250 * time.Millisecond

// receiverReport sends an RTCP Receiver Report with a block per active track (RFC 3550
// §6.4.2): loss since the last report, cumulative loss, extended highest sequence number,
// interarrival jitter, and the last Sender Report with the delay since it.
func (s *Session) receiverReport(now time.Time) {
	s.remoteMu.Lock()
	known := s.remoteRTCP != nil
	s.remoteMu.Unlock()
	if !known {
		return // nowhere to send it (yet)
	}
	rr := &rtcp.ReceiverReport{SSRC: s.ssrc}
	for _, t := range s.tracks {
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
	_ = s.sendRTCP(rr)
}
