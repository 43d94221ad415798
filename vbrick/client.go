package vbrick

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/internal/httpc"
)

// maxResponse caps what is read of an answer body: Rev's JSON answers are small.
const maxResponse = 4 << 20

// Option configures a Client.
type Option func(*Client) error

// WithUserPassword logs in with a Rev username and password (POST /api/v2/user/login).
func WithUserPassword(username, password string) Option {
	return func(c *Client) error {
		if username == "" || password == "" {
			return errors.New("vbrick: username and password must not be empty")
		}
		c.username, c.password = username, password
		return nil
	}
}

// WithLegacyLogin logs in through /api/v1/user/login, as the Cisco Meeting Server
// Uploader does, instead of /api/v2/user/login.
func WithLegacyLogin() Option {
	return func(c *Client) error { c.legacy = true; return nil }
}

// WithAPIKey authenticates with an API key and secret (POST /api/v2/authenticate).
func WithAPIKey(apiKey, secret string) Option {
	return func(c *Client) error {
		if apiKey == "" || secret == "" {
			return errors.New("vbrick: API key and secret must not be empty")
		}
		c.apiKey, c.secret = apiKey, secret
		return nil
	}
}

// WithTrustPEM trusts the PEM certificates in pem (in addition to none: the system roots
// are replaced) for the Rev server's certificate. Verification stays on.
func WithTrustPEM(pem []byte) Option {
	return func(c *Client) error {
		pool, ok := httpc.TrustPool(pem)
		if !ok {
			return errors.New("vbrick: trust bundle holds no PEM certificate")
		}
		c.roots = pool
		return nil
	}
}

// WithHTTPClient sends requests through hc (its Transport is used as is; WithTrustPEM
// then does not apply).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error { c.hc = hc; return nil }
}

// WithLogger logs retries and session events to l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error { c.log = l; return nil }
}

// WithRetry sets how often a request that got 429, 5xx or a connection failure is sent
// (attempts, default 4) and the backoff: base doubles per attempt up to max, with full
// jitter (defaults 500 ms and 30 s). A Retry-After above max is capped to max.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(c *Client) error {
		if attempts < 1 || base <= 0 || max < base {
			return fmt.Errorf("vbrick: bad retry policy: %d attempts, %v..%v", attempts, base, max)
		}
		c.attempts, c.backoffBase, c.backoffMax = attempts, base, max
		return nil
	}
}

// WithClock replaces time.Now, for session expiry (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Client) error { c.now = now; return nil }
}

// Client talks to one Rev tenant. It is safe for concurrent use. Close logs off.
type Client struct {
	base     *url.URL
	hc       *http.Client
	roots    *x509.CertPool
	log      *slog.Logger
	now      func() time.Time
	username string
	password string
	legacy   bool
	apiKey   string
	secret   string

	attempts    int
	backoffBase time.Duration
	backoffMax  time.Duration
	bodyTimeout time.Duration

	loginMu sync.Mutex // serialises logins and extensions
	mu      sync.Mutex
	token   string
	userID  string
	expires time.Time
	issued  time.Time
	closed  bool
}

