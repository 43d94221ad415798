package cmsapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sipcast/sipcast/internal/httpc"
)

// maxForm caps a request body; CMS's forms are a few hundred bytes.
const maxForm = 64 << 10

// Backend runs the live objects (calls, call legs, participants) for a Server, given
// to NewServer. Package conference/cms implements it on a conference.Bridge. Methods return a *Failure to refuse in CMS's words
// (callDoesNotExist, ...); any other error is answered 500.
type Backend interface {
	// StartCall opens a conference for a space (POST /calls) and returns its id.
	StartCall(ctx context.Context, req CallRequest) (string, error)
	// UpdateCall changes a call (PUT /calls/{id}): streaming, recording, name, lock.
	UpdateCall(ctx context.Context, id string, u CallUpdate) error
	// EndCall ends a call and all its legs (DELETE /calls/{id}).
	EndCall(ctx context.Context, id string) error
	// AddCallLeg dials out (POST /calls/{id}/callLegs) and returns the leg's id at once;
	// the call proceeds in the background.
	AddCallLeg(ctx context.Context, callID string, req CallLegRequest) (string, error)
	// EndCallLeg hangs up a leg (DELETE /callLegs/{id}).
	EndCallLeg(ctx context.Context, id string) error
	// Calls, CallLegs and Participants report live state with every field set.
	Calls() []Call
	CallLegs() []CallLeg
	Participants() []Participant
	// Status fills the live figures of /system/status (legs, bit rates).
	Status() SystemStatus
}

// CallLegUpdater is a Backend that acts on PUT /callLegs/{id} (a Backend without it
// accepts the request and changes nothing).
type CallLegUpdater interface {
	// UpdateCallLeg changes a leg: its audio mutes.
	UpdateCallLeg(ctx context.Context, id string, u CallLegUpdate) error
}

// CallLegUpdate is PUT /callLegs/{id}: nil fields are unchanged. RxAudioMute leaves
// what the participant sends out of the conference (nobody hears it); TxAudioMute
// sends it silence.
type CallLegUpdate struct {
	RxAudioMute, TxAudioMute *bool
}

// CallRequest is POST /calls.
type CallRequest struct {
	Space CoSpace
	// Profile is the space's effective call profile (modes resolved).
	Profile CallProfile
	Name    string
	// Locked, Recording and Streaming are nil when the request did not set them.
	Locked, Recording, Streaming *bool
}

// CallUpdate is PUT /calls/{id}: nil fields are unchanged.
type CallUpdate struct {
	Name                         *string
	Locked, Recording, Streaming *bool
}

// CallLegRequest is POST /calls/{id}/callLegs.
type CallLegRequest struct {
	RemoteParty string
	Space       CoSpace
	// Rules are the outbound dial plan rules in force.
	Rules []OutboundDialPlanRule
	// Bandwidth in bit/s (0: not set); CallLegProfile the profile id given, if any.
	Bandwidth      int
	CallLegProfile string
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Store holds the configuration objects (default: a new empty store).
	Store *Store
	// Backend runs calls; nil answers the live collections empty and refuses POST /calls.
	Backend Backend
	// User and Password are the API credentials (HTTP Basic). Both are needed: with
	// either empty, every request is refused. They are compared together in constant
	// time, and a source that fails httpc.FreeFailures times is answered 429 without its
	// credentials being looked at, for a lockout that doubles per further failure (see
	// internal/httpc; docs/SECURITY.md).
	User, Password string
	// SoftwareVersion is reported in /system/status (default "3.9").
	SoftwareVersion string
	// Logger logs each request's outcome in the manner of CMS's API trace (default:
	// discard). Passwords and Authorization never appear.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CDRClient posts CDRs to the receivers (default: TLS-verifying, 10 s timeout).
	CDRClient *http.Client
	// CDRs is the sender of call detail records, shared with the backend that makes them
	// (default: NewStoreCDRSender over Store with CDRClient). The server closes it.
	CDRs *CDRSender
}

