package uploader_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/cmsfake"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/vbrick"
	"github.com/sipcast/sipcast/vbrick/revtest"
)

const (
	revUser     = "cms-uploader"
	revPassword = "Rev-Pa55word!"
	cmsUser     = cmsfake.User
	cmsPassword = cmsfake.Password
	spaceID     = cmsfake.SpaceID
	stem        = "20260101120000+0000"
)

// env is one test's share, Rev emulator and CMS.
type env struct {
	dir  string
	rev  *revtest.Server
	hs   *httptest.Server
	cms  *cmsfake.Server
	logs *peer.SyncBuffer
	log  *slog.Logger
}

func newEnv(t *testing.T, opts ...revtest.Option) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), logs: &peer.SyncBuffer{}}
	e.rev = revtest.New(append([]revtest.Option{revtest.WithUser(revUser, revPassword), revtest.WithUser("alice", "a"),
		revtest.WithUser("bob", "b"), revtest.WithUser("carol", "c"), revtest.WithUser("admin", "d"), revtest.ProcessingPolls(1)}, opts...)...)
	e.hs = httptest.NewServer(e.rev)
	t.Cleanup(e.hs.Close)
	e.cms = cmsfake.Start()
	t.Cleanup(e.cms.Close)
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs.String())
		}
	})
	return e
}

var recordingOnce struct {
	sync.Once
	data []byte
	err  error
}

// addRecording puts the test recording at rel (e.g. spaces/<id>/<stem>.mp4).
func (e *env) addRecording(t *testing.T, rel string) string {
	t.Helper()
	recordingOnce.Do(func() {
		p := filepath.Join(os.TempDir(), fmt.Sprintf("sipcast-uploader-%d.mp4", os.Getpid()))
		if recordingOnce.err = testmedia.WriteRecording(p); recordingOnce.err == nil {
			recordingOnce.data, recordingOnce.err = os.ReadFile(p)
		}
		os.Remove(p)
	})
	require.NoError(t, recordingOnce.err)
	path := filepath.Join(e.dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, recordingOnce.data, 0o644))
	return path
}

func (e *env) revClient(t *testing.T) *vbrick.Client {
	t.Helper()
	c, err := vbrick.New(e.hs.URL, vbrick.WithUserPassword(revUser, revPassword), vbrick.WithLogger(e.log),
		vbrick.WithRetry(3, time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// files lists the share's files (relative), journals included.
func (e *env) files(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.dir, p)
			out = append(out, rel)
		}
		return err
	}))
	return out
}

// assertNoSecrets checks that no credential or token reached the logs.
func (e *env) assertNoSecrets(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range append([]string{revPassword, cmsPassword}, e.rev.Tokens()...) {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%.4s…) appears in the logs", s)
		}
	}
}
