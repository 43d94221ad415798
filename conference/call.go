package conference

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpdtmf"
	"github.com/sipcast/sipcast/media/stage"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

// maxInbox bounds the frames waiting for a call's goroutine (a second of a 720p30 call
// is about 80): beyond it, while the goroutine is held up (a slow application output),
// frames are dropped and counted.
const maxInbox = 1024

// call is one call: its dialog, its media sessions and its outputs.
//
// One goroutine at a time owns the call's outputs (the pipeline of stages, the
// publisher, the recorder, the application's writers, the stream URL): with the
// Bridge's Poller, its goroutine, which delivers the call's frames and runs them straight
// through the pipeline, then serves the call's inbox after each round; without one, the
// call's own goroutine, run. Nothing else touches that state: frames that arrive on
// other goroutines (the sessions' own, the last ones at Close) are copied into the
// inbox, and URL changes, output changes, keyframe decisions and hang-ups are requests
// posted to it. At the call's end the Poller hands the call over to run, which finishes
// the outputs. Events leave with no lock held; publishers and recordings are closed on
// goroutines of the call's own (bg), so that the owner never waits for a network or a
// disk.
type call struct {
	b *Bridge
	// sc is the incoming call (nil for a dialled leg); sig is its dialog either way.
	sc     *sip.Call
	sig    sip.Dialog
	id     string
	remote string
	// Set before run starts (newCall, Bridge.Dial, the Controller's Route), read-only
	// after: whether the call is a Controller's (false: a standalone streamer call), its
	// space (the recording folder), and the outputs it starts with (wantURL, wantRec;
	// after the start they are the owner's, changed by setOutputs requests).
	controlled bool
	spaceID    string
	wantURL    string
	wantRec    bool
	resolving  bool // Config.ResolveStreamURL is to be asked
	clock      *media.Clock
	ctx        context.Context
	stop       context.CancelFunc

	// sessMu guards the sessions and their SRTP keys (INVITE, re-INVITE and UPDATE
	// negotiate them on the SIP goroutines). hasVideo and hasAudio are set by setupMedia
	// before run reads them.
	sessMu   sync.Mutex
	sessions map[string]*media.Session // "audio", "video"
	keys     map[string]*sdp.Crypto    // the SRTP keys a session was made with
	hasVideo bool
	hasAudio bool
	// sdpVideo and sdpAudio describe the tracks as far as the SDP does (nil: the stream
	// will), set by setupMedia with hasVideo and hasAudio.
	sdpVideo, sdpAudio *media.Track

	// The inbox (inMu): requests for the call's owner, and the frames that do not come
	// on the owner's goroutine (the sessions' own goroutines, the last frames at Close).
	inMu      sync.Mutex
	inbox     []media.Frame
	reqs      []func()
	inDropped uint64
	ended     bool // the owner has taken its last batch: requests are dropped
	dirty     bool // in the Bridge's dirty list (poller)
	// runOwns says run is the owner: from the start without a Poller, from the
	// hand-over at the end with one (handover asks for it; the Poller closes
	// handedOver when it has let go).
	runOwns    bool
	handover   bool
	handedOver chan struct{}
	wake       chan struct{}

	// Counted on the media path, read by Calls.
	video, audio atomic.Uint64

	// timedOut is the silence that ended the call by the media timeout (0: none): the
	// owner writes it before it starts the hang-up, run reads it after that has ended.
	timedOut time.Duration

	// infoMu guards what Calls reads of run's state, published by run.
	infoMu  sync.Mutex
	infoURL string
	infoPub *rtmp.Publisher
	infoRec *recording.Recorder
	// gen makes the audio sent to the caller (Config.NoGeneratedAudio), in payload type
	// genPT on genSession; nil when none is sent.
	gen   *mixer.SilenceSource
	genPT uint8
	// genDTMF is the telephone-event payload type the call negotiated (0: none), and
	// dtmfKeys the digits Bridge.SendDTMF queued for the generator to send (RFC 4733).
	genDTMF  uint8
	dtmfKeys chan byte
	// noVideo: a dialled leg that offers audio alone (DialRequest.NoVideo); sendVideo
	// one that sends its callee black pictures (DialRequest.SendVideo): vgen in
	// payload type vgenPT on vgenSession, nil when none is sent.
	noVideo, sendVideo bool
	vgen               *mixer.BlackVideo
	vgenPT             uint8
	vgenSession        *media.Session
	genSession         *media.Session
	// agen and vgenOut are the streams the Bridge's generator sends (gens), genSteps
	// its steps of this call: the generator goroutine's alone.
	agen     *audioGen
	vgenOut  *genStream
	genSteps int
	// room is the conference the call is mixed in (Outputs.Room; nil: none), set before
	// its media starts: its frames go to the room, not to outputs of its own. roomOut
	// is set on a room's own outputs call. member is the call in its room's mixer: the
	// generator goroutine's.
	room    *room
	roomOut *room
	member  *member
	// roomQueued counts its frames in the room's inbox (the room's mu).
	roomQueued int
	// infoTracks are the outputs' tracks (copies), as the media announced them.
	infoTracks []media.Track
	started    time.Time

	// keyframe asks the call's INFO goroutine for a SIP picture_fast_update.
	keyframe chan struct{}
	// bg joins the call's helpers: closing publishers and recordings, the resolver,
	// hang-ups. run waits for them before the call ends.
	bg sync.WaitGroup

	o owned // the owner's
}

