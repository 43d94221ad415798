package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// ErrRegister is wrapped by registration failures.
var ErrRegister = errors.New("sip: registration failed")

// RegisterOptions configure a registration (RFC 3261 §10).
type RegisterOptions struct {
	// Registrar is the registrar's SIP URI, e.g. "sip:pbx.example.com:5060".
	Registrar string
	// AOR is the address of record, e.g. "sip:alice@example.com".
	AOR string
	// Username and Password answer digest challenges; never logged.
	Username, Password string
	// Expires is the registration lifetime asked for (default 3600 s).
	Expires time.Duration
	// RetryMin and RetryMax bound the backoff after failures (defaults 1 s and 60 s).
	RetryMin, RetryMax time.Duration
}

// Registration keeps an AOR registered: it refreshes before expiry, re-registers with
// backoff after failures, and unregisters (Expires: 0) on Close.
type Registration struct {
	u    *UA
	opts RegisterOptions
	reg  sipmsg.Uri
	aor  sipmsg.Uri

	callID string // one Call-ID for the registration's lifetime, CSeq rising (RFC 3261 §10.2)
	cseq   uint32

	mu      sync.Mutex
	expires time.Duration // granted
	err     error
	count   int

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Register registers once (returning its error) and then keeps the registration alive
// in a goroutine the Registration owns until Close.
func (u *UA) Register(ctx context.Context, opts RegisterOptions) (*Registration, error) {
	r := &Registration{u: u, opts: opts, stop: make(chan struct{}), done: make(chan struct{}),
		callID: sipmsg.GenerateTagN(24), cseq: 1}
	if opts.Expires <= 0 {
		r.opts.Expires = time.Hour
	}
	if opts.RetryMin <= 0 {
		r.opts.RetryMin = time.Second
	}
	if opts.RetryMax < r.opts.RetryMin {
		r.opts.RetryMax = 60 * time.Second
	}
	if err := sipmsg.ParseUri(opts.Registrar, &r.reg); err != nil {
		return nil, fmt.Errorf("%w: registrar %q: %v", ErrRegister, opts.Registrar, err)
	}
	if err := sipmsg.ParseUri(opts.AOR, &r.aor); err != nil {
		return nil, fmt.Errorf("%w: AOR %q: %v", ErrRegister, opts.AOR, err)
	}
	if err := r.register(ctx, r.opts.Expires); err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.regs = append(u.regs, r)
	u.wg.Add(1)
	u.mu.Unlock()
	go r.loop()
	return r, nil
}

// Expires returns the lifetime the registrar granted last.
func (r *Registration) Expires() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expires
}

// Registrations returns how many successful REGISTERs were made (refreshes included).
func (r *Registration) Registrations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Err returns the last failure, nil while registered.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Registration) register(ctx context.Context, expires time.Duration) error {
	req := sipmsg.NewRequest(sipmsg.REGISTER, r.reg)
	req.AppendHeader(&sipmsg.ToHeader{Address: r.aor})
	from := &sipmsg.FromHeader{Address: r.aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	host, port := r.u.contactHostPort()
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{User: r.aor.User, Host: host, Port: port}})
	req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	callID := sipmsg.CallIDHeader(r.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: r.cseq, MethodName: sipmsg.REGISTER})
	res, err := r.u.cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && r.opts.Password != "" {
		res, err = r.u.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.opts.Username, Password: r.opts.Password})
	}
	r.cseq = req.CSeq().SeqNo + 1
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %s: %v", ErrRegister, r.reg.Addr(), redactErr(err, r.opts.Password))
	case res.StatusCode == 401 || res.StatusCode == 407:
		err = fmt.Errorf("%w: %s refused the credentials of %q: %w", ErrRegister, r.reg.Addr(), r.opts.Username, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	case !res.IsSuccess():
		err = fmt.Errorf("%w: %s answered %w", ErrRegister, r.reg.Addr(), &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	if err != nil {
		return err
	}
	r.count++
	r.expires = expires
	if h := res.GetHeader("Expires"); h != nil {
		if n, e := strconv.Atoi(h.Value()); e == nil && n >= 0 {
			r.expires = time.Duration(n) * time.Second
		}
	}
	return nil
}

func (r *Registration) loop() {
	defer r.u.wg.Done()
	defer close(r.done)
	failures := 0
	for {
		wait := r.refreshIn()
		if failures > 0 {
			wait = r.opts.RetryMin << min(failures-1, 6)
			if wait > r.opts.RetryMax {
				wait = r.opts.RetryMax
			}
			wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		}
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
		err := r.register(ctx, r.opts.Expires)
		cancel()
		if err != nil {
			failures++
			r.u.log.Warn("sip: registration refresh failed", "err", err, "attempt", failures)
		} else {
			failures = 0
		}
	}
}

// refreshIn returns when to refresh: halfway through short registrations, 30 s before
// the end of long ones.
func (r *Registration) refreshIn() time.Duration {
	e := r.Expires()
	if e <= 60*time.Second {
		return e / 2
	}
	return e - 30*time.Second
}

// Close stops refreshing and unregisters (Expires: 0). Idempotent.
func (r *Registration) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = r.register(ctx, 0)
	})
	return err
}
