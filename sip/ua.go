package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// InviteHandler decides on an incoming call: it returns the SDP answer to accept, or an
// error (a *StatusError for a specific status; anything else gives 500). For a late offer
// (c.Offer empty) it returns our offer (sdp.Offer) instead, and the caller's answer is
// c.RemoteSDP once c.Confirmed is closed. It runs on the transaction's goroutine; the 180
// Ringing has been sent. If the caller cancels meanwhile, c.Done is closed (EndReason
// "caller cancelled (CANCEL)") and what the handler returns is ignored.
type InviteHandler func(c *Call) (answer []byte, err error)

// Option configures a UA.
type Option func(*UA) error

// WithUDP listens for SIP over UDP on addr ("127.0.0.1:0" picks a port).
func WithUDP(addr string) Option { return func(u *UA) error { u.udpAddr = addr; return nil } }

// WithTCP listens for SIP over TCP on addr.
func WithTCP(addr string) Option { return func(u *UA) error { u.tcpAddr = addr; return nil } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(u *UA) error { u.log = l; return nil } }

// DefaultCallLimit is the number of concurrent calls a UA takes unless WithCallLimit says
// otherwise: 500, the largest load measured on the reference 2-core machine with no frame
// dropped (docs/PERFORMANCE.md, docs/SECURITY.md). It bounds what a flood of INVITEs can
// make the UA hold.
const DefaultCallLimit = 500

// WithCallLimit answers INVITEs beyond n concurrent calls with 503 and Retry-After
// (default DefaultCallLimit). The check and the call's admission are one step, so
// concurrent INVITEs cannot pass it together. n < 0 removes the limit, for tests and
// deployments that bound calls in front of the UA; 0 is refused.
func WithCallLimit(n int) Option {
	return func(u *UA) error {
		if n == 0 {
			return errors.New("sip: a call limit of 0 takes no calls (use a negative limit for none)")
		}
		u.limit = n
		return nil
	}
}

// WithInviteHandler sets the function that decides on incoming calls.
func WithInviteHandler(h InviteHandler) Option {
	return func(u *UA) error { u.onInvite = h; return nil }
}

// WithUserAgentName sets the User-Agent and Server header value (default "sipcast").
func WithUserAgentName(name string) Option { return func(u *UA) error { u.name = name; return nil } }

// UpdateHandler is told when an established call's peer sent UPDATE or re-INVITE: new
// Contact parameters (such as a changed x-cisco-stream) are already on the call. When the
// request carries an SDP offer the handler returns the answer (or an error: 488 Not
// Acceptable Here); without an offer the answer is ignored. It runs on the transaction's
// goroutine.
type UpdateHandler func(c *Call, offer []byte) (answer []byte, err error)

// WithCallUpdated sets the UpdateHandler. Without one, offers in UPDATE/re-INVITE are
// refused with 488 and Contact changes are still recorded.
func WithCallUpdated(f UpdateHandler) Option {
	return func(u *UA) error { u.onUpdate = f; return nil }
}

// WithMinSessionExpires sets the smallest Session-Expires the UA accepts (RFC 4028 Min-SE;
// default and RFC minimum 90 s). Smaller values are for tests and labs: an INVITE asking
// for less is answered 422 with our Min-SE.
func WithMinSessionExpires(d time.Duration) Option {
	return func(u *UA) error {
		if d < time.Second {
			return fmt.Errorf("sip: minimum session expiry %v is below 1 s", d)
		}
		u.minSE = d
		return nil
	}
}

// DefaultACKTimeout is how long an answered call waits for the caller's ACK: 64 × T1,
// RFC 3261 §13.3.1.4 (after which the UAS ends the dialog with BYE).
const DefaultACKTimeout = 32 * time.Second

// WithACKTimeout sets how long an answered call waits for its ACK before it ends (default
// DefaultACKTimeout): a caller that never acknowledges cannot hold a call and its dialog.
func WithACKTimeout(d time.Duration) Option {
	return func(u *UA) error {
		if d <= 0 {
			return fmt.Errorf("sip: invalid ACK timeout %v", d)
		}
		u.ackTimeout = d
		return nil
	}
}