// owned is the state only the call's owner touches: the Bridge's Poller goroutine, which
// delivers the call's frames (and takes its inbox after each round), until the call
// ends; run, from the start when there is no Poller, and for the call's end.
type owned struct {
	batch     []media.Frame
	reqs      []func()
	queued    bool // in the Bridge's dirty list for this round (the Poller's flag)
	video     *media.Track
	audio     *media.Track
	seen      bool
	started   bool
	videoSent bool
	// The standalone call's URL sources (see standaloneURL), and the application's
	// choices (Bridge.SetStream, Bridge.SetRecording).
	appURL, resolvedURL string
	resolving           bool
	apiURL              string
	apiSet              bool
	recSet, recOn       bool
	url                 string
	pub                 *rtmp.Publisher
	rec                 *recording.Recorder
	outs                *stage.Tee
	// head is the pipeline: Monotonic → Gate → Align → the outputs (out).
	head  media.FrameWriter
	align *stage.Align
}

func newCall(b *Bridge, sc *sip.Call) (*call, error) {
	c, err := newLeg(b, sc, sc, sc.ID, sc.From)
	if err == nil && b.cfg.ResolveStreamURL != nil && sc.StreamURL() == "" {
		c.resolving, c.o.resolving = true, true // run asks the resolver
	}
	return c, err
}

func newLeg(b *Bridge, sc *sip.Call, sig sip.Dialog, id, remote string) (*call, error) {
	ctx, stop := context.WithCancel(context.Background())
	c := &call{b: b, sc: sc, sig: sig, id: id, remote: remote, clock: media.NewClock(time.Now()), ctx: ctx, stop: stop, started: time.Now(),
		sessions: map[string]*media.Session{}, keys: map[string]*sdp.Crypto{}, keyframe: make(chan struct{}, 1), dtmfKeys: make(chan byte, maxQueuedKeys),
		wake: make(chan struct{}, 1), runOwns: b.poller == nil, handedOver: make(chan struct{})}
	if c.runOwns {
		close(c.handedOver)
	}
	return c, nil
}

// openSession returns the call's session for kind, binding it the first time: with
// rtcp-mux and SRTP as negotiated in m when it comes from an answer (nil for our own
// offers). Sessions are made from the negotiation, so an encrypted or rtcp-mux call
// gets a receiver that matches, and an audio-only call opens no video ports. A session
// that exists is reused (a re-INVITE), keeping its SRTP keys: the answer then carries
// our key of the first answer, and an offer that changes the peer's key is refused.
func (c *call) openSession(kind string, m *sdp.Media) (*media.Session, error) {
	c.sessMu.Lock()
	s := c.sessions[kind]
	keys := c.keys[kind]
	c.sessMu.Unlock()
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
	opts := append([]media.SessionOption{}, b.cfg.Media...)
	opts = append(opts, media.WithLocalIP(b.cfg.MediaIP),
		media.WithClock(c.clock), media.WithFrames(c.onFrame), media.WithPolledFrames(c.onPolledFrame),
		media.WithMediaTimeouts(b.cfg.MediaTimeout, b.cfg.MediaTimeout),
		media.WithSessionEvents(c.onSessionEvent),
		media.WithKeyframeHook(c.kickKeyframe), media.WithRTCPApp(c.onApp), media.WithDTMF(c.onDTMF))
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
	c.sessMu.Lock()
	c.sessions[kind] = s
	if m != nil && m.Crypto != nil {
		k := *m.Crypto
		c.keys[kind] = &k
	}
	c.sessMu.Unlock()
	return s, nil
}

// offerConfig is how the call makes its own offers (late offers, dialled legs): plain
// RTP/AVP with separate RTCP, as sdp.Offer makes them.
// AudioCodecs are the audio codecs a Bridge answers with, by preference: AAC (carried
// as it is), then what it transcodes to AAC — Opus only in a build that decodes it
// (mixer/opusdec), G.722, G.711. A caller that offers Opus and G.722 gets G.722 from
// the default build, and its audio is heard.
func AudioCodecs() []sdp.Codec {
	cs := []sdp.Codec{{Name: "MP4A-LATM"}, {Name: "mpeg4-generic"}}
	if mixer.CanTranscode(media.CodecOpus) {
		cs = append(cs, sdp.Codec{Name: "opus", ClockRate: 48000})
	}
	return append(cs, sdp.Codec{Name: "G722", ClockRate: 8000}, sdp.Codec{Name: "PCMU", ClockRate: 8000}, sdp.Codec{Name: "PCMA", ClockRate: 8000})
}

func (c *call) offerConfig() sdp.Config {
	cfg := c.sdpConfig()
	cfg.SRTP, cfg.RTCPMux, cfg.Open = false, false, nil
	if c.noVideo {
		cfg.Resolution = sdp.ResolutionAudioOnly
	}
	if c.sendVideo {
		cfg.VideoDirection = "sendrecv"
	}

	return cfg
}

