package conference

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

// Config configures a Bridge.
type Config struct {
	// SIP are the UA's options: listeners, TLS, call limit, trace, logger. The Bridge
	// adds its own invite and update handlers.
	SIP []sip.Option
	// MediaIP is the address media is received on and announced in SDP (default
	// 127.0.0.1).
	MediaIP net.IP
	// Ports is the RTP port range (default: any free ports).
	Ports *media.PortAllocator
	// Resolution limits received video (the CMS streamer's resolution setting).
	Resolution sdp.Resolution
	// StreamURL is the RTMP(S) URL for calls that carry none and that ResolveStreamURL
	// does not resolve ("" and nothing else: no streaming).
	StreamURL string
	// ResolveStreamURL, when set, gives a call's stream URL when the INVITE carries no
	// x-cisco-stream ("" falls back to StreamURL).
	ResolveStreamURL func(ctx context.Context, c *sip.Call) (string, error)
	// RecordDir enables recording: spaces/<SpaceID>/... or forwardedCalls/... under it.
	RecordDir string
	// SpaceID names a call's space for its recording path ("": forwardedCalls).
	SpaceID func(c *sip.Call) string
	// Publisher adds options to each call's RTMP publisher (TLS config, backoff...).
	Publisher []rtmp.PublisherOption
	// StartTimeout bounds the wait for a track's codec configuration: after it the
	// outputs start with the tracks that are ready (default 3 s).
	StartTimeout time.Duration
	// NoSilence turns off the silent audio: by default a call whose outputs would have
	// video and no audio gets a silent AAC track (48 kHz mono; players and services such
	// as YouTube expect audio), and gaps in a call's AAC audio (audio starting late, or
	// pausing) are filled with silence so that players never stall.
	NoSilence bool
	// MediaTimeout ends a call whose media stopped for this long (default 30 s).
	MediaTimeout time.Duration
	// PollInterval is how often one shared goroutine drains every call's RTP sockets
	// (media.Poller; default media.DefaultPollInterval, 40 ms). Waking per round instead
	// of per packet is what lets one process relay hundreds of streams; it adds at most
	// one interval of latency. Negative: every session receives on its own goroutines
	// (also the fallback where the platform has no batched reads).
	PollInterval time.Duration
	// Outputs are the application's own sinks for each call: an HLS muxer, a preview, an
	// analytics tap, a second RTMP target. When a call's outputs start (every track's
	// codec configuration known, or StartTimeout), each function is asked for a writer,
	// given the call and its tracks (nil: none for this call); the writer then gets the
	// frames the built-in RTMP and MP4 outputs get: from the first keyframe with its
	// parameter sets, audio held for the first picture and gaps filled with silence
	// (unless NoSilence), timestamps on the call's one timeline. The functions and
	// WriteFrame run on the call's media path with the call's lock held: they must not
	// block and must not call the Bridge. A writer that returns an error gets no more
	// frames (EventOutputFailed); one that is an io.Closer is closed when the call ends.
	Outputs []OutputFunc
	// Events receives events, in order, on a goroutine of the Bridge's own with no lock
	// held: it may call the Bridge (Calls, EndCall). While it is slow, up to
	// EventQueue events wait; beyond that events are dropped, counted and logged.
	Events func(Event)
	// Logger gets operational messages (default: discarded).
	Logger *slog.Logger
	// CMS, when set, makes the Bridge the backend of a CMS API server: calls to a space's
	// URI (or call ID) join that space's conference, POST /calls opens one, call legs
	// are dialled through the outbound dial plan rules, streaming and recording follow
	// the API and the call profile's modes, and CDRs go to the configured receivers.
	// Calls to other URIs stay standalone streamer calls.
	CMS *cmsapi.Server
}

// Bridge answers calls and streams and records them.
type Bridge struct {
	cfg Config
	ua  *sip.UA
	log *slog.Logger

	cms    *cmsBackend
	poller *media.Poller // nil: sessions receive on their own goroutines
	// dirty lists the calls whose publishers got frames in the current poller round;
	// flushing is the list being flushed (the two swap, so that neither allocates).
	dirtyMu         sync.Mutex
	dirty, flushing []*call

	mu     sync.Mutex
	calls  map[string]*call
	closed bool
	// maxActive and completed count calls for /system/status.
	maxActive, completed int
	wg                   sync.WaitGroup
	once                 sync.Once

	// events is the queue Config.Events is fed from by deliver, its goroutine.
	evMu      sync.Mutex
	evQueue   []Event
	evWake    chan struct{}
	evClosed  bool
	evDropped uint64
	evDone    chan struct{}
}

// OutputFunc makes an application output for a call (see Config.Outputs).
type OutputFunc func(call CallInfo, tracks []media.Track) (media.FrameWriter, error)

// EventQueue is how many events may wait for a slow Config.Events.
const EventQueue = 4096

