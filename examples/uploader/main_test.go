package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	stem        = "20260101120000+0000"
)

var binary struct {
	sync.Once
	path string
	err  error
}

// build compiles the program once per test run (without -race: it is the system under
// test, measured for memory).
func build(t *testing.T) string {
	t.Helper()
	binary.Do(func() {
		dir, err := os.MkdirTemp("", "sipcast-uploader-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "uploader")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binary.err)
	return binary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

// world is a share, a Rev emulator and a Call Bridge API, all over TLS, and the
// program's flags for them.
type world struct {
	dir  string
	rev  *revtest.Server
	args []string
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func hostPort(t *testing.T, raw string) (string, string) {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Hostname(), u.Port()
}

func newWorld(t *testing.T, extra ...string) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	etc := t.TempDir()
	w.rev = revtest.New(revtest.WithUser(revUser, revPassword), revtest.WithUser("alice", "a"), revtest.WithUser("bob", "b"),
		revtest.WithUser("carol", "c"), revtest.WithUser("admin", "d"), revtest.ProcessingPolls(2))
	revHS := httptest.NewTLSServer(w.rev)
	t.Cleanup(revHS.Close)
	cms := cmsfake.StartTLS()
	t.Cleanup(cms.Close)
	trust := func(hs *httptest.Server, name string) string {
		return writeFile(t, filepath.Join(etc, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}))
	}
	rh, rp := hostPort(t, revHS.URL)
	ch, cp := hostPort(t, cms.URL)
	w.args = append([]string{"-nfs", w.dir,
		"-rev-host", rh, "-rev-port", rp, "-rev-user", revUser,
		"-rev-password-file", writeFile(t, filepath.Join(etc, "rev.pw"), []byte(revPassword+"\n")), "-rev-trust", trust(revHS, "rev.pem"),
		"-cms-host", ch, "-cms-port", cp, "-cms-user", cmsfake.User,
		"-cms-password-file", writeFile(t, filepath.Join(etc, "cms.pw"), []byte(cmsfake.Password)), "-cms-trust", trust(cms.Server, "cms.pem"),
		"-recording-owned-by-cospace-owner", "-fallback-owner", "admin",
		"-poll-interval", "20ms", "-stable-for", "0", "-search-lag", "0"}, extra...)
	return w
}

var recordingData struct {
	sync.Once
	data []byte
	err  error
}

// addRecordings puts the test recording in a space and in forwardedCalls, and returns
// their SHA-256 sums.
func (w *world) addRecordings(t *testing.T) []string {
	t.Helper()
	recordingData.Do(func() {
		p := filepath.Join(t.TempDir(), "r.mp4")
		if recordingData.err = testmedia.WriteRecording(p); recordingData.err == nil {
			recordingData.data, recordingData.err = os.ReadFile(p)
		}
	})
	require.NoError(t, recordingData.err)
	a := recordingData.data
	b := append([]byte(nil), a...)
	b = append(b, 0) // a second, different recording
	writeFile(t, filepath.Join(w.dir, "spaces", cmsfake.SpaceID, stem+".mp4"), a)
	writeFile(t, filepath.Join(w.dir, "forwardedCalls", stem+".mp4"), b)
	sa, sb := sha256.Sum256(a), sha256.Sum256(b)
	sums := []string{hex.EncodeToString(sa[:]), hex.EncodeToString(sb[:])}
	sort.Strings(sums)
	return sums
}

func (w *world) mp4s(t *testing.T) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".mp4") {
			rel, _ := filepath.Rel(w.dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func (w *world) journals(t *testing.T) string {
	var all strings.Builder
	_ = filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".upload") {
			b, _ := os.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	return all.String()
}

func start(t *testing.T, args []string, env ...string) *peer.Process {
	t.Helper()
	cmd := build(t)
	if len(env) > 0 {
		os.Setenv(strings.Split(env[0], "=")[0], strings.SplitN(env[0], "=", 2)[1])
		defer os.Unsetenv(strings.Split(env[0], "=")[0])
	}
	return peer.Start(t, cmd, args...)
}

// Must-show 2: the program is killed (SIGKILL) at each stage and started again; every
// recording ends up in Rev exactly once, and with -delete-after-upload it is deleted only
// after Rev reported it Ready.
func TestKillAtEachStage(t *testing.T) {
	for _, stage := range []string{"login", "mid-upload", "uploaded", "polling"} {
		for _, del := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/delete=%v", stage, del), func(t *testing.T) { testKillAt(t, stage, del) })
		}
	}
}

func testKillAt(t *testing.T, stage string, del bool) {
	var extra []string
	if del {
		extra = append(extra, "-delete-after-upload")
	}
	w := newWorld(t, extra...)
	sums := w.addRecordings(t)
	reached := make(chan string, 1)
	release := make(chan struct{})
	defer close(release)
	block := func(r *http.Request) {
		select {
		case reached <- r.URL.Path:
		default:
		}
		<-release
	}
	var env []string
	switch stage {
	case "login":
		w.rev.Inject(revtest.Fault{Path: "/api/v2/user/login", Times: 1, Hook: block})
	case "mid-upload":
		w.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, AfterBodyBytes: 100 << 10, Hook: block})
	case "polling":
		w.rev.Inject(revtest.Fault{Path: "/api/v2/videos/*/status", Times: 1, Hook: block})
	case "uploaded":
		env = []string{"SIPCAST_UPLOADER_PAUSE_AT=uploaded"}
	}
	p := start(t, w.args, env...)
	if stage == "uploaded" {
		require.Eventually(t, func() bool { return strings.Contains(p.Output(), "paused at uploaded") }, 30*time.Second, 5*time.Millisecond, p.Output())
	} else {
		select {
		case <-reached:
		case <-p.Done():
			t.Fatalf("exited before %s:\n%s", stage, p.Output())
		case <-time.After(30 * time.Second):
			t.Fatalf("never reached %s:\n%s", stage, p.Output())
		}
	}
	assert.Len(t, w.mp4s(t), 2, "nothing deleted before Ready")
	p.Kill() // SIGKILL
	w.rev.ClearFaults()
	first := p.Output()

	p2 := start(t, w.args)
	done := func() bool {
		if del {
			return len(w.mp4s(t)) == 0
		}
		return strings.Count(w.journals(t), `"state":"ready"`) == 2
	}
	require.Eventually(t, done, 60*time.Second, 10*time.Millisecond, p2.Output())
	p2.Signal(syscall.SIGTERM)
	out := p2.Output()

	var live []vbrick.Status
	var got []string
	for _, v := range w.rev.Videos() {
		if v.Deleted {
			continue
		}
		live = append(live, v.Status)
		got = append(got, v.SHA256)
	}
	sort.Strings(got)
	assert.Equal(t, sums, got, "each recording in Rev exactly once")
	assert.Equal(t, []vbrick.Status{vbrick.StatusReady, vbrick.StatusReady}, live)
	accepted := 0
	for _, r := range w.rev.Requests() {
		if r.Method == "POST" && r.Path == "/api/v2/uploads/videos" && r.Status == 200 {
			accepted++
		}
	}
	assert.Equal(t, 2, accepted, "Rev accepted two uploads in all, across both runs")
	if del {
		assert.Equal(t, 2, strings.Count(out, "deleted the local copy"))
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "deleted the local copy") {
				id := line[strings.Index(line, "video_id=")+len("video_id="):]
				id = strings.Fields(id)[0]
				assert.Less(t, strings.Index(out, "ready in Rev file="), strings.Index(out, line), "deleted after Ready")
				assert.Contains(t, out, "video_id="+id+" playback_url=")
			}
		}
	} else {
		for _, f := range w.mp4s(t) {
			assert.Regexp(t, `_vid-id=[0-9a-f-]{36}@vbrick\.mp4$`, f)
		}
	}
	for _, secret := range append([]string{revPassword, cmsfake.Password}, w.rev.Tokens()...) {
		assert.NotContains(t, first+out, secret)
	}
}

