package media

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often a Poller drains its sessions' sockets by default.
const DefaultPollInterval = 40 * time.Millisecond

// ErrPollUnsupported is returned by Poller.Add on platforms without non-blocking batched
// reads (everything but Linux on amd64 and arm64); sessions then receive on their own
// goroutines.
var ErrPollUnsupported = errors.New("media: batched polling is not supported on this platform")

// PollerConfig configures a Poller.
type PollerConfig struct {
	// Interval is how often the sockets are drained (default DefaultPollInterval). Packets
	// wait in the kernel's socket buffer meanwhile; the jitter buffer absorbs the wait.
	Interval time.Duration
	// AfterTick, when set, runs on the poller's goroutine after every round, once all the
	// frames of the round have been delivered: the place to flush outputs in one go.
	AfterTick func()
}

// Poller receives the media of many sessions on one goroutine. Instead of waking a
// goroutine for every packet, it wakes every Interval, reads what each session's sockets
// hold with one system call per batch of datagrams (recvmmsg), timestamps each packet with
// the kernel's arrival time (SO_TIMESTAMPNS, so that jitter and timing are those of the
// network, not of the round), and runs the jitter buffers and depacketizers. A relay of
// many calls spends its CPU on media rather than on scheduling.
//
// Give it to sessions with WithPoller. Frames are delivered on the poller's goroutine: a
// frame callback that blocks stalls every session of the poller, so hand slow work
// (disk, network) to another goroutine. A callback must not Close its own session.
type Poller struct {
	interval  time.Duration
	afterTick func()

	mu       sync.Mutex
	sessions []*Session
	closed   bool

	startOnce sync.Once
	closeOnce sync.Once
	closeCh   chan struct{}
	done      chan struct{}

	batch *batch // owned by the poller's goroutine
	// rtcpEvery: RTCP sockets (about one report a second) are read every rtcpEvery-th
	// round only, at least every rtcpPollInterval; packets carry their kernel timestamp,
	// so Sender Reports lose nothing by waiting.
	rtcpEvery int
	round     int

	rounds  atomic.Uint64
	packets atomic.Uint64
}

// NewPoller makes a Poller; its goroutine starts with the first session and Close joins it.
func NewPoller(cfg PollerConfig) *Poller {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPollInterval
	}
	return &Poller{interval: cfg.Interval, afterTick: cfg.AfterTick, closeCh: make(chan struct{}), done: make(chan struct{}),
		rtcpEvery: max(1, int(rtcpPollInterval/cfg.Interval))}
}

// rtcpPollInterval is how often separate RTCP sockets are drained.
const rtcpPollInterval = 100 * time.Millisecond

// PollerStats are a poller's counters.
type PollerStats struct {
	Sessions        int
	Rounds, Packets uint64
}

// Stats returns the counters.
func (p *Poller) Stats() PollerStats {
	p.mu.Lock()
	n := len(p.sessions)
	p.mu.Unlock()
	return PollerStats{Sessions: n, Rounds: p.rounds.Load(), Packets: p.packets.Load()}
}

// Close stops the poller and joins its goroutine. Sessions still attached stop receiving;
// close them too. Idempotent.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true // no session is added, and so no goroutine started, after this
		started := p.batch != nil
		p.mu.Unlock()
		close(p.closeCh)
		if started {
			<-p.done
		}
	})
	return nil
}

// add attaches a started session. Its sockets leave Go's netpoller (each packet would
// otherwise make the runtime's epoll report a socket nobody waits on): the poller keeps
// a duplicate descriptor, reads it with recvmmsg and the session sends with sendto.
func (p *Poller) add(s *Session) error {
	if !pollSupported {
		return ErrPollUnsupported
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("media: poller closed")
	}
	rtpFD, err := detachable(s.rtpConn)
	if err != nil {
		return err
	}
	rtcpFD := -1
	if s.rtcpConn != nil {
		if rtcpFD, err = detachable(s.rtcpConn); err != nil {
			closeFD(rtpFD)
			return err
		}
	}
	// From here on the descriptors are the sockets: the net.UDPConns are closed (their
	// addresses stay readable for LocalPorts and the port allocator).
	s.sendMu.Lock()
	s.rawRTP, s.rawRTCP = rtpFD, rtcpFD
	s.rtpConn.Close()
	if s.rtcpConn != nil {
		s.rtcpConn.Close()
	}
	s.sendMu.Unlock()
	s.pollMu.Lock()
	s.polled = pollState{rtp: pollConn{fd: rtpFD}, rtcp: pollConn{fd: rtcpFD}}
	s.initRx(time.Now())
	s.pollMu.Unlock()
	p.sessions = append(p.sessions, s)
	p.startOnce.Do(func() {
		p.batch = newBatch()
		go p.run()
	})
	return nil
}

