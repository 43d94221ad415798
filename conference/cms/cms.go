package cms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

// The CMS model on top of the Bridge: a conference ("call" in the CMS API) belongs to a
// space and has legs — calls into the space's URI and calls dialled out through the
// outbound dial plan rules. With Config.Mix the legs are mixed in a conference.Bridge
// room (each hears the others; the outputs carry the mix and the active speaker's
// video). Without it the conference's outputs (the stream to the space's streamUrl and
// the recording under spaces/<space id>/) are fed by one leg, its source: the first
// leg that connected, then the next when it leaves; its media is the conference's.

// conf is one conference.
type conf struct {
	id, name, correlator string
	space                cmsapi.CoSpace
	started              time.Time
	// apiCreated conferences live until DELETE /calls/{id}; ones a dial-in created end
	// with their last leg.
	apiCreated, ended bool
	streaming         bool
	recording         bool
	locked            bool
	streamingID       string
	recordingID       string
	source            *leg
	legs              map[string]*leg
	maxLegs           int
	completed         int
}

func (f *conf) streamURL() string {
	if f.streaming {
		return f.space.StreamURL
	}
	return ""
}

// leg is a call leg of a conference.
type leg struct {
	id, participant string
	remote          string
	direction       string
	state           string
	conf            *conf
	started         time.Time
	// callID is the leg's call in the Bridge ("" while dialling).
	callID string
	// rxMute and txMute are its audio mutes (PUT /callLegs/{id}; muteSet: one was
	// given, and GET reports them in <configuration>).
	rxMute, txMute, muteSet bool
	cancel                  context.CancelFunc
}

// Config configures a Backend.
type Config struct {
	// Store holds the CMS configuration objects (spaces, call profiles, dial plan rules);
	// the cmsapi.Server serving them is given the same one.
	Store *cmsapi.Store
	// CDRs sends the call detail records (cmsapi.NewStoreCDRSender over Store; the
	// server is given the same one, and closes it).
	CDRs *cmsapi.CDRSender
	// Logger gets operational messages (default: discarded).
	Logger *slog.Logger
	// Mix mixes each conference's legs (a conference.Bridge room named by the
	// conference's id): every leg hears the others, and the stream and the recording
	// carry the mix (AAC) and the dominant speaker's H.264. Legs sending AAC are not
	// mixed (no AAC decoder in this build): leave Mix off for conferences of Call
	// Bridge streaming legs, whose source leg's media then goes out untouched.
	Mix bool
}

// Backend is the CMS model on a conference.Bridge: it implements cmsapi.Backend (give it
// to cmsapi.NewServer) and conference.Controller (give it to conference.New as
// Config.Controller).
type Backend struct {
	b     *conference.Bridge
	store *cmsapi.Store
	cdrs  *cmsapi.CDRSender
	log   *slog.Logger
	wg    sync.WaitGroup // the dialling goroutines

	mix bool

	mu     sync.Mutex
	closed bool
	confs  map[string]*conf
	legs   map[string]*leg // by leg id
	// rooms are the mixed conferences by their room's outputs call (the conference's
	// id), from its EventCallStarted to its EventCallEnded: its recording may finish
	// after the conference.
	rooms map[string]*conf
	byKey map[string]*leg // by the leg's call ID in the Bridge
}

