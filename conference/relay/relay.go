package relay

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/redact"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

//go:embed relay.html
var page []byte

// Config configures a Service.
type Config struct {
	// Bridge configures the Bridge the relay places its calls with: SIP listeners,
	// media address and ports. Its Events, when set, hear every event after the relay.
	Bridge conference.Config
	// Keys are the API keys a request may carry (header X-Api-Key, or Authorization:
	// Bearer): at least one is required.
	Keys []string
	// RTMPHosts are the RTMP servers (host, or host:port) a call may stream to, and
	// SIPDomains the SIP domains and outbound proxies (host, or host:port) it may
	// register with and call through. "*" allows any; an empty list allows none.
	RTMPHosts, SIPDomains []string
	// Hook is the URL that REST hooks are POSTed to, with the event's name appended
	// (Hook + "/CallStatusEvent"); "" sends none. HookClient sends them (default: a
	// client with a 5 s timeout).
	Hook       string
	HookClient *http.Client
	// MaxCalls bounds the calls at once (default 100).
	MaxCalls int
	// PlayerURL, when set, is shown on the page as where a call's stream can be watched:
	// "{toStream}" and "{callId}" in it are replaced.
	PlayerURL string
	// Log receives the relay's log (default: slog.Default()). It never holds a SIP
	// password or a stream key.
	Log *slog.Logger
}

// Service is the relay: the REST API, the calls it places, the REST hooks and the page.
type Service struct {
	cfg   Config
	b     *conference.Bridge
	log   *slog.Logger
	hooks *hooks

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	calls  map[string]*call
	order  []string // call IDs, oldest first (finished calls are kept, at most keepFinished)
	closed bool
}

// keepFinished bounds the finished calls that find still answers for.
const keepFinished = 200

// The call statuses (after WCS's).
const (
	StatusNew         = "NEW"
	StatusRegistering = "REGISTERING"
	StatusTrying      = "TRYING"
	StatusEstablished = "ESTABLISHED"
	StatusFinished    = "FINISH"
	StatusFailed      = "FAILED"
)

// The stream statuses.
const (
	StreamPending     = "PENDING"
	StreamPublishing  = "PUBLISHING"
	StreamRetrying    = "RETRYING"
	StreamUnpublished = "UNPUBLISHED"
)

// Call is what find answers of a call: no SIP password, no stream key.
type Call struct {
	CallID   string `json:"callId"`
	Callee   string `json:"callee"`
	ToStream string `json:"toStream,omitempty"`
	AppKey   string `json:"appKey,omitempty"`
	// RTMPURL is the server's URL (without the stream name, which is its key).
	RTMPURL  string `json:"rtmpUrl"`
	HasAudio bool   `json:"hasAudio"`
	HasVideo bool   `json:"hasVideo"`
	// Status is NEW, REGISTERING, TRYING, ESTABLISHED, FINISH or FAILED; SIPStatus and
	// SIPReason the last final SIP answer that decided it (a rejection, a registration
	// refused).
	Status    string `json:"status"`
	SIPStatus int    `json:"sipStatus,omitempty"`
	SIPReason string `json:"sipReason,omitempty"`
	// Registration is the registration's state when one was asked for.
	Registration string `json:"registration,omitempty"`
	// Duration is the seconds since the callee answered (to the end).
	Duration float64 `json:"duration"`
	// StreamStatus is PENDING, PUBLISHING, RETRYING or UNPUBLISHED; StreamReason why
	// it retries; Bitrate the stream's kbit/s over the last seconds.
	StreamStatus string  `json:"streamStatus"`
	StreamReason string  `json:"streamReason,omitempty"`
	Bitrate      float64 `json:"bitrate"`
	// EndReason says, in words a person understands, why the call ended or failed.
	EndReason string    `json:"endReason,omitempty"`
	Created   time.Time `json:"created"`
	// Player is where the stream can be watched (Config.PlayerURL), if known.
	Player string `json:"player,omitempty"`
}

