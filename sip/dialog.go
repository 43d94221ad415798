package sip

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Dialog is what an incoming call (*Call) and an outgoing one (*OutboundCall) share: the
// one model of a SIP call the layers above use, whichever side placed it.
type Dialog interface {
	// CallID is the dialog's Call-ID.
	CallID() string
	// State is where the dialog is.
	State() DialogState
	// Done is closed when the call has ended; Err then says why.
	Done() <-chan struct{}
	// Err is nil while the call is up, then a *EndError wrapping its class
	// (ErrHangupLocal, ErrHangupRemote, ErrCancelled, ErrSessionExpired, ErrNoACK,
	// ErrCallFailed).
	Err() error
	// Hangup ends the call (BYE once established).
	Hangup(ctx context.Context) error
	// RequestKeyframe asks the peer for a keyframe with SIP INFO picture_fast_update.
	RequestKeyframe(ctx context.Context) error
	// SendDTMF sends a key in SIP INFO (application/dtmf-relay).
	SendDTMF(ctx context.Context, digit byte, duration time.Duration) error
	// ContactParam is a parameter of the peer's current Contact (lower-case name), such
	// as x-cisco-stream.
	ContactParam(name string) (string, bool)
}

var (
	_ Dialog = (*Call)(nil)
	_ Dialog = (*OutboundCall)(nil)
)

// DialogState is where a call's dialog is.
type DialogState int

// Dialog states.
const (
	DialogRinging DialogState = iota
	DialogEstablished
	DialogEnded
)

func (s DialogState) String() string {
	switch s {
	case DialogRinging:
		return "ringing"
	case DialogEstablished:
		return "established"
	case DialogEnded:
		return "ended"
	}
	return fmt.Sprintf("DialogState(%d)", int(s))
}

// The classes of a call's end (Dialog.Err wraps one).
var (
	// ErrHangupLocal: we ended the call (our BYE, or our Hangup before the answer).
	ErrHangupLocal = errors.New("hung up here")
	// ErrHangupRemote: the peer sent BYE.
	ErrHangupRemote = errors.New("the peer hung up")
	// ErrCancelled: the caller cancelled before the answer (CANCEL).
	ErrCancelled = errors.New("cancelled")
	// ErrSessionExpired: the RFC 4028 session timer ran out, or its refresh failed.
	ErrSessionExpired = errors.New("session timer expired")
	// ErrNoACK: the caller never acknowledged our 200 OK.
	ErrNoACK = errors.New("no ACK")
	// ErrCallFailed: the call was refused or could not be answered.
	ErrCallFailed = errors.New("call failed")
)

// EndError says why a call ended: Reason in the words of the CMS log, Class the sentinel
// it unwraps to.
type EndError struct {
	Class  error
	Reason string
}

func (e *EndError) Error() string { return e.Reason }

// Unwrap returns the class.
func (e *EndError) Unwrap() error { return e.Class }

// endReason is the text of err (a Dialog's Err), "" for nil.
func endReason(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