// New starts a Bridge and its SIP listeners.
func New(cfg Config) (*Bridge, error) {
	if cfg.MediaIP == nil {
		cfg.MediaIP = net.IPv4(127, 0, 0, 1)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 3 * time.Second
	}
	if cfg.MediaTimeout <= 0 {
		cfg.MediaTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.StreamURL != "" {
		if _, err := rtmp.ParseURL(cfg.StreamURL); err != nil {
			return nil, fmt.Errorf("conference: stream URL: %w", err)
		}
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, calls: map[string]*call{}}
	if cfg.PollInterval >= 0 {
		b.poller = media.NewPoller(media.PollerConfig{Interval: cfg.PollInterval, AfterTick: b.flushOutputs})
	}
	if cfg.CMS != nil { // before the UA: its listeners may take a call at once
		b.cms = newCMSBackend(b, cfg.CMS)
		cfg.CMS.SetBackend(b.cms)
	}
	opts := append([]sip.Option{}, cfg.SIP...)
	opts = append(opts, sip.WithInviteHandler(b.onInvite), sip.WithCallUpdated(b.onUpdate))
	ua, err := sip.New(opts...)
	if err != nil {
		return nil, err
	}
	b.ua = ua
	if cfg.Events != nil {
		b.evWake, b.evDone = make(chan struct{}, 1), make(chan struct{})
		go b.deliver()
	}
	return b, nil
}

// deliver feeds Config.Events from the queue until Close has drained it.
func (b *Bridge) deliver() {
	defer close(b.evDone)
	var batch []Event
	for {
		b.evMu.Lock()
		batch, b.evQueue = b.evQueue, batch[:0]
		closed := b.evClosed
		b.evMu.Unlock()
		for _, e := range batch {
			b.cfg.Events(e)
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-b.evWake
		}
	}
}

// flushOutputs runs after each round of the poller: it wakes, once, the publisher of
// every call that got frames in the round.
func (b *Bridge) flushOutputs() {
	b.dirtyMu.Lock()
	b.dirty, b.flushing = b.flushing[:0], b.dirty
	b.dirtyMu.Unlock()
	for i, c := range b.flushing {
		c.mu.Lock()
		c.dirty = false
		pub := c.pub
		c.mu.Unlock()
		if pub != nil {
			pub.Flush()
		}
		b.flushing[i] = nil
	}
}

// markDirty queues c for flushOutputs (c.mu held).
func (b *Bridge) markDirty(c *call) {
	if c.dirty {
		return
	}
	c.dirty = true
	b.dirtyMu.Lock()
	b.dirty = append(b.dirty, c)
	b.dirtyMu.Unlock()
}

// UA returns the Bridge's SIP user agent (its addresses, outbound calls).
func (b *Bridge) UA() *sip.UA { return b.ua }

// emit logs e, tells the CMS backend (which only takes its own lock), and queues it for
// Config.Events: it may run with a call's lock held, so the application's callback never
// runs here.
func (b *Bridge) emit(e Event) {
	e.Time = time.Now()
	b.log.Info(e.String())
	if b.cms != nil {
		b.cms.onEvent(e)
	}
	if b.cfg.Events == nil {
		return
	}
	b.evMu.Lock()
	if b.evClosed || len(b.evQueue) >= EventQueue {
		b.evDropped++
		n := b.evDropped
		b.evMu.Unlock()
		b.log.Warn("conference: event dropped: the Events callback is not keeping up", "event", e.Type.String(), "dropped", n)
		return
	}
	b.evQueue = append(b.evQueue, e)
	b.evMu.Unlock()
	select {
	case b.evWake <- struct{}{}:
	default:
	}
}

// CallInfo describes a call in progress.
type CallInfo struct {
	ID, Remote string
	// URL is the stream URL (credentials removed), "" when not streaming.
	URL string
	// Streaming is the publisher's state.
	Streaming rtmp.State
	Publisher rtmp.Stats
	// Recording is the recording's path, "" when not recording.
	Recording string
	Recorder  recording.Stats
	// Frames counts frames received per codec.
	VideoFrames, AudioFrames uint64
	// MediaPorts are the local RTP ports by kind ("audio", "video").
	MediaPorts map[string]int
}

// Calls returns the calls in progress.
func (b *Bridge) Calls() []CallInfo {
	b.mu.Lock()
	calls := make([]*call, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.info())
	}
	return out
}

// EndCall hangs up a call (BYE); its outputs are finalized as for any call end.
func (b *Bridge) EndCall(ctx context.Context, id string) error {
	b.mu.Lock()
	c := b.calls[id]
	b.mu.Unlock()
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	return c.sig.Hangup(ctx)
}

// Close ends every call with BYE, finalizes their recordings, stops the SIP listeners and
// waits for all of it. Idempotent.
func (b *Bridge) Close() error {
	var err error
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		if b.cms != nil {
			b.cms.shutdown()
		}
		err = b.ua.Close() // BYE to every call; their Done closes
		b.wg.Wait()
		if b.poller != nil {
			_ = b.poller.Close()
		}
		if b.evDone != nil { // the last events (calls ended) are delivered first
			b.evMu.Lock()
			b.evClosed = true
			b.evMu.Unlock()
			select {
			case b.evWake <- struct{}{}:
			default:
			}
			<-b.evDone
		}
	})
	return err
}