// sdpConfig is how the call negotiates: SRTP (SDES) and rtcp-mux accepted when offered,
// its sessions opened from what was agreed (Open; Ports for our own offers), one m-line
// of each kind.
func (c *call) sdpConfig() sdp.Config {
	audioDir := "sendrecv"
	if c.b.cfg.NoGeneratedAudio {
		audioDir = ""
	}
	return sdp.Config{Address: c.b.cfg.MediaIP, Resolution: c.b.cfg.Resolution, SRTP: true, RTCPMux: true, Audio: AudioCodecs(), AudioDirection: audioDir,
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
	c.sessMu.Lock()
	for _, m := range ms {
		s := c.sessions[m.Kind]
		if !m.Accepted || s == nil || used[m.Kind] {
			continue
		}
		if err := s.AddTrack(m.TrackConfig()); err != nil {
			c.sessMu.Unlock()
			return err
		}
		if m.Kind == "audio" && (m.Direction == "sendrecv" || m.Direction == "sendonly") && !c.b.cfg.NoGeneratedAudio {
			if src, err := mixer.NewSilenceSource(media.Encoding(m.Codec).Codec()); err == nil {
				c.gen, c.genPT, c.genSession = src, m.PayloadType, s
				c.genDTMF = m.DTMFPayloadType
			}
		}
		if m.Kind == "video" && c.sendVideo && (m.Direction == "sendrecv" || m.Direction == "sendonly") && m.Codec == "H264" {
			if src, err := mixer.NewBlackVideo(); err == nil {
				c.vgen, c.vgenPT, c.vgenSession = src, m.PayloadType, s
			}
		}
		if m.Kind == "audio" && m.DTMFPayloadType != 0 {
			// Key presses (RFC 4733) beside the audio: EventDTMF.
			if err := s.AddTrack(media.TrackConfig{PayloadType: m.DTMFPayloadType, Encoding: media.EncodingTelephoneEvent, ClockRate: m.ClockRate}); err != nil {
				c.b.log.Warn("conference: telephone-event not received", "call", c.id, "err", err)
			}
		}
		s.SetRemote(m.RemoteRTP, m.RemoteRTCP)
		used[m.Kind] = true
		// What the SDP says of a track (parameter sets, AudioSpecificConfig) lets the
		// outputs start before the stream repeats it, or when it never does.
		var desc *media.Track
		if d, ok := m.TrackConfig().Describe(); ok {
			desc = &d
		}
		switch m.Kind {
		case "video":
			c.hasVideo, c.sdpVideo = true, desc
		case "audio":
			c.hasAudio, c.sdpAudio = true, desc
		}
	}
	var unused, started []*media.Session
	for kind, s := range c.sessions {
		if !used[kind] {
			unused = append(unused, s)
			delete(c.sessions, kind)
		} else {
			started = append(started, s)
		}
	}
	c.sessMu.Unlock()
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

func (c *call) closeMedia() {
	for _, s := range c.sessionMap() { // Close runs outside sessMu
		s.Close()
	}
}

// update answers an in-dialog offer with the same sessions, and follows a changed stream
// URL (x-cisco-stream in an UPDATE or re-INVITE).
func (c *call) update(offer []byte) ([]byte, error) {
	if url := c.sc.StreamURL(); url != "" && !c.controlled {
		c.post(func() { c.followURL("the stream URL changed") })
	}
	if len(offer) == 0 {
		return nil, nil
	}
	cfg := c.sdpConfig()
	open := cfg.Open
	cfg.Open = func(m *sdp.Media, i int) (int, int, error) {
		c.sessMu.Lock()
		known := c.sessions[m.Kind] != nil
		c.sessMu.Unlock()
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
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	for _, m := range ms {
		if s := c.sessions[m.Kind]; m.Accepted && s != nil && !used[m.Kind] {
			s.SetRemote(m.RemoteRTP, m.RemoteRTCP)
			used[m.Kind] = true
		}
	}
	return answer, nil
}

// kickKeyframe is the sessions' keyframe hook: it never blocks.
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
			if c.sc == nil {
				continue // a dialled leg: RTCP PLI/FIR only (whether the callee takes INFO is unknown)
			}
			ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
			_ = c.sig.RequestKeyframe(ctx)
			cancel()
		}
	}
}

// requestKeyframe asks the caller for a keyframe (RTCP PLI/FIR, rate-limited by the
// session; SIP INFO through the keyframe hook).
func (c *call) requestKeyframe() {
	if c.roomOut != nil { // a room's outputs: the speaker shown is asked
		c.roomOut.keyframe.Store(true)
		return
	}
	c.sessMu.Lock()
	s := c.sessions["video"]
	c.sessMu.Unlock()
	if s != nil {
		s.RequestKeyframe()
	}
}

func (c *call) onSessionEvent(e media.SessionEvent) {
	switch e.Type {
	case media.EventMediaTimeout:
		c.b.log.Warn("conference: media timeout", "call", c.id, "silence", e.Silence)
		c.post(func() {
			c.timedOut = e.Silence
			c.background(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = c.sig.Hangup(ctx)
			})
		})
	case media.EventBye:
		c.b.log.Info("conference: RTCP BYE from the caller", "call", c.id)
	}
}

// maxQueuedKeys bounds the digits waiting to be sent (SendDTMF).
const maxQueuedKeys = 64

// A key sent as RFC 4733 events lasts keyPackets packets (100 ms), its end is sent three
// times, and keyGap packets of audio follow before the next key.
const (
	keyPackets = 5
	keyGap     = 3
)

// audioGen is the state of the audio a call sends its caller: 20 ms packets of silence
// in its codec, and a Sender Report every 5 s. Queued keys (Bridge.SendDTMF) take the
// audio's place as RFC 4733 events, in the same stream (SSRC, sequence numbers, clock):
// an event's packets keep its start's timestamp and give its duration so far. The
// Bridge's generator goroutine steps it (generators); only it touches the state.
type audioGen struct {
	out     *genStream
	event   [4]byte
	key     int // the key being sent (-1: none)
	sent    int // its packets so far
	gap     int // audio packets since the last key
	eventTS uint32
	ts      uint32 // the audio clock, running on through events
}

