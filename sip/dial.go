package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// End reasons of outbound calls that did not connect, as the CMS log words them.
var (
	// ErrNoProvisional: nothing came back, not even 100 Trying, before the INVITE
	// transaction timed out.
	ErrNoProvisional = errors.New("transaction timeout - no provisional responses sending INVITE")
	// ErrNoAnswer: the callee rang but did not answer in time (the INVITE was cancelled).
	ErrNoAnswer = errors.New("no answer")
	// ErrAuthFailed: the callee or a proxy refused our credentials.
	ErrAuthFailed = errors.New("authentication failed")
)

// DialOptions configure an outbound call.
type DialOptions struct {
	// Username and Password answer 401 and 407 digest challenges (the digest URI is the
	// Request-URI). They never appear in errors or logs.
	Username, Password string
	// Timeout bounds the wait for an answer (default 32 s, RFC 3261 Timer B).
	Timeout time.Duration
	// Headers are added to the INVITE.
	Headers map[string]string
	// Proxy is an outbound proxy, host[:port]: the INVITE is sent there (a loose Route
	// header, RFC 3261 §16.12) with the Request-URI left as the target.
	Proxy string
	// FromDomain and ContactDomain replace the host of our From and Contact URIs (CMS
	// dial plan rules' localFromDomain and localContactDomain); "" keeps ours.
	FromDomain, ContactDomain string
	// FromUser is the user part of our From URI when FromDomain is set (default
	// "sipcast"): the account a registered caller calls as.
	FromUser string
	// ContactParams are added to our Contact header as quoted parameters, as a Cisco
	// Meeting Server Call Bridge puts x-cisco-stream (the stream URL) there when it calls
	// a streamer.
	ContactParams map[string]string
}

// OutboundCall is an answered outbound call.
type OutboundCall struct {
	dlg *sipgo.DialogClientSession
	// Answer is the callee's SDP.
	Answer []byte
	done   chan struct{}
	u      *UA
	// contactDomain is DialOptions.ContactDomain, kept for the Contacts of Update.
	contactDomain string
	// contact is the callee's Contact parameters (its 200 OK).
	contact   map[string]string
	hangingUp atomic.Bool
	mu        sync.Mutex
	err       error // why it ended
}

// contactWith is our Contact with domain as its host ("" keeps ours) and params as
// quoted parameters, in name order.
func (u *UA) contactWith(domain string, params map[string]string) *sipmsg.ContactHeader {
	host, port := u.contactHostPort()
	if domain != "" {
		host = domain
	}
	contact := &sipmsg.ContactHeader{Address: sipmsg.Uri{User: "sipcast", Host: host, Port: port}, Params: sipmsg.NewParams()}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		contact.Params.Add(k, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(params[k])+`"`)
	}
	return contact
}

// Update sends an in-dialog UPDATE without a body (RFC 3311) whose Contact carries
// contactParams, as a Call Bridge moves a streamer's x-cisco-stream, and waits for its
// answer: a non-2xx answer is a *StatusError.
func (c *OutboundCall) Update(ctx context.Context, contactParams map[string]string) error {
	return c.request(ctx, sipmsg.UPDATE, "", "", c.u.contactWith(c.contactDomain, contactParams))
}

// RequestKeyframe asks the callee for a keyframe with SIP INFO picture_fast_update
// (RFC 5168), for peers that ignore RTCP PLI/FIR.
func (c *OutboundCall) RequestKeyframe(ctx context.Context) error {
	return c.request(ctx, sipmsg.INFO, "application/media_control+xml", pictureFastUpdate)
}

