package revtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/vbrick"
)

// maxMetadata caps the "Video" part and JSON bodies.
const maxMetadata = 1 << 20

// Option configures a Server.
type Option func(*Server)

// WithUser adds a Rev user who can log in and upload.
func WithUser(username, password string) Option {
	return func(s *Server) { s.addUser(username, password) }
}

// WithAPIKey adds an API key that /api/v2/authenticate accepts.
func WithAPIKey(apiKey, secret string) Option {
	return func(s *Server) { s.apiKeys[apiKey] = secret }
}

// WithSessionTimeout sets how long a token lives without extension (default 30 min).
func WithSessionTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// WithClock replaces time.Now for session expiry.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// ProcessingPolls is how many status requests a video answers Processing before it is
// Ready (default 2; 0: Ready at once).
func ProcessingPolls(n int) Option { return func(s *Server) { s.polls = n } }

// AllowUnknownFields accepts metadata fields the spec does not define, as Rev does.
func AllowUnknownFields() Option { return func(s *Server) { s.lenient = true } }

// Video is one uploaded video as the emulator saw it.
type Video struct {
	ID string
	// Metadata is the "Video" part as sent, and Fields its parsed form (after invalid
	// access control entities were dropped).
	Metadata json.RawMessage
	Fields   vbrick.VideoMetadata
	// PartOrder is the part names in the order they came.
	PartOrder   []string
	FileName    string
	ContentType string
	Size        int64
	// SHA256 is the file's hash for an upload in one request; ChunkSHA256 has each
	// request's hash (one entry for an upload in one request).
	SHA256      string
	ChunkSHA256 []string
	Chunks      int
	Path        string // the upload path used
	Status      vbrick.Status
	Deleted     bool
	// StatusPolls counts status requests.
	StatusPolls int

	total int64
}

// Request is one request the emulator answered.
type Request struct {
	Method, Path string
	Status       int
}

// Server is the emulator; it is an http.Handler (serve it with httptest.NewServer or
// httptest.NewTLSServer).
type Server struct {
	schemas schemaSet
	timeout time.Duration
	now     func() time.Time
	polls   int
	lenient bool

	mu       sync.Mutex
	users    map[string]user // by username
	apiKeys  map[string]string
	sessions map[string]*session
	videos   map[string]*Video
	order    []string
	faults   []*Fault
	requests []Request
	logins   int
	tokens   []string
}

type user struct{ id, password string }

type session struct {
	userID, username, apiKey string
	expires                  time.Time
}

// New returns an emulator.
func New(opts ...Option) *Server {
	set, err := loadSchemas()
	if err != nil {
		panic(err) // the embedded file is checked by the package's tests
	}
	s := &Server{schemas: set, timeout: 30 * time.Minute, now: time.Now, polls: 2,
		users: map[string]user{}, apiKeys: map[string]string{}, sessions: map[string]*session{}, videos: map[string]*Video{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Server) addUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = user{id: newID(), password: password}
}

// AddUser adds a Rev user (a video owner, for example).
func (s *Server) AddUser(username, password string) { s.addUser(username, password) }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Videos returns the videos uploaded so far (deleted ones included, marked), in upload
// order. The values are copies.
func (s *Server) Videos() []Video {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Video, 0, len(s.order))
	for _, id := range s.order {
		v := *s.videos[id]
		out = append(out, v)
	}
	return out
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Logins counts successful logins and authentications.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Tokens returns every token handed out (for tests checking that none is logged).
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// Sessions counts the live sessions (logged in, not logged off or expired).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if s.now().Before(ss.expires) {
			n++
		}
	}
	return n
}

// SetStatus forces a video's status.
func (s *Server) SetStatus(videoID string, st vbrick.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.videos[videoID]; ok {
		v.Status = st
	}
}

// statusWriter records the status for Requests.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets faults push an answer out before closing the connection.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var (
	reVideo = regexp.MustCompile(`^/api/v[12]/videos/([^/]+)(/status|/details|/playback-url)?$`)
	reToken = regexp.MustCompile(`^/api/v2/tokens/([^/]+)$`)
)

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: sw.status})
		s.mu.Unlock()
	}()
	if s.fault(sw, r) {
		return
	}
	s.route(sw, r)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := strings.ToLower(strings.TrimSuffix(r.URL.Path, "/"))
	switch {
	case r.Method == http.MethodPost && (path == "/api/v2/user/login" || path == "/api/v1/user/login"):
		s.login(w, r)
	case r.Method == http.MethodPost && path == "/api/v2/authenticate":
		s.authenticate(w, r)
	case r.Method == http.MethodPost && path == "/api/v2/user/extend-session":
		s.extend(w, r)
	case r.Method == http.MethodPost && path == "/api/v2/user/logoff":
		s.logoff(w, r)
	case r.Method == http.MethodGet && path == "/api/v2/user/session":
		if _, ok := s.auth(w, r); ok {
			w.WriteHeader(http.StatusOK)
		}
	case r.Method == http.MethodDelete && reToken.MatchString(path):
		s.deleteToken(w, r, reToken.FindStringSubmatch(r.URL.Path)[1])
	case r.Method == http.MethodPost && (path == "/api/v2/uploads/videos" || path == "/api/v1/uploads/videos" || path == "/api/uploads/videos"):
		s.upload(w, r)
	case r.Method == http.MethodGet && path == "/api/v2/videos/search":
		s.search(w, r)
	case reVideo.MatchString(path):
		m := reVideo.FindStringSubmatch(r.URL.Path)
		s.video(w, r, m[1], strings.ToLower(m[2]))
	default:
		writeError(w, http.StatusNotFound, "NotFound", "revtest does not serve "+r.Method+" "+r.URL.Path)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "detail": detail})
}