func (b *Bridge) onInvite(c *sip.Call) ([]byte, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, &sip.StatusError{Code: 503, Reason: "Service Unavailable"}
	}
	b.mu.Unlock()
	bc, err := newCall(b, c)
	if err != nil {
		b.log.Warn("conference: cannot take the call", "call", c.ID, "err", err)
		return nil, &sip.StatusError{Code: 503, Reason: "Service Unavailable"}
	}
	if b.cms != nil {
		b.cms.joinIncoming(bc) // before its media starts: the outputs follow the conference
	}
	var answer []byte
	if len(c.Offer) == 0 {
		answer, err = sdp.Offer(bc.offerConfig())
	} else {
		var ms []sdp.Media
		answer, ms, err = sdp.Answer(c.Offer, bc.sdpConfig())
		if err == nil {
			err = bc.setupMedia(ms)
		}
	}
	if err != nil {
		bc.closeMedia()
		if b.cms != nil {
			b.cms.callEnded(bc)
		}
		if errors.Is(err, sdp.ErrNoCommonMedia) || errors.Is(err, sdp.ErrMalformedOffer) {
			return nil, &sip.StatusError{Code: 488, Reason: "Not Acceptable Here"}
		}
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		bc.closeMedia()
		if b.cms != nil {
			b.cms.callEnded(bc)
		}
		return nil, &sip.StatusError{Code: 503, Reason: "Service Unavailable"}
	}
	b.calls[c.ID] = bc
	b.maxActive = max(b.maxActive, len(b.calls))
	b.wg.Add(1)
	b.mu.Unlock()
	go bc.run()
	return answer, nil
}

func (b *Bridge) onUpdate(c *sip.Call, offer []byte) ([]byte, error) {
	b.mu.Lock()
	bc := b.calls[c.ID]
	b.mu.Unlock()
	if bc == nil {
		return nil, errors.New("conference: unknown call")
	}
	return bc.update(offer)
}

// call is one call's media and outputs.
type call struct {
	b *Bridge
	// sc is the incoming call (nil for a dialled leg); sig is its signalling either way.
	sc     *sip.Call
	sig    signalling
	id     string
	remote string
	// conf is the CMS conference the call is a leg of (nil: a standalone streamer call);
	// its outputs then follow wantURL and wantRec. spaceID names its recording folder.
	conf    *conf
	legID   string
	wantURL string
	wantRec bool
	spaceID string
	// outMu serialises output changes (setOutputs).
	outMu   sync.Mutex
	stopWhy string
	clock   *media.Clock
	ctx     context.Context
	stop    context.CancelFunc

	sessions map[string]*media.Session // "audio", "video"
	keys     map[string]*sdp.Crypto    // the SRTP keys a session was made with (guarded by mu)
	hasVideo bool
	hasAudio bool
	audioPT  uint8

	mu        sync.Mutex
	sps, pps  []byte
	asc       []byte
	started   bool
	firstSeen time.Time
	url       string
	pub       *rtmp.Publisher
	pubWG     sync.WaitGroup
	rec       *recording.Recorder
	video     uint64
	audio     uint64
	silence   *silence
	outs      []media.FrameWriter // the application's outputs (nil: failed)
	startedCh chan struct{}
	// keyframe asks the call's INFO goroutine for a SIP picture_fast_update.
	keyframe chan struct{}
	dirty    bool // in b.dirty (guarded by mu)
	// appURL is a stream URL the caller sent in an RTCP APP packet; resolvedURL is
	// Config.ResolveStreamURL's answer, and resolving says it is still awaited (the
	// resolver runs on the call's goroutine, never on the media path). Guarded by mu.
	appURL      string
	resolvedURL string
	resolving   bool
}

func newCall(b *Bridge, sc *sip.Call) (*call, error) {
	c, err := newLeg(b, sc, inSig{sc}, sc.ID, sc.From)
	if err == nil && b.cfg.ResolveStreamURL != nil && sc.StreamURL() == "" {
		c.resolving = true // run asks the resolver
	}
	return c, err
}

func newLeg(b *Bridge, sc *sip.Call, sig signalling, id, remote string) (*call, error) {
	ctx, stop := context.WithCancel(context.Background())
	c := &call{b: b, sc: sc, sig: sig, id: id, remote: remote, clock: media.NewClock(time.Now()), ctx: ctx, stop: stop,
		sessions: map[string]*media.Session{}, keys: map[string]*sdp.Crypto{}, startedCh: make(chan struct{}), keyframe: make(chan struct{}, 1)}
	return c, nil
}