// SendDTMF sends a key to the callee in SIP INFO (application/dtmf-relay).
func (c *OutboundCall) SendDTMF(ctx context.Context, digit byte, duration time.Duration) error {
	if !isDTMF(digit) {
		return fmt.Errorf("sip: %q is not a DTMF digit", digit)
	}
	return c.request(ctx, sipmsg.INFO, "application/dtmf-relay", fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", digit, duration/time.Millisecond))
}

// request sends an in-dialog request to the callee's Contact and waits for its answer.
func (c *OutboundCall) request(ctx context.Context, method sipmsg.RequestMethod, contentType, body string, headers ...sipmsg.Header) error {
	if st := c.State(); st != DialogEstablished {
		return fmt.Errorf("sip: %s on a call that is %s", method, st)
	}
	target := c.dlg.InviteRequest.Recipient
	if cont := c.dlg.InviteResponse.Contact(); cont != nil {
		target = cont.Address // the remote target (RFC 3261 §12.2.1.1)
	}
	req := sipmsg.NewRequest(method, *target.Clone())
	for _, h := range headers {
		req.AppendHeader(h)
	}
	if contentType != "" {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
		req.SetBody([]byte(body))
	}
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: %s: %w", method, err)
	}
	if !res.IsSuccess() {
		return &StatusError{Code: int(res.StatusCode), Reason: res.Reason}
	}
	return nil
}

// CallID returns the dialog's Call-ID.
func (c *OutboundCall) CallID() string { return c.dlg.InviteRequest.CallID().Value() }

// ContactParam returns a parameter of the callee's Contact (lower-case name).
func (c *OutboundCall) ContactParam(name string) (string, bool) {
	v, ok := c.contact[name]
	return v, ok
}

// State is DialogEstablished until the call ends (an OutboundCall is an answered call).
func (c *OutboundCall) State() DialogState {
	if c.Err() != nil {
		return DialogEnded
	}
	return DialogEstablished
}

// Done is closed when the call has ended (our Hangup or the callee's BYE).
func (c *OutboundCall) Done() <-chan struct{} { return c.done }

// Err says why the call ended (nil while it is up): a *EndError.
func (c *OutboundCall) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// EndReason says why the call ended, in words ("" while it is up).
func (c *OutboundCall) EndReason() string { return endReason(c.Err()) }

func (c *OutboundCall) end() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if c.hangingUp.Load() {
		c.err = &EndError{Class: ErrHangupLocal, Reason: "hung up here (BYE sent)"}
	} else {
		c.err = &EndError{Class: ErrHangupRemote, Reason: "the callee hung up (BYE)"}
	}
	c.mu.Unlock()
	close(c.done)
}