func newAudioGen(s *media.Session, pt uint8) *audioGen {
	g := &audioGen{out: newGenStream(s, pt), key: -1}
	g.out.p.Marker = true
	g.ts = g.out.p.Timestamp
	return g
}

func (g *audioGen) send(pt uint8, payload []byte, ts uint32) {
	g.out.p.PayloadType, g.out.p.Timestamp = pt, ts
	g.out.write(payload, false)
}

// stepAudio sends the call's next 20 ms packet (or event packets).
func (c *call) stepAudio(now time.Time) {
	g := c.agen
	payload, step := c.gen.Next()
	if m := c.member; m != nil && m.fresh {
		payload, step, m.fresh = m.payload, m.step, false // its mix-minus, this round's
	}
	if g.key < 0 && g.gap >= keyGap && c.genDTMF != 0 {
		select {
		case k := <-c.dtmfKeys:
			g.key, g.sent, g.eventTS = int(k), 0, g.ts
			g.out.p.Marker = true // an event's first packet (RFC 4733 §2.5.1.3)
		default:
		}
	}
	if g.key >= 0 {
		g.sent++
		end := g.sent >= keyPackets
		g.event[0], g.event[1] = byte(g.key), 10 // volume -10 dBm0
		if end {
			g.event[1] |= 0x80
		}
		binary.BigEndian.PutUint16(g.event[2:], uint16(g.sent*int(step)))
		n := 1
		if end {
			n = 3 // the end, three times (§2.5.1.4)
		}
		for range n {
			g.send(c.genDTMF, g.event[:], g.eventTS)
		}
		if end {
			g.key, g.gap = -1, 0
		}
	} else {
		g.send(c.genPT, payload, g.ts)
		g.gap++
	}
	g.ts += step
	g.out.p.Timestamp = g.ts
	g.out.report(now)
}

// stepVideo sends the callee its next black picture (5 fps, an IDR every 2 s, each NAL
// unit one RTP packet) and a Sender Report every 5 s.
func (c *call) stepVideo(now time.Time) {
	out := c.vgenOut
	nalus, step := c.vgen.Next()
	for i, n := range nalus {
		out.write(n, i == len(nalus)-1)
	}
	out.p.Timestamp += step
	out.report(now)
}

// genStep is one 20 ms step of what the call generates: its audio each step, its video
// every videoSteps.
func (c *call) genStep(now time.Time) {
	if c.agen != nil {
		c.stepAudio(now)
	}
	if c.vgenOut != nil {
		if c.genSteps%videoSteps == 0 {
			c.stepVideo(now)
		}
		c.genSteps++
	}
}

// videoSteps is how many 20 ms steps a black picture lasts (5 fps).
const videoSteps = 1000 / mixer.FramePeriod / mixer.BlackFrameRate

// genStream is an RTP stream the Bridge makes (generated audio or video): random SSRC,
// first sequence number and timestamp (RFC 3550 §5.1), its counts, and a Sender Report
// a second after it starts and every 5 s after.
type genStream struct {
	s               *media.Session
	p               rtp.Packet
	packets, octets uint32
	nextSR          time.Time
}

func newGenStream(s *media.Session, pt uint8) *genStream {
	var r [10]byte
	_, _ = rand.Read(r[:])
	return &genStream{s: s, nextSR: time.Now().Add(time.Second), p: rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt,
		SequenceNumber: binary.BigEndian.Uint16(r[0:]), Timestamp: binary.BigEndian.Uint32(r[2:]), SSRC: binary.BigEndian.Uint32(r[6:])}}}
}

// write sends a packet of payload at the current timestamp; the marker is set for this
// packet when marker (or when the caller set it), and cleared after.
func (g *genStream) write(payload []byte, marker bool) {
	g.p.Payload = payload
	g.p.Marker = g.p.Marker || marker
	if g.s.WriteRTP(&g.p) == nil {
		g.packets++
		g.octets += uint32(len(payload))
	}
	g.p.Marker = false
	g.p.SequenceNumber++
}

// report sends the Sender Report when one is due: now is presented at the current
// timestamp.
func (g *genStream) report(now time.Time) {
	if now.After(g.nextSR) {
		g.nextSR = now.Add(5 * time.Second)
		_ = g.s.WriteRTCP(&rtcp.SenderReport{SSRC: g.p.SSRC, NTPTime: ntp(now), RTPTime: g.p.Timestamp,
			PacketCount: g.packets, OctetCount: g.octets})
	}
}

// ntp is t as a 64-bit NTP timestamp (RFC 3550 §4).
func ntp(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// onDTMF reports a key press when the key is released (the media goroutine; the event
// queue takes it without blocking).
func (c *call) onDTMF(e rtpdtmf.Event) {
	if d := e.Digit(); e.End && d != 0 {
		c.b.emit(Event{Type: EventDTMF, CallID: c.id, Remote: c.remote, Digit: string(d)})
	}
}

// background runs fn on a goroutine the call joins before it ends (run's goroutine only).
func (c *call) background(fn func()) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
}