// New returns a Backend; it takes calls once a Bridge is built with it.
func New(cfg Config) *Backend {
	if cfg.Store == nil {
		cfg.Store = cmsapi.NewStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.CDRs == nil {
		cfg.CDRs = cmsapi.NewStoreCDRSender(cfg.Store, nil, cfg.Logger)
	}
	return &Backend{store: cfg.Store, cdrs: cfg.CDRs, log: cfg.Logger, mix: cfg.Mix, confs: map[string]*conf{}, legs: map[string]*leg{}, byKey: map[string]*leg{}, rooms: map[string]*conf{}}
}

var (
	_ cmsapi.Backend        = (*Backend)(nil)
	_ cmsapi.CallLegUpdater = (*Backend)(nil)
	_ conference.Controller = (*Backend)(nil)
)

// Bind implements conference.Controller.
func (m *Backend) Bind(b *conference.Bridge) { m.b = b }

func (m *Backend) cdr(call string, r cmsapi.Record) { m.cdrs.Send(call, r) }

// newConfLocked opens a conference for a space and sends callStart (and streamingStart
// when its profile streams automatically).
func (m *Backend) newConfLocked(space cmsapi.CoSpace, name string, api bool, recording, streaming *bool) (*conf, error) {
	p := m.store.EffectiveCallProfile(space)
	f := &conf{id: cmsapi.NewID(), correlator: cmsapi.NewID(), name: name, space: space, started: time.Now(),
		apiCreated: api, legs: map[string]*leg{},
		streaming: p.StreamingMode == "automatic", recording: p.RecordingMode == "automatic"}
	if f.name == "" {
		f.name = space.Name
	}
	if streaming != nil {
		f.streaming = *streaming
	}
	if recording != nil {
		f.recording = *recording
	}
	if f.streaming && space.StreamURL == "" {
		if streaming != nil {
			return nil, &cmsapi.Failure{Tag: "parameterError", Parameter: "streamUrl", Reason: "missing"}
		}
		m.log.Warn("conference: the space streams automatically but has no streamUrl", "space", space.ID)
		f.streaming = false
	}
	if f.recording && m.b.RecordDir() == "" {
		if recording != nil {
			return nil, &cmsapi.Failure{Tag: "recorderDoesNotExist"}
		}
		f.recording = false
	}
	m.confs[f.id] = f
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallStart, Call: &cmsapi.CDRCall{ID: f.id, Name: f.name, CallType: "coSpace",
		CoSpace: space.ID, CallCorrelator: f.correlator, CdrTag: space.CdrTag, Tenant: space.Tenant, OwnerName: space.OwnerJid}})
	if f.streaming {
		m.streamingStartLocked(f)
	}
	return f, nil
}

func (m *Backend) streamingStartLocked(f *conf) {
	f.streamingID = cmsapi.NewID()
	var legID string
	if f.source != nil {
		legID = f.source.id
	}
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRStreamingStart, Streaming: &cmsapi.CDRStreaming{ID: f.streamingID,
		StreamURL: rtmp.Redact(f.space.StreamURL), Call: f.id, CallLeg: legID}})
}

func (m *Backend) streamingEndLocked(f *conf) {
	if f.streamingID != "" {
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRStreamingEnd, Streaming: &cmsapi.CDRStreaming{ID: f.streamingID}})
		f.streamingID = ""
	}
}

// StartCall implements cmsapi.Backend.
func (m *Backend) StartCall(_ context.Context, req cmsapi.CallRequest) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.newConfLocked(req.Space, req.Name, true, req.Recording, req.Streaming)
	if err != nil {
		return "", err
	}
	if req.Locked != nil {
		f.locked = *req.Locked
	}
	return f.id, nil
}

// apply moves the source leg's outputs to the conference's state (call without m.mu).
func (m *Backend) apply(f *conf, why string) {
	m.mu.Lock()
	src := f.source
	out := conference.Outputs{URL: f.streamURL(), Record: f.recording, SpaceID: f.space.ID}
	var id string
	if src != nil {
		id = src.callID
	}
	m.mu.Unlock()
	if id != "" {
		_ = m.b.SetOutputs(id, out, why) // an error: the call has just ended
	}
}

// UpdateCall implements cmsapi.Backend.
func (m *Backend) UpdateCall(_ context.Context, id string, u cmsapi.CallUpdate) error {
	m.mu.Lock()
	f := m.confs[id]
	if f == nil {
		m.mu.Unlock()
		return &cmsapi.Failure{Tag: "callDoesNotExist"}
	}
	if u.Name != nil {
		f.name = *u.Name
	}
	if u.Locked != nil {
		f.locked = *u.Locked
	}
	changed := false
	if u.Streaming != nil && *u.Streaming != f.streaming {
		if *u.Streaming {
			// The space's URL as it is now: it may have changed since the call began.
			var space cmsapi.CoSpace
			if m.store.Get(f.space.ID, &space) {
				f.space = space
			}
			if f.space.StreamURL == "" {
				m.mu.Unlock()
				return &cmsapi.Failure{Tag: "parameterError", Parameter: "streamUrl", Reason: "missing"}
			}
			f.streaming = true
			m.streamingStartLocked(f)
		} else {
			f.streaming = false
			m.streamingEndLocked(f)
		}
		changed = true
	}
	if u.Recording != nil && *u.Recording != f.recording {
		if *u.Recording && m.b.RecordDir() == "" {
			m.mu.Unlock()
			return &cmsapi.Failure{Tag: "recorderDoesNotExist"}
		}
		f.recording = *u.Recording
		changed = true
	}
	m.mu.Unlock()
	if changed {
		m.apply(f, "turned off through the API")
	}
	return nil
}