// The status block and a one-shot scan, as the CMS `uploader` command shows it.
func TestStatusBlockAndOnce(t *testing.T) {
	w := newWorld(t, "-once", "-view-access", "AllUsers", "-cospace-member-access", "edit")
	w.addRecordings(t)
	p := start(t, w.args)
	require.NoError(t, p.Wait(60*time.Second), p.Output())
	out := p.Output()
	for _, want := range []string{"View access                      : AllUsers", "cospace_member_access            : edit",
		"recording_owned_by_cospace_owner : true", "fallback_owner                   : admin", "delete_after_upload              : false",
		"uploader: uploaded=2 "} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, out, `msg="uploader: uploaded" file=`+w.dir)
	assert.Regexp(t, `video_id=[0-9a-f-]{36}`, out)
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-nfs", "x"}, {"-nfs", "x", "-rev-host", "r", "-rev-user", "u", "-rev-password-file", "/nonexistent"},
		{"-nfs", "x", "-rev-host", "r", "-rev-user", "u", "-rev-password-file", "/dev/null"}} {
		var out strings.Builder
		code := run(args, io.Discard, &out)
		assert.Equal(t, 2, code, "%v", args)
		assert.NotEmpty(t, out.String())
	}
}

// A database password on the command line (-db) is refused, and not repeated.
func TestDBPasswordRefused(t *testing.T) {
	pw := writeFile(t, filepath.Join(t.TempDir(), "rev.pw"), []byte("x\n"))
	var out strings.Builder
	code := run([]string{"-nfs", t.TempDir(), "-rev-host", "127.0.0.1", "-rev-user", "u", "-rev-password-file", pw,
		"-db", "host=/tmp dbname=sipcast password=Db-Secret-42"}, io.Discard, &out)
	require.Equal(t, 2, code, out.String())
	require.Contains(t, out.String(), "PGPASSWORD")
	require.NotContains(t, out.String(), "Db-Secret-42")
}

