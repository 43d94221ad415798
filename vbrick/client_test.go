package vbrick_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/vbrick"
	"github.com/sipcast/sipcast/vbrick/revtest"
)

const (
	user     = "recorder"
	password = "s3cret-Passw0rd"
)

// rev starts an emulator with the upload user and an owner.
func rev(t *testing.T, opts ...revtest.Option) (*revtest.Server, *httptest.Server) {
	t.Helper()
	rs := revtest.New(append([]revtest.Option{revtest.WithUser(user, password), revtest.WithUser("alice", "x")}, opts...)...)
	hs := httptest.NewServer(rs)
	t.Cleanup(hs.Close)
	return rs, hs
}

func client(t *testing.T, base string, opts ...vbrick.Option) (*vbrick.Client, *peer.SyncBuffer) {
	t.Helper()
	logs := &peer.SyncBuffer{}
	all := append([]vbrick.Option{vbrick.WithUserPassword(user, password), vbrick.WithRetry(4, time.Millisecond, 20*time.Millisecond),
		vbrick.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)
	c, err := vbrick.New(base, all...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, logs
}

func recordingFile(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "20260101120000+0000.mp4")
	require.NoError(t, testmedia.WriteRecording(path))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

func TestUploadStatusPlaybackDelete(t *testing.T) {
	peer.CheckNoLeaks(t)
	rs, hs := rev(t)
	c, _ := client(t, hs.URL)
	ctx := context.Background()
	path, sum := recordingFile(t)
	var last, total int64
	meta := vbrick.VideoMetadata{Uploader: user, Title: "Weekly sync", Owner: &vbrick.UserRef{Username: "alice"},
		Tags: []string{"sipcast"}, VideoAccessControl: vbrick.AccessAllUsers, IsActive: vbrick.Bool(true),
		EnableComments: vbrick.Bool(false), AccessControlEntities: []vbrick.AccessControlEntity{{Name: "alice", Type: vbrick.EntityUser, CanEdit: true}}}
	id, err := c.UploadVideo(ctx, path, meta, vbrick.UploadOptions{Progress: func(sent, n int64) {
		assert.GreaterOrEqual(t, sent, last)
		last, total = sent, n
	}})
	require.NoError(t, err)
	st, _ := os.Stat(path)
	assert.Equal(t, st.Size(), last, "progress reaches the file size")
	assert.Equal(t, st.Size(), total)

	videos := rs.Videos()
	require.Len(t, videos, 1)
	v := videos[0]
	assert.Equal(t, id, v.ID)
	assert.Equal(t, sum, v.SHA256, "Rev got the file's bytes")
	assert.Equal(t, []string{"Video", "VideoFile"}, v.PartOrder)
	assert.Equal(t, "20260101120000+0000.mp4", v.FileName)
	assert.Equal(t, "video/mp4", v.ContentType)
	assert.Equal(t, "/api/v2/uploads/videos", v.Path)
	assert.JSONEq(t, `{"uploader":"recorder","title":"Weekly sync","owner":{"username":"alice"},"tags":["sipcast"],
		"isActive":true,"enableComments":false,"videoAccessControl":"AllUsers",
		"accessControlEntities":[{"name":"alice","type":"User","canEdit":true}]}`, string(v.Metadata))

	d, err := c.Details(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "Weekly sync", d.Title)
	assert.True(t, d.EnableRatings, "Rev's default")
	assert.False(t, d.EnableComments)

	// Processing, Processing, then Ready.
	var seen []vbrick.Status
	for i := 0; i < 5; i++ {
		s, err := c.Status(ctx, id)
		require.NoError(t, err)
		seen = append(seen, s.Status)
		if s.Status.Playable() {
			break
		}
	}
	assert.Equal(t, []vbrick.Status{vbrick.StatusProcessing, vbrick.StatusProcessing, vbrick.StatusReady}, seen)
	u, err := c.PlaybackURL(ctx, id)
	require.NoError(t, err)
	assert.Contains(t, u, id)

	found, err := c.FindByTag(ctx, "sipcast", 10)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, id, found[0].ID)

	require.NoError(t, c.Delete(ctx, id))
	require.NoError(t, c.Delete(ctx, id), "deleting twice is not an error")
	assert.True(t, rs.Videos()[0].Deleted)
	_, err = c.Status(ctx, id)
	assert.ErrorIs(t, err, vbrick.ErrNotFound)

	require.NoError(t, c.Close(ctx))
	require.NoError(t, c.Close(ctx), "Close is idempotent")
	assert.Equal(t, 0, rs.Sessions(), "Close logged off")
	_, err = c.Status(ctx, id)
	assert.ErrorIs(t, err, vbrick.ErrClosed)
}

func TestChunkedUpload(t *testing.T) {
	rs, hs := rev(t)
	c, _ := client(t, hs.URL)
	path, _ := recordingFile(t)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	const chunk = 64 << 10
	var ids []string
	var maxSent int64
	id, err := c.UploadVideo(context.Background(), path, vbrick.VideoMetadata{Uploader: user}, vbrick.UploadOptions{
		ChunkSize: chunk,
		OnVideoID: func(id string) error {
			ids = append(ids, id)
			assert.Len(t, rs.Videos()[0].ChunkSHA256, 1, "the id is known after the first chunk")
			return nil
		},
		Progress: func(sent, _ int64) { maxSent = max(maxSent, sent) }})
	require.NoError(t, err)
	assert.Equal(t, []string{id}, ids)
	assert.Equal(t, int64(len(data)), maxSent)
	v := rs.Videos()
	require.Len(t, v, 1, "one video for all chunks")
	var want []string
	for off := 0; off < len(data); off += chunk {
		s := sha256.Sum256(data[off:min(off+chunk, len(data))])
		want = append(want, hex.EncodeToString(s[:]))
	}
	assert.Equal(t, want, v[0].ChunkSHA256, "every chunk carried the file's bytes at its offset")
	assert.Equal(t, int64(len(data)), v[0].Size)
	assert.Equal(t, vbrick.StatusProcessing, v[0].Status)
}

func TestLoginMethods(t *testing.T) {
	ctx := context.Background()
	t.Run("legacy v1", func(t *testing.T) {
		rs, hs := rev(t)
		c, _ := client(t, hs.URL, vbrick.WithLegacyLogin())
		require.NoError(t, c.Login(ctx))
		assert.Equal(t, "/api/v1/user/login", rs.Requests()[0].Path)
		require.NoError(t, c.Close(ctx))
		assert.Equal(t, "/api/v2/user/logoff", rs.Requests()[1].Path)
		assert.Equal(t, 0, rs.Sessions())
	})
	t.Run("api key", func(t *testing.T) {
		rs, hs := rev(t, revtest.WithAPIKey("key-1", "key-secret"))
		c, err := vbrick.New(hs.URL, vbrick.WithAPIKey("key-1", "key-secret"))
		require.NoError(t, err)
		require.NoError(t, c.Login(ctx))
		require.NoError(t, c.Close(ctx))
		reqs := rs.Requests()
		assert.Equal(t, "/api/v2/authenticate", reqs[0].Path)
		assert.Equal(t, revtest.Request{Method: "DELETE", Path: "/api/v2/tokens/key-1", Status: 200}, reqs[1])
		assert.Equal(t, 0, rs.Sessions())
	})
	t.Run("wrong password", func(t *testing.T) {
		rs, hs := rev(t)
		c, err := vbrick.New(hs.URL, vbrick.WithUserPassword(user, "wrong-"+password))
		require.NoError(t, err)
		err = c.Login(ctx)
		require.ErrorIs(t, err, vbrick.ErrUnauthorized)
		assert.Len(t, rs.Requests(), 1, "a 401 login is not retried")
		assert.NotContains(t, err.Error(), password)
	})
}

// A session is extended in the last quarter of its life, and a new login follows an
// expired or revoked session.
func TestSessionExtendAndRelogin(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rs, hs := rev(t, revtest.WithClock(clock), revtest.WithSessionTimeout(20*time.Minute))
	c, _ := client(t, hs.URL, vbrick.WithClock(clock))
	ctx := context.Background()
	paths := func() (out []string) {
		for _, r := range rs.Requests() {
			out = append(out, r.Path)
		}
		return out
	}
	_, err := c.FindByTag(ctx, "x", 1)
	require.NoError(t, err)
	advance(10 * time.Minute) // half the session: no extension yet
	_, err = c.FindByTag(ctx, "x", 1)
	require.NoError(t, err)
	advance(6 * time.Minute) // 16 of 20 minutes: extend
	_, err = c.FindByTag(ctx, "x", 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"/api/v2/user/login", "/api/v2/videos/search", "/api/v2/videos/search",
		"/api/v2/user/extend-session", "/api/v2/videos/search"}, paths())
	advance(21 * time.Minute) // expired: a new login
	_, err = c.FindByTag(ctx, "x", 1)
	require.NoError(t, err)
	assert.Equal(t, 2, rs.Logins())
	// A session revoked on the server: the 401 leads to one new login and the call succeeds.
	rs.Inject(revtest.Fault{Path: "/api/v2/videos/search", Times: 1, Status: 401})
	_, err = c.FindByTag(ctx, "x", 1)
	require.NoError(t, err)
	assert.Equal(t, 3, rs.Logins())
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("login 500 is logged and retried", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/user/login", Times: 2, Status: 500, Code: "InternalServerError", Detail: "Failed to initialise session store"})
		c, logs := client(t, hs.URL)
		require.NoError(t, c.Login(ctx))
		assert.Equal(t, 3, len(rs.Requests()))
		line := logs.String()
		assert.Contains(t, line, "url="+hs.URL+"/api/v2/user/login", "the log names host and path")
		assert.Contains(t, line, "status=500")
		assert.Contains(t, line, `detail="Failed to initialise session store"`)
		assert.Equal(t, 2, strings.Count(line, "retrying"))
	})
	t.Run("login 500 until attempts run out", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/user/login", Status: 500, Code: "InternalServerError", Detail: "boom"})
		c, _ := client(t, hs.URL)
		err := c.Login(ctx)
		require.ErrorIs(t, err, vbrick.ErrServer)
		assert.Equal(t, "vbrick: POST "+hs.URL+"/api/v2/user/login: 500 Internal Server Error: InternalServerError: boom", err.Error())
		assert.Len(t, rs.Requests(), 4)
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/videos/search", Times: 1, Status: 429, RawBody: "<html><body>Too many</body></html>", RetryAfter: "1"})
		c, logs := client(t, hs.URL, vbrick.WithRetry(3, time.Millisecond, 5*time.Second))
		_, err := c.FindByTag(ctx, "x", 1)
		require.NoError(t, err)
		assert.Contains(t, logs.String(), "next_in=1s", "Retry-After honoured")
		assert.Contains(t, logs.String(), `detail="Too many"`, "HTML stripped")
		assert.Len(t, rs.Requests(), 3, "login, 429, retry")
	})
	t.Run("429 without Retry-After", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/videos/search", Times: 2, Status: 429})
		c, logs := client(t, hs.URL)
		_, err := c.FindByTag(ctx, "x", 1)
		require.NoError(t, err)
		assert.Equal(t, 2, strings.Count(logs.String(), "status=429"))
		assert.Len(t, rs.Requests(), 4, "login, two 429s, the answer")
	})
	t.Run("400 is not retried", func(t *testing.T) {
		rs, hs := rev(t)
		c, _ := client(t, hs.URL)
		path, _ := recordingFile(t)
		_, err := c.UploadVideo(ctx, path, vbrick.VideoMetadata{Uploader: user, VideoAccessControl: "Everyone"}, vbrick.UploadOptions{})
		var e *vbrick.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 400, e.Status)
		assert.ErrorIs(t, err, vbrick.ErrRequest)
		assert.Empty(t, rs.Videos())
		n := 0
		for _, r := range rs.Requests() {
			if r.Method == "POST" && strings.Contains(r.Path, "uploads") {
				n++
			}
		}
		assert.Equal(t, 1, n)
	})
	uploads := func(rs *revtest.Server) int {
		n := 0
		for _, r := range rs.Requests() {
			if r.Method == "POST" && strings.Contains(r.Path, "uploads") {
				n++
			}
		}
		return n
	}
	t.Run("upload 429 is retried", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, Status: 429, AfterBodyBytes: 1000})
		c, _ := client(t, hs.URL)
		path, sum := recordingFile(t)
		_, err := c.UploadVideo(ctx, path, vbrick.VideoMetadata{Uploader: user}, vbrick.UploadOptions{})
		require.NoError(t, err)
		require.Len(t, rs.Videos(), 1)
		assert.Equal(t, sum, rs.Videos()[0].SHA256)
		assert.Equal(t, 2, uploads(rs))
	})
	// A 5xx to the request that creates the video may come after Rev created it (a
	// proxy's 502): it is never resent blindly, the caller must search first.
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprintf("upload %d is not resent", status), func(t *testing.T) {
			rs, hs := rev(t)
			rs.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, Status: status, AfterHandled: true})
			c, _ := client(t, hs.URL)
			path, _ := recordingFile(t)
			_, err := c.UploadVideo(ctx, path, vbrick.VideoMetadata{Uploader: user}, vbrick.UploadOptions{})
			require.ErrorIs(t, err, vbrick.ErrUploadInterrupted)
			assert.Equal(t, 1, uploads(rs), "the creating request was sent again")
			assert.Len(t, rs.Videos(), 1, "Rev has the video the failed answer hid")
		})
	}
	t.Run("connection dropped mid-upload", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, Drop: true, AfterBodyBytes: 100 << 10})
		c, _ := client(t, hs.URL)
		path, _ := recordingFile(t)
		_, err := c.UploadVideo(ctx, path, vbrick.VideoMetadata{Uploader: user}, vbrick.UploadOptions{})
		require.ErrorIs(t, err, vbrick.ErrUploadInterrupted, "not retried: Rev may have the video")
		assert.Empty(t, rs.Videos())
	})
	t.Run("connection dropped on a status request", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/videos/search", Times: 1, Drop: true})
		c, _ := client(t, hs.URL)
		_, err := c.FindByTag(ctx, "x", 1)
		require.NoError(t, err, "a GET is retried")
	})
	t.Run("slow answer and a context deadline", func(t *testing.T) {
		rs, hs := rev(t)
		rs.Inject(revtest.Fault{Path: "/api/v2/videos/search", Delay: time.Minute})
		c, _ := client(t, hs.URL)
		require.NoError(t, c.Login(ctx))
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.FindByTag(dctx, "x", 1)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// No password, secret or token in errors or log lines, even when Rev echoes them.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	ctx := context.Background()
	rs, hs := rev(t, revtest.WithAPIKey("key-2", "api-secret-value"))
	rs.Inject(revtest.Fault{Path: "/api/v2/user/login", Times: 1, Status: 500, Detail: "login failed for recorder/" + password})
	c, logs := client(t, hs.URL)
	path, _ := recordingFile(t)
	_, err := c.UploadVideo(ctx, path, vbrick.VideoMetadata{Uploader: user, Password: "video-pass-123", VideoAccessControl: vbrick.AccessPublic}, vbrick.UploadOptions{})
	require.NoError(t, err)
	rs.Inject(revtest.Fault{Path: "/api/v2/videos/*", Status: 500, Detail: "echo"})
	_, serr := c.Status(ctx, "x")
	require.Error(t, serr)
	k, err := vbrick.New(hs.URL, vbrick.WithAPIKey("key-2", "wrong-api-secret"))
	require.NoError(t, err)
	kerr := k.Login(ctx)
	require.Error(t, kerr)
	all := logs.String() + serr.Error() + kerr.Error()
	for _, secret := range []string{password, "video-pass-123", "api-secret-value", "wrong-api-secret"} {
		assert.NotContains(t, all, secret)
	}
	assert.Contains(t, logs.String(), "[redacted]", "the echoed password was scrubbed")
	_, err = vbrick.New("https://recorder:" + password + "@rev.example.com")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)
}