// UA is a SIP user agent.
type UA struct {
	minSE      time.Duration
	ackTimeout time.Duration
	// ctx ends at Close: background BYEs give up then.
	ctx        context.Context
	cancel     context.CancelFunc
	log        *slog.Logger
	udpAddr    string
	tcpAddr    string
	limit      int
	draining   bool
	onInvite   InviteHandler
	onUpdate   UpdateHandler
	onDTMF     func(*Call, byte, time.Duration)
	onKeyframe func(*Call)
	name       string
	trace      bool

	tlsCfg    *TLSConfig
	clientTLS *tls.Config
	tlsLn     net.Listener

	ua            *sipgo.UserAgent
	srv           *sipgo.Server
	cli           *sipgo.Client
	dialogUA      sipgo.DialogUA
	clientDialogs *sipgo.DialogClientCache
	udp           net.PacketConn
	tcp           net.Listener

	mu sync.Mutex
	// calls holds the incoming calls by dialog ID (Call-ID, our To tag and the caller's
	// From tag, RFC 3261 §12.2.2): in-dialog requests must match all three. callIDs holds
	// them by Call-ID, so that a second INVITE for a live Call-ID is refused. A call is in
	// both from its admission to its end; nothing else keeps its dialog.
	calls    map[string]*Call
	callIDs  map[string]*Call
	outbound map[string]*OutboundCall
	regs     []*Registration
	closed   bool
	wg       sync.WaitGroup
	once     sync.Once
}

// New creates a UA and starts its listeners.
func New(opts ...Option) (*UA, error) {
	u := &UA{log: slog.New(slog.NewTextHandler(io.Discard, nil)), name: "sipcast", calls: map[string]*Call{}, callIDs: map[string]*Call{},
		outbound: map[string]*OutboundCall{}, minSE: 90 * time.Second, limit: DefaultCallLimit, ackTimeout: DefaultACKTimeout}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		if err := o(u); err != nil {
			return nil, err
		}
	}
	if u.udpAddr == "" && u.tcpAddr == "" && u.tlsCfg == nil {
		return nil, errors.New("sip: no listener configured (WithUDP, WithTCP or WithTLS)")
	}
	var err error
	var serverTLS *tls.Config
	if u.tlsCfg != nil {
		var clientTLS *tls.Config
		if serverTLS, clientTLS, err = u.tlsCfg.tlsConfigs(); err != nil {
			return nil, err
		}
		if u.clientTLS == nil {
			u.clientTLS = clientTLS
		}
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent(u.name)}
	if u.clientTLS != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(u.clientTLS))
	}
	if u.ua, err = sipgo.NewUA(uaOpts...); err != nil {
		return nil, err
	}
	if u.srv, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(u.log)); err != nil {
		return nil, err
	}
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(firstNonEmpty(u.udpAddr, u.tcpAddr)); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		host = h
	}
	if u.cli, err = sipgo.NewClient(u.ua, sipgo.WithClientHostname(host)); err != nil {
		return nil, err
	}
	if u.udpAddr != "" {
		if u.udp, err = net.ListenPacket("udp", u.udpAddr); err != nil {
			return nil, fmt.Errorf("sip: listening on udp %s: %w", u.udpAddr, err)
		}
	}
	if u.tcpAddr != "" {
		if u.tcp, err = net.Listen("tcp", u.tcpAddr); err != nil {
			if u.udp != nil {
				u.udp.Close()
			}
			return nil, fmt.Errorf("sip: listening on tcp %s: %w", u.tcpAddr, err)
		}
	}
	if u.tlsCfg != nil {
		if u.tlsLn, err = tls.Listen("tcp", u.tlsCfg.Addr, serverTLS); err != nil {
			if u.udp != nil {
				u.udp.Close()
			}
			if u.tcp != nil {
				u.tcp.Close()
			}
			return nil, fmt.Errorf("sip: listening on tls %s: %w", u.tlsCfg.Addr, err)
		}
	}
	chost, port := u.contactHostPort()
	contact := sipmsg.ContactHeader{Address: sipmsg.Uri{User: "sipcast", Host: chost, Port: port}}
	u.dialogUA = sipgo.DialogUA{Client: u.cli, ContactHDR: contact}
	u.clientDialogs = sipgo.NewDialogClientCache(u.cli, contact)
	u.srv.OnInvite(u.handleInvite)
	u.srv.OnAck(u.handleAck)
	u.srv.OnBye(u.handleBye)
	u.srv.OnUpdate(u.handleInDialog)
	u.srv.OnInfo(u.handleInfo)
	u.srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if reason := malformed(req); reason != "" {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request ("+reason+")", nil))
			return
		}
		if to := req.To(); (to == nil || to.Params == nil || !to.Params.Has("tag")) && (u.Draining() || u.Full()) {
			respondUnavailable(req, tx) // a probe out of any dialog: this node takes no call now
			return
		}
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sipmsg.NewHeader("Allow", allow))
		res.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
		_ = tx.Respond(res)
	})
	if u.udp != nil {
		var conn net.PacketConn = unfoldingPacketConn{u.udp}
		if u.trace {
			conn = tracingPacketConn{PacketConn: conn, log: u.log}
		}
		u.wg.Add(1)
		go func() { defer u.wg.Done(); _ = u.srv.ServeUDP(conn) }()
	}
	if u.tcp != nil {
		u.wg.Add(1)
		go func() { defer u.wg.Done(); _ = u.srv.ServeTCP(u.tcp) }()
	}
	if u.tlsLn != nil {
		u.wg.Add(1)
		go func() { defer u.wg.Done(); _ = u.srv.ServeTLS(u.tlsLn) }()
	}
	return u, nil
}