// New returns a Client for the Rev tenant at baseURL ("https://rev.example.com" or with a
// port). One of WithUserPassword or WithAPIKey is required. Nothing is sent until the
// first call.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("vbrick: base URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("vbrick: base URL %q: want https://host[:port]", u.Redacted())
	}
	if u.Scheme == "http" && !httpc.IsLoopback(u.Hostname()) {
		// Credentials and tokens would cross the network in the clear.
		return nil, fmt.Errorf("vbrick: base URL %s: plain http is only allowed to a loopback address (use https)", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("vbrick: base URL %s holds credentials: pass them with WithUserPassword or WithAPIKey", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, log: slog.New(slog.DiscardHandler), now: time.Now,
		attempts: 4, backoffBase: 500 * time.Millisecond, backoffMax: 30 * time.Second, bodyTimeout: DefaultBodyTimeout}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if (c.username == "") == (c.apiKey == "") {
		return nil, errors.New("vbrick: give exactly one of WithUserPassword and WithAPIKey")
	}
	if c.hc == nil {
		tr := httpc.Transport(c.roots)
		tr.ResponseHeaderTimeout = 5 * time.Minute // Rev answers an upload once it has it
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// cancelBody ends an attempt's context (and its body timer) when the body is closed.
type cancelBody struct {
	io.ReadCloser
	stop func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// DefaultBodyTimeout bounds reading an answer's body once its headers arrived.
const DefaultBodyTimeout = time.Minute

// WithBodyTimeout sets how long an answer's body may take after its headers (default
// DefaultBodyTimeout): a server that sends headers and then stalls cannot hold a
// request for ever.
func WithBodyTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("vbrick: invalid body timeout %v", d)
		}
		c.bodyTimeout = d
		return nil
	}
}

// BaseURL returns the tenant's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one API call; body is rebuilt for every attempt.
type request struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   func() (io.Reader, int64, error) // nil: no body
	json   any                              // JSON body, when body is nil
	auth   bool                             // send the token (log in first)
	// retryTransport: a connection failure may be retried (false for uploads).
	retryTransport bool
	noRetry        bool // one attempt only
	// only429: of the answers, only 429 is retried (a request that must not run twice:
	// a 5xx may come after the server did it).
	only429 bool
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends r with retries and decodes a 2xx JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	relogged := false
	attempts := c.attempts
	if r.noRetry {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		// Each attempt has its own context, so that a body that stops coming is cut off
		// bodyTimeout after its headers (the caller's ctx may have no deadline).
		actx, cancel := context.WithCancel(ctx)
		resp, err := c.send(actx, r)
		if err != nil {
			cancel()
		} else {
			body := time.AfterFunc(c.bodyTimeout, cancel)
			resp.Body = &cancelBody{ReadCloser: resp.Body, stop: func() { body.Stop(); cancel() }}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var loginErr *Error
			if errors.As(err, &loginErr) || errors.Is(err, ErrClosed) || !r.retryTransport || attempt >= attempts {
				return err
			}
			wait := c.backoff(attempt, 0)
			c.log.Warn("vbrick: request failed, retrying", "method", r.method, "url", c.url(r.path, nil),
				"err", c.scrub(err.Error()), "attempt", attempt, "next_in", wait)
			if err := httpc.Sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode/100 == 2 {
			defer resp.Body.Close()
			if out == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
				return nil
			}
			data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
			if err != nil {
				return fmt.Errorf("vbrick: %s %s: reading the answer: %w", r.method, c.url(r.path, nil), err)
			}
			if len(data) > maxResponse {
				return fmt.Errorf("vbrick: %s %s: answer larger than %d bytes", r.method, c.url(r.path, nil), maxResponse)
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("vbrick: %s %s: answer is not the expected JSON: %w", r.method, c.url(r.path, nil), err)
			}
			return nil
		}
		e := c.readError(r, resp)
		if e.Status == http.StatusUnauthorized && r.auth && !relogged {
			// The session ended (expired, logged off elsewhere): log in again, once.
			relogged = true
			c.dropToken()
			c.log.Info("vbrick: session rejected, logging in again", "url", e.URL)
			attempt--
			continue
		}
		if !e.Temporary() || attempt >= attempts || r.only429 && e.Status != http.StatusTooManyRequests {
			return e
		}
		wait := c.backoff(attempt, e.RetryAfter)
		c.log.Warn("vbrick: request failed, retrying", "method", e.Method, "url", e.URL, "status", e.Status,
			"code", e.Code, "detail", e.Detail, "attempt", attempt, "next_in", wait)
		if err := httpc.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// send makes one attempt.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	var length int64
	if r.body != nil {
		b, n, err := r.body()
		if err != nil {
			return nil, err
		}
		body, length = b, n
	} else if r.json != nil {
		data, err := json.Marshal(r.json)
		if err != nil {
			return nil, fmt.Errorf("vbrick: encoding request: %w", err)
		}
		body, length = bytes.NewReader(data), int64(len(data))
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return nil, fmt.Errorf("vbrick: %w", err)
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Accept", "application/json")
	if r.json != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.auth {
		token, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "VBrick "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error repeats the URL; ours has no credentials, and neither has the cause.
		return nil, fmt.Errorf("vbrick: %s %s: %w", r.method, c.url(r.path, nil), unwrapURLError(err))
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// readError turns a non-2xx answer into an *Error and closes the body.
func (c *Client) readError(r request, resp *http.Response) *Error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Method: r.method, URL: c.url(r.path, nil), Status: resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	var body struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(data, &body) == nil && (body.Code != "" || body.Detail != "") {
		e.Code, e.Detail = body.Code, body.Detail
	} else if text := strings.Join(strings.Fields(htmlTag.ReplaceAllString(string(data), " ")), " "); text != "" {
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Detail = text
	} else if resp.StatusCode == http.StatusTooManyRequests {
		e.Detail = "Too Many Requests"
	}
	e.Code, e.Detail = c.scrub(e.Code), c.scrub(e.Detail)
	return e
}

// scrub removes the client's secrets from s, should a server echo them.
func (c *Client) scrub(s string) string {
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	for _, secret := range []string{c.password, c.secret, token} {
		if len(secret) >= 3 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// retryAfter parses a Retry-After value (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before attempt+1: Retry-After when given (capped), else full jitter
// over an exponential ceiling.
func (c *Client) backoff(attempt int, after time.Duration) time.Duration {
	if after > 0 {
		return min(after, c.backoffMax)
	}
	return httpc.Backoff(attempt, c.backoffBase, c.backoffMax)
}