// call is a relayed call's state (the Service's lock guards it).
type call struct {
	Call
	streamURL   string // with its key: never shown
	answered    time.Time
	ended       time.Time
	endedByAPI  bool
	cancel      context.CancelFunc
	bridgeEnded chan struct{} // closed when the Bridge reported the call's end
	endOnce     sync.Once
	lastBytes   uint64
	lastAt      time.Time
}

// New starts a relay: its Bridge, its hooks. Close ends it.
func New(cfg Config) (*Service, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("relay: at least one API key (Config.Keys)")
	}
	for _, k := range cfg.Keys {
		if len(k) < 16 {
			return nil, errors.New("relay: an API key of at least 16 characters")
		}
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 100
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Log, calls: map[string]*call{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hooks = newHooks(cfg.Hook, cfg.HookClient, cfg.Log)
	bcfg := cfg.Bridge
	user := bcfg.Events
	bcfg.Events = func(e conference.Event) {
		s.onEvent(e)
		if user != nil {
			user(e)
		}
	}
	b, err := conference.New(bcfg)
	if err != nil {
		s.hooks.close()
		return nil, err
	}
	s.b = b
	return s, nil
}

// Bridge is the Bridge the relay's calls run on.
func (s *Service) Bridge() *conference.Bridge { return s.b }

// Close hangs up every call (BYE, unregistering where registered), waits for them, stops
// the hooks (those queued are sent first, within their timeout) and the Bridge. It is
// idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	err := s.b.Close()
	s.hooks.close()
	return err
}

// Handler serves the REST API under /rest-api/ and the page at /.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rest-api/call/startup", s.api(s.startup))
	mux.HandleFunc("POST /rest-api/call/find", s.api(s.find))
	mux.HandleFunc("POST /rest-api/call/find_all", s.api(s.findAll))
	mux.HandleFunc("POST /rest-api/call/terminate", s.api(s.terminate))
	mux.HandleFunc("POST /rest-api/call/send_dtmf", s.api(s.sendDTMF))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(page)
	})
	return mux
}

// maxBody bounds a request's body.
const maxBody = 16 << 10

// apiError is an answer other than 200: its status and message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &apiError{status, fmt.Sprintf(format, a...)}
}

// api wraps a handler: the key, the body's size, JSON in and out, errors as
// {"error": ...} with their status.
func (s *Service) api(h func(r *http.Request, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sipcast relay"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API key is required (X-Api-Key header)"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the body is larger than %d bytes", maxBody)})
			return
		}
		out, err := h(r, body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = &apiError{http.StatusInternalServerError, redact.Text(err.Error())}
			}
			writeJSON(w, ae.status, map[string]string{"error": ae.msg})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Service) authorized(r *http.Request) bool {
	key := r.Header.Get("X-Api-Key")
	if a := r.Header.Get("Authorization"); key == "" && len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		key = a[7:]
	}
	ok := false
	for _, k := range s.cfg.Keys {
		if subtle.ConstantTimeCompare([]byte(key), []byte(k)) == 1 {
			ok = true
		}
	}
	return ok
}

// decode reads a JSON object into v: unknown fields and wrong types are refused with
// the field's name.
func decode(body []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return errorf(http.StatusBadRequest, "%s: must be a %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errorf(http.StatusBadRequest, "%s: no such field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "the body must be a JSON object")
		}
		return errorf(http.StatusBadRequest, "the body is not JSON: %v", err)
	}
	if d.More() {
		return errorf(http.StatusBadRequest, "the body must be one JSON object")
	}
	return nil
}

