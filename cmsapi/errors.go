package cmsapi

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels an *Error unwraps to.
var (
	// ErrUnauthorized: 401, the API user or password is wrong.
	ErrUnauthorized = errors.New("cmsapi: unauthorized")
	// ErrDoesNotExist: the failure tag is one of the ...DoesNotExist tags.
	ErrDoesNotExist = errors.New("cmsapi: object does not exist")
	// ErrBusy: 503, the server is busy or not ready.
	ErrBusy = errors.New("cmsapi: server busy")
	// ErrFailure: another failure.
	ErrFailure = errors.New("cmsapi: request failed")
)

// Error is a failed API request.
type Error struct {
	Method, URL string
	Status      int
	// Failure is the failureDetails tag (coSpaceDoesNotExist, parameterError, ...).
	Failure string
	// Parameter and Reason come with parameterError (parameter="streamUrl"
	// error="invalidValue").
	Parameter, Reason string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cmsapi: %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Failure != "" {
		s += ": " + e.Failure
	}
	if e.Parameter != "" {
		s += fmt.Sprintf(" (parameter %s: %s)", e.Parameter, e.Reason)
	}
	return s
}

// Unwrap returns the sentinel for the failure.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case strings.HasSuffix(e.Failure, "DoesNotExist"):
		return ErrDoesNotExist
	case e.Status == http.StatusServiceUnavailable:
		return ErrBusy
	default:
		return ErrFailure
	}
}

// parseFailure reads <failureDetails><tag parameter="" error=""/></failureDetails>.
func parseFailure(data []byte) (tag, param, reason string) {
	var fd struct {
		Items []struct {
			XMLName   xml.Name
			Parameter string `xml:"parameter,attr"`
			Error     string `xml:"error,attr"`
		} `xml:",any"`
	}
	if xml.Unmarshal(data, &fd) != nil || len(fd.Items) == 0 {
		return "", "", ""
	}
	it := fd.Items[0]
	return it.XMLName.Local, it.Parameter, it.Error
}
