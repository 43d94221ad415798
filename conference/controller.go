package conference

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

// A Controller takes calls over from the Bridge's standalone streamer behaviour: a
// conference backend (package conference/cms is the Cisco Meeting Server one) routes
// incoming calls into its conferences, places call legs and decides what each call
// streams and records, through the Bridge's methods (Dial, SetOutputs, EndCall, Call,
// Stats).
type Controller interface {
	// Bind gives the controller its Bridge; New calls it before the SIP listeners start.
	Bind(b *Bridge)
	// Route is asked for each incoming call before its media starts. ok false leaves it
	// a standalone streamer call. Otherwise the call is the controller's: it starts with
	// out (x-cisco-stream, RTCP APP URLs and the resolver do not apply) and follows
	// SetOutputs.
	Route(c *sip.Call) (out Outputs, ok bool)
	// Event is told each event as it is emitted, on the emitting goroutine, before
	// Config.Events; also EventCallEnded for a routed call refused before it started.
	// It must not block and must not call the Bridge.
	Event(e Event)
	// Shutdown is called first by Bridge.Close: the controller stops placing calls and
	// waits for its own goroutines; then the Bridge ends the calls.
	Shutdown()
}

// Outputs is what a controlled call streams and records.
type Outputs struct {
	// URL is the RTMP(S) stream URL ("": not streaming).
	URL string
	// Record records the call (when Config.RecordDir is set).
	Record bool
	// SpaceID names the recording's folder, spaces/<SpaceID>/ ("": forwardedCalls/).
	SpaceID string
}

// ErrClosed is returned for what a closing Bridge no longer does.
var ErrClosed = errors.New("conference: the bridge is closing")

// SetOutputs moves a controlled call's outputs (a request to the call, like SetStream;
// why is the reason its events give for a stream it stops). SpaceID is kept from the
// start.
func (b *Bridge) SetOutputs(id string, o Outputs, why string) error {
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	c.setOutputs(o.URL, o.Record, why)
	return nil
}

// DialRequest is an outgoing call for Bridge.Dial.
type DialRequest struct {
	// ID names the call in Calls, events and the Bridge's methods.
	ID string
	// Target is the SIP URI dialled through Rules (the outbound dial plan).
	Target string
	Rules  []sip.Rule
	// Outputs are the call's outputs once answered (SetOutputs changes them).
	Outputs Outputs
}

// Dial places a controlled call through the outbound dial plan rules and receives its
// media as an incoming call's (our offer: RTP/AVP, separate RTCP). It returns once the
// callee answered, the call then running until it ends (EventCallStarted, ...,
// EventCallEnded), or when the attempt failed: the error is the dial plan's (a
// *sip.StatusError, sip.ErrNoAnswer, sip.ErrNoDialPlanRule...) or ErrClosed.
func (b *Bridge) Dial(ctx context.Context, req DialRequest) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	c, err := newLeg(b, nil, nil, req.ID, req.Target)
	if err != nil {
		return err
	}
	c.controlled = true
	c.wantURL, c.wantRec, c.spaceID = req.Outputs.URL, req.Outputs.Record, req.Outputs.SpaceID
	fail := func(err error) error {
		c.closeMedia()
		c.stop()
		return err
	}
	offer, err := sdp.Offer(c.offerConfig())
	if err != nil {
		return fail(err)
	}
	oc, _, err := b.ua.DialPlan(ctx, req.Rules, req.Target, offer, sip.DialOptions{})
	if err != nil {
		return fail(err)
	}
	c.sig = oc
	if !b.admit(c) {
		hctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		_ = oc.Hangup(hctx)
		done()
		return fail(ErrClosed)
	}
	ms, err := sdp.Negotiate(oc.Answer, c.offerConfig())
	if err == nil {
		err = c.setupMedia(ms)
	}
	if err != nil {
		b.log.Warn("conference: the callee's answer is unusable", "call", c.id, "err", err)
		hctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		_ = oc.Hangup(hctx)
		done()
	}
	go c.run() // until the call ends; Close waits for it
	return nil
}

// Call returns a call in progress.
func (b *Bridge) Call(id string) (CallInfo, bool) {
	c := b.call(id)
	if c == nil {
		return CallInfo{}, false
	}
	return c.info(), true
}

// Stats are a Bridge's call counts.
type Stats struct {
	// Active calls now, the most at once, and those completed.
	Active, MaxActive, Completed int
}

// Stats returns the call counts.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Active: len(b.calls), MaxActive: b.maxActive, Completed: b.completed}
}

// RecordDir is Config.RecordDir ("": the Bridge does not record).
func (b *Bridge) RecordDir() string { return b.cfg.RecordDir }