// startupRequest is POST /rest-api/call/startup's body (WCS's fields).
type startupRequest struct {
	CallID                string `json:"callId"`
	Callee                string `json:"callee"`
	ToStream              string `json:"toStream"`
	RTMPURL               string `json:"rtmpUrl"`
	RTMPStream            string `json:"rtmpStream"`
	HasAudio              *bool  `json:"hasAudio"`
	HasVideo              *bool  `json:"hasVideo"`
	SIPLogin              string `json:"sipLogin"`
	SIPAuthenticationName string `json:"sipAuthenticationName"`
	SIPPassword           string `json:"sipPassword"`
	SIPDomain             string `json:"sipDomain"`
	SIPOutboundProxy      string `json:"sipOutboundProxy"`
	SIPPort               *int   `json:"sipPort"`
	SIPRegisterRequired   bool   `json:"sipRegisterRequired"`
	AppKey                string `json:"appKey"`
}

var (
	idRe   = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)
	userRe = regexp.MustCompile(`^[A-Za-z0-9.+*#_~!$-]{1,64}$`)
	hostRe = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)
	nameRe = regexp.MustCompile(`^[^\x00-\x1f\x7f]{0,256}$`)
)

// place is a validated startup: where to register and call.
type place struct {
	target, registrar, aor, proxy, login, auth, password, domain string
	register, video                                              bool
}

func (s *Service) validate(req *startupRequest) (*place, string, error) {
	bad := func(field, why string) (*place, string, error) {
		return nil, "", errorf(http.StatusBadRequest, "%s: %s", field, why)
	}
	switch {
	case req.CallID == "":
		return bad("callId", "required")
	case !idRe.MatchString(req.CallID):
		return bad("callId", "1 to 64 letters, digits, '.', '_', '~' or '-'")
	case req.Callee == "":
		return bad("callee", "required")
	case !userRe.MatchString(req.Callee):
		return bad("callee", "a SIP user part: 1 to 64 letters, digits or . + * # _ ~ ! $ -")
	case req.SIPDomain == "":
		return bad("sipDomain", "required")
	case !hostRe.MatchString(req.SIPDomain):
		return bad("sipDomain", "a host name or IPv4 address")
	case req.RTMPURL == "":
		return bad("rtmpUrl", "required")
	case req.RTMPStream == "":
		return bad("rtmpStream", "required")
	case len(req.RTMPStream) > 256 || strings.ContainsAny(req.RTMPStream, " /?#\x00\r\n"):
		return bad("rtmpStream", "a stream name (up to 256 characters, no '/', '?', '#' or spaces)")
	case !nameRe.MatchString(req.ToStream):
		return bad("toStream", "up to 256 printable characters")
	case len(req.AppKey) > 64 || !nameRe.MatchString(req.AppKey):
		return bad("appKey", "up to 64 printable characters")
	case len(req.SIPPassword) > 256:
		return bad("sipPassword", "up to 256 characters")
	case req.SIPLogin != "" && !userRe.MatchString(req.SIPLogin):
		return bad("sipLogin", "a SIP user part (1 to 64 characters)")
	case req.SIPAuthenticationName != "" && !userRe.MatchString(req.SIPAuthenticationName):
		return bad("sipAuthenticationName", "a SIP user name (1 to 64 characters)")
	case req.SIPRegisterRequired && req.SIPLogin == "":
		return bad("sipLogin", "required when sipRegisterRequired is set")
	case req.HasAudio != nil && !*req.HasAudio:
		return bad("hasAudio", "false is not supported: the stream carries the callee's audio")
	}
	port := 5060
	if req.SIPPort != nil {
		if *req.SIPPort < 1 || *req.SIPPort > 65535 {
			return bad("sipPort", "1 to 65535")
		}
		port = *req.SIPPort
	}
	if !allowed(s.cfg.SIPDomains, req.SIPDomain, port) {
		return nil, "", errorf(http.StatusForbidden, "sipDomain: %s is not among the SIP domains this relay may call", req.SIPDomain)
	}
	proxy := ""
	if req.SIPOutboundProxy != "" {
		host, p, err := hostPort(req.SIPOutboundProxy, 5060)
		if err != nil || !hostRe.MatchString(host) {
			return bad("sipOutboundProxy", "host or host:port")
		}
		if !allowed(s.cfg.SIPDomains, host, p) {
			return nil, "", errorf(http.StatusForbidden, "sipOutboundProxy: %s is not among the SIP domains this relay may call", host)
		}
		proxy = net.JoinHostPort(host, strconv.Itoa(p))
	}
	u, err := rtmp.ParseURL(strings.TrimSuffix(req.RTMPURL, "/") + "/" + req.RTMPStream)
	if err != nil {
		return bad("rtmpUrl", "an rtmp:// or rtmps:// URL with an application: "+redact.Text(err.Error()))
	}
	if !allowed(s.cfg.RTMPHosts, u.Host, u.Port) {
		return nil, "", errorf(http.StatusForbidden, "rtmpUrl: %s is not among the RTMP servers this relay may stream to", u.Host)
	}
	hostport := net.JoinHostPort(req.SIPDomain, strconv.Itoa(port))
	auth := req.SIPAuthenticationName
	if auth == "" {
		auth = req.SIPLogin
	}
	p := &place{target: "sip:" + req.Callee + "@" + hostport, proxy: proxy, login: req.SIPLogin, auth: auth,
		password: req.SIPPassword, domain: req.SIPDomain, register: req.SIPRegisterRequired,
		video: req.HasVideo == nil || *req.HasVideo}
	if p.register {
		p.registrar = "sip:" + hostport
		if proxy != "" {
			p.registrar = "sip:" + proxy
		}
		p.aor = "sip:" + req.SIPLogin + "@" + req.SIPDomain
	}
	return p, u.String(), nil
}

