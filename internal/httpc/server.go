package httpc

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Server limits, as Go's net/http hardening guides and nginx's defaults suggest: a client
// has 5 s to send its headers (nginx client_header_timeout is 60 s; our clients are
// programs), 30 s for a whole request, and an idle keep-alive connection is closed after
// 2 min. Headers are capped at 64 KiB (nginx: 4 × 8 KiB large_client_header_buffers).
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// Limits are an HTTP server's timeouts; zero fields take the defaults above.
type Limits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// NewServer returns an http.Server for h with every timeout and the header limit set, so
// that slow or idle clients (slowloris) cannot hold connections. Bodies are each
// handler's to bound (http.MaxBytesReader).
func NewServer(h http.Handler, log *slog.Logger, l Limits) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	s := &http.Server{Handler: h,
		ReadHeaderTimeout: def(l.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       def(l.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      def(l.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       def(l.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
	}
	if log != nil {
		s.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return s
}

// Failed-login throttling: after FreeFailures failures from one source, every request
// from it is answered 429 without its credentials being looked at, for a lockout that
// starts at FirstLockout and doubles with every further failure up to MaxLockout. A
// success clears the source. At most MaxSources sources are tracked (the oldest entry is
// forgotten first).
const (
	FreeFailures = 5
	FirstLockout = time.Second
	MaxLockout   = 15 * time.Minute
	MaxSources   = 10000
)

// BasicAuth checks HTTP Basic credentials: user and password together, in constant time
// (a hash of both is compared, so neither their lengths nor which one is wrong shows),
// empty credentials never match, and repeated failures from one source are throttled.
// It is safe for concurrent use.
type BasicAuth struct {
	want  [32]byte
	empty bool
	now   func() time.Time
	log   *slog.Logger
	name  string

	mu      sync.Mutex
	sources map[string]*failures
	order   []string
}

type failures struct {
	n     int
	until time.Time
}

// NewBasicAuth returns a checker for user and password (empty ones match nothing). now
// is the clock (nil: time.Now); log gets one line per failure, without the password.
func NewBasicAuth(name, user, password string, now func() time.Time, log *slog.Logger) *BasicAuth {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BasicAuth{want: credHash(user, password), empty: user == "" || password == "", now: now, log: log, name: name,
		sources: map[string]*failures{}}
}

func credHash(user, password string) [32]byte {
	// The user's length prefixes it, so that ("ab", "c") and ("a", "bc") differ.
	return sha256.Sum256([]byte(strconv.Itoa(len(user)) + ":" + user + ":" + password))
}

// Verdict is what Check decided.
type Verdict int

// Verdicts.
const (
	Allowed   Verdict = iota
	Denied            // wrong or missing credentials: 401
	Throttled         // too many failures from this source: 429 with Retry-After
)

// Check looks at r's credentials. For Throttled, retry is how long the source waits.
func (a *BasicAuth) Check(r *http.Request) (v Verdict, retry time.Duration) {
	src := sourceOf(r)
	now := a.now()
	a.mu.Lock()
	if f := a.sources[src]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return Throttled, f.until.Sub(now)
	}
	a.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	got := credHash(user, pass)
	match := subtle.ConstantTimeCompare(got[:], a.want[:]) == 1
	if ok && match && !a.empty && user != "" && pass != "" {
		a.mu.Lock()
		delete(a.sources, src)
		a.mu.Unlock()
		return Allowed, 0
	}
	a.mu.Lock()
	f := a.sources[src]
	if f == nil {
		if len(a.order) >= MaxSources {
			delete(a.sources, a.order[0])
			a.order = a.order[1:]
		}
		f = &failures{}
		a.sources[src] = f
		a.order = append(a.order, src)
	}
	f.n++
	if f.n >= FreeFailures {
		lock := FirstLockout << min(f.n-FreeFailures, 20)
		f.until = now.Add(min(lock, MaxLockout))
	}
	n := f.n
	a.mu.Unlock()
	a.log.Warn(a.name+": authentication failed", "from", src, "user", user, "failures", n, "method", r.Method, "path", r.URL.Path)
	return Denied, 0
}

// Wrap serves h to requests that pass Check, and answers the others 401 (with realm) or
// 429 (with Retry-After).
func (a *BasicAuth) Wrap(realm string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Respond(w, r, realm) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Respond runs Check and, unless the request is allowed, writes the 401 or 429 answer; it
// reports whether the handler should go on.
func (a *BasicAuth) Respond(w http.ResponseWriter, r *http.Request, realm string) bool {
	switch v, retry := a.Check(r); v {
	case Allowed:
		return true
	case Throttled:
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		http.Error(w, "too many failed logins", http.StatusTooManyRequests)
	default:
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
		w.WriteHeader(http.StatusUnauthorized)
	}
	return false
}

// sourceOf is the client's address without its port: throttling is per host.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
