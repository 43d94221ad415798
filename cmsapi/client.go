package cmsapi

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sipcast/sipcast/internal/httpc"
)

// maxAnswer caps an answer body; a page of 100 objects is far below it.
const maxAnswer = 8 << 20

// pageSize is the limit asked for when listing.
const pageSize = 100

// ClientOption configures a Client.
type ClientOption func(*Client) error

// WithTrustPEM trusts the PEM certificates in pem for the server's certificate (the
// system roots are not used then). Verification stays on.
func WithTrustPEM(pem []byte) ClientOption {
	return func(c *Client) error {
		pool, ok := httpc.TrustPool(pem)
		if !ok {
			return errors.New("cmsapi: trust bundle holds no PEM certificate")
		}
		c.roots = pool
		return nil
	}
}

// WithHTTPClient sends requests through hc.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) error { c.hc = hc; return nil }
}

// WithLogger logs retries to l (default: discard).
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *Client) error { c.log = l; return nil }
}

// WithRetry sets how often a request answered 503 (or failing to connect) is sent, and
// the backoff (base doubling up to max, jittered). Defaults: 4 attempts, 500 ms, 10 s.
func WithRetry(attempts int, base, max time.Duration) ClientOption {
	return func(c *Client) error {
		if attempts < 1 || base <= 0 || max < base {
			return fmt.Errorf("cmsapi: bad retry policy: %d attempts, %v..%v", attempts, base, max)
		}
		c.attempts, c.base, c.max = attempts, base, max
		return nil
	}
}

// Client calls one Call Bridge's API. It is safe for concurrent use.
type Client struct {
	root     *url.URL // https://host:port/api/v1
	user     string
	password string
	hc       *http.Client
	roots    *x509.CertPool
	log      *slog.Logger
	attempts int
	base     time.Duration
	max      time.Duration
}

// NewClient returns a client for the API at baseURL ("https://cms.example.com:445"; the
// /api/v1 prefix is added) with Basic authentication.
func NewClient(baseURL, user, password string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("cmsapi: base URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("cmsapi: base URL %q: want https://host[:port]", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("cmsapi: base URL %s holds credentials: pass them as arguments", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/api/v1") {
		u.Path += "/api/v1"
	}
	u.RawQuery, u.Fragment = "", ""
	c := &Client{root: u, user: user, password: password, log: slog.New(slog.DiscardHandler),
		attempts: 4, base: 500 * time.Millisecond, max: 10 * time.Second}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: httpc.Transport(c.roots), Timeout: time.Minute}
	}
	return c, nil
}

func (c *Client) url(p string, q url.Values) string {
	u := *c.root
	u.Path = c.root.Path + "/" + strings.TrimPrefix(p, "/")
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request (form for POST/PUT) and returns the answer on 200.
func (c *Client) do(ctx context.Context, method, p string, q url.Values, form url.Values) (*http.Response, []byte, error) {
	for attempt := 1; ; attempt++ {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, c.url(p, q), body)
		if err != nil {
			return nil, nil, fmt.Errorf("cmsapi: %w", err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.SetBasicAuth(c.user, c.password)
		resp, err := c.hc.Do(req)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
			resp.Body.Close()
			if err == nil && len(data) > maxAnswer {
				err = fmt.Errorf("answer larger than %d bytes", maxAnswer)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			err = fmt.Errorf("cmsapi: %s %s: %w", method, c.url(p, nil), err)
			if attempt >= c.attempts {
				return nil, nil, err
			}
			if err := c.wait(ctx, attempt, err.Error()); err != nil {
				return nil, nil, err
			}
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return resp, data, nil
		}
		e := &Error{Method: method, URL: c.url(p, nil), Status: resp.StatusCode}
		e.Failure, e.Parameter, e.Reason = parseFailure(data)
		if resp.StatusCode != http.StatusServiceUnavailable || attempt >= c.attempts {
			return nil, nil, e
		}
		if err := c.wait(ctx, attempt, e.Error()); err != nil {
			return nil, nil, err
		}
	}
}

func (c *Client) wait(ctx context.Context, attempt int, why string) error {
	d := httpc.Backoff(attempt, c.base, c.max)
	c.log.Warn("cmsapi: request failed, retrying", "err", why, "attempt", attempt, "next_in", d)
	return httpc.Sleep(ctx, d)
}

// Get fetches p (relative to /api/v1, e.g. "coSpaces/<id>") and decodes the XML into out.
func (c *Client) Get(ctx context.Context, p string, q url.Values, out any) error {
	_, data, err := c.do(ctx, http.MethodGet, p, q, nil)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("cmsapi: GET %s: answer is not the expected XML: %w", c.url(p, nil), err)
	}
	return nil
}

// Create POSTs params to a collection and returns the new object's id (from Location).
func (c *Client) Create(ctx context.Context, collection string, params url.Values) (string, error) {
	if params == nil {
		params = url.Values{}
	}
	resp, _, err := c.do(ctx, http.MethodPost, collection, nil, params)
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("cmsapi: POST %s: answer has no Location", c.url(collection, nil))
	}
	return path.Base(loc), nil
}