// readJSON reads a JSON body checked against the named schema.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, schemaName string, out any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMetadata+1))
	if err != nil || len(data) > maxMetadata {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "body unreadable or larger than 1 MiB")
		return false
	}
	if probs := s.check(schemaName, data); len(probs) > 0 {
		writeError(w, http.StatusBadRequest, "MalformedRequest", probs)
		return false
	}
	_ = json.Unmarshal(data, out)
	return true
}

// check validates data against a named schema; it returns the problems as one string.
func (s *Server) check(name string, data []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "not JSON: " + err.Error()
	}
	var msgs []string
	for _, p := range s.schemas.validate(s.schemas[name], v, "", !s.lenient) {
		msgs = append(msgs, p.String())
	}
	return strings.Join(msgs, "; ")
}

func (s *Server) newSession(ss *session) map[string]any {
	token := newID() + newID()
	ss.expires = s.now().Add(s.timeout)
	s.sessions[token] = ss
	s.tokens = append(s.tokens, token)
	s.logins++
	return map[string]any{"token": token, "issuer": "VBrick", "expiration": ss.expires.UTC().Format(time.RFC3339Nano)}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ Username, Password string }
	if !s.readJSON(w, r, "loginUserRequest", &body) {
		return
	}
	s.mu.Lock()
	u, ok := s.users[body.Username]
	if !ok || u.password != body.Password {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "InvalidCredentials", "username or password is incorrect")
		return
	}
	ans := s.newSession(&session{userID: u.id, username: body.Username})
	s.mu.Unlock()
	ans["id"], ans["username"], ans["email"] = u.id, body.Username, body.Username+"@rev.test"
	ans["firstName"], ans["lastName"], ans["language"] = body.Username, "", "en"
	writeJSON(w, ans)
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) {
	var body struct{ APIKey, Secret string }
	if !s.readJSON(w, r, "loginApiKeyRequest", &body) {
		return
	}
	s.mu.Lock()
	secret, ok := s.apiKeys[body.APIKey]
	if !ok || secret != body.Secret {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "InvalidCredentials", "API key or secret is incorrect")
		return
	}
	ans := s.newSession(&session{apiKey: body.APIKey})
	s.mu.Unlock()
	writeJSON(w, ans)
}

// auth checks the Authorization header ("VBrick <token>", scheme in any case).
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (*session, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[strings.TrimSpace(token)]
	if !strings.EqualFold(scheme, "vbrick") || !ok || !s.now().Before(ss.expires) {
		w.WriteHeader(http.StatusUnauthorized)
		return nil, false
	}
	return ss, true
}

