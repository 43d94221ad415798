package vbrick

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// defaultSession is assumed when Rev's login answer has no usable expiration.
const defaultSession = 15 * time.Minute

type loginAnswer struct {
	Token      string `json:"token"`
	Expiration string `json:"expiration"`
	ID         string `json:"id"`
}

// Login authenticates now. Calls log in by themselves when needed; Login is for
// checking the credentials early (a status command, a configuration check).
func (c *Client) Login(ctx context.Context) error {
	_, err := c.session(ctx)
	return err
}

// session returns a token valid for a while: the current one, extended when it is in
// the last quarter of its life, or a new one.
func (c *Client) session(ctx context.Context) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	closed, token, issued, expires := c.closed, c.token, c.issued, c.expires
	c.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	now := c.now()
	if token != "" {
		refresh := expires.Add(-expires.Sub(issued) / 4)
		if now.Before(refresh) {
			return token, nil
		}
		if now.Before(expires) {
			var ans struct {
				Expiration string `json:"expiration"`
			}
			err := c.do(ctx, request{method: http.MethodPost, path: "/api/v2/user/extend-session",
				header: http.Header{"Authorization": {"VBrick " + token}}, retryTransport: true}, &ans)
			if err == nil {
				c.mu.Lock()
				c.issued, c.expires = now, parseExpiry(ans.Expiration, now)
				c.mu.Unlock()
				c.log.Debug("vbrick: session extended", "until", c.expires)
				return token, nil
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			c.log.Info("vbrick: extending the session failed, logging in again", "err", err)
		}
	}
	return c.login(ctx, now)
}

func (c *Client) login(ctx context.Context, now time.Time) (string, error) {
	r := request{method: http.MethodPost, retryTransport: true}
	if c.apiKey != "" {
		r.path = "/api/v2/authenticate"
		r.json = map[string]string{"apiKey": c.apiKey, "secret": c.secret}
	} else {
		r.path = "/api/v2/user/login"
		if c.legacy {
			r.path = "/api/v1/user/login"
		}
		r.json = map[string]string{"username": c.username, "password": c.password}
	}
	var ans loginAnswer
	if err := c.do(ctx, r, &ans); err != nil {
		return "", err
	}
	if ans.Token == "" {
		return "", &Error{Method: r.method, URL: c.url(r.path, nil), Status: http.StatusOK, Detail: "login answer holds no token"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", ErrClosed
	}
	c.token, c.userID, c.issued, c.expires = ans.Token, ans.ID, now, parseExpiry(ans.Expiration, now)
	c.log.Info("vbrick: logged in", "url", c.url(r.path, nil), "until", c.expires)
	return c.token, nil
}

func parseExpiry(s string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.After(now) {
		return t
	}
	return now.Add(defaultSession)
}

func (c *Client) dropToken() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// Close logs off (POST /api/v2/user/logoff, or DELETE /api/v2/tokens/{apiKey} for an API
// key session) and makes every later call fail with ErrClosed. It is idempotent; only the
// first call logs off.
func (c *Client) Close(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	token, userID := c.token, c.userID
	c.token = ""
	c.mu.Unlock()
	if token == "" {
		return nil
	}
	// One attempt: a logoff is not worth waiting for.
	r := request{header: http.Header{"Authorization": {"VBrick " + token}}, noRetry: true}
	if c.apiKey != "" {
		r.method, r.path = http.MethodDelete, "/api/v2/tokens/"+url.PathEscape(c.apiKey)
	} else {
		r.method, r.path = http.MethodPost, "/api/v2/user/logoff"
		r.json = map[string]string{"userId": userID}
	}
	err := c.do(ctx, r, nil)
	if err != nil && !errors.Is(err, ErrUnauthorized) {
		return err
	}
	return nil
}
