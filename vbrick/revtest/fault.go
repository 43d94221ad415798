package revtest

import (
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Fault changes how the emulator answers matching requests.
type Fault struct {
	// Method matches the request method ("" any).
	Method string
	// Path matches the path case-insensitively, as a path.Match pattern
	// ("/api/v2/videos/*/status"); a trailing "*" also matches any longer path.
	Path string
	// Times is how many requests the fault applies to (0: all, until ClearFaults).
	Times int
	// AfterBodyBytes delays the fault until this many bytes of the request body were
	// read by the emulator (0: at once). With Status set the rest of the body is read
	// before the answer (a server failing after the upload); with Status 0 and Drop false
	// the request then goes on normally.
	AfterBodyBytes int64
	// AfterHandled serves the request first (an upload creates its video) and then
	// answers with the fault (Status, or Drop) instead of the real answer: Rev failing
	// after it did the work, as a 502 from a proxy or a connection lost before the answer.
	AfterHandled bool
	// Hook runs when the fault is reached, on the request's goroutine; a test can block
	// in it (to kill the client at that point) or signal.
	Hook func(r *http.Request)
	// Delay waits before acting (a slow answer).
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Status answers with this status and a Rev error body {code, detail}, or RawBody.
	Status     int
	Code       string
	Detail     string
	RawBody    string
	RetryAfter string
}

// Inject adds a fault; faults are tried in the order added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ff := f
	s.faults = append(s.faults, &ff)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	p := strings.ToLower(r.URL.Path)
	want := strings.ToLower(f.Path)
	if ok, _ := path.Match(want, p); ok {
		return true
	}
	prefix, ok := strings.CutSuffix(want, "*")
	return ok && strings.HasPrefix(p, prefix)
}

// fault applies the first matching fault; it reports whether the request was answered.
func (s *Server) fault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var f *Fault
	for i, c := range s.faults {
		if c.matches(r) {
			f = c
			if c.Times > 0 {
				c.Times--
				if c.Times == 0 {
					s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				}
			}
			break
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.AfterHandled {
		s.route(discardWriter{h: http.Header{}}, r)
		return s.act(w, r, f, false)
	}
	if f.AfterBodyBytes > 0 {
		raw := r.Body
		r.Body = &triggerBody{ReadCloser: raw, left: f.AfterBodyBytes, fire: func() {
			if f.Status != 0 {
				// Answer as a server that failed after taking the whole request.
				_, _ = io.Copy(io.Discard, raw)
			}
			s.act(w, r, f, true)
		}}
		return false
	}
	return s.act(w, r, f, false)
}

// act carries out a fault; midBody: the handler is reading the body (answering there
// ends the handler through http.ErrAbortHandler after the answer).
func (s *Server) act(w http.ResponseWriter, r *http.Request, f *Fault, midBody bool) bool {
	if f.Hook != nil {
		f.Hook(r)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if f.Drop {
		panic(http.ErrAbortHandler) // net/http closes the connection without answering
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.RawBody != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.RawBody)
	} else {
		writeError(w, f.Status, f.Code, f.Detail)
	}
	if midBody {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	return true
}

// triggerBody runs fire once when the body has been read up to a byte count.
type triggerBody struct {
	io.ReadCloser
	left int64
	once sync.Once
	fire func()
}

func (t *triggerBody) Read(p []byte) (int, error) {
	if t.left <= 0 {
		t.once.Do(t.fire)
		return t.ReadCloser.Read(p)
	}
	if int64(len(p)) > t.left {
		p = p[:t.left]
	}
	n, err := t.ReadCloser.Read(p)
	t.left -= int64(n)
	return n, err
}

// discardWriter takes an answer nobody sees.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
