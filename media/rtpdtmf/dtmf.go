// Package rtpdtmf turns RFC 4733 telephone-event RTP packets into DTMF key presses with
// a begin, an end and a duration. Retransmitted updates and the three end packets
// senders repeat are folded; an event whose first packets were lost still begins.
//
// Specification: RFC 4733 §2.3 (payload format) and §2.5.1 (sender behaviour).
package rtpdtmf

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// ErrMalformed is returned for a payload shorter than 4 bytes.
var ErrMalformed = errors.New("rtpdtmf: malformed telephone-event payload")

// Event is the start or the end of a key press.
type Event struct {
	// Code is the RFC 4733 event code (0-9, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash).
	Code uint8
	// Timestamp is the RTP timestamp of the event's start.
	Timestamp uint32
	// End is set on the event that ends the key press; Duration is then its length in
	// RTP clock units.
	End      bool
	Duration uint32
	// Volume is the power level in -dBm0 (0 to 63).
	Volume uint8
}

// Digit returns the event as the character a keypad shows, or 0 for non-DTMF events.
func (e Event) Digit() byte {
	const digits = "0123456789*#ABCD"
	if int(e.Code) < len(digits) {
		return digits[e.Code]
	}
	return 0
}

// Decoder follows the events of one telephone-event stream. It is not safe for
// concurrent use.
type Decoder struct {
	started bool
	ts      uint32
	ended   bool
	code    uint8
}

// Decode reads one packet and returns zero, one (begin or end) or two (begin and end,
// when the first packets were lost) events.
func (d *Decoder) Decode(p *rtp.Packet) (events [2]Event, n int, err error) {
	b := p.Payload
	if len(b) < 4 {
		return events, 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	e := Event{Code: b[0], Timestamp: p.Timestamp, Volume: b[1] & 0x3f, Duration: uint32(b[2])<<8 | uint32(b[3])}
	end := b[1]&0x80 != 0
	// A new timestamp or code starts a new event. If the previous one's end packets were
	// all lost it simply has no end event: its duration is unknown.
	if !d.started || p.Timestamp != d.ts || e.Code != d.code {
		d.started, d.ts, d.code, d.ended = true, p.Timestamp, e.Code, false
		begin := e
		begin.Duration = 0
		events[n] = begin
		n++
	}
	if end && !d.ended {
		d.ended = true
		e.End = true
		events[n] = e
		n++
	}
	return events, n, nil
}