func (u *UA) contactHostPort() (string, int) {
	var a net.Addr
	switch {
	case u.udp != nil:
		a = u.udp.LocalAddr()
	case u.tcp != nil:
		a = u.tcp.Addr()
	default:
		a = u.tlsLn.Addr()
	}
	h, p, _ := net.SplitHostPort(a.String())
	port, _ := strconv.Atoi(p)
	return h, port
}

// contactFor is our Contact for a dialog created by req: the listener of the transport
// the request came over, so that the peer's in-dialog requests (ACK, BYE) come back the
// same way (a TLS-only UA must say transport=tls).
func (u *UA) contactFor(req *sipmsg.Request) *sipmsg.ContactHeader {
	var a net.Addr
	transport := strings.ToLower(req.Transport())
	switch {
	case transport == "tls" && u.tlsLn != nil:
		a = u.tlsLn.Addr()
	case transport == "tcp" && u.tcp != nil:
		a = u.tcp.Addr()
	case transport == "udp" && u.udp != nil:
		a = u.udp.LocalAddr()
	}
	if a == nil {
		host, port := u.contactHostPort()
		return &sipmsg.ContactHeader{Address: sipmsg.Uri{User: "sipcast", Host: host, Port: port}}
	}
	h, p, _ := net.SplitHostPort(a.String())
	port, _ := strconv.Atoi(p)
	c := &sipmsg.ContactHeader{Address: sipmsg.Uri{User: "sipcast", Host: h, Port: port}}
	if transport != "udp" {
		c.Address.UriParams = sipmsg.NewParams()
		c.Address.UriParams.Add("transport", transport)
	}
	return c
}

// UDPAddr returns the UDP listener's address, or nil.
func (u *UA) UDPAddr() net.Addr {
	if u.udp == nil {
		return nil
	}
	return u.udp.LocalAddr()
}

// TCPAddr returns the TCP listener's address, or nil.
func (u *UA) TCPAddr() net.Addr {
	if u.tcp == nil {
		return nil
	}
	return u.tcp.Addr()
}

// Calls returns the number of calls in progress.
func (u *UA) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.calls)
}

// Drain stops the UA taking new calls: INVITEs are answered 503 with Retry-After, as at
// the call limit, while the calls in progress go on. It is for a node being taken out
// of service (a load balancer's probes see it too: OPTIONS is answered 503).
func (u *UA) Drain() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.draining = true
}

// Draining reports whether Drain was called.
func (u *UA) Draining() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.draining
}

