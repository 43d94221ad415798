package vbrick

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinels an *Error unwraps to, for callers that branch on the kind of failure.
var (
	// ErrUnauthorized: Rev answered 401 (bad credentials, or a session that ended).
	ErrUnauthorized = errors.New("vbrick: unauthorized")
	// ErrRateLimited: Rev answered 429.
	ErrRateLimited = errors.New("vbrick: rate limited")
	// ErrServer: Rev answered 5xx.
	ErrServer = errors.New("vbrick: server error")
	// ErrNotFound: Rev answered 404.
	ErrNotFound = errors.New("vbrick: not found")
	// ErrRequest: Rev rejected the request with another 4xx answer.
	ErrRequest = errors.New("vbrick: request rejected")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("vbrick: client closed")
	// ErrUploadInterrupted: the connection failed while an upload was being sent or
	// answered. Rev may or may not have created the video.
	ErrUploadInterrupted = errors.New("vbrick: upload interrupted")
)

// Error is a failed Rev request: what was asked, what Rev answered.
//
// URL never holds credentials: the Client refuses base URLs with user information and
// sends secrets only in bodies and headers.
type Error struct {
	Method string
	URL    string
	// Status is the HTTP status code.
	Status int
	// Code and Detail are Rev's error body ({"code","detail"}); for a body that is not
	// JSON, Detail holds its text (HTML stripped, shortened).
	Code   string
	Detail string
	// RetryAfter is the wait Rev asked for with Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("vbrick: %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	switch {
	case e.Code != "" && e.Detail != "":
		s += fmt.Sprintf(": %s: %s", e.Code, e.Detail)
	case e.Code != "":
		s += ": " + e.Code
	case e.Detail != "":
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel for the status class.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.Status == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status >= 500:
		return ErrServer
	default:
		return ErrRequest
	}
}

// Temporary reports whether the request may succeed if sent again (429 and 5xx).
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}