// Server answers the CMS API (/api/v1) over HTTP: configuration objects from its Store,
// live objects from its Backend. Mount it at the root of an HTTPS server.
type Server struct {
	cfg     ServerConfig
	auth    *httpc.BasicAuth
	store   *Store
	log     *slog.Logger
	started time.Time
	cdr     *CDRSender
}

// NewServer returns a Server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Store == nil {
		cfg.Store = NewStore()
	}
	if cfg.SoftwareVersion == "" {
		cfg.SoftwareVersion = "3.9"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, started: cfg.Now(),
		auth: httpc.NewBasicAuth("cmsapi", cfg.User, cfg.Password, cfg.Now, cfg.Logger)}
	if cfg.User == "" || cfg.Password == "" {
		cfg.Logger.Warn("cmsapi: no API user or password configured: every request is refused")
	}
	s.cdr = cfg.CDRs
	if s.cdr == nil {
		s.cdr = NewStoreCDRSender(s.store, cfg.CDRClient, cfg.Logger)
	}
	return s
}

// NewStoreCDRSender returns a CDRSender that posts to the /system/cdrReceivers of store
// (hc nil: TLS-verifying, 10 s timeout).
func NewStoreCDRSender(store *Store, hc *http.Client, log *slog.Logger) *CDRSender {
	return NewCDRSender(func() []string {
		var uris []string
		for _, r := range All[CdrReceiver](store) {
			uris = append(uris, r.URI)
		}
		return uris
	}, hc, log)
}

// CDRs returns the sender that posts call detail records to the configured
// /system/cdrReceivers.
func (s *Server) CDRs() *CDRSender { return s.cdr }

// Close stops the CDR sender (records not delivered yet are dropped; Flush it first).
// Idempotent.
func (s *Server) Close() error { return s.cdr.Close() }

// Store returns the server's configuration store.
func (s *Server) Store() *Store { return s.store }

// answer collects a response so that it can be logged and written at once.
type answer struct {
	status   int
	location string
	body     bytes.Buffer
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.auth.Respond(w, r, "acano") {
		return
	}
	a := &answer{status: http.StatusOK}
	err := s.route(r, a)
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			s.log.Error("cmsapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		a.status = http.StatusBadRequest
		if f.Status != 0 {
			a.status = f.Status
		}
		a.location = ""
		a.body.Reset()
		writeFailure(&a.body, f)
	}
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	if a.body.Len() > 0 {
		w.Header().Set("Content-Type", "text/xml")
	}
	w.Header().Set("Content-Length", strconv.Itoa(a.body.Len()))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body.Bytes())
	s.log.Info("cmsapi: sending response", "method", r.Method, "path", r.URL.Path, "status", a.status, "size", a.body.Len(), "location", a.location)
}

func writeFailure(w io.Writer, f *Failure) {
	fmt.Fprint(w, xmlHeader+"<failureDetails>")
	if f.Parameter != "" || f.Reason != "" {
		fmt.Fprintf(w, `<%s parameter="%s" error="%s" />`, f.Tag, xmlAttr(f.Parameter), xmlAttr(f.Reason))
	} else {
		fmt.Fprintf(w, "<%s />", f.Tag)
	}
	fmt.Fprint(w, "</failureDetails>")
}

func xmlAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// route dispatches on the path, matched case-insensitively as CMS does.
func (s *Server) route(r *http.Request, a *answer) error {
	p := r.URL.Path
	if len(p) < len("/api/v1") || !strings.EqualFold(p[:len("/api/v1")], "/api/v1") {
		return &Failure{Tag: "unrecognisedObject", Status: http.StatusNotFound}
	}
	var parts []string
	for _, e := range strings.Split(p[len("/api/v1"):], "/") {
		if e != "" {
			parts = append(parts, e)
		}
	}
	if len(parts) == 0 {
		return fail("unrecognisedObject")
	}
	var form url.Values
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxForm))
		if err != nil {
			return &Failure{Tag: "parameterError", Reason: "requestTooLarge", Status: http.StatusRequestEntityTooLarge}
		}
		if form, err = url.ParseQuery(string(data)); err != nil {
			return &Failure{Tag: "parameterError", Reason: "invalidValue"}
		}
	}
	q := r.URL.Query()
	head := strings.ToLower(parts[0])
	switch {
	case head == "system" && len(parts) == 2 && strings.EqualFold(parts[1], "status"):
		if r.Method != http.MethodGet {
			return fail("invalidOperation")
		}
		return s.status(a)
	case head == "system" && len(parts) == 2 && strings.EqualFold(parts[1], "profiles"):
		return s.systemProfiles(r.Method, form, a)
	case head == "system" && len(parts) >= 2 && strings.EqualFold(parts[1], "cdrReceivers"):
		return s.config(r.Method, typeOf("system/cdrReceivers", nil), "", parts[2:], form, q, a)
	case head == "calls" || head == "calllegs" || head == "participants":
		return s.live(r.Context(), r.Method, parts, form, q, a)
	case head == "cospacebulksyncs" && len(parts) == 2 && r.Method == http.MethodPut:
		return fail("invalidOperation")
	}
	t := typeOf(parts[0], nil)
	if t == nil {
		return fail("unrecognisedObject")
	}
	if len(parts) >= 3 { // coSpaces/{id}/coSpaceUsers[/{id}]
		sub := typeOf(parts[2], t)
		if sub == nil {
			return fail("unrecognisedObject")
		}
		return s.config(r.Method, sub, parts[1], parts[3:], form, q, a)
	}
	return s.config(r.Method, t, "", parts[1:], form, q, a)
}

func listQueryOf(q url.Values) (listQuery, error) {
	var lq listQuery
	for _, k := range []string{"offset", "limit"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return lq, paramError(k, "invalidValue")
			}
			if k == "offset" {
				lq.offset = n
			} else {
				lq.limit = n
			}
		}
	}
	lq.filter = q.Get("filter")
	lq.equal = map[string]string{}
	for qk, field := range map[string]string{"tenantFilter": "tenant", "callLegProfileFilter": "callLegProfile", "coSpaceFilter": "coSpace"} {
		if v := q.Get(qk); v != "" {
			lq.equal[field] = v
		}
	}
	return lq, nil
}

// config serves a configuration collection or one of its objects.
func (s *Server) config(method string, t *objectType, parent string, rest []string, form, q url.Values, a *answer) error {
	if len(rest) > 1 {
		return fail("unrecognisedObject")
	}
	location := "/api/v1/" + t.collection
	if t.parent != nil {
		location = "/api/v1/" + t.parent.collection + "/" + parent + "/" + t.collection
	}
	if len(rest) == 0 {
		switch method {
		case http.MethodGet:
			lq, err := listQueryOf(q)
			if err != nil {
				return err
			}
			return s.store.writeList(&a.body, t, parent, lq)
		case http.MethodPost:
			o, err := s.store.create(t, parent, form)
			if err != nil {
				return err
			}
			a.location = location + "/" + o.id
			s.log.Info("cmsapi: created "+t.element, "id", o.id)
			if t.collection == "cospaceBulkSyncs" {
				s.runBulkSync(o.id, form.Get("removeAll") == "true")
			}
			return nil
		}
		return fail("invalidOperation")
	}
	id := rest[0]
	switch method {
	case http.MethodGet:
		return s.store.writeGet(&a.body, t, parent, id)
	case http.MethodPut:
		if t.collection == "cospaceBulkSyncs" {
			return fail("invalidOperation")
		}
		if t.parent != nil && !s.parentExists(t, parent) {
			return fail(t.parent.notFound)
		}
		if err := s.store.update(t, parent, id, form); err != nil {
			return err
		}
		s.log.Info("cmsapi: modified "+t.element, "id", id)
		return nil
	case http.MethodDelete:
		if t.parent != nil && !s.parentExists(t, parent) {
			return fail(t.parent.notFound)
		}
		if err := s.store.delete(t, parent, id); err != nil {
			return err
		}
		s.log.Info("cmsapi: deleted "+t.element, "id", id)
		return nil
	}
	return fail("invalidOperation")
}