// EndCall implements cmsapi.Backend: every leg is hung up or its dialling cancelled.
func (m *Backend) EndCall(ctx context.Context, id string) error {
	m.mu.Lock()
	f := m.confs[id]
	if f == nil {
		m.mu.Unlock()
		return &cmsapi.Failure{Tag: "callDoesNotExist"}
	}
	delete(m.confs, id)
	f.apiCreated = false
	var legs []*leg
	for _, l := range f.legs {
		legs = append(legs, l)
	}
	if len(legs) == 0 {
		m.finishLocked(f)
	}
	m.mu.Unlock()
	return m.hangup(ctx, legs)
}

func (m *Backend) hangup(ctx context.Context, legs []*leg) error {
	var errs []error
	for _, l := range legs {
		m.mu.Lock()
		id, cancel := l.callID, l.cancel
		m.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		if id != "" {
			hctx, done := context.WithTimeout(ctx, 10*time.Second)
			if err := m.b.EndCall(hctx, id); err != nil {
				errs = append(errs, err)
			}
			done()
		}
	}
	return errors.Join(errs...)
}

// finishLocked ends a conference whose legs are all gone: streamingEnd, callEnd.
func (m *Backend) finishLocked(f *conf) {
	if f.ended {
		return
	}
	f.ended = true
	delete(m.confs, f.id)
	m.streamingEndLocked(f)
	d := int64(time.Since(f.started) / time.Second)
	completed, maxLegs := f.completed, f.maxLegs
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallEnd, Call: &cmsapi.CDRCall{ID: f.id,
		CallLegsCompleted: &completed, CallLegsMaxActive: &maxLegs, DurationSeconds: &d}})
}

// addLegLocked adds a leg and sends callLegStart.
func (m *Backend) addLegLocked(f *conf, l *leg) {
	l.conf, l.started, l.participant = f, time.Now(), cmsapi.NewID()
	f.legs[l.id] = l
	f.maxLegs = max(f.maxLegs, len(f.legs))
	m.legs[l.id] = l
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegStart, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, DisplayName: l.remote,
		RemoteParty: l.remote, Type: "sip", Direction: l.direction, Call: f.id,
		Recording: cmsapi.Bool(f.recording), Streaming: cmsapi.Bool(f.streaming)}})
}

// attachLocked makes a connected leg's call (id in the Bridge) part of the conference
// and returns the outputs it starts with: the conference's for the first, which becomes
// the source; none for the others.
func (m *Backend) attachLocked(l *leg, id string) conference.Outputs {
	f := l.conf
	l.callID, l.state = id, "connected"
	m.byKey[id] = l
	out := conference.Outputs{SpaceID: f.space.ID}
	if m.mix {
		out = m.roomOutputsLocked(f)
	}
	if f.source == nil {
		f.source = l
		out.URL, out.Record = f.streamURL(), f.recording
	}
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegUpdate, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, State: "connected", Call: f.id}})
	return out
}

// roomOutputsLocked is what a leg of a mixed conference starts with: the conference's
// room and its outputs.
func (m *Backend) roomOutputsLocked(f *conf) conference.Outputs {
	return conference.Outputs{Room: f.id, URL: f.streamURL(), Record: f.recording, SpaceID: f.space.ID}
}