// post queues a request for run; it never blocks, and is dropped once the call ended.
func (c *call) post(fn func()) {
	c.inMu.Lock()
	if c.ended {
		c.inMu.Unlock()
		return
	}
	c.reqs = append(c.reqs, fn)
	c.wakeOwnerLocked()
	c.inMu.Unlock()
}

// wakeOwnerLocked has the owner take the inbox (c.inMu held): run at once, the Poller
// after its round.
func (c *call) wakeOwnerLocked() {
	switch {
	case c.runOwns:
		c.kick()
	case !c.dirty:
		c.dirty = true
		c.b.markDirty(c)
	}
}

func (c *call) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// onPolledFrame takes a frame on the Poller's goroutine, the call's owner until its end:
// straight through the pipeline, no copy; the publisher is flushed after the round.
func (c *call) onPolledFrame(f *media.Frame) {
	c.count(f)
	c.frame(f)
	if !c.o.queued {
		c.o.queued = true
		c.b.markDirty(c)
	}
}

func (c *call) count(f *media.Frame) {
	if f.Codec.IsVideo() {
		c.video.Add(1)
	} else {
		c.audio.Add(1)
	}
}

// onFrame takes a frame on any other goroutine (the sessions' own, Close's): it copies
// the frame into the inbox (a buffer of the inbox's own; the description too, when it
// carries one) for the owner.
func (c *call) onFrame(f *media.Frame) {
	c.count(f)
	c.inMu.Lock()
	defer c.inMu.Unlock()
	n := len(c.inbox)
	if n >= maxInbox || c.ended {
		c.inDropped++
		return
	}
	if n < cap(c.inbox) {
		c.inbox = c.inbox[:n+1]
	} else {
		c.inbox = append(c.inbox, media.Frame{})
	}
	e := &c.inbox[n]
	buf := e.Data[:0]
	*e = *f
	e.Data = append(buf, f.Data...)
	if f.Track != nil {
		e.Track = f.Track.Clone()
	}
	if n == 0 {
		c.wakeOwnerLocked()
	}
}