// Full reports whether the UA is at its call limit.
func (u *UA) Full() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.limit > 0 && len(u.calls) >= u.limit
}

func (u *UA) handleInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil && to.Params != nil && to.Params.Has("tag") {
		u.handleInDialog(req, tx) // re-INVITE
		return
	}
	if u.isClosed() {
		respondUnavailable(req, tx)
		return
	}
	if reason := malformed(req); reason != "" {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request ("+reason+")", nil))
		return
	}
	if unknown := unsupportedRequire(req); unknown != "" {
		res := sipmsg.NewResponseFromRequest(req, 420, "Bad Extension", nil)
		res.AppendHeader(sipmsg.NewHeader("Unsupported", unknown))
		_ = tx.Respond(res)
		return
	}
	timer, err := u.sessionTimer(req)
	if err != nil {
		res := sipmsg.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
		res.AppendHeader(sipmsg.NewHeader("Min-SE", strconv.Itoa(int(u.minSE/time.Second))))
		_ = tx.Respond(res)
		return
	}
	dlg, err := u.dialogUA.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	c := newCall(u, req, dlg)
	c.timer = timer
	switch u.admit(c) {
	case admitFull:
		respondUnavailable(req, tx)
		return
	case admitDuplicate:
		// RFC 3261 §8.2.2.2: a request without To tag whose Call-ID belongs to a call
		// in progress but that no transaction matched (a retransmission would have) is
		// a merged or forged request, never a second call.
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 482, "Loop Detected", nil))
		return
	}
	// A CANCEL while the application decides ends the call: sipgo has answered it (200,
	// then 487 to the INVITE); Done tells the handler to stop waiting for anything.
	setup := make(chan struct{})
	defer close(setup)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		// sipgo ends the dialog's context when the INVITE is cancelled or its
		// transaction dies before our final answer.
		select {
		case <-dlg.Context().Done():
			if errors.Is(context.Cause(dlg.Context()), sipmsg.ErrTransactionCanceled) {
				c.end(ErrCancelled, "caller cancelled (CANCEL)")
			} else {
				c.end(ErrCancelled, "the INVITE transaction ended before the answer")
			}
		case <-setup:
		}
	}()
	contact := u.contactFor(req)
	_ = dlg.Respond(100, "Trying", nil, contact)
	_ = dlg.Respond(180, "Ringing", nil, contact)
	var answer []byte
	if u.onInvite == nil {
		err = &StatusError{Code: 480, Reason: "Temporarily Unavailable"}
	} else {
		answer, err = u.onInvite(c)
	}
	if c.State() == DialogEnded {
		return // cancelled meanwhile
	}
	if err != nil {
		code, reason := 500, "Server Internal Error"
		var rej *StatusError
		if errors.As(err, &rej) {
			code, reason = rej.Code, rej.Reason
		}
		_ = dlg.Respond(code, reason, nil)
		c.end(ErrCallFailed, fmt.Sprintf("rejected with %d %s", code, reason))
		return
	}
	c.mu.Lock()
	c.answer = answer
	c.mu.Unlock()
	extra := []sipmsg.Header{contact}
	if timer.interval > 0 {
		extra = append(extra, sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(timer.interval/time.Second), timer.refresher)))
		if timer.peerSupports {
			extra = append(extra, sipmsg.NewHeader("Require", "timer"))
		}
	}
	if len(answer) > 0 {
		extra = append(extra, sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	extra = append(extra, sipmsg.NewHeader("Allow", allow), sipmsg.NewHeader("Supported", "timer"))
	// sipgo's Respond retransmits the 200 until the ACK comes (then returns nil) or its
	// transaction ends (Timer L, 32 s); the ACK timeout runs beside it and ends the call
	// (releasing its dialog) when it is shorter.
	u.wg.Add(1)
	go func() { defer u.wg.Done(); c.awaitACK(u.ackTimeout) }()
	if err := dlg.Respond(200, "OK", answer, extra...); err != nil {
		if errors.Is(err, sipmsg.ErrTransactionCanceled) {
			c.end(ErrCancelled, "caller cancelled (CANCEL)")
			return
		}
		c.end(ErrCallFailed, "answer failed: "+err.Error())
		u.byeUnconfirmed(dlg) // RFC 3261 §13.3.1.4: no ACK, the session ends with BYE
		return
	}
	// The ACK came (it is read on this goroutine's dialog, so the dialog's fields are
	// ours to use from here on).
	if !c.establish() {
		u.byeUnconfirmed(dlg) // ended meanwhile (ACK timeout, hangup, Close): tell the caller
		return
	}
	close(c.confirmed)
	if timer.interval > 0 {
		u.wg.Add(1)
		go func() { defer u.wg.Done(); c.runSessionTimer(timer) }()
	}
}

// byeUnconfirmed ends, with BYE, the dialog of a call that ended while its 200 OK was
// still waiting for the ACK. It runs on the goroutine that sent the 200; Close cuts it
// short.
func (u *UA) byeUnconfirmed(dlg *sipgo.DialogServerSession) {
	ctx, cancel := context.WithTimeout(u.ctx, byeTimeout)
	defer cancel()
	_ = dlg.Bye(ctx)
}

type admission int

const (
	admitted admission = iota
	admitFull
	admitDuplicate
)

// admit registers c unless the UA is closed or full or its Call-ID is taken: one step
// under the lock, so that concurrent INVITEs cannot all pass the limit.
func (u *UA) admit(c *Call) admission {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed || u.draining || (u.limit > 0 && len(u.calls) >= u.limit):
		return admitFull
	case u.callIDs[c.ID] != nil:
		return admitDuplicate
	}
	u.calls[c.dlg.ID] = c
	u.callIDs[c.ID] = c
	return admitted
}

