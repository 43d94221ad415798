package conference

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

// The CMS model on top of the Bridge: a conference ("call" in the CMS API) belongs to a
// space and has legs — calls into the space's URI and calls dialled out through the
// outbound dial plan rules. The conference's outputs (the stream to the space's
// streamUrl and the recording under spaces/<space id>/) are fed by one leg, its source:
// the first leg that connected, then the next when it leaves. Audio is not mixed and
// video is not composed; the source leg's media is the conference's.

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
	c               *call // nil while dialling
	cancel          context.CancelFunc
}

// cmsBackend implements cmsapi.Backend for a Bridge.
type cmsBackend struct {
	b   *Bridge
	srv *cmsapi.Server

	mu    sync.Mutex
	confs map[string]*conf
	legs  map[string]*leg // by leg id
	byKey map[string]*leg // by the call's key in Bridge.calls
}

func newCMSBackend(b *Bridge, srv *cmsapi.Server) *cmsBackend {
	return &cmsBackend{b: b, srv: srv, confs: map[string]*conf{}, legs: map[string]*leg{}, byKey: map[string]*leg{}}
}

var _ cmsapi.Backend = (*cmsBackend)(nil)

func (m *cmsBackend) cdr(call string, r cmsapi.Record) { m.srv.CDRs().Send(call, r) }

// newConfLocked opens a conference for a space and sends callStart (and streamingStart
// when its profile streams automatically).
func (m *cmsBackend) newConfLocked(space cmsapi.CoSpace, name string, api bool, recording, streaming *bool) (*conf, error) {
	p := m.srv.Store().EffectiveCallProfile(space)
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
		m.b.log.Warn("conference: the space streams automatically but has no streamUrl", "space", space.ID)
		f.streaming = false
	}
	if f.recording && m.b.cfg.RecordDir == "" {
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

func (m *cmsBackend) streamingStartLocked(f *conf) {
	f.streamingID = cmsapi.NewID()
	var legID string
	if f.source != nil {
		legID = f.source.id
	}
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRStreamingStart, Streaming: &cmsapi.CDRStreaming{ID: f.streamingID,
		StreamURL: rtmp.Redact(f.space.StreamURL), Call: f.id, CallLeg: legID}})
}

func (m *cmsBackend) streamingEndLocked(f *conf) {
	if f.streamingID != "" {
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRStreamingEnd, Streaming: &cmsapi.CDRStreaming{ID: f.streamingID}})
		f.streamingID = ""
	}
}

// StartCall implements cmsapi.Backend.
func (m *cmsBackend) StartCall(_ context.Context, req cmsapi.CallRequest) (string, error) {
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
func (m *cmsBackend) apply(f *conf, why string) {
	m.mu.Lock()
	src := f.source
	url, rec := f.streamURL(), f.recording
	m.mu.Unlock()
	if src != nil && src.c != nil {
		src.c.setOutputs(url, rec, why)
	}
}

// UpdateCall implements cmsapi.Backend.
func (m *cmsBackend) UpdateCall(_ context.Context, id string, u cmsapi.CallUpdate) error {
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
			if m.srv.Store().Get(f.space.ID, &space) {
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
		if *u.Recording && m.b.cfg.RecordDir == "" {
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
func (m *cmsBackend) EndCall(ctx context.Context, id string) error {
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

func (m *cmsBackend) hangup(ctx context.Context, legs []*leg) error {
	var errs []error
	for _, l := range legs {
		m.mu.Lock()
		c, cancel := l.c, l.cancel
		m.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		if c != nil {
			hctx, done := context.WithTimeout(ctx, 10*time.Second)
			if err := c.sig.Hangup(hctx); err != nil {
				errs = append(errs, err)
			}
			done()
		}
	}
	return errors.Join(errs...)
}

// finishLocked ends a conference whose legs are all gone: streamingEnd, callEnd.
func (m *cmsBackend) finishLocked(f *conf) {
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
func (m *cmsBackend) addLegLocked(f *conf, l *leg) {
	l.conf, l.started, l.participant = f, time.Now(), cmsapi.NewID()
	f.legs[l.id] = l
	f.maxLegs = max(f.maxLegs, len(f.legs))
	m.legs[l.id] = l
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegStart, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, DisplayName: l.remote,
		RemoteParty: l.remote, Type: "sip", Direction: l.direction, Call: f.id,
		Recording: cmsapi.Bool(f.recording), Streaming: cmsapi.Bool(f.streaming)}})
}

// attachLocked makes a connected leg's call part of the conference; the first becomes
// the source and gets the conference's outputs (set before its media starts).
func (m *cmsBackend) attachLocked(l *leg, c *call) {
	f := l.conf
	l.c, l.state = c, "connected"
	c.conf, c.legID, c.spaceID = f, l.id, f.space.ID
	m.byKey[c.id] = l
	if f.source == nil {
		f.source = l
		c.wantURL, c.wantRec = f.streamURL(), f.recording
	}
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegUpdate, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, State: "connected", Call: f.id}})
}

