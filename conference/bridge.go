package conference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sipcast/sipcast/media"
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
	// NoGeneratedAudio turns off the audio sent to callers: by default a caller whose
	// audio is G.711, G.722 or Opus gets 20 ms packets of silence in its codec from the
	// answer on (with Sender Reports), so that NAT paths open, RFC 4733 key presses have
	// a stream beside them, and endpoints that hang up on a silent line keep the call;
	// the audio m-line is answered sendrecv (recvonly with NoGeneratedAudio).
	NoGeneratedAudio bool
	// MediaTimeout ends a call whose media stopped for this long (default 30 s).
	MediaTimeout time.Duration
	// PollInterval is how often one shared goroutine drains every call's RTP sockets
	// (media.Poller; default media.DefaultPollInterval, 40 ms). Waking per round instead
	// of per packet is what lets one process relay hundreds of streams; it adds at most
	// one interval of latency. Negative: every session receives on its own goroutines
	// (also the fallback where the platform has no batched reads).
	PollInterval time.Duration
	// Media adds options to each call's media sessions (media.WithLossPolicy,
	// media.WithSymmetricRTP...); those the Bridge sets itself (frames, clock, events,
	// timeouts, ports, SRTP) take precedence.
	Media []media.SessionOption
	// Outputs are the application's own sinks for each call: an HLS muxer, a preview, an
	// analytics tap, a second RTMP target. When a call's outputs start (every track's
	// codec configuration known, or StartTimeout), each function is asked for a writer,
	// given the call and its tracks (nil: none for this call); the writer then gets the
	// frames the built-in RTMP and MP4 outputs get: from the first keyframe with its
	// parameter sets, audio held for the first picture and gaps filled with silence
	// (unless NoSilence), timestamps on the call's one timeline (the stages of package
	// media/stage). The functions and WriteFrame run on the call's owner, the Bridge's
	// media goroutine (Config.PollInterval: one for all calls), with no lock held: they
	// may call the Bridge (Calls, SetStream, EndCall) but must not block. A writer that
	// returns an error gets no more frames (EventOutputFailed); one that is an io.Closer
	// is closed when the call ends.
	Outputs []OutputFunc
	// Events receives events, in order, on a goroutine of the Bridge's own with no lock
	// held: it may call the Bridge (Calls, EndCall). While it is slow, up to
	// EventQueue events wait; beyond that events are dropped, counted and logged.
	Events func(Event)
	// Logger gets operational messages (default: discarded).
	Logger *slog.Logger
	// Controller, when set, takes calls over from the standalone streamer behaviour:
	// package conference/cms makes the Bridge the engine of a CMS API server (calls to a
	// space's URI join its conference, call legs are dialled through the outbound dial
	// plan, streaming and recording follow the API). Calls it does not route stay
	// standalone streamer calls.
	Controller Controller
}

// Bridge answers calls and streams and records them.
type Bridge struct {
	cfg Config
	ua  *sip.UA
	log *slog.Logger

	ctrl   Controller
	poller *media.Poller // nil: sessions receive on their own goroutines
	// dirty lists the calls whose publishers got frames in the current poller round;
	// flushing is the list being flushed (the two swap, so that neither allocates).
	dirtyMu         sync.Mutex
	dirty, flushing []*call

	mu     sync.Mutex
	calls  map[string]*call
	rooms  map[string]*room // by Outputs.Room
	closed bool
	// maxActive and completed count calls for /system/status.
	maxActive, completed int
	// totals are the finished parts' figures (Totals).
	totals Totals
	wg     sync.WaitGroup
	once   sync.Once
	// gens steps the calls' generated media (one goroutine for all).
	gens generators

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
	b := &Bridge{cfg: cfg, log: cfg.Logger, calls: map[string]*call{}, rooms: map[string]*room{}}
	if cfg.PollInterval >= 0 {
		b.poller = media.NewPoller(media.PollerConfig{Interval: cfg.PollInterval, AfterTick: b.flushOutputs})
	}
	// Everything a call uses exists before the UA: its listeners may take a call at once.
	if cfg.Controller != nil {
		b.ctrl = cfg.Controller
		b.ctrl.Bind(b)
	}
	if cfg.Events != nil {
		b.evWake, b.evDone = make(chan struct{}, 1), make(chan struct{})
		go b.deliver()
	}
	opts := append([]sip.Option{}, cfg.SIP...)
	opts = append(opts, sip.WithInviteHandler(b.onInvite), sip.WithCallUpdated(b.onUpdate), sip.WithDTMF(b.onInfoDTMF))
	ua, err := sip.New(opts...)
	if err != nil {
		b.stopEvents()
		if b.poller != nil {
			_ = b.poller.Close()
		}
		return nil, err
	}
	b.ua = ua
	return b, nil
}