// Route implements conference.Controller: an incoming call to a space's URI joins that
// space's conference (opening it if needed). Calls to other URIs stay standalone
// streamer calls.
func (m *Backend) Route(c *sip.Call) (conference.Outputs, bool) {
	space, ok := m.store.SpaceFor(sipUser(c.To))
	if !ok {
		return conference.Outputs{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var f *conf
	for _, x := range m.confs {
		if x.space.ID == space.ID {
			f = x
		}
	}
	if f == nil {
		var err error
		if f, err = m.newConfLocked(space, "", false, nil, nil); err != nil {
			return conference.Outputs{}, false
		}
	}
	l := &leg{id: cmsapi.NewID(), remote: sipUser(c.From) + "@" + sipHost(c.From), direction: "incoming"}
	m.addLegLocked(f, l)
	return m.attachLocked(l, c.ID), true
}

// leave ends a leg: callLegEnd, a new source when it was the source, and the
// conference's end when it was the last leg of a conference that ends with its legs.
func (m *Backend) leave(l *leg, reason string, remoteTeardown bool) {
	m.mu.Lock()
	f := l.conf
	if _, ok := f.legs[l.id]; !ok {
		m.mu.Unlock()
		return
	}
	delete(f.legs, l.id)
	delete(m.legs, l.id)
	if l.callID != "" {
		delete(m.byKey, l.callID)
	}
	f.completed++
	d := int64(time.Since(l.started) / time.Second)
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegEnd, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, Reason: reason,
		RemoteTeardown: cmsapi.Bool(remoteTeardown), DurationSeconds: &d}})
	var next *leg
	if f.source == l {
		f.source = nil
		for _, o := range f.legs {
			if o.callID != "" && (next == nil || o.started.Before(next.started)) {
				next = o
			}
		}
		f.source = next
	}
	if len(f.legs) == 0 && !f.apiCreated {
		m.finishLocked(f)
	}
	m.mu.Unlock()
	if next != nil {
		m.apply(f, "the source leg left")
	}
}

// callEnded leaves the leg of a call that ended, naming the end by its class.
func (m *Backend) callEnded(e conference.Event) {
	m.mu.Lock()
	l := m.byKey[e.CallID]
	m.mu.Unlock()
	if l == nil {
		return
	}
	reason, remote := "remoteTeardown", true
	if errors.Is(e.Err, sip.ErrHangupLocal) || errors.Is(e.Err, sip.ErrCallFailed) {
		reason, remote = "localTeardown", false
	}
	m.leave(l, reason, remote)
}

// Event implements conference.Controller: a leg's end leaves the conference, and the
// recording events of conference legs become recordingStart/End CDRs.
func (m *Backend) Event(e conference.Event) {
	switch e.Type {
	case conference.EventCallStarted:
		m.mu.Lock()
		if f := m.confs[e.CallID]; f != nil && m.mix {
			m.rooms[e.CallID] = f // the conference's room: its outputs started
		}
		m.mu.Unlock()
		return
	case conference.EventCallEnded:
		m.mu.Lock()
		delete(m.rooms, e.CallID)
		m.mu.Unlock()
		m.callEnded(e)
		return
	}
	if e.Type != conference.EventRecordingStarted && e.Type != conference.EventRecordingFinished && e.Type != conference.EventRecordingFailed {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var f *conf
	legID := ""
	if l := m.byKey[e.CallID]; l != nil {
		f, legID = l.conf, l.id
	} else if f = m.rooms[e.CallID]; f != nil && f.source != nil {
		legID = f.source.id // a mixed conference's room: its outputs are a call named by the conference
	}
	if f == nil {
		return
	}
	if e.Type == conference.EventRecordingStarted {
		f.recordingID = cmsapi.NewID()
		p := e.Path
		if rel, err := filepath.Rel(m.b.RecordDir(), p); err == nil {
			p = strings.TrimSuffix(filepath.ToSlash(rel), ".mp4")
		}
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRRecordingStart, Recording: &cmsapi.CDRRecording{ID: f.recordingID,
			Path: p, Call: f.id, CallLeg: legID}})
		return
	}
	if f.recordingID != "" {
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRRecordingEnd, Recording: &cmsapi.CDRRecording{ID: f.recordingID}})
		f.recordingID = ""
	}
}

// AddCallLeg implements cmsapi.Backend: the leg is dialled in the background.
func (m *Backend) AddCallLeg(_ context.Context, callID string, req cmsapi.CallLegRequest) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.b == nil {
		return "", &cmsapi.Failure{Tag: "databaseNotReady", Status: 503}
	}
	f := m.confs[callID]
	if f == nil {
		return "", &cmsapi.Failure{Tag: "callDoesNotExist"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &leg{id: cmsapi.NewID(), remote: req.RemoteParty, direction: "outgoing", state: "initial", cancel: cancel}
	m.addLegLocked(f, l)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		m.dial(ctx, l, req)
	}()
	return l.id, nil
}