func (s *Server) extend(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.auth(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	ss.expires = s.now().Add(s.timeout)
	exp := ss.expires
	s.mu.Unlock()
	writeJSON(w, map[string]string{"expiration": exp.UTC().Format(time.RFC3339Nano)})
}

func (s *Server) logoff(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.auth(w, r)
	if !ok {
		return
	}
	var body struct{ UserID string }
	if !s.readJSON(w, r, "userIdPayload", &body) {
		return
	}
	if body.UserID != ss.userID {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "userId is not the session's user")
		return
	}
	s.endSession(r)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) endSession(r *http.Request) {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	delete(s.sessions, strings.TrimSpace(token))
	s.mu.Unlock()
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, apiKey string) {
	ss, ok := s.auth(w, r)
	if !ok {
		return
	}
	if ss.apiKey != apiKey {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "the token is not the API key's")
		return
	}
	s.endSession(r)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) video(w http.ResponseWriter, r *http.Request, id, rest string) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	s.mu.Lock()
	v, ok := s.videos[id]
	if !ok || v.Deleted {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "VideoNotFound", "no video "+id)
		return
	}
	switch {
	case r.Method == http.MethodGet && rest == "/status":
		v.StatusPolls++
		if v.Status == vbrick.StatusProcessing && v.StatusPolls > s.polls {
			v.Status = vbrick.StatusReady
		}
		ans := map[string]any{"videoId": v.ID, "title": title(v), "status": v.Status,
			"isProcessing":    v.Status == vbrick.StatusProcessing || v.Status == vbrick.StatusUploading,
			"overallProgress": progress(v), "isActive": boolOr(v.Fields.IsActive, false),
			"uploadedBy": v.Fields.Uploader, "whenUploaded": s.now().UTC().Format(time.RFC3339)}
		if strings.HasPrefix(strings.ToLower(r.URL.Path), "/api/v1/") {
			ans["Status"] = v.Status // the CMS Uploader reads {Status:"Ready"}
		}
		s.mu.Unlock()
		writeJSON(w, ans)
	case r.Method == http.MethodGet && rest == "/details":
		f := v.Fields
		ans := map[string]any{"id": v.ID, "title": title(v), "description": f.Description, "tags": nonNil(f.Tags),
			"categories": nonNil(f.Categories), "isActive": boolOr(f.IsActive, false),
			"enableRatings": boolOr(f.EnableRatings, true), "enableDownloads": boolOr(f.EnableDownloads, false),
			"enableComments": boolOr(f.EnableComments, true), "videoAccessControl": access(f.VideoAccessControl),
			"accessControlEntities": f.AccessControlEntities, "status": v.Status, "uploadedBy": f.Uploader,
			"owner": owner(f)}
		s.mu.Unlock()
		writeJSON(w, ans)
	case r.Method == http.MethodGet && rest == "/playback-url":
		ans := map[string]any{"video": map[string]any{"id": v.ID, "title": title(v), "description": v.Fields.Description,
			"tags": nonNil(v.Fields.Tags), "categories": []any{}, "thumbnailUrl": "https://" + r.Host + "/api/v2/media/videos/thumbnails/" + v.ID + ".jpg",
			"playbackUrl": "https://" + r.Host + "/#/videos/" + v.ID}}
		s.mu.Unlock()
		writeJSON(w, ans)
	case r.Method == http.MethodDelete && rest == "":
		v.Deleted = true
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "NotFound", "revtest does not serve "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	q := r.URL.Query()
	count, err := strconv.Atoi(q.Get("count"))
	if err != nil || count <= 0 {
		count = 50
	}
	tag := q.Get("q")
	s.mu.Lock()
	var items []map[string]any
	for _, id := range s.order {
		v := s.videos[id]
		if v.Deleted {
			continue
		}
		for _, t := range v.Fields.Tags {
			if t == tag || (q.Get("exactMatch") != "true" && strings.Contains(strings.ToLower(t), strings.ToLower(tag))) {
				items = append(items, map[string]any{"id": v.ID, "title": title(v), "tags": v.Fields.Tags, "status": v.Status})
				break
			}
		}
	}
	s.mu.Unlock()
	total := len(items)
	if len(items) > count {
		items = items[:count]
	}
	writeJSON(w, map[string]any{"videos": nonNilMaps(items), "totalVideos": total, "statusCode": 200})
}

func title(v *Video) string {
	if v.Fields.Title != "" {
		return v.Fields.Title
	}
	return strings.TrimSuffix(v.FileName, ".mp4")
}

func progress(v *Video) float64 {
	if v.Status == vbrick.StatusUploading && v.total > 0 {
		return float64(v.Size) / float64(v.total) / 2
	}
	if v.Status.Playable() {
		return 1
	}
	return 0.5
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func access(a vbrick.AccessControl) vbrick.AccessControl {
	if a == "" {
		return vbrick.AccessPrivate
	}
	return a
}

func owner(f vbrick.VideoMetadata) any {
	if f.Owner != nil {
		return f.Owner
	}
	return vbrick.UserRef{Username: f.Uploader}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMaps(s []map[string]any) []map[string]any {
	if s == nil {
		return []map[string]any{}
	}
	return s
}

// parseContentRange reads "bytes start-end/total".
func parseContentRange(v string) (start, end, total int64, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, 0, errors.New("want bytes start-end/total")
	}
	rng, tot, ok := strings.Cut(rest, "/")
	a, b, ok2 := strings.Cut(rng, "-")
	if !ok || !ok2 {
		return 0, 0, 0, errors.New("want bytes start-end/total")
	}
	start, e1 := strconv.ParseInt(a, 10, 64)
	end, e2 := strconv.ParseInt(b, 10, 64)
	total, e3 := strconv.ParseInt(tot, 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || start < 0 || end < start || total <= end {
		return 0, 0, 0, fmt.Errorf("range %q is not start <= end < total", rest)
	}
	return start, end, total, nil
}

func isJSONType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || mt == "text/plain")
}