// Update PUTs params to an object (omitted parameters stay unchanged; "" clears one).
func (c *Client) Update(ctx context.Context, p string, params url.Values) error {
	if params == nil {
		params = url.Values{}
	}
	_, _, err := c.do(ctx, http.MethodPut, p, nil, params)
	return err
}

// Delete deletes an object.
func (c *Client) Delete(ctx context.Context, p string) error {
	_, _, err := c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// list pages through a collection; decode gets each page and returns how many objects it
// held and the total.
func (c *Client) list(ctx context.Context, p string, q url.Values, decode func([]byte) (n, total int, err error)) error {
	if q == nil {
		q = url.Values{}
	}
	for offset := 0; ; {
		q.Set("offset", strconv.Itoa(offset))
		q.Set("limit", strconv.Itoa(pageSize))
		_, data, err := c.do(ctx, http.MethodGet, p, q, nil)
		if err != nil {
			return err
		}
		n, total, err := decode(data)
		if err != nil {
			return fmt.Errorf("cmsapi: GET %s: answer is not the expected XML: %w", c.url(p, nil), err)
		}
		offset += n
		if n == 0 || offset >= total {
			return nil
		}
	}
}

// CoSpace returns a space.
func (c *Client) CoSpace(ctx context.Context, id string) (*CoSpace, error) {
	var s CoSpace
	if err := c.Get(ctx, "coSpaces/"+url.PathEscape(id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CoSpaceMembers returns all members of a space, reading every page.
func (c *Client) CoSpaceMembers(ctx context.Context, id string) ([]CoSpaceUser, error) {
	var all []CoSpaceUser
	err := c.list(ctx, "coSpaces/"+url.PathEscape(id)+"/coSpaceUsers", nil, func(data []byte) (int, int, error) {
		var page struct {
			Total int           `xml:"total,attr"`
			Users []CoSpaceUser `xml:"coSpaceUser"`
		}
		if err := xml.Unmarshal(data, &page); err != nil {
			return 0, 0, err
		}
		all = append(all, page.Users...)
		return len(page.Users), page.Total, nil
	})
	return all, err
}

// User returns a user.
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	var u User
	if err := c.Get(ctx, "users/"+url.PathEscape(id), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateObject POSTs a model object (a *CoSpace, *CallProfile, ...) to collection
// ("coSpaces", "coSpaces/<id>/coSpaceUsers", "system/cdrReceivers") and returns the id.
func (c *Client) CreateObject(ctx context.Context, collection string, obj any) (string, error) {
	return c.Create(ctx, collection, Form(obj))
}

// UpdateObject PUTs the set fields of a model object to p ("coSpaces/<id>").
func (c *Client) UpdateObject(ctx context.Context, p string, obj any) error {
	return c.Update(ctx, p, Form(obj))
}

// GetObject fetches one object: GetObject[CoSpace](ctx, c, "coSpaces/"+id).
func GetObject[T any](ctx context.Context, c *Client, p string) (T, error) {
	var v T
	err := c.Get(ctx, p, nil, &v)
	return v, err
}

// ListAll reads every page of a collection: ListAll[CoSpace](ctx, c, "coSpaces", nil).
// q may carry filter, tenantFilter and the like.
func ListAll[T any](ctx context.Context, c *Client, p string, q url.Values) ([]T, error) {
	var all []T
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	err := c.list(ctx, p, q2, func(data []byte) (int, int, error) {
		var page List[T]
		if err := xml.Unmarshal(data, &page); err != nil {
			return 0, 0, err
		}
		all = append(all, page.Items...)
		return len(page.Items), page.Total, nil
	})
	return all, err
}

// Status returns /system/status.
func (c *Client) Status(ctx context.Context) (SystemStatus, error) {
	return GetObject[SystemStatus](ctx, c, "system/status")
}