// Must-show 4: a 2 GB (sparse) recording uploads with the program's memory under 64 MB.
func TestLargeFileConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 2 GB upload takes a while")
	}
	w := newWorld(t, "-once")
	path := filepath.Join(w.dir, "forwardedCalls", stem+".mp4")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	const size int64 = 2 << 30
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())

	cmd := exec.CommandContext(context.Background(), build(t), w.args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // Linux reports KiB
	t.Logf("peak RSS of the uploader: %.1f MB for a %d MB file", float64(rss)/1e6, size>>20)
	assert.Less(t, rss, int64(64<<20), "peak RSS")
	v := w.rev.Videos()
	require.Len(t, v, 1)
	assert.Equal(t, size, v[0].Size)
	assert.Equal(t, int((size+vbrick.DefaultChunkSize-1)/vbrick.DefaultChunkSize), v[0].Chunks, "sent in chunks")
	zeros := make([]byte, vbrick.DefaultChunkSize)
	for i, s := range v[0].ChunkSHA256 {
		n := min(vbrick.DefaultChunkSize, size-int64(i)*vbrick.DefaultChunkSize)
		sum := sha256.Sum256(zeros[:n])
		require.Equal(t, hex.EncodeToString(sum[:]), s, "chunk %d", i)
	}
}

func TestProgressBar(t *testing.T) {
	var out strings.Builder
	p := &progressBar{w: &out, last: -1}
	for _, sent := range []int64{0, 10, 11, 50, 100} {
		p.update("/share/forwardedCalls/x.mp4", sent, 100)
	}
	assert.Equal(t, "\r[.........................]   0% x.mp4"+
		"\r[##.......................]  10% x.mp4"+
		"\r[##.......................]  11% x.mp4"+
		"\r[############.............]  50% x.mp4"+
		"\r[#########################] 100% x.mp4\n", out.String())
}

// Issue 19, must-show 5: three uploaders on one share, sharing it through PostgreSQL
// (-db, leases of 1 s), against the Rev emulator. a is stopped (SIGSTOP) as it is about
// to upload the first recording it claimed, for longer than its lease; c is killed
// (kill -9) in the middle of uploading the other; b takes both over once their leases
// have run out. Each recording is in Rev exactly once (two uploads accepted in all),
// and when a goes on (SIGCONT) its next write is refused by the epoch: it sends nothing.
func TestInteropThreeUploadersShareThroughPostgres(t *testing.T) {
	pg := peer.StartPostgres(t)
	w := newWorld(t)
	sums := w.addRecordings(t)
	args := func(holder string) []string {
		return append(append([]string(nil), w.args...), "-db", pg.URL, "-holder", holder, "-lease", "1s")
	}
	a := start(t, args("a"), "SIPCAST_UPLOADER_HOLD_AT=uploading")
	require.Eventually(t, func() bool { return strings.Contains(a.Output(), "holding at uploading") }, 30*time.Second, 5*time.Millisecond, a.Output())
	a.Send(syscall.SIGSTOP) // stopped: no step, no renewal of its lease

	reached := make(chan string, 1)
	release := make(chan struct{})
	w.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, AfterBodyBytes: 100 << 10, Hook: func(r *http.Request) {
		select {
		case reached <- r.URL.Path:
		default:
		}
		<-release
	}})
	c := start(t, args("c"))
	select {
	case <-reached:
	case <-c.Done():
		t.Fatalf("c exited before its upload:\n%s", c.Output())
	case <-time.After(30 * time.Second):
		t.Fatalf("c never uploaded:\n%s", c.Output())
	}
	c.Kill() // kill -9, mid-upload
	w.rev.ClearFaults()
	close(release)

	b := start(t, args("b"))
	require.Eventually(t, func() bool { return strings.Count(w.journals(t), `"state":"ready"`) == 2 }, 60*time.Second, 10*time.Millisecond,
		"b:\n%s", b.Output())
	a.Send(syscall.SIGCONT)
	require.Eventually(t, func() bool {
		out := a.Output()
		return strings.Contains(out, "another uploader holds the recording now") || strings.Contains(out, "the claim was lost")
	}, 30*time.Second, 10*time.Millisecond, "a, going on:\n%s", a.Output())
	a.Signal(syscall.SIGTERM)
	b.Signal(syscall.SIGTERM)

	var got []string
	for _, v := range w.rev.Videos() {
		if !v.Deleted {
			got = append(got, v.SHA256)
		}
	}
	sort.Strings(got)
	require.Equal(t, sums, got, "each recording in Rev exactly once")
	accepted := 0
	for _, r := range w.rev.Requests() {
		if r.Method == "POST" && r.Path == "/api/v2/uploads/videos" && r.Status == 200 {
			accepted++
		}
	}
	require.Equal(t, 2, accepted, "two uploads accepted in all: b's")
	require.NotContains(t, a.Output(), `msg="uploader: uploaded"`, "a sent nothing")
	for _, f := range w.mp4s(t) {
		require.Regexp(t, `_vid-id=[0-9a-f-]{36}@vbrick\.mp4$`, f)
	}
}