// openSession returns the call's session for kind, binding it the first time: with
// rtcp-mux and SRTP as negotiated in m when it comes from an answer (nil for our own
// offers). Sessions are made from the negotiation, so an encrypted or rtcp-mux call
// gets a receiver that matches, and an audio-only call opens no video ports. A session
// that exists is reused (a re-INVITE), keeping its SRTP keys: the answer then carries
// our key of the first answer, and an offer that changes the peer's key is refused.
func (c *call) openSession(kind string, m *sdp.Media) (*media.Session, error) {
	c.mu.Lock()
	s := c.sessions[kind]
	keys := c.keys[kind]
	c.mu.Unlock()
	if s != nil {
		if m != nil && (m.Crypto == nil) != (keys == nil) {
			return nil, errors.New("SRTP cannot be turned on or off in a re-offer")
		}
		if m != nil && m.Crypto != nil {
			if m.Crypto.Suite != keys.Suite || m.Crypto.RemoteKey != keys.RemoteKey {
				return nil, errors.New("SRTP re-keying is not supported")
			}
			m.Crypto.LocalKey = keys.LocalKey
		}
		return s, nil
	}
	b := c.b
	opts := []media.SessionOption{media.WithLocalIP(b.cfg.MediaIP),
		media.WithClock(c.clock), media.WithFrames(c.onFrame),
		media.WithMediaTimeouts(b.cfg.MediaTimeout, b.cfg.MediaTimeout),
		media.WithSessionEvents(c.onSessionEvent),
		media.WithKeyframeHook(c.kickKeyframe), media.WithRTCPApp(c.onApp)}
	if b.cfg.Ports != nil {
		opts = append(opts, media.WithPortAllocator(b.cfg.Ports))
	}
	if b.poller != nil {
		opts = append(opts, media.WithPoller(b.poller))
	}
	if m != nil && m.RTCPMux {
		opts = append(opts, media.WithRTCPMux())
	}
	if m != nil && m.Crypto != nil {
		opts = append(opts, media.WithSRTP(m.Crypto.Suite, m.Crypto.RemoteKey), media.WithSRTPSend(m.Crypto.Suite, m.Crypto.LocalKey))
	}
	s, err := media.NewSession(opts...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sessions[kind] = s
	if m != nil && m.Crypto != nil {
		k := *m.Crypto
		c.keys[kind] = &k
	}
	c.mu.Unlock()
	return s, nil
}

// offerConfig is how the call makes its own offers (late offers, dialled legs): plain
// RTP/AVP with separate RTCP, as sdp.Offer makes them.
func (c *call) offerConfig() sdp.Config {
	cfg := c.sdpConfig()
	cfg.SRTP, cfg.RTCPMux, cfg.Open = false, false, nil
	return cfg
}

// sdpConfig is how the call negotiates: SRTP (SDES) and rtcp-mux accepted when offered,
// its sessions opened from what was agreed (Open; Ports for our own offers), one m-line
// of each kind.
func (c *call) sdpConfig() sdp.Config {
	return sdp.Config{Address: c.b.cfg.MediaIP, Resolution: c.b.cfg.Resolution, SRTP: true, RTCPMux: true,
		Ports: func(kind string, i int) (int, int) {
			if i != 0 {
				return 0, 0
			}
			s, err := c.openSession(kind, nil)
			if err != nil {
				c.b.log.Warn("conference: cannot open a media session", "call", c.id, "kind", kind, "err", err)
				return 0, 0
			}
			return s.LocalPorts()
		},
		Open: func(m *sdp.Media, i int) (int, int, error) {
			if i != 0 {
				return 0, 0, errors.New("one m-line of each kind is received")
			}
			s, err := c.openSession(m.Kind, m)
			if err != nil {
				return 0, 0, err
			}
			rtp, rtcp := s.LocalPorts()
			return rtp, rtcp, nil
		}}
}

// setupMedia starts the sessions of the accepted m-lines (the first of each kind) and
// closes the others.
func (c *call) setupMedia(ms []sdp.Media) error {
	used := map[string]bool{}
	for _, m := range ms {
		s := c.sessions[m.Kind]
		if !m.Accepted || s == nil || used[m.Kind] {
			continue
		}
		cfg := m.TrackConfig()
		if err := s.AddTrack(cfg); err != nil {
			return err
		}
		s.SetRemote(m.RemoteRTP, m.RemoteRTCP)
		used[m.Kind] = true
		c.mu.Lock()
		switch m.Kind {
		case "video":
			c.hasVideo = true
			// Parameter sets from the SDP let the outputs start at the first keyframe
			// even when the caller sends none in-band.
			if sps, pps := media.SpropParameterSets(cfg.FMTP); sps != nil && pps != nil {
				c.sps, c.pps = sps, pps
			}
		case "audio":
			c.hasAudio, c.audioPT = true, m.PayloadType
			c.asc = s.AudioSpecificConfig(m.PayloadType) // nil until in-band for LATM cpresent=1
		}
		c.mu.Unlock()
	}
	var unused []*media.Session
	c.mu.Lock()
	for kind, s := range c.sessions {
		if !used[kind] {
			unused = append(unused, s)
			delete(c.sessions, kind)
		}
	}
	c.mu.Unlock()
	started := c.sessionList()
	for _, s := range unused {
		s.Close()
	}
	for _, s := range started {
		s.Start()
	}
	if len(used) == 0 {
		return sdp.ErrNoCommonMedia
	}
	return nil
}

// sessionList returns the call's sessions, copied under the lock (Close and Start must
// run outside it: a session's goroutine may be waiting for the lock in onFrame).
func (c *call) sessionList() []*media.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*media.Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		out = append(out, s)
	}
	return out
}