func (u *UA) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

func respondUnavailable(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := sipmsg.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	res.AppendHeader(sipmsg.NewHeader("Retry-After", "30"))
	_ = tx.Respond(res)
}

// malformed says what is wrong with a request that sipgo parsed but RFC 3261 (and the
// RFC 4475 torture cases) call malformed, or "".
func malformed(req *sipmsg.Request) string {
	cseq := req.CSeq()
	switch {
	case cseq == nil:
		return "no CSeq"
	case !strings.EqualFold(string(cseq.MethodName), string(req.Method)):
		return "CSeq method does not match the request"
	case req.Recipient.Headers != nil && req.Recipient.Headers.Length() > 0:
		return "headers in the Request-URI"
	}
	return ""
}

// unsupportedRequire returns the option tags of the request's Require headers that we do
// not support (RFC 3261 §8.2.2.3: answered 420 with Unsupported), comma-separated.
func unsupportedRequire(req *sipmsg.Request) string {
	var out []string
	for _, h := range req.GetHeaders("Require") {
		for _, opt := range strings.Split(h.Value(), ",") {
			opt = strings.TrimSpace(opt)
			if opt != "" && !strings.EqualFold(opt, "timer") {
				out = append(out, opt)
			}
		}
	}
	return strings.Join(out, ", ")
}

// allow is what the UA answers in Allow headers.
const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"

// sessionTimer is a call's RFC 4028 session timer as negotiated.
type sessionTimer struct {
	interval     time.Duration
	refresher    string // "uac" (the caller refreshes) or "uas" (we do)
	peerSupports bool
}

// sessionTimer reads Session-Expires, Min-SE and Supported from an INVITE. An interval
// below our minimum is an error (answered 422).
func (u *UA) sessionTimer(req *sipmsg.Request) (sessionTimer, error) {
	var st sessionTimer
	for _, h := range req.GetHeaders("Supported") {
		for _, opt := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "timer") {
				st.peerSupports = true
			}
		}
	}
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x") // the compact form
	}
	if h == nil {
		return sessionTimer{}, nil
	}
	v, params, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return sessionTimer{}, nil // unparseable: no session timer (RFC 4028 §9 allows ignoring)
	}
	if n > 86400 {
		n = 86400
	}
	st.interval = time.Duration(n) * time.Second
	if st.interval < u.minSE {
		return st, errors.New("session interval too small")
	}
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			st.refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	if st.refresher != "uac" && st.refresher != "uas" {
		st.refresher = "uas"
		if st.peerSupports {
			st.refresher = "uac"
		}
	}
	if !st.peerSupports {
		st.refresher = "uas" // RFC 4028 §9: a caller without timer support cannot refresh
	}
	return st, nil
}