// hostPort splits host[:port].
func hostPort(s string, def int) (string, int, error) {
	if !strings.Contains(s, ":") {
		return s, def, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, errors.New("bad port")
	}
	return h, n, nil
}

// allowed says whether host:port is in list (entries "host" or "host:port", "*" any).
func allowed(list []string, host string, port int) bool {
	for _, a := range list {
		if a == "*" {
			return true
		}
		h, p, err := hostPort(a, 0)
		if err == nil && strings.EqualFold(h, host) && (p == 0 || p == port) {
			return true
		}
	}
	return false
}

func (s *Service) startup(_ *http.Request, body []byte) (any, error) {
	var req startupRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	pl, redacted, err := s.validate(&req)
	if err != nil {
		return nil, err
	}
	streamURL := strings.TrimSuffix(req.RTMPURL, "/") + "/" + req.RTMPStream
	c := &call{Call: Call{CallID: req.CallID, Callee: req.Callee, ToStream: req.ToStream, AppKey: req.AppKey,
		RTMPURL: strings.TrimSuffix(redacted, "/"+redactedTail(redacted)), HasAudio: true, HasVideo: pl.video,
		Status: StatusNew, StreamStatus: StreamPending, Created: time.Now()},
		streamURL: streamURL, bridgeEnded: make(chan struct{})}
	if pl.register {
		c.Registration = "PENDING"
	}
	if s.cfg.PlayerURL != "" {
		// The client's values are escaped: they cannot change where the link goes.
		c.Player = strings.NewReplacer("{toStream}", url.PathEscape(req.ToStream), "{callId}", url.PathEscape(req.CallID)).Replace(s.cfg.PlayerURL)
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, errorf(http.StatusServiceUnavailable, "the relay is shutting down")
	case s.calls[req.CallID] != nil:
		s.mu.Unlock()
		return nil, errorf(http.StatusConflict, "callId: a call %q exists", req.CallID)
	}
	live := 0
	for _, o := range s.calls {
		if o.Status == StatusFinished || o.Status == StatusFailed {
			continue
		}
		live++
		if o.streamURL == streamURL {
			s.mu.Unlock()
			return nil, errorf(http.StatusConflict, "rtmpStream: call %q already streams there", o.CallID)
		}
	}
	if live >= s.cfg.MaxCalls {
		s.mu.Unlock()
		return nil, errorf(http.StatusServiceUnavailable, "the relay carries %d calls, its limit", live)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c.cancel = cancel
	s.calls[c.CallID] = c
	s.order = append(s.order, c.CallID)
	s.trimLocked()
	snapshot := c.Call
	s.wg.Add(1)
	s.mu.Unlock()
	s.hooks.send("CallStatusEvent", snapshot)
	go s.run(ctx, c, pl)
	return map[string]string{"callId": c.CallID, "status": StatusNew}, nil
}

// redactedTail is the last path segment of a redacted URL (the masked stream name).
func redactedTail(u string) string {
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[i+1:]
	}
	return ""
}

