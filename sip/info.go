package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// pictureFastUpdate is the RFC 5168 body asking for a keyframe.
const pictureFastUpdate = `<?xml version="1.0" encoding="utf-8" ?>
<media_control>
  <vc_primitive>
    <to_encoder>
      <picture_fast_update/>
    </to_encoder>
  </vc_primitive>
</media_control>`

// WithDTMF sets a function told about DTMF received in SIP INFO (application/dtmf-relay
// or application/dtmf). It runs on the transaction's goroutine before the 200 is sent,
// so that keys are told in the order they were sent (a sender waits for each key's 200
// before the next): it must not block.
func WithDTMF(f func(c *Call, digit byte, duration time.Duration)) Option {
	return func(u *UA) error { u.onDTMF = f; return nil }
}

// WithKeyframeRequest sets a function told when the peer asks for a keyframe with SIP
// INFO picture_fast_update (RFC 5168).
func WithKeyframeRequest(f func(c *Call)) Option {
	return func(u *UA) error { u.onKeyframe = f; return nil }
}

func (u *UA) handleInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := u.inDialog(req)
	if c == nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.Split(h.Value(), ";")[0]))
	}
	body := string(req.Body())
	switch ct {
	case "application/dtmf-relay":
		digit, dur, ok := parseDTMFRelay(body)
		if !ok {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request", nil))
			return
		}
		if u.onDTMF != nil {
			u.onDTMF(c, digit, dur) // before the 200: the next key waits for it
		}
	case "application/dtmf":
		b := strings.TrimSpace(body)
		if len(b) != 1 || !isDTMF(b[0]) {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request", nil))
			return
		}
		if u.onDTMF != nil {
			u.onDTMF(c, b[0], 0)
		}
	case "application/media_control+xml":
		if !strings.Contains(body, "picture_fast_update") {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, "Bad Request", nil))
			return
		}
		if u.onKeyframe != nil {
			defer u.onKeyframe(c)
		}
	default:
		res := sipmsg.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sipmsg.NewHeader("Accept", "application/dtmf-relay, application/dtmf, application/media_control+xml"))
		_ = tx.Respond(res)
		return
	}
	// The 200 goes out before the keyframe callback runs (deferred above): a callback
	// that answers with a request of its own (our INFO) must not overtake it.
	_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
}

func isDTMF(b byte) bool {
	return (b >= '0' && b <= '9') || b == '*' || b == '#' || (b >= 'A' && b <= 'D') || (b >= 'a' && b <= 'd')
}

// parseDTMFRelay reads "Signal=5\r\nDuration=160" (Duration in milliseconds).
func parseDTMFRelay(body string) (byte, time.Duration, bool) {
	var digit byte
	var dur time.Duration
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signal":
			if len(v) != 1 || !isDTMF(v[0]) {
				return 0, 0, false
			}
			digit = strings.ToUpper(v)[0]
		case "duration":
			ms, err := strconv.Atoi(v)
			if err != nil || ms < 0 || ms > 60000 {
				return 0, 0, false
			}
			dur = time.Duration(ms) * time.Millisecond
		}
	}
	return digit, dur, digit != 0
}

func (c *Call) info(ctx context.Context, contentType, body string) error {
	if c.State() != DialogEstablished {
		return fmt.Errorf("sip: INFO on a call that is %s", c.State())
	}
	target := c.dlg.InviteRequest.Contact()
	if target == nil {
		return fmt.Errorf("sip: the caller sent no Contact")
	}
	req := sipmsg.NewRequest(sipmsg.INFO, target.Address)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: INFO: %w", err)
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// SendDTMF sends a digit in SIP INFO (application/dtmf-relay).
func (c *Call) SendDTMF(ctx context.Context, digit byte, duration time.Duration) error {
	if !isDTMF(digit) {
		return fmt.Errorf("sip: %q is not a DTMF digit", digit)
	}
	return c.info(ctx, "application/dtmf-relay", fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", digit, duration/time.Millisecond))
}

// RequestKeyframe asks the peer for a keyframe with SIP INFO picture_fast_update
// (RFC 5168), for peers that ignore RTCP PLI/FIR.
func (c *Call) RequestKeyframe(ctx context.Context) error {
	return c.info(ctx, "application/media_control+xml", pictureFastUpdate)
}