// stopEvents has deliver drain the queue and return, and waits for it.
func (b *Bridge) stopEvents() {
	if b.evDone == nil {
		return
	}
	b.evMu.Lock()
	b.evClosed = true
	b.evMu.Unlock()
	select {
	case b.evWake <- struct{}{}:
	default:
	}
	<-b.evDone
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

// flushOutputs runs on the Poller's goroutine after each round: every call that got
// frames or requests in the round is served (its inbox taken, its publisher woken once).
func (b *Bridge) flushOutputs() {
	b.dirtyMu.Lock()
	b.dirty, b.flushing = b.flushing[:0], b.dirty
	b.dirtyMu.Unlock()
	for i, c := range b.flushing {
		c.serve(false, false)
		b.flushing[i] = nil
	}
}

// markDirty queues c for flushOutputs.
func (b *Bridge) markDirty(c *call) {
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
	if b.ctrl != nil {
		b.ctrl.Event(e)
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
	// Media are the receive counters by kind: packets, loss handling (Concealed,
	// Frozen), keyframe requests and their answers.
	Media map[string]media.SessionStats
	// Started is when the call came in (or was dialled); Tracks the outputs' tracks as
	// the media announced them (codec, resolution), empty before the outputs start.
	Started time.Time
	Tracks  []media.Track
	// Room is set on a room's outputs call (Outputs.Room): its members (their call IDs),
	// the dominant speaker and the member whose video is shown ("": none yet).
	Room *RoomInfo
	// InRoom names the room a call is mixed in ("": none).
	InRoom string
}

// RoomInfo describes a room (a mixed conference).
type RoomInfo struct {
	Members          []string
	Speaker, Showing string
	// Switches counts the video switches made (each on a keyframe of the new speaker).
	Switches uint64
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

// SetStream moves a call's stream to url, or stops it ("" ). It is a request to the
// call: it returns at once, events say what happened, and it may be called from
// Config.Events. For a standalone call the application's URL ranks above every other
// source of it (x-cisco-stream, RTCP APP, the resolver, Config.StreamURL).
func (b *Bridge) SetStream(id, url string) error {
	if url != "" {
		if _, err := rtmp.ParseURL(url); err != nil {
			return fmt.Errorf("conference: stream URL: %w", err)
		}
	}
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	c.setStream(url)
	return nil
}

// SetRecording starts or stops a call's recording (Config.RecordDir must be set for it
// to start). Like SetStream, it is a request to the call.
func (b *Bridge) SetRecording(id string, on bool) error {
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	c.setRecording(on)
	return nil
}

func (b *Bridge) call(id string) *call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[id]
}

// Close ends every call with BYE, finalizes their recordings, stops the SIP listeners and
// waits for all of it. Idempotent.
func (b *Bridge) Close() error {
	var err error
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		if b.ctrl != nil {
			b.ctrl.Shutdown()
		}
		err = b.ua.Close() // BYE to every call; their Done closes
		b.wg.Wait()
		b.gens.wait() // every call removed itself: the generator exits
		if b.poller != nil {
			_ = b.poller.Close()
		}
		b.stopEvents() // the last events (calls ended) are delivered first
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
	if b.ctrl != nil { // before its media starts: the outputs follow the controller
		if out, ok := b.ctrl.Route(c); ok {
			bc.controlled = true
			bc.wantURL, bc.wantRec, bc.spaceID = out.URL, out.Record, out.SpaceID
			if out.Room != "" {
				bc.room = b.roomFor(out.Room, out)
			}
		}
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
		b.refused(bc, "the offer could not be answered: "+err.Error())
		if errors.Is(err, sdp.ErrNoCommonMedia) || errors.Is(err, sdp.ErrMalformedOffer) {
			return nil, &sip.StatusError{Code: 488, Reason: "Not Acceptable Here"}
		}
		return nil, err
	}
	if !b.admit(bc) {
		bc.closeMedia()
		b.refused(bc, "the bridge is closing")
		return nil, &sip.StatusError{Code: 503, Reason: "Service Unavailable"}
	}
	go bc.run()
	return answer, nil
}

// admit enters a call whose dialog is up into Calls, to be joined by Close (its run
// calls wg.Done); false when the Bridge is closing.
func (b *Bridge) admit(c *call) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.calls[c.id] = c
	b.maxActive = max(b.maxActive, len(b.calls))
	b.wg.Add(1)
	return true
}

// refused tells the controller that a call it routed ended before it started.
func (b *Bridge) refused(c *call, reason string) {
	if c.room != nil {
		c.room.release()
	}
	if c.controlled {
		b.ctrl.Event(Event{Type: EventCallEnded, Time: time.Now(), CallID: c.id, Remote: c.remote, Reason: reason,
			Err: &sip.EndError{Class: sip.ErrCallFailed, Reason: reason}})
	}
}

// onInfoDTMF reports a key a caller sent in SIP INFO (application/dtmf-relay), as one
// sent in RFC 4733 events is.
func (b *Bridge) onInfoDTMF(c *sip.Call, digit byte, _ time.Duration) {
	b.mu.Lock()
	bc := b.calls[c.ID]
	b.mu.Unlock()
	if bc != nil {
		b.emit(Event{Type: EventDTMF, CallID: bc.id, Remote: bc.remote, Digit: string(digit)})
	}
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