// trimLocked forgets the oldest finished calls beyond keepFinished.
func (s *Service) trimLocked() {
	finished := 0
	for _, id := range s.order {
		if c := s.calls[id]; c.Status == StatusFinished || c.Status == StatusFailed {
			finished++
		}
	}
	keep := s.order[:0]
	for _, id := range s.order {
		c := s.calls[id]
		if finished > keepFinished && (c.Status == StatusFinished || c.Status == StatusFailed) {
			delete(s.calls, id)
			finished--
			continue
		}
		keep = append(keep, id)
	}
	s.order = keep
}

// update changes a call under the lock and sends the hook of what changed.
func (s *Service) update(c *call, event string, f func(*call)) {
	s.mu.Lock()
	f(c)
	snapshot := c.Call
	s.mu.Unlock()
	s.hooks.send(event, snapshot)
}

// run is a call's life: register, dial, wait for the end, unregister.
func (s *Service) run(ctx context.Context, c *call, pl *place) {
	defer s.wg.Done()
	defer c.cancel()
	if pl.register {
		s.update(c, "RegistrationStatusEvent", func(c *call) { c.Status, c.Registration = StatusRegistering, "REGISTERING" })
		reg, err := s.b.UA().Register(ctx, sip.RegisterOptions{Registrar: pl.registrar, AOR: pl.aor, Username: pl.auth, Password: pl.password})
		if err != nil {
			code, reason := statusOf(err)
			s.update(c, "RegistrationStatusEvent", func(c *call) {
				c.Registration, c.Status, c.SIPStatus, c.SIPReason = "FAILED", StatusFailed, code, reason
				c.EndReason = "registration failed: " + safe(err, pl.password)
				if code != 0 {
					c.EndReason = fmt.Sprintf("registration refused by the SIP server (%d %s)", code, reason)
				}
				c.ended = time.Now()
			})
			s.log.Warn("relay: registration failed", "call", c.CallID, "err", safe(err, pl.password))
			return
		}
		defer func() {
			_ = reg.Close() // unregisters
			s.update(c, "RegistrationStatusEvent", func(c *call) { c.Registration = "UNREGISTERED" })
		}()
		s.update(c, "RegistrationStatusEvent", func(c *call) { c.Registration = "REGISTERED" })
	}
	s.update(c, "CallStatusEvent", func(c *call) { c.Status = StatusTrying })
	err := s.b.Dial(ctx, conference.DialRequest{ID: c.CallID, Target: pl.target, NoVideo: !pl.video, SendVideo: pl.video,
		Options: sip.DialOptions{Username: pl.auth, Password: pl.password, Proxy: pl.proxy, FromUser: pl.login, FromDomain: pl.domain},
		Outputs: conference.Outputs{URL: c.streamURL}})
	if err != nil {
		code, reason := statusOf(err)
		why := "the call failed: " + safe(err, pl.password)
		switch {
		case code == 486 || code == 600:
			why = fmt.Sprintf("the callee is busy (%d %s)", code, reason)
		case code == 403 || code == 603:
			why = fmt.Sprintf("the callee declined the call (%d %s)", code, reason)
		case code == 404 || code == 604:
			why = fmt.Sprintf("no such callee (%d %s)", code, reason)
		case code != 0:
			why = fmt.Sprintf("the callee refused the call (%d %s)", code, reason)
		case errors.Is(err, sip.ErrNoAnswer):
			why = "the callee did not answer"
		case errors.Is(err, sip.ErrAuthFailed):
			why = "the SIP server refused our credentials"
		case ctx.Err() != nil:
			why = "terminated before the callee answered"
		}
		s.update(c, "CallStatusEvent", func(c *call) {
			c.Status, c.SIPStatus, c.SIPReason, c.EndReason, c.ended = StatusFailed, code, reason, why, time.Now()
		})
		s.log.Info("relay: call failed", "call", c.CallID, "reason", why)
		return
	}
	s.update(c, "CallStatusEvent", func(c *call) { c.Status, c.answered = StatusEstablished, time.Now() })
	select {
	case <-c.bridgeEnded:
	case <-ctx.Done(): // terminate, or Close
		hctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.b.EndCall(hctx, c.CallID)
		done()
		select {
		case <-c.bridgeEnded:
		case <-time.After(10 * time.Second):
		}
	}
}

