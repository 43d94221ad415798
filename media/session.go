package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
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

// WithLossPolicy sets what video does between a loss and the next intact keyframe
// (default LossAdaptive).
func WithLossPolicy(p LossPolicy) SessionOption {
	return func(s *Session) error { s.lossPolicy = p; return nil }
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
//
// A Session is a transport around the receive pipeline (the receiver it embeds, which
// Receiver offers on its own): the sockets and ports, SRTP/SRTCP, latching on the peer,
// and the goroutines or the Poller that read the sockets and call the pipeline.
type Session struct {
	receiver

	ports     *PortAllocator
	localIP   net.IP
	mux       bool
	symmetric bool

	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	srtpRTP  *srtp.Context // owned by the RTP goroutine
	srtpRTCP *srtp.Context // owned by whichever goroutine reads RTCP
	sendMu   sync.Mutex
	srtpSend *srtp.Context // guarded by sendMu
	sendBuf  []byte        // guarded by sendMu
	encBuf   []byte        // guarded by sendMu
	dec      []byte        // SRTP decryption buffer (the receiving goroutine's)
	hdr      rtp.Header

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

	closing  chan struct{}
	closeOne sync.Once
	wg       sync.WaitGroup

	poller *Poller
	// rawRTP and rawRTCP are the sockets' descriptors once a Poller has taken them out of
	// the net.UDPConns (-1 before; guarded by sendMu).
	rawRTP, rawRTCP int
	sendAddr        [28]byte  // sendTo's scratch space (guarded by sendMu)
	polled          pollState // guarded by pollMu; see poller.go
	pollMu          sync.Mutex
	// ownLoops says the session receives on its own goroutines (not on a Poller).
	ownLoops bool
}

// NewSession binds the session's sockets.
func NewSession(opts ...SessionOption) (*Session, error) {
	s := &Session{
		receiver:  newReceiverCore(),
		symmetric: true,
		closing:   make(chan struct{}),
		rawRTP:    -1,
		rawRTCP:   -1,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	var err error
	if s.ports != nil {
		s.rtpConn, s.rtcpConn, err = s.ports.listen(s.localIP, s.mux)
	} else {
		s.rtpConn, s.rtcpConn, err = listenPair(s.localIP, s.mux)
	}
	if err != nil {
		return nil, fmt.Errorf("media: binding RTP sockets: %w", err)
	}
	s.out, s.canReport = s.sendRTCP, s.knowsRemoteRTCP
	s.finish()
	return s, nil
}

// knowsRemoteRTCP says whether RTCP has somewhere to go (yet).
func (s *Session) knowsRemoteRTCP() bool {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	return s.remoteRTCP != nil
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
	return s.addTrack(cfg)
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

// SessionStats are a session's counters.
type SessionStats struct {
	Packets, Bytes, Frames uint64
	// PLIs counts keyframe requests sent (PLI or FIR).
	PLIs, NACKs uint64
	// Foreign counts RTP and RTCP packets dropped because they came from a source other
	// than the latched peer.
	Foreign uint64
	// Concealed counts the video frames forwarded marked Concealed after a loss, Frozen
	// those dropped while the picture froze (LossPolicy).
	Concealed, Frozen uint64
	// PacketsLost counts the RTP packets never received (skipped by the jitter buffers,
	// which is where a packet that came too late counts too); Late those that came after
	// their place was given up. EmptyFrames counts the pictures dropped because every one
	// of their slices was lost (a damaged picture that kept a slice goes on, Concealed).
	PacketsLost, Late, EmptyFrames uint64
	// Recovered counts the packets that arrived after a NACK asked for them;
	// NACKTooLate the missing packets not asked for because a retransmission (one round
	// trip, as the earlier ones took) could not arrive before the jitter buffer gives up.
	Recovered, NACKTooLate uint64
	// Jitter is the RFC 3550 interarrival jitter estimate (the largest of the tracks').
	Jitter time.Duration
	// KeyframeRequests counts the steps of keyframe requests sent (PLI, FIR, the hook);
	// KeyframesAnswered the requests a keyframe answered, KeyframeLatency the last answer's
	// time from the request and KeyframeLatencyMax the longest.
	KeyframeRequests, KeyframesAnswered uint64
	KeyframeLatency, KeyframeLatencyMax time.Duration
}

// Stats returns the counters.
func (s *Session) Stats() SessionStats {
	st := s.stats()
	st.Foreign = s.foreign.Load()
	return st
}

func (s *Session) sendRTCP(pkts ...rtcp.Packet) error {
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

// WriteRTCP sends a compound RTCP packet to the remote RTCP address (SRTCP with
// WithSRTPSend), for example the Sender Reports of what WriteRTP sent. It is safe for
// concurrent use.
func (s *Session) WriteRTCP(pkts ...rtcp.Packet) error { return s.sendRTCP(pkts...) }

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

// receive takes one datagram of the RTP socket (RTP, or RTCP when multiplexed) that
// arrived at now from from: decrypted, accepted from the peer, then into the pipeline.
func (s *Session) receive(b []byte, from *net.UDPAddr, now time.Time) {
	if !isRTCP(b) && s.srtpRTP != nil {
		var err error
		if s.dec, err = s.srtpRTP.DecryptRTP(s.dec[:0], b, &s.hdr); err != nil {
			s.log.Debug("media: SRTP packet rejected", "err", err)
			return
		}
		b = s.dec
	}
	if isRTCP(b) {
		s.handleRTCP(b, from, now, true)
		return
	}
	if len(b) < 12 {
		return
	}
	t := s.tracks[b[1]&0x7f]
	if t == nil || !s.acceptRTP(from) {
		return
	}
	s.pushRTP(b, t, from, now)
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
	s.takeRTCP(b, now)
}

// startupHold is how long a track's first frames wait for a Sender Report (which most
// senders, ffmpeg among them, send with the first packet), so that the timeline does not
// step from arrival time to the sender's clock after the first frames.
const startupHold = 250 * time.Millisecond