func (c *call) closeMedia() {
	for _, s := range c.sessionList() {
		s.Close()
	}
}

// update answers an in-dialog offer with the same sessions, and follows a changed stream
// URL.
func (c *call) update(offer []byte) ([]byte, error) {
	if url := c.sc.StreamURL(); url != "" && c.conf == nil {
		c.mu.Lock()
		changed := c.started && url != c.url
		c.mu.Unlock()
		if changed {
			c.restartStreaming(url, "the stream URL changed")
		}
	}
	if len(offer) == 0 {
		return nil, nil
	}
	cfg := c.sdpConfig()
	open := cfg.Open
	cfg.Open = func(m *sdp.Media, i int) (int, int, error) {
		c.mu.Lock()
		known := c.sessions[m.Kind] != nil
		c.mu.Unlock()
		if !known {
			return 0, 0, errors.New("media not negotiated at the start of the call")
		}
		return open(m, i)
	}
	answer, ms, err := sdp.Answer(offer, cfg)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, m := range ms {
		if s := c.sessions[m.Kind]; m.Accepted && s != nil && !used[m.Kind] {
			s.SetRemote(m.RemoteRTP, m.RemoteRTCP)
			used[m.Kind] = true
		}
	}
	return answer, nil
}

// kickKeyframe is the sessions' keyframe hook: it never blocks (it may run under c.mu).
func (c *call) kickKeyframe() {
	select {
	case c.keyframe <- struct{}{}:
	default:
	}
}

// sipKeyframes sends SIP INFO picture_fast_update when asked, until the call ends.
func (c *call) sipKeyframes(done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.keyframe:
			ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
			_ = c.sig.RequestKeyframe(ctx)
			cancel()
		}
	}
}

func (c *call) requestKeyframe() {
	if s := c.sessions["video"]; s != nil {
		s.RequestKeyframe()
	}
}

func (c *call) onSessionEvent(e media.SessionEvent) {
	switch e.Type {
	case media.EventMediaTimeout:
		c.b.log.Warn("conference: media timeout", "call", c.id, "silence", e.Silence)
		c.b.wg.Add(1) // the call's run holds the group open: Close waits for this too
		go func() {
			defer c.b.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = c.sig.Hangup(ctx)
		}()
	case media.EventBye:
		c.b.log.Info("conference: RTCP BYE from the caller", "call", c.id)
	}
}

// run lives as long as the call: it starts the outputs when ready (or at StartTimeout)
// and finalizes everything when the call ends.
func (c *call) run() {
	defer c.b.wg.Done()
	kfDone := make(chan struct{})
	go c.sipKeyframes(kfDone)
	defer func() { <-kfDone }()
	c.mu.Lock()
	resolving := c.resolving && c.conf == nil
	c.mu.Unlock()
	if resolving {
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() { defer rwg.Done(); c.resolve() }()
		defer rwg.Wait()
	}
	c.b.emit(Event{Type: EventCallStarted, CallID: c.id, Remote: c.remote})
	if c.sc != nil && len(c.sc.Offer) == 0 {
		select {
		case <-c.sc.Confirmed():
			ms, err := sdp.Negotiate(c.sc.RemoteSDP(), c.offerConfig())
			if err == nil {
				err = c.setupMedia(ms)
			}
			if err != nil {
				c.b.log.Warn("conference: late offer answer unusable", "call", c.id, "err", err)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = c.sig.Hangup(ctx)
				cancel()
			}
		case <-c.sig.Done():
		}
	}
	timeout := time.NewTimer(c.b.cfg.StartTimeout)
	defer timeout.Stop()
	select {
	case <-c.startedCh:
	case <-timeout.C:
		c.mu.Lock()
		if !c.started && !c.firstSeen.IsZero() {
			c.startLocked("not every track's codec configuration arrived in time")
		}
		c.mu.Unlock()
	case <-c.sig.Done():
	}
	<-c.sig.Done()
	c.stop()
	c.closeMedia()
	c.mu.Lock()
	if c.silence != nil {
		c.silence.finish(c.writeLocked)
	}
	pub, rec := c.pub, c.rec
	c.pub, c.rec = nil, nil
	c.started = true // nothing starts any more
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
		c.pubWG.Wait()
	}
	if rec != nil {
		c.finishRecording(rec)
	}
	c.closeOutputs()
	c.b.mu.Lock()
	delete(c.b.calls, c.id)
	c.b.completed++
	c.b.mu.Unlock()
	if c.b.cms != nil {
		c.b.cms.callEnded(c)
	}
	c.b.emit(Event{Type: EventCallEnded, CallID: c.id, Remote: c.remote, Reason: c.sig.EndReason()})
}