// handleAck confirms a dialog; for a late offer the ACK carries the caller's answer.
func (u *UA) handleAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := u.inDialog(req)
	if c == nil {
		return // an ACK is never answered; one outside a dialog of ours is dropped
	}
	if cseq := req.CSeq(); cseq == nil || cseq.SeqNo != c.dlg.InviteRequest.CSeq().SeqNo {
		return // not the ACK of the INVITE we answered
	}
	// The caller's answer to a late offer is kept before ReadAck confirms the dialog:
	// that wakes the 200's sender, which then closes Confirmed.
	if len(c.Offer) == 0 && len(req.Body()) > 0 {
		c.mu.Lock()
		if c.remote == nil {
			c.remote = bytes.Clone(req.Body())
		}
		c.mu.Unlock()
	}
	_ = c.dlg.ReadAck(req, tx)
}

// awaitACK ends an answered call whose ACK does not come within d (RFC 3261 §13.3.1.4),
// releasing its dialog at once; the goroutine that sent the 200 sends the BYE when
// sipgo's INVITE transaction gives up.
func (c *Call) awaitACK(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.confirmed:
		return
	case <-c.done:
		return
	case <-t.C:
	}
	c.end(ErrNoACK, fmt.Sprintf("no ACK for our 200 OK within %v", d))
}

// handleInDialog answers UPDATE and re-INVITE on an established call: the Contact
// parameters are refreshed and the application answers any new offer.
func (u *UA) handleInDialog(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := u.inDialog(req)
	if c == nil || c.State() != DialogEstablished {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if h := req.GetHeader("Contact"); h != nil {
		params := contactParams(h.Value())
		c.mu.Lock()
		c.contact = params
		c.mu.Unlock()
	}
	offer := req.Body()
	var answer []byte
	var err error
	if u.onUpdate != nil {
		answer, err = u.onUpdate(c, offer)
	} else if len(offer) > 0 {
		err = errors.New("no update handler")
	}
	var res *sipmsg.Response
	switch {
	case len(offer) > 0 && (err != nil || len(answer) == 0):
		res = sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
	case len(offer) > 0:
		c.mu.Lock()
		c.answer = answer
		c.mu.Unlock()
		res = sipmsg.NewSDPResponseFromRequest(req, answer)
	default:
		res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	}
	res.AppendHeader(u.contactFor(req))
	if st := c.timer; st.interval > 0 {
		res.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(st.interval/time.Second), st.refresher)))
	}
	if tx.Respond(res) == nil && res.StatusCode == 200 {
		select {
		case c.refreshed <- struct{}{}:
		default:
		}
	}
}

func (u *UA) handleBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if u.clientDialogs.ReadBye(req, tx) == nil {
		return // an outbound call: its dialog context ends it
	}
	c := u.inDialog(req)
	if c == nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := c.dlg.ReadBye(req, tx); err != nil {
		if errors.Is(err, sipgo.ErrDialogInvalidCseq) {
			// RFC 3261 §12.2.2: a CSeq lower than the remote sequence is answered 500.
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 500, "Server Internal Error (CSeq out of order)", nil))
		}
		return
	}
	c.end(ErrHangupRemote, "remote hung up (BYE)")
}

// inDialog returns the incoming call whose dialog req belongs to: its Call-ID, its To
// tag (ours) and its From tag (the caller's) must all match (RFC 3261 §12.2.2). A request
// with the right Call-ID and made-up tags is nobody's.
func (u *UA) inDialog(req *sipmsg.Request) *Call {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id]
}

// forget removes c from the UA: its dialog is released with it.
func (u *UA) forget(c *Call) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.calls[c.dlg.ID] == c {
		delete(u.calls, c.dlg.ID)
	}
	if u.callIDs[c.ID] == c {
		delete(u.callIDs, c.ID)
	}
}

