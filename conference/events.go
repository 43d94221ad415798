package conference

import (
	"fmt"
	"time"
)

// EventType says what happened.
type EventType int

// Event types.
const (
	EventCallStarted EventType = iota
	EventCallEnded
	EventStreamingStarted
	EventStreamingRetrying
	EventStreamingStopped
	EventRecordingStarted
	EventRecordingFinished
	EventRecordingFailed
	// EventOutputFailed: an application output (Config.Outputs) returned an error and
	// gets no more frames of the call.
	EventOutputFailed
	// EventDTMF: the caller pressed a key (RFC 4733 telephone-event, reported when the
	// key is released, in order; or SIP INFO dtmf-relay): Digit says which.
	EventDTMF
)

func (t EventType) String() string {
	switch t {
	case EventCallStarted:
		return "call started"
	case EventCallEnded:
		return "call ended"
	case EventStreamingStarted:
		return "streaming started"
	case EventStreamingRetrying:
		return "streaming retrying"
	case EventStreamingStopped:
		return "streaming stopped"
	case EventRecordingStarted:
		return "recording started"
	case EventRecordingFinished:
		return "recording finished"
	case EventRecordingFailed:
		return "recording failed"
	case EventOutputFailed:
		return "output failed"
	case EventDTMF:
		return "DTMF"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is something that happened to a call, with the reason where there is one.
type Event struct {
	Type   EventType
	Time   time.Time
	CallID string
	// Remote is the caller (From).
	Remote string
	// URL is the stream URL, credentials removed.
	URL string
	// Path is the recording's file.
	Path string
	// Reason says why (call ended, streaming retrying or stopped, recording failed).
	Reason string
	// Err is why a call ended (EventCallEnded): the dialog's *sip.EndError, which
	// unwraps to its class (sip.ErrHangupLocal, sip.ErrHangupRemote, ...), wrapped with
	// ErrMediaTimeout when the media timeout ended it.
	Err error
	// Digit is the key of EventDTMF: 0-9, *, #, A-D.
	Digit string
}

// String renders the event as a log line in the manner of the CMS streamer's.
func (e Event) String() string {
	s := fmt.Sprintf("call %s: %s", e.CallID, e.Type)
	switch e.Type {
	case EventCallStarted:
		s += " from " + e.Remote
	case EventStreamingStarted, EventStreamingRetrying, EventStreamingStopped:
		s += " to " + e.URL
	case EventRecordingStarted, EventRecordingFinished, EventRecordingFailed:
		s += ": " + e.Path
	case EventDTMF:
		s += " " + e.Digit
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}