// run lives as long as the call: it owns the outputs, starts them when the tracks are
// known (or at StartTimeout), serves requests, and finalizes everything when the call
// ends.
func (c *call) run() {
	defer c.b.wg.Done()
	kfDone := make(chan struct{})
	go c.sipKeyframes(kfDone)
	if c.resolving && !c.controlled {
		c.background(c.resolve)
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
	if c.gen != nil {
		c.agen = newAudioGen(c.genSession, c.genPT)
	}
	if c.vgen != nil {
		c.vgenOut = newGenStream(c.vgenSession, c.vgenPT)
	}
	if c.room != nil {
		c.room.join(c)
	}
	if c.agen != nil || c.vgenOut != nil {
		c.b.gens.add(c)
	}
	timeout := time.NewTimer(c.b.cfg.StartTimeout)
	defer timeout.Stop()
	for done := false; !done; {
		select {
		case <-c.wake:
			c.serve(true, false)
		case <-timeout.C:
			c.post(func() {
				if !c.o.started && c.o.seen {
					c.start("not every track's codec configuration arrived in time")
				}
			})
		case <-c.sig.Done():
			done = true
		}
	}
	c.b.gens.remove(c) // before its sessions close: no step of it runs after this
	if c.room != nil {
		c.room.leave(c)
	}
	c.stop()
	c.closeMedia() // no more frames from the Poller; Close's last ones are in the inbox
	c.inMu.Lock()
	if !c.runOwns {
		c.handover = true
		c.wakeOwnerLocked()
	}
	c.inMu.Unlock()
	<-c.handedOver // the Poller has let go (closed at once without one)
	c.serve(true, true)
	c.finish()
	c.bg.Wait()
	<-kfDone
	final := c.info()
	c.b.mu.Lock()
	delete(c.b.calls, c.id)
	c.b.completed++
	c.b.retireCallLocked(final)
	c.b.mu.Unlock()
	if n := c.inDropped; n > 0 {
		c.b.log.Warn("conference: frames dropped: the call's outputs were not keeping up", "call", c.id, "frames", n)
	}
	end := c.sig.Err()
	reason := ""
	if end != nil {
		reason = end.Error()
	}
	if c.timedOut > 0 {
		silence := c.timedOut.Round(time.Second)
		reason = fmt.Sprintf("no media from the remote side for %v (media timeout)", silence)
		if end != nil {
			end = fmt.Errorf("%w after %v: %w", ErrMediaTimeout, silence, end)
		} else {
			end = fmt.Errorf("%w after %v", ErrMediaTimeout, silence)
		}
	}
	c.b.emit(Event{Type: EventCallEnded, CallID: c.id, Remote: c.remote, Reason: reason, Err: end})
}

// serve is the owner taking the inbox: the requests first, then the frames through the
// pipeline; then it wakes the publisher once for the round's frames. byRun says who
// calls: run, or the Poller after a round (Bridge.flushOutputs); the one that is not the
// owner returns at once. last marks the inbox closed (the call's end). Serving the
// hand-over, the Poller makes run the owner.
func (c *call) serve(byRun, last bool) {
	o := &c.o
	c.inMu.Lock()
	if byRun != c.runOwns {
		c.inMu.Unlock()
		return
	}
	o.batch, c.inbox = c.inbox, o.batch[:0]
	o.reqs, c.reqs = c.reqs, o.reqs[:0]
	c.dirty = false
	if last {
		c.ended = true
	}
	c.inMu.Unlock()
	o.queued = false
	for i, r := range o.reqs {
		r()
		o.reqs[i] = nil
	}
	for i := range o.batch {
		c.frame(&o.batch[i])
	}
	if o.pub != nil && c.b.poller != nil {
		o.pub.Flush()
	}
	if !byRun {
		c.inMu.Lock()
		if c.handover && !c.runOwns {
			c.runOwns = true
			close(c.handedOver)
		}
		c.inMu.Unlock()
	}
}

// frame takes one frame of the call (run's goroutine): it learns the tracks from it and,
// once the outputs run, writes it to the pipeline.
func (c *call) frame(f *media.Frame) {
	if c.room != nil {
		c.room.write(c, f)
		return
	}
	o := &c.o
	if !o.started {
		if !o.seen {
			o.seen, o.video, o.audio = true, c.sdpVideo, c.sdpAudio
		}
		if f.Track != nil { // the outputs start with these (a copy: the receiver's changes)
			if f.Codec.IsVideo() {
				o.video = f.Track.Clone()
			} else {
				o.audio = f.Track.Clone()
			}
			c.publishTracks()
		}
		if (c.hasVideo && o.video == nil) || (c.hasAudio && o.audio == nil) {
			return
		}
		c.start("")
	}
	if f.Track != nil && o.started && f.Codec.IsVideo() && o.video != nil && !bytes.Equal(f.Track.SPS, o.video.SPS) {
		o.video = f.Track.Clone() // the picture's size or parameters changed mid-call
		c.publishTracks()
	}
	if f.Codec.IsVideo() && !o.videoSent {
		// The first video frame into the pipeline carries the track: the Gate learns
		// its parameter sets even when the stream announced them before the start.
		o.videoSent = true
		if f.Track == nil {
			f.Track = o.video
		}
	}
	_ = o.head.WriteFrame(f)
}

// start starts the outputs with the tracks that are known: the pipeline, streaming,
// recording and the application's outputs.
func (c *call) start(note string) {
	o := &c.o
	if o.started {
		return
	}
	o.started = true
	if note != "" {
		c.b.log.Warn("conference: starting outputs: "+note, "call", c.id)
	}
	var transcode *mixer.Transcoder
	var afterTranscode media.FrameWriter
	if o.audio != nil && o.audio.Codec != media.CodecAAC {
		if mixer.CanTranscode(o.audio.Codec) {
			// G.711 or G.722: the outputs carry it transcoded to AAC.
			tc, err := mixer.NewTranscoder(media.FrameWriterFunc(func(f *media.Frame) error { return afterTranscode.WriteFrame(f) }), o.audio.Codec)
			if err == nil {
				transcode = tc
				tr := tc.Track()
				o.audio = &tr
			} else {
				c.b.log.Warn("conference: audio not transcoded", "call", c.id, "err", err)
				o.audio = nil
			}
		} else {
			o.audio = nil // not carried by the outputs (Opus: not decoded in this build)
		}
	}
	align := stage.AlignConfig{Video: o.video != nil}
	if !c.b.cfg.NoSilence && o.video != nil {
		if o.audio == nil {
			cfg := stage.SilentConfig
			asc, _ := cfg.Marshal()
			o.audio = &media.Track{Codec: media.CodecAAC, ClockRate: cfg.SampleRate, Channels: cfg.Channels, Config: asc}
			align.Synthetic, align.Fill = true, &cfg
		} else if cfg, err := aac.ParseConfig(o.audio.Config); err == nil {
			align.Fill = &cfg
		}
	}
	o.outs = stage.NewTee()
	o.outs.OnError = func(_ int, err error) {
		c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
	}
	o.align = stage.NewAlign(media.FrameWriterFunc(c.out), align)
	o.head = stage.NewMonotonic(stage.NewGate(o.align, c.requestKeyframe))
	if transcode != nil {
		afterTranscode, o.head = o.head, transcode
	}
	url, record := c.wantURL, c.wantRec && c.b.cfg.RecordDir != ""
	if !c.controlled {
		url, record = c.standaloneURL(), c.b.cfg.RecordDir != "" && (!o.recSet || o.recOn)
	}
	if url != "" {
		c.startStreaming(url)
	}
	if record {
		c.startRecording()
	}
	c.startOutputs()
	c.requestKeyframe()
}

// out is the end of the pipeline: the frame to every output.
func (c *call) out(f *media.Frame) error {
	o := &c.o
	if o.pub != nil {
		o.pub.WriteFrame(f)
	}
	if o.rec != nil {
		if err := o.rec.WriteFrame(f); err != nil {
			c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: o.rec.Path(), Reason: err.Error()})
			rec := o.rec
			c.setRec(nil)
			c.background(func() { _ = rec.Close() })
		}
	}
	return o.outs.WriteFrame(f)
}

// tracks describes the call's tracks as the outputs get them.
func (c *call) tracks() []media.Track {
	var out []media.Track
	if c.o.video != nil {
		out = append(out, *c.o.video)
	}
	if c.o.audio != nil {
		out = append(out, *c.o.audio)
	}
	return out
}

// startOutputs asks Config.Outputs for the call's writers.
func (c *call) startOutputs() {
	if len(c.b.cfg.Outputs) == 0 {
		return
	}
	info := c.info()
	tracks := c.tracks()
	for _, mk := range c.b.cfg.Outputs {
		w, err := mk(info, tracks)
		if err != nil {
			c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
			continue
		}
		if w != nil {
			c.o.outs.Add(w)
		}
	}
}

