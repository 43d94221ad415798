package sip

import (
	"errors"
	"fmt"
)

// Classes of SIP failure, the sentinels a StatusError unwraps to, for callers that
// branch on what happened rather than on the code (RFC 3261 §21).
var (
	// ErrBusy: 486 Busy Here, 600 Busy Everywhere.
	ErrBusy = errors.New("sip: busy")
	// ErrUnavailable: 480 Temporarily Unavailable, 503 Service Unavailable, 408 Request
	// Timeout.
	ErrUnavailable = errors.New("sip: unavailable")
	// ErrDeclined: 403 Forbidden, 603 Decline.
	ErrDeclined = errors.New("sip: declined")
	// ErrNotFound: 404 Not Found, 604 Does Not Exist Anywhere, 484 Address Incomplete.
	ErrNotFound = errors.New("sip: unknown destination")
	// ErrNotAcceptable: 488 Not Acceptable Here, 606 Not Acceptable (no common media).
	ErrNotAcceptable = errors.New("sip: media not acceptable")
	// ErrRejected: any other final failure.
	ErrRejected = errors.New("sip: rejected")
	// ErrNoDialPlanRule: no outbound dial plan rule matches the destination's domain.
	ErrNoDialPlanRule = errors.New("sip: no dial plan rule matches")
)

// StatusError is a SIP final failure status, both ways: what an InviteHandler returns to
// refuse a call with that status, and what Dial (or an in-dialog request) returns when
// the peer answered with it. It unwraps to its class (ErrBusy, ErrUnavailable, ...).
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("sip: %d %s", e.Code, e.Reason) }

// Unwrap returns the failure's class.
func (e *StatusError) Unwrap() error {
	switch e.Code {
	case 486, 600:
		return ErrBusy
	case 480, 503, 408:
		return ErrUnavailable
	case 403, 603:
		return ErrDeclined
	case 404, 604, 484:
		return ErrNotFound
	case 488, 606:
		return ErrNotAcceptable
	}
	return ErrRejected
}

var _ error = (*StatusError)(nil)
