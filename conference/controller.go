package conference

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// Room mixes the call with the other calls given the same Room (a conference's id):
	// each hears the others (its mix-minus, in its codec), and the room's own outputs —
	// a call in Calls whose ID is Room — stream and record the mix and the dominant
	// speaker's video. URL, Record and SpaceID are the room's, from its first call;
	// SetOutputs of any of its calls moves them. Audio the Bridge does not decode (AAC)
	// is not mixed; the video of every call can be shown.
	Room string
}

// ErrClosed is returned for what a closing Bridge no longer does.
var ErrClosed = errors.New("conference: the bridge is closing")

// ErrMediaTimeout is in the Err of an EventCallEnded when the call ended because its
// media stopped for Config.MediaTimeout (the Bridge hung up).
var ErrMediaTimeout = errors.New("conference: media timeout")

// SetOutputs moves a controlled call's outputs (a request to the call, like SetStream;
// why is the reason its events give for a stream it stops). SpaceID is kept from the
// start.
func (b *Bridge) SetOutputs(id string, o Outputs, why string) error {
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	if c.room != nil {
		c = c.room.out
	}
	c.setOutputs(o.URL, o.Record, why)
	return nil
}

// SetMute mutes or unmutes a call of a room (nil: unchanged): rx leaves what the call
// sends out of every mix (the others and the outputs do not hear it), tx sends it
// silence in place of its mix (the CMS API's rxAudioMute and txAudioMute).
func (b *Bridge) SetMute(id string, rx, tx *bool) error {
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	if c.room == nil {
		return fmt.Errorf("conference: call %q is not mixed in a conference", id)
	}
	c.room.setMute(c, rx, tx)
	return nil
}

// DialRequest is an outgoing call for Bridge.Dial.
type DialRequest struct {
	// ID names the call in Calls, events and the Bridge's methods.
	ID string
	// Target is the SIP URI dialled through Rules (the outbound dial plan), or dialled
	// as it is when there are no rules.
	Target string
	Rules  []sip.Rule
	// Options are the INVITE's: credentials for a digest challenge, an outbound proxy,
	// the From (a dial plan rule's domains take precedence).
	Options sip.DialOptions
	// NoVideo offers audio alone; SendVideo sends the callee black pictures (H.264,
	// 320x240 at 5 fps) from the answer on, for callees that want video both ways.
	NoVideo, SendVideo bool
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
	c.controlled, c.noVideo, c.sendVideo = true, req.NoVideo, req.SendVideo && !req.NoVideo
	c.wantURL, c.wantRec, c.spaceID = req.Outputs.URL, req.Outputs.Record, req.Outputs.SpaceID
	if req.Outputs.Room != "" {
		c.room = b.roomFor(req.Outputs.Room, req.Outputs)
	}
	fail := func(err error) error {
		c.closeMedia()
		c.stop()
		if c.room != nil {
			c.room.release()
		}
		return err
	}
	offer, err := sdp.Offer(c.offerConfig())
	if err != nil {
		return fail(err)
	}
	var oc *sip.OutboundCall
	if len(req.Rules) == 0 {
		oc, err = b.ua.Dial(ctx, req.Target, offer, req.Options)
	} else {
		oc, _, err = b.ua.DialPlan(ctx, req.Rules, req.Target, offer, req.Options)
	}
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

// ErrNoTelephoneEvent: SendDTMF asked for RFC 4733 events on a call that negotiated
// none (or that the Bridge sends no audio to).
var ErrNoTelephoneEvent = errors.New("conference: the call negotiated no telephone-event (RFC 4733): send the keys in SIP INFO")

// SendDTMF sends keys (0-9, *, #, A-D; at most 64 at a time) to the call's peer: as RFC
// 4733 events in the audio the Bridge sends it (100 ms each, 60 ms apart), or with
// info in SIP INFO (application/dtmf-relay), one request per key. Events are queued
// and sent by the call's audio generator; INFO requests are sent before SendDTMF
// returns.
func (b *Bridge) SendDTMF(ctx context.Context, id, keys string, info bool) error {
	c := b.call(id)
	if c == nil {
		return fmt.Errorf("conference: no call %q", id)
	}
	if keys == "" || len(keys) > maxQueuedKeys {
		return fmt.Errorf("conference: %d keys: 1 to %d at a time", len(keys), maxQueuedKeys)
	}
	codes := make([]byte, 0, len(keys))
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		if k >= 'a' && k <= 'd' {
			k -= 'a' - 'A'
		}
		code := strings.IndexByte("0123456789*#ABCD", k)
		if code < 0 {
			return fmt.Errorf("conference: %q is not a DTMF key (0-9, *, #, A-D)", keys[i])
		}
		codes = append(codes, byte(code))
	}
	if info {
		for i, code := range codes {
			if err := c.sig.SendDTMF(ctx, "0123456789*#ABCD"[code], 160*time.Millisecond); err != nil {
				return fmt.Errorf("conference: key %d of %d: %w", i+1, len(codes), err)
			}
		}
		return nil
	}
	c.sessMu.Lock()
	ok := c.gen != nil && c.genDTMF != 0
	c.sessMu.Unlock()
	if !ok {
		return ErrNoTelephoneEvent
	}
	for _, code := range codes {
		select {
		case c.dtmfKeys <- code:
		default:
			return fmt.Errorf("conference: more than %d keys waiting to be sent", maxQueuedKeys)
		}
	}
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