// finish ends the outputs at the call's end: the audio filled up to the video's end, the
// publisher and the recording closed (on bg), the application's outputs closed.
func (c *call) finish() {
	o := &c.o
	o.started = true // nothing starts any more
	if o.align != nil {
		_ = o.align.Finish()
	}
	c.stopStreaming("call ended")
	if o.rec != nil {
		rec := o.rec
		c.setRec(nil)
		c.background(func() { c.finishRecording(rec) })
	}
	if o.outs != nil {
		for _, w := range o.outs.Writers() {
			if cl, ok := w.(io.Closer); ok {
				if err := cl.Close(); err != nil {
					c.b.emit(Event{Type: EventOutputFailed, CallID: c.id, Reason: err.Error()})
				}
			}
		}
	}
}

// standaloneURL is a standalone call's stream URL, by precedence: the application's
// (Bridge.SetStream), x-cisco-stream
// (INVITE, UPDATE, re-INVITE), an RTCP APP packet, the resolver, Config.StreamURL. It is
// "" while the resolver is still being asked (streaming starts when it answers).
func (c *call) standaloneURL() string {
	o := &c.o
	switch {
	case o.apiSet:
		return o.apiURL
	case c.streamURL() != "":
		return c.streamURL()
	case o.appURL != "":
		return o.appURL
	case o.resolvedURL != "":
		return o.resolvedURL
	case o.resolving:
		return ""
	}
	return c.b.cfg.StreamURL
}

// streamURL is the x-cisco-stream of the peer's current Contact.
func (c *call) streamURL() string {
	v, _ := c.sig.ContactParam("x-cisco-stream")
	return v
}

// followURL moves a running standalone stream to the URL its sources now give.
func (c *call) followURL(why string) {
	if !c.o.started || c.ctx.Err() != nil || c.controlled {
		return
	}
	if url := c.standaloneURL(); url != "" && (url != c.o.url || c.o.pub == nil) {
		c.b.log.Info("conference: "+why, "call", c.id, "url", rtmp.Redact(url))
		c.stopStreaming(why)
		c.startStreaming(url)
		c.requestKeyframe()
	}
}

// resolve asks Config.ResolveStreamURL (on a goroutine of the call's) and gives run its
// answer.
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
	c.post(func() {
		c.o.resolving, c.o.resolvedURL = false, u
		if c.o.pub == nil {
			c.followURL("the resolver answered")
		}
	})
}

// onApp takes a stream URL from an RTCP APP packet (the Call Bridge's undocumented way,
// see media.AppPacket): it ranks below x-cisco-stream and above the resolver and the
// default, and a running stream moves to it.
func (c *call) onApp(a media.AppPacket) {
	u := urlFromApp(a.Data)
	if u == "" || c.controlled {
		return
	}
	c.post(func() {
		if u == c.o.appURL {
			return
		}
		c.o.appURL = u
		c.b.log.Info("conference: stream URL from RTCP APP", "call", c.id, "url", rtmp.Redact(u))
		c.followURL("the stream URL arrived in RTCP")
	})
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

// startStreaming starts a publisher to url (run's goroutine).
func (c *call) startStreaming(url string) {
	redacted := rtmp.Redact(url)
	opts := []rtmp.PublisherOption{rtmp.WithTracks(c.tracks()...), rtmp.WithKeyframeRequest(c.requestKeyframe), rtmp.WithLogger(c.b.log)}
	if c.b.poller != nil {
		opts = append(opts, rtmp.WithManualFlush()) // flushed after each batch
	}
	// The publisher's goroutine may report before NewPublisher returns: it reads the
	// publisher from ref (on run's goroutine, when it posts).
	ref := new(atomic.Pointer[rtmp.Publisher])
	opts = append(opts, rtmp.WithEvents(func(e rtmp.Event) { c.publisherEvent(ref, e, redacted) }))
	opts = append(opts, c.b.cfg.Publisher...)
	pub, err := rtmp.NewPublisher(url, opts...)
	if err != nil {
		c.b.emit(Event{Type: EventStreamingStopped, CallID: c.id, URL: redacted, Reason: err.Error()})
		return
	}
	ref.Store(pub)
	c.o.url = url
	c.setPub(pub, url)
}

// publisherEvent runs on the publisher's goroutine: it emits (which never blocks) and
// tells run when the publisher gave up by itself.
func (c *call) publisherEvent(ref *atomic.Pointer[rtmp.Publisher], e rtmp.Event, url string) {
	switch e.State {
	case rtmp.StatePublishing:
		c.b.emit(Event{Type: EventStreamingStarted, CallID: c.id, URL: url})
	case rtmp.StateRetrying:
		reason := fmt.Sprintf("attempt %d, next in %v", e.Attempt, e.Retry)
		if e.Err != nil {
			reason = e.Err.Error() + "; " + reason
		}
		c.b.emit(Event{Type: EventStreamingRetrying, CallID: c.id, URL: url, Reason: reason})
	case rtmp.StateClosed:
		if e.Err != nil {
			c.post(func() {
				if pub := ref.Load(); pub != nil && c.o.pub == pub {
					c.stopStreaming("")
				}
			})
		}
	}
}

// stopStreaming detaches the publisher and closes it on bg; EventStreamingStopped says
// why (the publisher's own error first).
func (c *call) stopStreaming(why string) {
	pub := c.o.pub
	if pub == nil {
		return
	}
	c.setPub(nil, "")
	redacted := pub.URL()
	c.background(func() {
		_ = pub.Close()
		<-pub.Done()
		c.b.retirePublisher(pub.Stats())
		reason := why
		if err := pub.Err(); err != nil {
			reason = err.Error()
		}
		c.b.emit(Event{Type: EventStreamingStopped, CallID: c.id, URL: redacted, Reason: reason})
	})
}

func (c *call) setPub(pub *rtmp.Publisher, url string) {
	c.o.pub = pub
	c.infoMu.Lock()
	c.infoPub, c.infoURL = pub, url
	c.infoMu.Unlock()
}

func (c *call) setRec(rec *recording.Recorder) {
	c.o.rec = rec
	c.infoMu.Lock()
	c.infoRec = rec
	c.infoMu.Unlock()
}

func (c *call) startRecording() {
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
	cfg := recording.Config{Path: path, Video: c.o.video, Audio: c.o.audio}
	rec, err := recording.Create(cfg)
	if err != nil {
		c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: path, Reason: err.Error()})
		return
	}
	c.setRec(rec)
	c.b.emit(Event{Type: EventRecordingStarted, CallID: c.id, Path: rec.Path()})
}