// Rules converts CMS outbound dial plan rules to the sip package's.
func Rules(rules []cmsapi.OutboundDialPlanRule) []sip.Rule {
	out := make([]sip.Rule, 0, len(rules))
	for _, r := range rules {
		sr := sip.Rule{Domain: r.Domain, Proxy: r.SipProxy, Encryption: sip.Encryption(r.SipControlEncryption),
			LocalContactDomain: r.LocalContactDomain, LocalFromDomain: r.LocalFromDomain,
			Stop: r.FailureAction != "continue"}
		if r.Priority != nil {
			sr.Priority = *r.Priority
		}
		if sr.Encryption == "" {
			sr.Encryption = sip.EncryptionAuto
		}
		out = append(out, sr)
	}
	return out
}

func (m *Backend) dial(ctx context.Context, l *leg, req cmsapi.CallLegRequest) {
	target := req.RemoteParty
	if lt := strings.ToLower(target); !strings.HasPrefix(lt, "sip:") && !strings.HasPrefix(lt, "sips:") {
		target = "sip:" + target
	}
	m.mu.Lock()
	l.state = "ringing"
	spaceName := l.conf.space.Name
	outs := conference.Outputs{SpaceID: l.conf.space.ID}
	if m.mix {
		outs = m.roomOutputsLocked(l.conf)
	}
	m.mu.Unlock()
	m.log.Info(fmt.Sprintf("call %s: outgoing SIP call to %q from space %q", l.id, req.RemoteParty, spaceName))
	err := m.b.Dial(ctx, conference.DialRequest{ID: l.id, Target: target, Rules: Rules(req.Rules), Outputs: outs})
	if err != nil {
		reason := dialFailure(ctx, err)
		m.log.Warn("cms: outgoing call failed", "leg", l.id, "remoteParty", req.RemoteParty, "reason", reason, "err", err)
		m.leave(l, reason, false)
		return
	}
	m.mu.Lock()
	out := m.attachLocked(l, l.id)
	m.mu.Unlock()
	if out.URL != "" || out.Record { // the source: the conference's outputs
		_ = m.b.SetOutputs(l.id, out, "")
	}
}

// dialFailure names a failed dial as a callLegEnd reason.
func dialFailure(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "localTeardown"
	case errors.Is(err, sip.ErrNotFound):
		return "unknownDestination"
	case errors.Is(err, sip.ErrBusy):
		return "destinationBusy"
	case errors.Is(err, sip.ErrDeclined):
		return "callDeclined"
	case errors.Is(err, sip.ErrNoAnswer):
		return "ringingTimeout"
	case errors.Is(err, sip.ErrNoDialPlanRule):
		return "unknownDestination"
	case errors.Is(err, conference.ErrClosed):
		return "localTeardown"
	}
	return "failure"
}

// UpdateCallLeg implements cmsapi.CallLegUpdater: the leg's audio mutes, acted on in a
// mixed conference (Config.Mix); without mixing they are kept and reported only.
func (m *Backend) UpdateCallLeg(_ context.Context, id string, u cmsapi.CallLegUpdate) error {
	m.mu.Lock()
	l := m.legs[id]
	if l == nil {
		m.mu.Unlock()
		return &cmsapi.Failure{Tag: "callLegDoesNotExist"}
	}
	l.muteSet = l.muteSet || u.RxAudioMute != nil || u.TxAudioMute != nil
	if u.RxAudioMute != nil {
		l.rxMute = *u.RxAudioMute
	}
	if u.TxAudioMute != nil {
		l.txMute = *u.TxAudioMute
	}
	callID := l.callID
	m.mu.Unlock()
	if m.mix && callID != "" {
		_ = m.b.SetMute(callID, u.RxAudioMute, u.TxAudioMute) // an error: the call has just ended
	}
	return nil
}

// EndCallLeg implements cmsapi.Backend.
func (m *Backend) EndCallLeg(ctx context.Context, id string) error {
	m.mu.Lock()
	l := m.legs[id]
	m.mu.Unlock()
	if l == nil {
		return &cmsapi.Failure{Tag: "callLegDoesNotExist"}
	}
	return m.hangup(ctx, []*leg{l})
}