// onFrame receives every frame of the call (from the sessions' goroutines).
func (c *call) onFrame(f *media.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstSeen.IsZero() {
		c.firstSeen = time.Now()
	}
	switch {
	case f.Codec == media.CodecH264:
		c.video++
		if f.Keyframe {
			if sps, pps := h264.ParamSets(f.Data); sps != nil && pps != nil && (!bytes.Equal(sps, c.sps) || !bytes.Equal(pps, c.pps)) {
				c.sps, c.pps = bytes.Clone(sps), bytes.Clone(pps) // f.Data is reused
			}
		}
	case f.Codec == media.CodecAAC:
		c.audio++
		if c.asc == nil {
			if s := c.sessions["audio"]; s != nil {
				c.asc = s.AudioSpecificConfig(c.audioPT)
			}
		}
	default:
		c.audio++
	}
	if !c.started {
		videoReady := !c.hasVideo || c.sps != nil
		audioReady := !c.hasAudio || c.asc != nil
		if !videoReady || !audioReady {
			return
		}
		c.startLocked("")
		if !c.started {
			return
		}
	}
	switch {
	case c.silence == nil:
		c.writeLocked(f)
	case f.Codec == media.CodecH264:
		c.writeLocked(f)
		c.silence.video(f, c.writeLocked)
	case f.Codec == media.CodecAAC:
		if c.silence.audio(f, c.writeLocked) {
			c.writeLocked(f)
		}
	default:
		c.writeLocked(f)
	}
}

// writeLocked gives a frame to the outputs.
func (c *call) writeLocked(f *media.Frame) {
	if c.pub != nil {
		c.pub.WriteFrame(f)
		if c.b.poller != nil {
			c.b.markDirty(c)
		}
	}
	if c.rec != nil {
		if err := c.rec.WriteFrame(f); err != nil {
			c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: c.rec.Path(), Reason: err.Error()})
			_ = c.rec.Close()
			c.rec = nil
		}
	}
	for i, w := range c.outs {
		if w == nil {
			continue
		}
		if err := w.WriteFrame(f); err != nil {
			c.outs[i] = nil
			c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
		}
	}
}

// standaloneURLLocked is a standalone call's stream URL, by precedence: x-cisco-stream
// (INVITE, UPDATE, re-INVITE), an RTCP APP packet, the resolver, Config.StreamURL. It is
// "" while the resolver is still being asked (run starts streaming when it answers).
func (c *call) standaloneURLLocked() string {
	switch {
	case c.sig.StreamURL() != "":
		return c.sig.StreamURL()
	case c.appURL != "":
		return c.appURL
	case c.resolvedURL != "":
		return c.resolvedURL
	case c.resolving:
		return ""
	}
	return c.b.cfg.StreamURL
}

// resolve asks Config.ResolveStreamURL (on the call's goroutine) and starts streaming
// with its answer if the outputs are already running without a URL.
func (c *call) resolve() {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	u, err := c.b.cfg.ResolveStreamURL(ctx, c.sc)
	cancel()
	if err != nil {
		c.b.log.Warn("conference: resolving the stream URL", "call", c.id, "err", err)
	} else if u != "" {
		if _, perr := rtmp.ParseURL(u); perr != nil {
			c.b.log.Warn("conference: the resolver's stream URL is not usable", "call", c.id, "err", perr)
			u = ""
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resolving, c.resolvedURL = false, u
	if c.started && c.pub == nil && c.ctx.Err() == nil {
		if url := c.standaloneURLLocked(); url != "" {
			c.startStreamingLocked(url)
			c.requestKeyframe()
		}
	}
}

// onApp takes a stream URL from an RTCP APP packet (the Call Bridge's undocumented way,
// see media.AppPacket): it ranks below x-cisco-stream and above the resolver and the
// default, and a running stream moves to it.
func (c *call) onApp(a media.AppPacket) {
	u := urlFromApp(a.Data)
	if u == "" || c.conf != nil {
		return
	}
	c.mu.Lock()
	if u == c.appURL {
		c.mu.Unlock()
		return
	}
	c.appURL = u
	restart := c.started && c.sig.StreamURL() == "" && c.url != u && c.ctx.Err() == nil
	c.mu.Unlock()
	c.b.log.Info("conference: stream URL from RTCP APP", "call", c.id, "url", rtmp.Redact(u))
	if restart {
		c.b.wg.Add(1)
		go func() { // off the media path: closing a publisher waits for its goroutines
			defer c.b.wg.Done()
			c.restartStreaming(u, "the stream URL arrived in RTCP")
		}()
	}
}

// urlFromApp finds an rtmp:// or rtmps:// URL in an APP packet's data: from the scheme
// to the first NUL, space or control byte, if it parses.
func urlFromApp(data []byte) string {
	i := bytes.Index(data, []byte("rtmp://"))
	if j := bytes.Index(data, []byte("rtmps://")); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return ""
	}
	end := i
	for end < len(data) && data[end] > ' ' && data[end] < 0x7f && end-i < 2048 {
		end++
	}
	u := string(data[i:end])
	if _, err := rtmp.ParseURL(u); err != nil {
		return ""
	}
	return u
}

// startLocked starts the outputs with the tracks whose configuration is known.
func (c *call) startLocked(note string) {
	if c.started {
		return
	}
	c.started = true
	close(c.startedCh)
	if note != "" {
		c.b.log.Warn("conference: starting outputs: "+note, "call", c.id)
	}
	if !c.b.cfg.NoSilence {
		if c.asc == nil && c.sps != nil {
			c.asc, _ = silentConfig.Marshal()
			c.silence = newSilence(silentConfig, true)
		} else if cfg, err := aac.ParseConfig(c.asc); err == nil && c.hasVideo && c.asc != nil {
			c.silence = newSilence(cfg, false)
		}
	}
	url, record := c.wantURL, c.wantRec && c.b.cfg.RecordDir != ""
	if c.conf == nil {
		url, record = c.standaloneURLLocked(), c.b.cfg.RecordDir != ""
	}
	if url != "" {
		c.startStreamingLocked(url)
	}
	if record {
		c.startRecordingLocked()
	}
	c.startOutputsLocked()
	c.requestKeyframe()
}

// tracksLocked describes the call's tracks as the outputs get them.
func (c *call) tracksLocked() []media.Track {
	var out []media.Track
	if c.sps != nil {
		t := media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: c.sps, PPS: c.pps}
		if info, err := h264.ParseSPS(c.sps); err == nil {
			t.Width, t.Height = info.Width, info.Height
		}
		out = append(out, t)
	}
	if c.asc != nil {
		t := media.Track{Codec: media.CodecAAC, Config: c.asc}
		if cfg, err := aac.ParseConfig(c.asc); err == nil {
			t.ClockRate, t.Channels = cfg.SampleRate, cfg.Channels
		}
		out = append(out, t)
	}
	return out
}