func (s *Server) parentExists(t *objectType, parent string) bool {
	s.store.lock()
	defer s.store.mu.Unlock()
	return s.store.find(t.parent, "", parent) != nil
}

func (s *Server) systemProfiles(method string, form url.Values, a *answer) error {
	t := profilesType()
	switch method {
	case http.MethodGet:
		p := s.store.Profiles()
		a.body.WriteString(xmlHeader)
		return xml.NewEncoder(&a.body).Encode(p)
	case http.MethodPut:
		return s.store.write(func() error {
			changes, err := s.store.parse(t, form)
			if err != nil {
				return err
			}
			for k, v := range changes {
				if v == "" {
					delete(s.store.profiles, k)
				} else {
					s.store.profiles[k] = v
				}
			}
			return nil
		})
	}
	return fail("invalidOperation")
}

func (s *Server) status(a *answer) error {
	var st SystemStatus
	if s.cfg.Backend != nil {
		st = s.cfg.Backend.Status()
	}
	now := s.cfg.Now()
	st.SoftwareVersion = s.cfg.SoftwareVersion
	st.UptimeSeconds = int64(now.Sub(s.started) / time.Second)
	st.CdrTime = now.UTC().Format(time.RFC3339)
	st.Activated = true
	a.body.WriteString(xmlHeader)
	return xml.NewEncoder(&a.body).Encode(st)
}

// writeXML writes a document.
func writeXML(a *answer, v any) error {
	a.body.WriteString(xmlHeader)
	return xml.NewEncoder(&a.body).Encode(v)
}

// writeLiveList writes <name total="N">…</name> of already filtered items.
func writeLiveList[T any](a *answer, name string, items []T, lq listQuery) error {
	l := List[T]{XMLName: xml.Name{Local: name}, Total: len(items), Items: page(items, lq)}
	if l.Items == nil {
		l.Items = []T{}
	}
	return writeXML(a, l)
}

func parseBool(form url.Values, name string) (*bool, error) {
	if _, ok := form[name]; !ok {
		return nil, nil
	}
	switch form.Get(name) {
	case "true":
		return Bool(true), nil
	case "false":
		return Bool(false), nil
	}
	return nil, paramError(name, "invalidValue")
}

// live serves calls, callLegs and participants.
func (s *Server) live(ctx context.Context, method string, parts []string, form, q url.Values, a *answer) error {
	be := s.cfg.Backend
	lq, err := listQueryOf(q)
	if err != nil {
		return err
	}
	head := strings.ToLower(parts[0])
	switch {
	case head == "calls" && len(parts) == 1:
		switch method {
		case http.MethodGet:
			return writeLiveList(a, "calls", filterCalls(s.calls(), lq), lq)
		case http.MethodPost:
			return s.startCall(ctx, form, a)
		}
	case head == "calls" && len(parts) == 2:
		c, ok := s.call(parts[1])
		switch {
		case !ok:
			return fail("callDoesNotExist")
		case method == http.MethodGet:
			return writeXML(a, c)
		case method == http.MethodPut:
			return s.updateCall(ctx, c, form)
		case method == http.MethodDelete:
			return be.EndCall(ctx, c.ID)
		}
	case head == "calls" && len(parts) == 3 && strings.EqualFold(parts[2], "callLegs"):
		c, ok := s.call(parts[1])
		if !ok {
			return fail("callDoesNotExist")
		}
		switch method {
		case http.MethodGet:
			var legs []CallLeg
			for _, l := range s.legs() {
				if l.Call == c.ID {
					legs = append(legs, listedLeg(l))
				}
			}
			return writeLiveList(a, "callLegs", filterLegs(legs, lq), lq)
		case http.MethodPost:
			return s.addLeg(ctx, c, form, a)
		}
	case head == "calls" && len(parts) == 3 && strings.EqualFold(parts[2], "participants"):
		c, ok := s.call(parts[1])
		if !ok {
			return fail("callDoesNotExist")
		}
		if method == http.MethodGet {
			var ps []Participant
			for _, p := range s.participants() {
				if p.Call == c.ID {
					ps = append(ps, p)
				}
			}
			return writeLiveList(a, "participants", ps, lq)
		}
	case head == "calllegs" && len(parts) == 1:
		if method == http.MethodGet {
			var legs []CallLeg
			for _, l := range s.legs() {
				legs = append(legs, listedLeg(l))
			}
			return writeLiveList(a, "callLegs", filterLegs(legs, lq), lq)
		}
	case head == "calllegs" && len(parts) == 2:
		var leg *CallLeg
		for _, l := range s.legs() {
			if strings.EqualFold(l.ID, parts[1]) {
				leg = &l
				break
			}
		}
		switch {
		case leg == nil:
			return fail("callLegDoesNotExist")
		case method == http.MethodGet:
			return writeXML(a, leg)
		case method == http.MethodDelete:
			return be.EndCallLeg(ctx, leg.ID)
		case method == http.MethodPut:
			return s.updateLeg(ctx, leg.ID, form)
		}
	case head == "participants" && len(parts) <= 2:
		if method != http.MethodGet {
			break
		}
		ps := s.participants()
		if len(parts) == 1 {
			return writeLiveList(a, "participants", ps, lq)
		}
		for _, p := range ps {
			if strings.EqualFold(p.ID, parts[1]) {
				return writeXML(a, p)
			}
		}
		return fail("participantDoesNotExist")
	default:
		return fail("unrecognisedObject")
	}
	return fail("invalidOperation")
}