// statusOf is the SIP status code and reason in err, if any.
func statusOf(err error) (int, string) {
	var se *sip.StatusError
	if errors.As(err, &se) {
		return se.Code, se.Reason
	}
	return 0, ""
}

// safe is err's text without the password or any URL secret.
func safe(err error, password string) string {
	t := err.Error()
	if password != "" {
		t = strings.ReplaceAll(t, password, "****")
	}
	return redact.Text(t)
}

// onEvent follows the Bridge's events of the relay's calls.
func (s *Service) onEvent(e conference.Event) {
	s.mu.Lock()
	c := s.calls[e.CallID]
	s.mu.Unlock()
	if c == nil {
		return
	}
	switch e.Type {
	case conference.EventStreamingStarted:
		s.update(c, "StreamStatusEvent", func(c *call) { c.StreamStatus, c.StreamReason = StreamPublishing, "" })
	case conference.EventStreamingRetrying:
		s.update(c, "StreamStatusEvent", func(c *call) { c.StreamStatus, c.StreamReason = StreamRetrying, redact.Text(e.Reason) })
	case conference.EventStreamingStopped:
		s.update(c, "StreamStatusEvent", func(c *call) { c.StreamStatus, c.StreamReason = StreamUnpublished, redact.Text(e.Reason) })
	case conference.EventCallEnded:
		s.update(c, "CallStatusEvent", func(c *call) {
			c.Status, c.ended, c.StreamStatus = StatusFinished, time.Now(), StreamUnpublished
			switch {
			case c.endedByAPI:
				c.EndReason = "terminated through the API"
			case errors.Is(e.Err, sip.ErrHangupRemote):
				c.EndReason = "the callee hung up"
			case errors.Is(e.Err, conference.ErrMediaTimeout):
				c.EndReason = strings.Replace(redact.Text(e.Reason), "the remote side", "the callee", 1)
			case e.Reason != "":
				c.EndReason = redact.Text(e.Reason)
			default:
				c.EndReason = "the call ended"
			}
		})
		c.endOnce.Do(func() { close(c.bridgeEnded) })
	}
}

// snapshot is a call as find answers it, its duration and bitrate brought up to date.
func (s *Service) snapshotLocked(c *call, now time.Time) Call {
	out := c.Call
	if !c.answered.IsZero() {
		end := now
		if !c.ended.IsZero() {
			end = c.ended
		}
		out.Duration = end.Sub(c.answered).Round(time.Second / 10).Seconds()
	}
	return out
}