func TestTLSVerification(t *testing.T) {
	rs := revtest.New(revtest.WithUser(user, password))
	hs := httptest.NewTLSServer(rs)
	defer hs.Close()
	ctx := context.Background()
	c, err := vbrick.New(hs.URL, vbrick.WithUserPassword(user, password), vbrick.WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	err = c.Login(ctx)
	require.Error(t, err, "an unknown CA is refused")
	assert.Contains(t, err.Error(), "certificate")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	c, err = vbrick.New(hs.URL, vbrick.WithUserPassword(user, password), vbrick.WithTrustPEM(certPEM))
	require.NoError(t, err)
	require.NoError(t, c.Login(ctx))
	require.NoError(t, c.Close(ctx))
	_, err = vbrick.New(hs.URL, vbrick.WithUserPassword(user, password), vbrick.WithTrustPEM([]byte("not pem")))
	require.Error(t, err)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []vbrick.Option
	}{
		{"ftp://rev", []vbrick.Option{vbrick.WithUserPassword("a", "b")}},
		{"https://rev", nil},
		{"https://rev", []vbrick.Option{vbrick.WithUserPassword("a", "b"), vbrick.WithAPIKey("k", "s")}},
		{"https://rev", []vbrick.Option{vbrick.WithUserPassword("", "b")}},
		{"https://rev", []vbrick.Option{vbrick.WithUserPassword("a", "b"), vbrick.WithRetry(0, time.Second, time.Second)}},
	} {
		_, err := vbrick.New(tc.url, tc.opts...)
		assert.Error(t, err, tc.url)
	}
}

