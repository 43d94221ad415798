package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sipcast/sipcast/internal/redact"
)

// hookQueue bounds the hooks waiting to be sent: beyond it the newest are dropped (and
// logged), so a slow or dead hook server never holds a call back.
const hookQueue = 1024

// hookAttempts and hookBackoff: a hook that fails (an error, or an answer other than
// 2xx) is tried again after 0.5 s, then 1 s.
const (
	hookAttempts = 3
	hookBackoff  = 500 * time.Millisecond
)

// Hook is the body of a REST hook: the event's name and the call as find answers it.
type Hook struct {
	Event string `json:"event"`
	Call
}

// hooks sends REST hooks from one goroutine, in order.
type hooks struct {
	url    string
	client *http.Client
	log    *slog.Logger

	// ctx ends the request in flight when close gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   []Hook
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  bool
	dropped int
}

func newHooks(url string, client *http.Client, log *slog.Logger) *hooks {
	h := &hooks{url: url, client: client, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if h.client == nil {
		h.client = &http.Client{Timeout: 5 * time.Second}
	}
	if url == "" {
		close(h.done)
		return h
	}
	go h.run()
	return h
}

// send queues a hook; it never blocks.
func (h *hooks) send(event string, c Call) {
	if h.url == "" {
		return
	}
	h.mu.Lock()
	if h.closed || len(h.queue) >= hookQueue {
		h.dropped++
		h.mu.Unlock()
		h.log.Warn("relay: REST hook dropped (queue full)", "event", event, "call", c.CallID)
		return
	}
	h.queue = append(h.queue, Hook{Event: event, Call: c})
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *hooks) run() {
	defer close(h.done)
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			closed := h.closed
			h.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-h.wake:
			case <-h.stop:
				return
			}
			continue
		}
		next := h.queue[0]
		h.mu.Unlock()
		h.deliver(next)
		h.mu.Lock()
		h.queue = h.queue[1:]
		h.mu.Unlock()
	}
}

// deliver POSTs a hook to url/<event>, trying again after failures.
func (h *hooks) deliver(hk Hook) {
	body, err := json.Marshal(hk)
	if err != nil {
		return
	}
	target := h.url + "/" + hk.Event
	for attempt := range hookAttempts {
		if attempt > 0 {
			select {
			case <-time.After(hookBackoff << (attempt - 1)):
			case <-h.stop:
				return
			}
		}
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			cancel()
			return
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := h.client.Do(req)
		cancel()
		if err == nil {
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				return
			}
			err = &hookStatus{res.StatusCode}
		}
		h.log.Warn("relay: REST hook failed", "event", hk.Event, "call", hk.CallID, "attempt", attempt+1, "err", redact.Text(err.Error()))
	}
}

type hookStatus struct{ code int }

func (e *hookStatus) Error() string { return "answered " + http.StatusText(e.code) }

// closeGrace bounds how long close waits for the queued hooks to be sent.
const closeGrace = 15 * time.Second

// close sends what is queued (within closeGrace) and stops. It is idempotent.
func (h *hooks) close() {
	h.mu.Lock()
	first := !h.closed
	h.closed = true
	h.mu.Unlock()
	if !first || h.url == "" {
		<-h.done
		h.cancel()
		return
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
	select {
	case <-h.done:
	case <-time.After(closeGrace):
		close(h.stop)
		h.cancel()
		<-h.done
	}
	h.cancel()
}