// remove detaches a session, waiting for a round that is processing it to finish with it.
func (p *Poller) remove(s *Session) {
	p.mu.Lock()
	if i := slices.Index(p.sessions, s); i >= 0 {
		p.sessions = slices.Delete(p.sessions, i, i+1)
	}
	p.mu.Unlock()
	s.pollMu.Lock()
	s.polled.removed = true
	s.pollMu.Unlock()
}

func (p *Poller) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var list []*Session
	for {
		select {
		case <-p.closeCh:
			return
		case <-t.C:
		}
		p.mu.Lock()
		list = append(list[:0], p.sessions...)
		p.mu.Unlock()
		p.round++
		rtcp := p.round%p.rtcpEvery == 0
		for _, s := range list {
			p.poll(s, rtcp)
		}
		clear(list)
		p.rounds.Add(1)
		if p.afterTick != nil {
			p.afterTick()
		}
	}
}

// maxBatchesPerRound bounds one session's share of a round (batchSize datagrams each);
// what is left waits for the next round.
const maxBatchesPerRound = 64

func (p *Poller) poll(s *Session, rtcp bool) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if s.polled.removed {
		return
	}
	now := time.Now()
	s.inPoll = true
	p.drain(s, &s.polled.rtp, now, false)
	if rtcp && s.polled.rtcp.fd >= 0 {
		p.drain(s, &s.polled.rtcp, now, true)
	}
	s.service(time.Now())
	s.inPoll = false
}

func (p *Poller) drain(s *Session, pc *pollConn, now time.Time, rtcpSocket bool) {
	p.drainWith(p.batch, s, pc, now, rtcpSocket)
}

// drainRemoved reads what is still queued on a session's RTP socket once the poller has
// let it go (Session.Close: the caller's last packets), with a batch of its own.
func (p *Poller) drainRemoved(s *Session) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if s.polled.rtp.fd >= 0 {
		p.drainWith(newBatch(), s, &s.polled.rtp, time.Now(), false)
	}
}

func (p *Poller) drainWith(b *batch, s *Session, pc *pollConn, now time.Time, rtcpSocket bool) {
	wall := now.UnixNano()
	for range maxBatchesPerRound {
		n, err := b.read(pc.fd)
		if err != nil || n == 0 {
			return
		}
		p.packets.Add(uint64(n))
		for i := range n {
			data, name, stamp, truncated := b.message(i)
			if truncated {
				s.log.Debug("media: datagram larger than the receive buffer dropped")
				continue
			}
			at := now
			if d := wall - stamp; stamp > 0 && d > 0 && d < int64(time.Second) {
				at = now.Add(-time.Duration(d))
			}
			from := pc.addr(name)
			if rtcpSocket {
				s.handleRTCP(data, from, at, false)
			} else {
				s.receive(data, from, at)
			}
		}
		if n < batchSize {
			return
		}
	}
}

// pollState is a session's part of a Poller.
type pollState struct {
	removed   bool
	rtp, rtcp pollConn
}

// pollConn is a socket read by a Poller, with the last sender's address cached so that
// a steady stream does not allocate one per packet.
type pollConn struct {
	fd   int
	raw  [28]byte
	nraw int
	from *net.UDPAddr
}

func (pc *pollConn) addr(name []byte) *net.UDPAddr {
	if pc.from != nil && bytes.Equal(name, pc.raw[:pc.nraw]) {
		return pc.from
	}
	pc.nraw = copy(pc.raw[:], name)
	pc.from = parseSockaddr(name)
	return pc.from
}

// PollSupported reports whether this platform has the Poller's batched reads (Linux on
// amd64 and arm64); elsewhere sessions given a Poller receive on their own goroutines.
func PollSupported() bool { return pollSupported }