func (s *Server) calls() []Call {
	if s.cfg.Backend == nil {
		return nil
	}
	return s.cfg.Backend.Calls()
}

func (s *Server) legs() []CallLeg {
	if s.cfg.Backend == nil {
		return nil
	}
	return s.cfg.Backend.CallLegs()
}

func (s *Server) participants() []Participant {
	if s.cfg.Backend == nil {
		return nil
	}
	return s.cfg.Backend.Participants()
}

func (s *Server) call(id string) (Call, bool) {
	for _, c := range s.calls() {
		if strings.EqualFold(c.ID, id) {
			return c, true
		}
	}
	return Call{}, false
}

// filterCalls keeps the matching calls, each with only the fields a list shows.
func filterCalls(all []Call, lq listQuery) []Call {
	var out []Call
	for _, c := range all {
		if v := lq.equal["coSpace"]; v != "" && !strings.EqualFold(c.CoSpace, v) {
			continue
		}
		if v := lq.equal["tenant"]; v != "" && !strings.EqualFold(c.Tenant, v) {
			continue
		}
		if lq.filter != "" && !strings.Contains(strings.ToLower(c.Name), strings.ToLower(lq.filter)) {
			continue
		}
		out = append(out, Call{ID: c.ID, Name: c.Name, CoSpace: c.CoSpace, CallCorrelator: c.CallCorrelator, Tenant: c.Tenant})
	}
	return out
}

func listedLeg(l CallLeg) CallLeg {
	return CallLeg{ID: l.ID, Name: l.Name, RemoteParty: l.RemoteParty, Call: l.Call}
}

func filterLegs(all []CallLeg, lq listQuery) []CallLeg {
	if lq.filter == "" {
		return all
	}
	f := strings.ToLower(lq.filter)
	var out []CallLeg
	for _, l := range all {
		if strings.Contains(strings.ToLower(l.Name), f) || strings.Contains(strings.ToLower(l.RemoteParty), f) {
			out = append(out, l)
		}
	}
	return out
}