// joinIncoming puts an incoming call to a space's URI into that space's conference
// (opening it if needed). Calls to other URIs stay standalone streamer calls.
func (m *cmsBackend) joinIncoming(c *call) {
	if c.sc == nil {
		return
	}
	space, ok := m.srv.Store().SpaceFor(sipUser(c.sc.To))
	if !ok {
		return
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
			return
		}
	}
	l := &leg{id: cmsapi.NewID(), remote: sipUser(c.remote) + "@" + sipHost(c.remote), direction: "incoming"}
	m.addLegLocked(f, l)
	m.attachLocked(l, c)
}

// leave ends a leg: callLegEnd, a new source when it was the source, and the
// conference's end when it was the last leg of a conference that ends with its legs.
func (m *cmsBackend) leave(l *leg, reason string, remoteTeardown bool) {
	m.mu.Lock()
	f := l.conf
	if _, ok := f.legs[l.id]; !ok {
		m.mu.Unlock()
		return
	}
	delete(f.legs, l.id)
	delete(m.legs, l.id)
	if l.c != nil {
		delete(m.byKey, l.c.id)
	}
	f.completed++
	d := int64(time.Since(l.started) / time.Second)
	m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRCallLegEnd, CallLeg: &cmsapi.CDRCallLeg{ID: l.id, Reason: reason,
		RemoteTeardown: cmsapi.Bool(remoteTeardown), DurationSeconds: &d}})
	var next *leg
	if f.source == l {
		f.source = nil
		for _, o := range f.legs {
			if o.c != nil && (next == nil || o.started.Before(next.started)) {
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

// callEnded is called by a call's run when it ends.
func (m *cmsBackend) callEnded(c *call) {
	m.mu.Lock()
	l := m.byKey[c.id]
	m.mu.Unlock()
	if l == nil {
		return
	}
	reason, remote := "remoteTeardown", true
	if errors.Is(c.sig.Err(), sip.ErrHangupLocal) { // the dialog's end names its class
		reason, remote = "localTeardown", false
	}
	m.leave(l, reason, remote)
}

// onEvent turns recording events of conference legs into recordingStart/End CDRs.
func (m *cmsBackend) onEvent(e Event) {
	if e.Type != EventRecordingStarted && e.Type != EventRecordingFinished && e.Type != EventRecordingFailed {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byKey[e.CallID]
	if l == nil {
		return
	}
	f := l.conf
	if e.Type == EventRecordingStarted {
		f.recordingID = cmsapi.NewID()
		p := e.Path
		if rel, err := filepath.Rel(m.b.cfg.RecordDir, p); err == nil {
			p = strings.TrimSuffix(filepath.ToSlash(rel), ".mp4")
		}
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRRecordingStart, Recording: &cmsapi.CDRRecording{ID: f.recordingID,
			Path: p, Call: f.id, CallLeg: l.id}})
		return
	}
	if f.recordingID != "" {
		m.cdr(f.id, cmsapi.Record{Type: cmsapi.CDRRecordingEnd, Recording: &cmsapi.CDRRecording{ID: f.recordingID}})
		f.recordingID = ""
	}
}

// AddCallLeg implements cmsapi.Backend: the leg is dialled in the background.
func (m *cmsBackend) AddCallLeg(_ context.Context, callID string, req cmsapi.CallLegRequest) (string, error) {
	m.b.mu.Lock()
	closed := m.b.closed
	if !closed {
		m.b.wg.Add(1)
	}
	m.b.mu.Unlock()
	if closed {
		return "", &cmsapi.Failure{Tag: "databaseNotReady", Status: 503}
	}
	m.mu.Lock()
	f := m.confs[callID]
	if f == nil {
		m.mu.Unlock()
		m.b.wg.Done()
		return "", &cmsapi.Failure{Tag: "callDoesNotExist"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &leg{id: cmsapi.NewID(), remote: req.RemoteParty, direction: "outgoing", state: "initial", cancel: cancel}
	m.addLegLocked(f, l)
	m.mu.Unlock()
	go func() {
		defer m.b.wg.Done()
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

func (m *cmsBackend) dial(ctx context.Context, l *leg, req cmsapi.CallLegRequest) {
	target := req.RemoteParty
	if lt := strings.ToLower(target); !strings.HasPrefix(lt, "sip:") && !strings.HasPrefix(lt, "sips:") {
		target = "sip:" + target
	}
	m.mu.Lock()
	l.state = "ringing"
	spaceName := l.conf.space.Name
	m.mu.Unlock()
	m.b.log.Info(fmt.Sprintf("call %s: outgoing SIP call to %q from space %q", l.id, req.RemoteParty, spaceName))
	c, err := newLeg(m.b, nil, nil, l.id, target)
	if err != nil {
		m.leave(l, "failure", false)
		return
	}
	fail := func(reason string, err error) {
		m.b.log.Warn("conference: outgoing call failed", "leg", l.id, "remoteParty", req.RemoteParty, "reason", reason, "err", err)
		c.closeMedia()
		c.stop()
		m.leave(l, reason, false)
	}
	offer, err := sdp.Offer(c.offerConfig())
	if err != nil {
		fail("failure", err)
		return
	}
	oc, _, err := m.b.ua.DialPlan(ctx, Rules(req.Rules), target, offer, sip.DialOptions{})
	if err != nil {
		fail(dialFailure(ctx, err), err)
		return
	}
	c.sig = oc
	m.b.mu.Lock()
	closed := m.b.closed
	if !closed {
		m.b.calls[c.id] = c
		m.b.maxActive = max(m.b.maxActive, len(m.b.calls))
		m.b.wg.Add(1)
	}
	m.b.mu.Unlock()
	if closed {
		hctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.sig.Hangup(hctx)
		done()
		fail("localTeardown", errors.New("the bridge is closing"))
		return
	}
	m.mu.Lock()
	m.attachLocked(l, c)
	m.mu.Unlock()
	ms, err := sdp.Negotiate(oc.Answer, c.offerConfig())
	if err == nil {
		err = c.setupMedia(ms)
	}
	if err != nil {
		m.b.log.Warn("conference: the callee's answer is unusable", "leg", l.id, "err", err)
		hctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.sig.Hangup(hctx)
		done()
	}
	c.run() // until the call ends (this goroutine is the call's)
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
	}
	return "failure"
}

// EndCallLeg implements cmsapi.Backend.
func (m *cmsBackend) EndCallLeg(ctx context.Context, id string) error {
	m.mu.Lock()
	l := m.legs[id]
	m.mu.Unlock()
	if l == nil {
		return &cmsapi.Failure{Tag: "callLegDoesNotExist"}
	}
	return m.hangup(ctx, []*leg{l})
}

// Calls implements cmsapi.Backend.
func (m *cmsBackend) Calls() []cmsapi.Call {
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

func (m *cmsBackend) confStart(id string) time.Time {
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
func (m *cmsBackend) CallLegs() []cmsapi.CallLeg {
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
		if s.l.c != nil {
			info := s.l.c.info()
			if info.MediaPorts["audio"] > 0 {
				st.RxAudio = &cmsapi.Media{Codec: "aac"}
			}
			if info.MediaPorts["video"] > 0 {
				st.RxVideo = &cmsapi.Media{Codec: "h264"}
			}
		}
		out = append(out, cmsapi.CallLeg{ID: s.l.id, Name: s.l.remote, RemoteParty: s.l.remote, OriginalRemoteParty: s.l.remote,
			Call: s.confC, Type: "sip", Direction: s.l.direction, CanMove: cmsapi.Bool(false), Status: st})
	}
	return out
}

// Participants implements cmsapi.Backend: one per connected leg.
func (m *cmsBackend) Participants() []cmsapi.Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []cmsapi.Participant
	for _, l := range m.legs {
		if l.c != nil {
			out = append(out, cmsapi.Participant{ID: l.participant, Name: l.remote, Call: l.conf.id})
		}
	}
	return out
}

// Status implements cmsapi.Backend.
func (m *cmsBackend) Status() cmsapi.SystemStatus {
	b := m.b
	b.mu.Lock()
	defer b.mu.Unlock()
	return cmsapi.SystemStatus{CallLegsActive: len(b.calls), CallLegsMaxActive: b.maxActive, CallLegsCompleted: b.completed}
}

// shutdown cancels every leg still dialling (Bridge.Close).
func (m *cmsBackend) shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.legs {
		if l.c == nil && l.cancel != nil {
			l.cancel()
		}
	}
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