// Calls implements cmsapi.Backend.
func (m *Backend) Calls() []cmsapi.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cmsapi.Call, 0, len(m.confs))
	for _, f := range m.confs {
		d := int64(time.Since(f.started) / time.Second)
		out = append(out, cmsapi.Call{ID: f.id, Name: f.name, CoSpace: f.space.ID, CallCorrelator: f.correlator,
			Tenant: f.space.Tenant, DurationSeconds: &d, NumCallLegs: cmsapi.Int(len(f.legs)), MaxCallLegs: cmsapi.Int(f.maxLegs),
			NumParticipantsLocal: cmsapi.Int(len(f.legs)), NumParticipantsRemote: cmsapi.Int(0),
			NumDistributedInstances: cmsapi.Int(0), Locked: cmsapi.Bool(f.locked),
			Recording: cmsapi.Bool(f.recording), Streaming: cmsapi.Bool(f.streaming)})
	}
	sortByStart(out, func(c cmsapi.Call) string { return c.ID }, m.confStart)
	return out
}

func (m *Backend) confStart(id string) time.Time {
	if f := m.confs[id]; f != nil {
		return f.started
	}
	return time.Time{}
}

func sortByStart[T any](xs []T, id func(T) string, start func(string) time.Time) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && start(id(xs[j])).Before(start(id(xs[j-1]))); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// CallLegs implements cmsapi.Backend.
func (m *Backend) CallLegs() []cmsapi.CallLeg {
	type snap struct {
		l     leg
		confC string
	}
	m.mu.Lock()
	snaps := make([]snap, 0, len(m.legs))
	for _, l := range m.legs {
		snaps = append(snaps, snap{l: *l, confC: l.conf.id})
	}
	m.mu.Unlock()
	out := make([]cmsapi.CallLeg, 0, len(snaps))
	for _, s := range snaps {
		st := &cmsapi.CallLegStatus{State: s.l.state, DurationSeconds: int64(time.Since(s.l.started) / time.Second)}
		if info, ok := m.b.Call(s.l.callID); ok && s.l.callID != "" {
			if info.MediaPorts["audio"] > 0 {
				st.RxAudio = &cmsapi.Media{Codec: "aac"}
			}
			if info.MediaPorts["video"] > 0 {
				st.RxVideo = &cmsapi.Media{Codec: "h264"}
			}
		}
		cl := cmsapi.CallLeg{ID: s.l.id, Name: s.l.remote, RemoteParty: s.l.remote, OriginalRemoteParty: s.l.remote,
			Call: s.confC, Type: "sip", Direction: s.l.direction, CanMove: cmsapi.Bool(false), Status: st}
		if s.l.muteSet {
			cl.Configuration = &cmsapi.CallLegConfiguration{RxAudioMute: cmsapi.Bool(s.l.rxMute), TxAudioMute: cmsapi.Bool(s.l.txMute)}
		}
		out = append(out, cl)
	}
	return out
}

// Participants implements cmsapi.Backend: one per connected leg.
func (m *Backend) Participants() []cmsapi.Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []cmsapi.Participant
	for _, l := range m.legs {
		if l.callID != "" {
			out = append(out, cmsapi.Participant{ID: l.participant, Name: l.remote, Call: l.conf.id})
		}
	}
	return out
}

// Status implements cmsapi.Backend.
func (m *Backend) Status() cmsapi.SystemStatus {
	st := m.b.Stats()
	return cmsapi.SystemStatus{CallLegsActive: st.Active, CallLegsMaxActive: st.MaxActive, CallLegsCompleted: st.Completed}
}

// Shutdown implements conference.Controller: legs still dialling are cancelled and
// their goroutines joined (Bridge.Close).
func (m *Backend) Shutdown() {
	m.mu.Lock()
	m.closed = true
	for _, l := range m.legs {
		if l.callID == "" && l.cancel != nil {
			l.cancel()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// sipUser is the user part of a From/To/URI value ("<sip:a@b>;tag=x" -> "a").
func sipUser(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "sips:"), "sip:")
	if i := strings.IndexByte(v, '@'); i >= 0 {
		return v[:i]
	}
	return ""
}

// sipHost is the host of a From/To/URI value.
func sipHost(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "sips:"), "sip:")
	if i := strings.IndexAny(v, ";:>"); i >= 0 {
		v = v[:i]
	}
	return v
}