// startOutputsLocked asks Config.Outputs for the call's writers.
func (c *call) startOutputsLocked() {
	if len(c.b.cfg.Outputs) == 0 {
		return
	}
	info := c.infoLocked()
	tracks := c.tracksLocked()
	for _, mk := range c.b.cfg.Outputs {
		w, err := mk(info, tracks)
		if err != nil {
			c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
			continue
		}
		if w != nil {
			c.outs = append(c.outs, w)
		}
	}
}

// closeOutputs closes the application's outputs that are io.Closers, with no lock held.
func (c *call) closeOutputs() {
	c.mu.Lock()
	outs := c.outs
	c.outs = nil
	c.mu.Unlock()
	for _, w := range outs {
		if cl, ok := w.(io.Closer); ok && w != nil {
			if err := cl.Close(); err != nil {
				c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
			}
		}
	}
}

func (c *call) tracks() (opts []rtmp.PublisherOption) {
	if c.sps != nil {
		opts = append(opts, rtmp.WithVideo(rtmp.VideoTrack{Codec: media.CodecH264, SPS: c.sps, PPS: c.pps}))
	}
	if c.asc != nil {
		opts = append(opts, rtmp.WithAudio(rtmp.AudioTrack{Codec: media.CodecAAC, Config: c.asc}))
	}
	return opts
}

func (c *call) startStreamingLocked(url string) {
	redacted := rtmp.Redact(url)
	opts := append(c.tracks(), rtmp.WithKeyframeRequest(c.requestKeyframe), rtmp.WithLogger(c.b.log))
	if c.b.poller != nil {
		opts = append(opts, rtmp.WithManualFlush()) // flushed after each poller round
	}
	events := make(chan rtmp.Event, 16)
	opts = append(opts, rtmp.WithEvents(func(e rtmp.Event) {
		select {
		case events <- e:
		default: // a burst of state changes: the latest states still arrive
		}
	}))
	opts = append(opts, c.b.cfg.Publisher...)
	pub, err := rtmp.NewPublisher(url, opts...)
	if err != nil {
		c.b.emit(Event{Type: EventStreamingStopped, CallID: c.id, URL: redacted, Reason: err.Error()})
		return
	}
	c.pub, c.url = pub, url
	c.pubWG.Add(1)
	go func() {
		defer c.pubWG.Done()
		for {
			select {
			case e := <-events:
				c.publisherEvent(e, redacted)
			case <-pub.Done():
				for {
					select {
					case e := <-events:
						c.publisherEvent(e, redacted)
					default:
						reason := "call ended"
						if err := pub.Err(); err != nil {
							reason = err.Error()
						} else {
							c.mu.Lock()
							if c.stopWhy != "" {
								reason = c.stopWhy
							}
							c.mu.Unlock()
						}
						c.b.emit(Event{Type: EventStreamingStopped, CallID: c.id, URL: redacted, Reason: reason})
						return
					}
				}
			}
		}
	}()
}

func (c *call) publisherEvent(e rtmp.Event, url string) {
	switch e.State {
	case rtmp.StatePublishing:
		c.b.emit(Event{Type: EventStreamingStarted, CallID: c.id, URL: url})
	case rtmp.StateRetrying:
		reason := fmt.Sprintf("attempt %d, next in %v", e.Attempt, e.Retry)
		if e.Err != nil {
			reason = e.Err.Error() + "; " + reason
		}
		c.b.emit(Event{Type: EventStreamingRetrying, CallID: c.id, URL: url, Reason: reason})
	}
}