func (c *call) finishRecording(rec *recording.Recorder) {
	err := rec.Close()
	c.b.retireRecorder(rec.Stats(), err != nil)
	if err != nil {
		c.b.emit(Event{Type: EventRecordingFailed, CallID: c.id, Path: rec.Path(), Reason: err.Error()})
	} else {
		c.b.emit(Event{Type: EventRecordingFinished, CallID: c.id, Path: rec.Path()})
	}
}

// setOutputs asks run to move a conference leg's outputs to the wanted state (see
// applyOutputs). It never blocks.
func (c *call) setOutputs(url string, record bool, why string) {
	c.post(func() { c.applyOutputs(url, record, why) })
}

// setStream is Bridge.SetStream: a request to run.
func (c *call) setStream(url string) {
	c.post(func() {
		const why = "changed by the application"
		if c.controlled {
			c.applyOutputs(url, c.wantRec, why)
			return
		}
		c.o.apiURL, c.o.apiSet = url, true
		if url == "" {
			c.stopStreaming(why)
			return
		}
		c.followURL("the application moved the stream")
	})
}

// setRecording is Bridge.SetRecording: a request to run.
func (c *call) setRecording(on bool) {
	c.post(func() {
		if c.controlled {
			c.applyOutputs(c.wantURL, on, "changed by the application")
			return
		}
		c.o.recSet, c.o.recOn = true, on
		c.applyRecording(on)
	})
}

// applyOutputs moves the outputs to the wanted state: streaming to url ("" stops it)
// and recording on or off. Before the outputs start it only records the wish; start
// then follows it.
func (c *call) applyOutputs(url string, record bool, why string) {
	c.wantURL, c.wantRec = url, record
	o := &c.o
	if !o.started || c.ctx.Err() != nil {
		return
	}
	if o.pub != nil && o.url != url {
		c.stopStreaming(why)
	}
	if o.pub == nil && url != "" {
		c.startStreaming(url)
		c.requestKeyframe()
	}
	c.applyRecording(record)
}

// applyRecording starts or stops the recording of a running call.
func (c *call) applyRecording(on bool) {
	o := &c.o
	if !o.started || c.ctx.Err() != nil {
		return
	}
	if o.rec != nil && !on {
		rec := o.rec
		c.setRec(nil)
		c.background(func() { c.finishRecording(rec) })
	}
	if o.rec == nil && on && c.b.cfg.RecordDir != "" {
		c.startRecording()
		c.requestKeyframe()
	}
}

func (c *call) info() CallInfo {
	ci := CallInfo{ID: c.id, Remote: c.remote, VideoFrames: c.video.Load(), AudioFrames: c.audio.Load(), MediaPorts: map[string]int{},
		Media: map[string]media.SessionStats{}}
	for kind, s := range c.sessionMap() {
		ci.MediaPorts[kind], _ = s.LocalPorts()
		ci.Media[kind] = s.Stats()
	}
	c.infoMu.Lock()
	pub, url, rec := c.infoPub, c.infoURL, c.infoRec
	c.infoMu.Unlock()
	if pub != nil {
		ci.URL, ci.Streaming, ci.Publisher = rtmp.Redact(url), pub.State(), pub.Stats()
	}
	if rec != nil {
		ci.Recording, ci.Recorder = rec.Path(), rec.Stats()
	}
	ci.Started = c.started
	if c.roomOut != nil {
		ci.Room = c.roomOut.info()
	}
	if c.room != nil {
		ci.InRoom = c.room.key
	}
	c.infoMu.Lock()
	ci.Tracks = append([]media.Track(nil), c.infoTracks...)
	c.infoMu.Unlock()
	return ci
}

// publishTracks makes the outputs' tracks what Calls reports (run's goroutine).
func (c *call) publishTracks() {
	var ts []media.Track
	for _, t := range []*media.Track{c.o.video, c.o.audio} {
		if t != nil {
			ts = append(ts, *t.Clone())
		}
	}
	c.infoMu.Lock()
	c.infoTracks = ts
	c.infoMu.Unlock()
}

func (c *call) sessionMap() map[string]*media.Session {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	m := make(map[string]*media.Session, len(c.sessions))
	for k, s := range c.sessions {
		m[k] = s
	}
	return m
}