func TestErrorUnwrap(t *testing.T) {
	for status, want := range map[int]error{401: vbrick.ErrUnauthorized, 404: vbrick.ErrNotFound, 429: vbrick.ErrRateLimited,
		500: vbrick.ErrServer, 503: vbrick.ErrServer, 400: vbrick.ErrRequest, 403: vbrick.ErrRequest} {
		err := error(&vbrick.Error{Method: "GET", URL: "https://rev/x", Status: status})
		assert.True(t, errors.Is(err, want), "%d", status)
	}
}

// A Rev (or something in front of it) that sends an answer's headers and then stalls:
// the request ends at the body timeout instead of hanging, and plain http to a host
// that is not loopback is refused.
func TestStalledBodyAndPlainHTTP(t *testing.T) {
	rs, hs := rev(t)
	stall := make(chan struct{})
	defer close(stall)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/search") {
			rs.ServeHTTP(w, r) // login goes to the emulator
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"videos": [`))
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	_ = hs
	c, _ := client(t, slow.URL, vbrick.WithBodyTimeout(200*time.Millisecond), vbrick.WithRetry(1, time.Millisecond, time.Millisecond))
	_, err := c.FindByTag(context.Background(), "x", 1)
	require.Error(t, err, "a stalled body")
	require.ErrorContains(t, err, "reading the answer")

	_, err = vbrick.New("http://rev.example.com", vbrick.WithUserPassword(user, password))
	require.ErrorContains(t, err, "plain http is only allowed to a loopback address")
	_, err = vbrick.New("http://127.0.0.1:1", vbrick.WithUserPassword(user, password))
	require.NoError(t, err)
}