// restartStreaming moves the stream to a new URL. It holds outMu, as setOutputs does,
// so that two restarts (two APP packets) cannot interleave and orphan a publisher.
func (c *call) restartStreaming(url, why string) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.mu.Lock()
	old := c.pub
	c.pub = nil
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
		c.pubWG.Wait()
	}
	c.b.log.Info("conference: "+why, "call", c.id, "url", rtmp.Redact(url))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() == nil {
		c.startStreamingLocked(url)
		c.requestKeyframe()
	}
}

func (c *call) startRecordingLocked() {
	now := time.Now()
	var path string
	if c.spaceID != "" {
		path = recording.SpacePath(c.b.cfg.RecordDir, c.spaceID, now)
	} else if c.b.cfg.SpaceID != nil && c.sc != nil {
		if id := c.b.cfg.SpaceID(c.sc); id != "" {
			path = recording.SpacePath(c.b.cfg.RecordDir, id, now)
		}
	}
	if path == "" {
		path = recording.ForwardedCallPath(c.b.cfg.RecordDir, now)
	}
	cfg := recording.Config{Path: path}
	if c.sps != nil {
		cfg.Video = &recording.VideoConfig{SPS: c.sps, PPS: c.pps}
	}
	if c.asc != nil {
		cfg.Audio = &recording.AudioConfig{AudioSpecificConfig: c.asc}
	}
	rec, err := recording.Create(cfg)
	if err != nil {
		c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: path, Reason: err.Error()})
		return
	}
	c.rec = rec
	c.b.emit(Event{Type: EventRecordingStarted, CallID: c.id, Path: rec.Path()})
}

func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.infoLocked()
}

func (c *call) infoLocked() CallInfo {
	ci := CallInfo{ID: c.id, Remote: c.remote, VideoFrames: c.video, AudioFrames: c.audio, MediaPorts: map[string]int{}}
	for kind, s := range c.sessions {
		ci.MediaPorts[kind], _ = s.LocalPorts()
	}
	if c.pub != nil {
		ci.URL, ci.Streaming, ci.Publisher = rtmp.Redact(c.url), c.pub.State(), c.pub.Stats()
	}
	if c.rec != nil {
		ci.Recording, ci.Recorder = c.rec.Path(), c.rec.Stats()
	}
	return ci
}

// signalling is what a call needs of its SIP dialog, incoming or dialled.
type signalling interface {
	Done() <-chan struct{}
	Hangup(ctx context.Context) error
	RequestKeyframe(ctx context.Context) error
	EndReason() string
	StreamURL() string
}

// inSig is an incoming call's signalling.
type inSig struct{ *sip.Call }

// outSig is a dialled leg's signalling.
type outSig struct {
	oc    *sip.OutboundCall
	local atomic.Bool
}

func (o *outSig) Done() <-chan struct{} { return o.oc.Done() }

func (o *outSig) Hangup(ctx context.Context) error {
	o.local.Store(true)
	return o.oc.Hangup(ctx)
}

// RequestKeyframe: dialled legs get RTCP PLI/FIR only (no SIP INFO).
func (o *outSig) RequestKeyframe(context.Context) error { return nil }

func (o *outSig) EndReason() string {
	if o.local.Load() {
		return "hung up here (BYE sent)"
	}
	return "the callee hung up (BYE)"
}

func (o *outSig) StreamURL() string { return "" }

// setOutputs moves a conference leg's outputs to the wanted state: streaming to url
// ("" stops it) and recording on or off. Before the outputs start it only records
// the wish; startLocked then follows it.
func (c *call) setOutputs(url string, record bool, why string) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.mu.Lock()
	c.wantURL, c.wantRec = url, record
	if !c.started || c.ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	var oldPub *rtmp.Publisher
	var oldRec *recording.Recorder
	if c.pub != nil && c.url != url {
		oldPub, c.pub = c.pub, nil
		c.stopWhy = why
	}
	if c.rec != nil && !record {
		oldRec, c.rec = c.rec, nil
	}
	c.mu.Unlock()
	if oldPub != nil {
		_ = oldPub.Close()
		c.pubWG.Wait()
	}
	if oldRec != nil {
		c.finishRecording(oldRec)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopWhy = ""
	if c.ctx.Err() != nil {
		return
	}
	kick := false
	if c.pub == nil && url != "" {
		c.startStreamingLocked(url)
		kick = true
	}
	if c.rec == nil && record && c.b.cfg.RecordDir != "" {
		c.startRecordingLocked()
		kick = true
	}
	if kick {
		c.requestKeyframe()
	}
}

func (c *call) finishRecording(rec *recording.Recorder) {
	if err := rec.Close(); err != nil {
		c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: rec.Path(), Reason: err.Error()})
	} else {
		c.b.emit(Event{Type: EventRecordingFinished, CallID: c.id, Path: rec.Path()})
	}
}