// refreshBitrates reads the publishers' byte counts (outside the lock: Bridge.Call takes
// the Bridge's) and updates each live call's bitrate.
func (s *Service) refreshBitrates() {
	s.mu.Lock()
	var ids []string
	for id, c := range s.calls {
		if c.Status == StatusEstablished {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	now := time.Now()
	for _, id := range ids {
		info, ok := s.b.Call(id)
		if !ok {
			continue
		}
		s.mu.Lock()
		if c := s.calls[id]; c != nil {
			if !c.lastAt.IsZero() && now.Sub(c.lastAt) > 500*time.Millisecond && info.Publisher.BytesSent >= c.lastBytes {
				c.Bitrate = float64(info.Publisher.BytesSent-c.lastBytes) * 8 / 1000 / now.Sub(c.lastAt).Seconds()
				c.Bitrate = float64(int(c.Bitrate*10)) / 10
			}
			if c.lastAt.IsZero() || now.Sub(c.lastAt) > 500*time.Millisecond {
				c.lastBytes, c.lastAt = info.Publisher.BytesSent, now
			}
		}
		s.mu.Unlock()
	}
}

type findRequest struct {
	CallID string `json:"callId"`
	Status string `json:"status"`
}

func (s *Service) find(_ *http.Request, body []byte) (any, error) {
	var req findRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.CallID == "" && req.Status == "" {
		return nil, errorf(http.StatusBadRequest, "callId or status: one is required")
	}
	s.refreshBitrates()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, id := range s.order {
		c := s.calls[id]
		if (req.CallID == "" || c.CallID == req.CallID) && (req.Status == "" || strings.EqualFold(c.Status, req.Status)) {
			out = append(out, s.snapshotLocked(c, now))
		}
	}
	if len(out) == 0 {
		return nil, errorf(http.StatusNotFound, "no such call")
	}
	return out, nil
}

func (s *Service) findAll(_ *http.Request, body []byte) (any, error) {
	if len(strings.TrimSpace(string(body))) > 0 {
		var req struct{}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
	}
	s.refreshBitrates()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Call{}
	for _, id := range s.order {
		out = append(out, s.snapshotLocked(s.calls[id], now))
	}
	return out, nil
}

func (s *Service) live(id string) (*call, error) {
	if id == "" {
		return nil, errorf(http.StatusBadRequest, "callId: required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[id]
	if c == nil {
		return nil, errorf(http.StatusNotFound, "no call %q", id)
	}
	return c, nil
}

func (s *Service) terminate(_ *http.Request, body []byte) (any, error) {
	var req struct {
		CallID string `json:"callId"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	c, err := s.live(req.CallID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	over := c.Status == StatusFinished || c.Status == StatusFailed
	if !over {
		c.endedByAPI = true
	}
	s.mu.Unlock()
	if over {
		return nil, errorf(http.StatusConflict, "call %q has ended", c.CallID)
	}
	c.cancel()
	return map[string]string{"callId": c.CallID, "status": "TERMINATING"}, nil
}

func (s *Service) sendDTMF(r *http.Request, body []byte) (any, error) {
	var req struct {
		CallID string `json:"callId"`
		DTMF   string `json:"dtmf"`
		Type   string `json:"type"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	info := false
	switch strings.ToUpper(req.Type) {
	case "", "RFC2833", "RFC4733":
	case "INFO", "INFO_RELAY", "SIP_INFO":
		info = true
	default:
		return nil, errorf(http.StatusBadRequest, "type: RFC2833 (RTP events) or INFO (SIP INFO)")
	}
	if req.DTMF == "" || len(req.DTMF) > 64 || strings.Trim(strings.ToUpper(req.DTMF), "0123456789*#ABCD") != "" {
		return nil, errorf(http.StatusBadRequest, "dtmf: 1 to 64 keys among 0-9, *, #, A-D")
	}
	c, err := s.live(req.CallID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	st := c.Status
	s.mu.Unlock()
	if st != StatusEstablished {
		return nil, errorf(http.StatusConflict, "call %q is %s, not ESTABLISHED", c.CallID, st)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.b.SendDTMF(ctx, c.CallID, req.DTMF, info); err != nil {
		if errors.Is(err, conference.ErrNoTelephoneEvent) {
			return nil, errorf(http.StatusConflict, "%s", err.Error())
		}
		return nil, errorf(http.StatusBadGateway, "%s", redact.Text(err.Error()))
	}
	return map[string]string{"callId": c.CallID, "dtmf": req.DTMF}, nil
}