// Hangup sends BYE and waits for its answer (at most 32 s when ctx has no deadline).
func (c *OutboundCall) Hangup(ctx context.Context) error {
	c.hangingUp.Store(true)
	defer c.end()
	ctx, cancel := byeContext(ctx)
	defer cancel()
	if err := c.dlg.Bye(ctx); err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// Dial calls target (a SIP URI such as "sip:bob@example.com:5060") with an SDP offer and
// waits for the answer, answering digest challenges with the credentials in opts. It
// cancels the INVITE when ctx ends. Failures are *StatusError, ErrNoProvisional,
// ErrNoAnswer or ErrAuthFailed, wrapped with the target.
func (u *UA) Dial(ctx context.Context, target string, offer []byte, opts DialOptions) (*OutboundCall, error) {
	var uri sipmsg.Uri
	if err := sipmsg.ParseUri(target, &uri); err != nil {
		return nil, fmt.Errorf("sip: target %q: %w", target, err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 32 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var headers []sipmsg.Header
	headers = append(headers, sipmsg.NewHeader("Content-Type", "application/sdp"))
	for k, v := range opts.Headers {
		headers = append(headers, sipmsg.NewHeader(k, v))
	}
	if opts.Proxy != "" {
		route, err := proxyRoute(opts.Proxy, uri.UriParams)
		if err != nil {
			return nil, err
		}
		headers = append(headers, route)
	}
	if opts.FromDomain != "" {
		user := opts.FromUser
		if user == "" {
			user = "sipcast"
		}
		from := &sipmsg.FromHeader{Address: sipmsg.Uri{User: user, Host: opts.FromDomain}, Params: sipmsg.NewParams()}
		from.Params.Add("tag", sipmsg.GenerateTagN(16))
		headers = append(headers, from)
	}
	if opts.ContactDomain != "" || len(opts.ContactParams) > 0 {
		headers = append(headers, u.contactWith(opts.ContactDomain, opts.ContactParams))
	}
	dlg, err := u.clientDialogs.Invite(ctx, uri, offer, headers...)
	if err != nil {
		return nil, fmt.Errorf("sip: calling %s: %w", uri.Addr(), err)
	}
	var provisional atomic.Bool
	challenged := 0
	// When ctx ends: CANCEL a ringing call; abandon one that never answered at all
	// (sipgo would otherwise sit out Timer B, 32 s, before giving up).
	waitCtx, cancelWait := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelWait(nil)
	stop := context.AfterFunc(ctx, func() {
		if provisional.Load() {
			cancelWait(ctx.Err())
		} else {
			cancelWait(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer stop()
	err = dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{
		Username: opts.Username, Password: opts.Password,
		OnResponse: func(r *sipmsg.Response) error {
			if r.IsProvisional() {
				provisional.Store(true)
			}
			if r.StatusCode == 401 || r.StatusCode == 407 {
				challenged++
			}
			return nil
		},
	})
	if err != nil {
		dlg.Close()
		var rej *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &rej) && (rej.Res.StatusCode == 401 || rej.Res.StatusCode == 407) && challenged > 0 && opts.Password != "":
			err = fmt.Errorf("%w: %d %s", ErrAuthFailed, rej.Res.StatusCode, rej.Res.Reason)
		case errors.As(err, &rej):
			err = &StatusError{Code: rej.Res.StatusCode, Reason: rej.Res.Reason}
		case !provisional.Load():
			err = ErrNoProvisional
		case ctx.Err() != nil:
			err = ErrNoAnswer
		}
		return nil, fmt.Errorf("sip: calling %s: %w", uri.Addr(), redactErr(err, opts.Password))
	}
	if err := dlg.Ack(ctx); err != nil {
		dlg.Close()
		return nil, fmt.Errorf("sip: ACK to %s: %w", uri.Addr(), err)
	}
	c := &OutboundCall{dlg: dlg, Answer: dlg.InviteResponse.Body(), done: make(chan struct{}), u: u, contactDomain: opts.ContactDomain,
		contact: map[string]string{}}
	if cont := dlg.InviteResponse.GetHeader("Contact"); cont != nil {
		c.contact = contactParams(cont.Value())
	}
	u.mu.Lock()
	u.outbound[dlg.ID] = c
	u.wg.Add(1)
	u.mu.Unlock()
	go func() { // ends with the dialog (a BYE either way) or with our Hangup, even unanswered
		defer u.wg.Done()
		select {
		case <-dlg.Context().Done():
		case <-c.done:
		}
		c.end()
		u.mu.Lock()
		delete(u.outbound, dlg.ID)
		u.mu.Unlock()
	}()
	return c, nil
}

// proxyRoute is the Route header that sends a request through proxy ("host[:port]"),
// keeping the target's transport.
func proxyRoute(proxy string, params sipmsg.HeaderParams) (sipmsg.Header, error) {
	host, port := proxy, 0
	if h, p, err := net.SplitHostPort(proxy); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("sip: proxy %q: bad port", proxy)
		}
		host, port = h, n
	}
	if host == "" || strings.ContainsAny(host, " <>;\"") {
		return nil, fmt.Errorf("sip: proxy %q: bad host", proxy)
	}
	r := &sipmsg.RouteHeader{Address: sipmsg.Uri{Host: host, Port: port, UriParams: sipmsg.NewParams()}}
	r.Address.UriParams.Add("lr", "")
	if params != nil {
		if t, ok := params.Get("transport"); ok {
			r.Address.UriParams.Add("transport", t)
		}
	}
	return r, nil
}

func redactErr(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "REDACTED"))
}