// Close hangs up every call (BYE), stops the listeners and waits for them. Idempotent.
func (u *UA) Close() error {
	u.once.Do(func() {
		u.mu.Lock()
		u.closed = true
		u.cancel()
		calls := make([]*Call, 0, len(u.calls))
		for _, c := range u.calls {
			calls = append(calls, c)
		}
		out := make([]*OutboundCall, 0, len(u.outbound))
		for _, c := range u.outbound {
			out = append(out, c)
		}
		regs := u.regs
		u.mu.Unlock()
		for _, r := range regs {
			_ = r.Close()
		}
		for _, c := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.Hangup(ctx)
			cancel()
		}
		for _, c := range out {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.Hangup(ctx)
			cancel()
			c.dlg.Close()
		}
		if u.udp != nil {
			u.udp.Close()
		}
		if u.tcp != nil {
			u.tcp.Close()
		}
		if u.tlsLn != nil {
			u.tlsLn.Close()
		}
		_ = u.srv.Close()
		_ = u.cli.Close()
		_ = u.ua.Close()
		u.wg.Wait()
	})
	return nil
}

// Call is one SIP call.
type Call struct {
	ua  *UA
	dlg *sipgo.DialogServerSession

	// ID is the Call-ID.
	ID string
	// From, To and UserAgent are the header values of the INVITE.
	From, To, UserAgent string
	// Offer is the INVITE's SDP (empty for a late offer).
	Offer []byte
	// contact holds the Contact header parameters (lower-case keys, quotes removed),
	// updated by UPDATE and re-INVITE; guarded by mu.
	contact map[string]string
	answer  []byte
	// remote is the caller's answer from the ACK of a late offer; guarded by mu.
	remote []byte
	// timer is the negotiated session timer; refreshed gets a token per refresh received.
	timer     sessionTimer
	refreshed chan struct{}
	confirmed chan struct{}

	mu    sync.Mutex
	state DialogState
	err   error // why it ended
	done  chan struct{}
}

func newCall(u *UA, req *sipmsg.Request, dlg *sipgo.DialogServerSession) *Call {
	c := &Call{ua: u, dlg: dlg, ID: req.CallID().Value(), Offer: req.Body(), contact: map[string]string{},
		state: DialogRinging, done: make(chan struct{}), refreshed: make(chan struct{}, 1), confirmed: make(chan struct{})}
	if h := req.From(); h != nil {
		c.From = h.Address.String()
	}
	if h := req.To(); h != nil {
		c.To = h.Address.String()
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		c.UserAgent = h.Value()
	}
	if h := req.GetHeader("Contact"); h != nil {
		c.contact = contactParams(h.Value())
	}
	return c
}

// contactParams extracts the header parameters after the address of a Contact value:
// <sip:a@b;transport=tcp>;audio;video;x-cisco-stream="rtmp://u:p@h/app/s".
func contactParams(v string) map[string]string {
	out := map[string]string{}
	rest := v
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		rest = v[i+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		rest = v[i:]
	} else {
		return out
	}
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, "; \t")
		if rest == "" {
			break
		}
		// Quotes matter only in a value (after '='); an unclosed one is not a quote.
		end, inQuote, inValue := 0, false, false
		for end < len(rest) && (inQuote || rest[end] != ';') {
			switch {
			case rest[end] == '\\' && inQuote:
				end++ // quoted-pair: the next character is literal
			case rest[end] == '=':
				inValue = true
			case rest[end] == '"' && inValue:
				inQuote = !inQuote
			}
			end++
		}
		end = min(end, len(rest))
		if inQuote {
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				end = i
			}
		}
		k, val, _ := strings.Cut(rest[:end], "=")
		out[strings.ToLower(strings.TrimSpace(k))] = unquote(strings.TrimSpace(val))
		rest = rest[end:]
	}
	return out
}

// unquote removes a quoted-string's quotes and resolves its quoted-pairs (RFC 3261
// 25.1); other values are returned with stray quotes trimmed.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return strings.Trim(v, `"`)
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// StreamURL returns the stream URL the Call Bridge put in the Contact (x-cisco-stream),
// or "".
func (c *Call) StreamURL() string {
	v, _ := c.ContactParam("x-cisco-stream")
	return v
}