func (s *Server) startCall(ctx context.Context, form url.Values, a *answer) error {
	if s.cfg.Backend == nil {
		return fail("invalidOperation")
	}
	spaceID := strings.TrimSpace(form.Get("coSpace"))
	if spaceID == "" {
		return paramError("coSpace", "missing")
	}
	var space CoSpace
	if !s.store.Get(spaceID, &space) {
		return fail("coSpaceDoesNotExist")
	}
	req := CallRequest{Space: space, Profile: s.store.EffectiveCallProfile(space), Name: form.Get("name")}
	if req.Name == "" {
		req.Name = space.Name
	}
	var err error
	if req.Locked, err = parseBool(form, "locked"); err != nil {
		return err
	}
	if req.Recording, err = parseBool(form, "recording"); err != nil {
		return err
	}
	if req.Streaming, err = parseBool(form, "streaming"); err != nil {
		return err
	}
	if err := modeAllows(req.Profile, req.Recording, req.Streaming); err != nil {
		return err
	}
	for _, c := range s.calls() { // one call per space
		if strings.EqualFold(c.CoSpace, space.ID) {
			a.location = "/api/v1/calls/" + c.ID
			return nil
		}
	}
	id, err := s.cfg.Backend.StartCall(ctx, req)
	if err != nil {
		return err
	}
	a.location = "/api/v1/calls/" + id
	s.log.Info("cmsapi: created new call", "id", id, "coSpace", space.ID)
	return nil
}

// modeAllows refuses recording or streaming changes the call profile's modes forbid:
// only manual mode lets the API start and stop them.
func modeAllows(p CallProfile, recording, streaming *bool) error {
	if recording != nil && p.RecordingMode != "manual" {
		return fail("callRecordingCannotBeModified")
	}
	if streaming != nil && p.StreamingMode != "manual" {
		return fail("callStreamingCannotBeModified")
	}
	return nil
}

func (s *Server) updateCall(ctx context.Context, c Call, form url.Values) error {
	var u CallUpdate
	var err error
	if _, ok := form["name"]; ok {
		n := form.Get("name")
		u.Name = &n
	}
	if u.Locked, err = parseBool(form, "locked"); err != nil {
		return err
	}
	if u.Recording, err = parseBool(form, "recording"); err != nil {
		return err
	}
	if u.Streaming, err = parseBool(form, "streaming"); err != nil {
		return err
	}
	var space CoSpace
	s.store.Get(c.CoSpace, &space)
	if err := modeAllows(s.store.EffectiveCallProfile(space), u.Recording, u.Streaming); err != nil {
		return err
	}
	return s.cfg.Backend.UpdateCall(ctx, c.ID, u)
}

// updateLeg is PUT /callLegs/{id}: the audio mutes go to a Backend that takes them;
// the other leg overrides are accepted and not acted on.
func (s *Server) updateLeg(ctx context.Context, id string, form url.Values) error {
	var u CallLegUpdate
	var err error
	if u.RxAudioMute, err = parseBool(form, "rxAudioMute"); err != nil {
		return err
	}
	if u.TxAudioMute, err = parseBool(form, "txAudioMute"); err != nil {
		return err
	}
	up, ok := s.cfg.Backend.(CallLegUpdater)
	if !ok || (u.RxAudioMute == nil && u.TxAudioMute == nil) {
		return nil
	}
	return up.UpdateCallLeg(ctx, id, u)
}

func (s *Server) addLeg(ctx context.Context, c Call, form url.Values, a *answer) error {
	remote := strings.TrimSpace(form.Get("remoteParty"))
	if remote == "" {
		return paramError("remoteParty", "missing")
	}
	if len(remote) > 256 || strings.ContainsAny(remote, " \t\r\n<>\"") {
		return paramError("remoteParty", "invalidValue")
	}
	req := CallLegRequest{RemoteParty: remote, Rules: All[OutboundDialPlanRule](s.store), CallLegProfile: form.Get("callLegProfile")}
	s.store.Get(c.CoSpace, &req.Space)
	if v := form.Get("bandwidth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return paramError("bandwidth", "invalidValue")
		}
		req.Bandwidth = n
	}
	if req.CallLegProfile != "" && !s.store.Get(req.CallLegProfile, &CallLegProfile{}) {
		return fail("callLegProfileDoesNotExist")
	}
	id, err := s.cfg.Backend.AddCallLeg(ctx, c.ID, req)
	if err != nil {
		return err
	}
	a.location = "/api/v1/callLegs/" + id
	s.log.Info("cmsapi: created new call leg", "id", id, "call", c.ID)
	return nil
}