// ContactParam returns a parameter of the peer's current Contact header (lower-case
// name), such as x-cisco-stream or isfocus.
func (c *Call) ContactParam(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.contact[name]
	return v, ok
}

// establish moves a ringing call to established; false if it has ended meanwhile.
func (c *Call) establish() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != DialogRinging {
		return false
	}
	c.state = DialogEstablished
	return true
}

// State returns where the call is.
func (c *Call) State() DialogState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// CallID returns the Call-ID.
func (c *Call) CallID() string { return c.ID }

// Err says why the call ended (nil while it is up): a *EndError.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// EndReason says why the call ended, in words ("" while it is up).
func (c *Call) EndReason() string { return endReason(c.Err()) }

func (c *Call) end(class error, reason string) {
	c.mu.Lock()
	if c.state == DialogEnded {
		c.mu.Unlock()
		return
	}
	c.state, c.err = DialogEnded, &EndError{Class: class, Reason: reason}
	c.mu.Unlock()
	c.ua.forget(c)
	_ = c.dlg.Close()
	close(c.done)
}

// Hangup ends an established call with BYE.
func (c *Call) Hangup(ctx context.Context) error {
	if c.State() != DialogEstablished {
		c.end(ErrHangupLocal, "hung up before answer")
		return nil
	}
	ctx, cancel := byeContext(ctx)
	defer cancel()
	err := c.dlg.Bye(ctx)
	c.end(ErrHangupLocal, "local hangup (BYE)")
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// RemoteSDP returns the caller's SDP: the INVITE's offer, or for a late offer (an INVITE
// without SDP, where the InviteHandler returned our offer) the answer that came in the ACK
// (nil until then; wait on Confirmed).
func (c *Call) RemoteSDP() []byte {
	if len(c.Offer) > 0 {
		return c.Offer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// Confirmed is closed once the call is established: the caller acknowledged our 200 OK
// (for a late offer, RemoteSDP then holds the caller's answer). A call whose ACK does not
// come within the ACK timeout ends instead (WithACKTimeout).
func (c *Call) Confirmed() <-chan struct{} { return c.confirmed }

// SessionExpires returns the negotiated RFC 4028 session interval and refresher ("uac":
// the caller refreshes, "uas": we do), or 0 when the call has no session timer.
func (c *Call) SessionExpires() (time.Duration, string) { return c.timer.interval, c.timer.refresher }

// runSessionTimer keeps an RFC 4028 session alive: as refresher it sends UPDATE every half
// interval; otherwise it ends the call with BYE when no refresh came in time.
func (c *Call) runSessionTimer(st sessionTimer) {
	if st.refresher == "uas" {
		tick := time.NewTicker(st.interval / 2)
		defer tick.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-tick.C:
				if err := c.refresh(st); err != nil {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = c.dlg.Bye(ctx)
					cancel()
					c.end(ErrSessionExpired, "session refresh failed: "+err.Error())
					return
				}
			}
		}
	}
	// RFC 4028 §10: the BYE goes out at the interval minus min(32 s, interval/3).
	wait := st.interval - min(32*time.Second, st.interval/3)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.refreshed:
			t.Reset(wait)
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.dlg.Bye(ctx)
			cancel()
			c.end(ErrSessionExpired, fmt.Sprintf("session timer expired: no refresh from the caller within %v", st.interval))
			return
		}
	}
}

// refresh sends a session refresh: an UPDATE without SDP (RFC 4028 §9).
func (c *Call) refresh(st sessionTimer) error {
	req := sipmsg.NewRequest(sipmsg.UPDATE, c.dlg.InviteRequest.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uas", int(st.interval/time.Second))))
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("UPDATE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// byeTimeout bounds a BYE whose context has no deadline: sipgo waits for the answer as
// long as the context lets it, so a BYE to a peer that died would never return. 32 s is
// RFC 3261's Timer F.
const byeTimeout = 32 * time.Second

func byeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, byeTimeout)
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}
