package uploader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/uploader"
	"github.com/sipcast/sipcast/vbrick"
	"github.com/sipcast/sipcast/vbrick/revtest"
)

func (e *env) uploader(t *testing.T, p uploader.Policy, mod ...func(*uploader.Config)) *uploader.Uploader {
	t.Helper()
	cms, err := cmsapi.NewClient(e.cms.URL, cmsUser, cmsPassword, cmsapi.WithRetry(2, time.Millisecond, 2*time.Millisecond), cmsapi.WithLogger(e.log))
	require.NoError(t, err)
	cfg := uploader.Config{Dir: e.dir, Rev: e.revClient(t), Uploader: revUser, CMS: cms, Policy: p, Logger: e.log, SearchLag: -1}
	for _, m := range mod {
		m(&cfg)
	}
	u, err := uploader.New(cfg)
	require.NoError(t, err)
	return u
}

// scanUntilDone scans until nothing is pending (at most n scans).
func scanUntilDone(t *testing.T, u *uploader.Uploader, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		err := u.Scan(context.Background())
		if err == nil && u.Stats().Pending == 0 {
			return
		}
	}
	t.Fatalf("still pending after %d scans: %+v", n, u.Stats())
}

// expected is what the policy must produce for the Board Room space (owner alice,
// members alice, bob, carol), written out rule by rule from the CMS Uploader's options.
func expected(p uploader.Policy) map[string]any {
	m := map[string]any{
		"uploader":           revUser,
		"title":              "Board Room 2026-01-01 12:00 UTC",
		"description":        "Recording of space Board Room (" + spaceID + ")",
		"videoAccessControl": string(p.ViewAccess),
		"enableComments":     p.Comments,
		"enableRatings":      p.Ratings,
		"enableDownloads":    p.Downloads,
		"isActive":           p.Active,
		"sourceType":         "VIDEO CONFERENCE",
	}
	owner := p.FallbackOwner
	if p.OwnedByCospaceOwner {
		owner = "alice"
	}
	if owner != "" {
		m["owner"] = map[string]any{"username": owner}
	}
	if p.MemberAccess != uploader.MemberNone {
		var ents []any
		for _, name := range []string{"alice", "bob", "carol"} {
			if name == owner && p.OwnedByCospaceOwner {
				continue // the owner has every right already
			}
			ents = append(ents, map[string]any{"name": name, "type": "User", "canEdit": p.MemberAccess == uploader.MemberEdit})
		}
		m["accessControlEntities"] = ents
	}
	return m
}

// Must-show 1: every option combination that changes the request.
func TestOptionCombinations(t *testing.T) {
	peer.CheckNoLeaks(t)
	i := 0
	for _, view := range []vbrick.AccessControl{vbrick.AccessPublic, vbrick.AccessAllUsers, vbrick.AccessPrivate} {
		for _, members := range []uploader.MemberAccess{uploader.MemberView, uploader.MemberEdit, uploader.MemberNone} {
			for _, owned := range []bool{true, false} {
				for _, fallback := range []string{"admin", ""} {
					i++
					b := func(bit int) bool { return (i>>bit)&1 == 1 }
					p := uploader.Policy{ViewAccess: view, MemberAccess: members, OwnedByCospaceOwner: owned, FallbackOwner: fallback,
						Comments: b(0), Ratings: b(1), Downloads: b(2), Active: b(3), DeleteAfterUpload: b(4)}
					t.Run(fmt.Sprintf("%s/%s/owned=%v/fallback=%q/%d", view, members, owned, fallback, i), func(t *testing.T) {
						testOptions(t, p)
					})
				}
			}
		}
	}
	require.Equal(t, 36, i)
}

func testOptions(t *testing.T, p uploader.Policy) {
	e := newEnv(t)
	path := e.addRecording(t, "spaces/"+spaceID+"/"+stem+".mp4")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var stages []uploader.Stage
	u := e.uploader(t, p, func(c *uploader.Config) {
		c.Hook = func(s uploader.Stage, path string) {
			stages = append(stages, s)
			if s == uploader.StageReady {
				_, err := os.Stat(path)
				assert.NoError(t, err, "the file is still there when Rev reports Ready")
			}
		}
	})
	scanUntilDone(t, u, 4)

	videos := e.rev.Videos()
	require.Len(t, videos, 1)
	v := videos[0]
	var got map[string]any
	require.NoError(t, json.Unmarshal(v.Metadata, &got))
	tags, _ := got["tags"].([]any)
	require.Len(t, tags, 1)
	assert.True(t, strings.HasPrefix(tags[0].(string), "sipcast-upload-"))
	delete(got, "tags")
	assert.Equal(t, expected(p), got)
	assert.Equal(t, int64(len(data)), v.Size)
	assert.Equal(t, stem+".mp4", v.FileName)
	assert.Equal(t, vbrick.StatusReady, v.Status)

	renamed := filepath.Join("spaces", spaceID, stem+"_vid-id="+v.ID+"@vbrick.mp4")
	journal := filepath.Join("spaces", spaceID, "."+stem+".upload")
	if p.DeleteAfterUpload {
		assert.Empty(t, e.files(t), "file and journal deleted after Ready")
		assert.Equal(t, []uploader.Stage{uploader.StageUploading, uploader.StageUploaded, uploader.StageRenamed,
			uploader.StagePolling, uploader.StagePolling, uploader.StageReady, uploader.StageDeleted}, stages)
	} else {
		assert.ElementsMatch(t, []string{renamed, journal}, e.files(t))
		j, err := os.ReadFile(filepath.Join(e.dir, journal))
		require.NoError(t, err)
		assert.Contains(t, string(j), `"playbackUrl":"https://`, "the playback URL was fetched")
		assert.Contains(t, string(j), `"state":"ready"`)
	}
	// Nothing more happens on later scans.
	n := len(e.rev.Requests())
	require.NoError(t, u.Scan(context.Background()))
	assert.Len(t, e.rev.Requests(), n)
	e.assertNoSecrets(t)
}

func TestForwardedCallAndNoCMS(t *testing.T) {
	e := newEnv(t)
	e.addRecording(t, "forwardedCalls/"+stem+".mp4")
	u := e.uploader(t, uploader.Policy{FallbackOwner: "admin", OwnedByCospaceOwner: true})
	scanUntilDone(t, u, 4)
	require.Len(t, e.rev.Videos(), 1)
	f := e.rev.Videos()[0].Fields
	assert.Equal(t, "Forwarded call 2026-01-01 12:00 UTC", f.Title)
	assert.Equal(t, "admin", f.Owner.Username)
	assert.Empty(t, f.AccessControlEntities)
	assert.Equal(t, vbrick.AccessPrivate, f.VideoAccessControl, "private by default")
	assert.Zero(t, e.cms.Calls.Load(), "no CMS lookup for a forwarded call")
}

// Temporary names, hidden files and files still growing are left alone.
func TestOnlyFinishedFiles(t *testing.T) {
	e := newEnv(t)
	path := e.addRecording(t, "spaces/"+spaceID+"/"+stem+".mp4")
	e.addRecording(t, "spaces/"+spaceID+"/20260101130000+0000.mp4.partial")
	e.addRecording(t, "spaces/"+spaceID+"/.hidden.mp4")
	e.addRecording(t, "spaces/"+spaceID+"/notes.txt")
	e.addRecording(t, "spaces/"+stem+".mp4") // not in a space folder
	now := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)
	u := e.uploader(t, uploader.Policy{}, func(c *uploader.Config) {
		c.StableFor = 10 * time.Second
		c.Now = func() time.Time { return now }
	})
	require.NoError(t, u.Scan(context.Background()))
	assert.Empty(t, e.rev.Videos(), "first sight")
	now = now.Add(5 * time.Second)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.Write([]byte("more"))
	f.Close()
	require.NoError(t, u.Scan(context.Background()))
	now = now.Add(9 * time.Second)
	require.NoError(t, u.Scan(context.Background()))
	assert.Empty(t, e.rev.Videos(), "grew 9 s ago")
	now = now.Add(2 * time.Second)
	require.NoError(t, u.Scan(context.Background()))
	require.Len(t, e.rev.Videos(), 1, "stable for 11 s")
	assert.Equal(t, stem+".mp4", e.rev.Videos()[0].FileName)
}

// Must-show 3: a CMS API that is down makes uploads wait; nothing is lost.
func TestCMSDown(t *testing.T) {
	e := newEnv(t)
	e.addRecording(t, "spaces/"+spaceID+"/"+stem+".mp4")
	e.cms.Down.Store(true)
	u := e.uploader(t, uploader.Policy{OwnedByCospaceOwner: true})
	for i := 0; i < 3; i++ {
		err := u.Scan(context.Background())
		require.ErrorIs(t, err, cmsapi.ErrBusy)
	}
	assert.Empty(t, e.rev.Videos())
	assert.Equal(t, []string{filepath.Join("spaces", spaceID, stem+".mp4")}, e.files(t), "the recording waits untouched")
	assert.Contains(t, e.logs.String(), "CMS API lookup of the space failed; the recording waits")
	e.cms.Down.Store(false)
	scanUntilDone(t, u, 4)
	require.Len(t, e.rev.Videos(), 1)
	assert.Equal(t, "alice", e.rev.Videos()[0].Fields.Owner.Username)
}

// Must-show 3: faults from Rev.
func TestRevFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("login 500", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		e.rev.Inject(revtest.Fault{Path: "/api/v2/user/login", Times: 4, Status: 500, Code: "InternalServerError", Detail: "Rev database unavailable"})
		u := e.uploader(t, uploader.Policy{})
		err := u.Scan(ctx)
		require.ErrorIs(t, err, vbrick.ErrServer)
		logs := e.logs.String()
		assert.Contains(t, logs, "url="+e.hs.URL+"/api/v2/user/login")
		assert.Contains(t, logs, "status=500")
		assert.Contains(t, logs, `detail="Rev database unavailable"`)
		assert.Contains(t, logs, "next_in=", "retried with backoff")
		assert.Contains(t, logs, "upload failed; the recording stays and is tried again")
		scanUntilDone(t, u, 4)
		assert.Len(t, e.rev.Videos(), 1)
		e.assertNoSecrets(t)
	})
	for _, ra := range []string{"", "0"} {
		t.Run("429 Retry-After="+ra, func(t *testing.T) {
			e := newEnv(t)
			e.addRecording(t, "forwardedCalls/"+stem+".mp4")
			e.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 2, Status: 429, RetryAfter: ra})
			u := e.uploader(t, uploader.Policy{})
			scanUntilDone(t, u, 4)
			assert.Len(t, e.rev.Videos(), 1)
			assert.Equal(t, 2, strings.Count(e.logs.String(), "status=429"))
		})
	}
	t.Run("connection dropped mid-upload", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		e.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, Drop: true, AfterBodyBytes: 200 << 10})
		now := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)
		u := e.uploader(t, uploader.Policy{}, func(c *uploader.Config) {
			c.SearchLag = 30 * time.Second
			c.Now = func() time.Time { return now }
		})
		require.ErrorIs(t, u.Scan(ctx), vbrick.ErrUploadInterrupted)
		require.ErrorContains(t, u.Scan(ctx), "waiting 30s more for Rev's search index")
		assert.Empty(t, e.rev.Videos())
		now = now.Add(31 * time.Second)
		scanUntilDone(t, u, 4)
		assert.Len(t, e.rev.Videos(), 1, "sent again once the search found nothing")
	})
	// Rev took the upload and then the answer was lost: a proxy's 502, or the connection
	// dropped after the whole body was sent. The next attempt finds the upload by its tag
	// and sends nothing again: the recording is in Rev exactly once.
	for name, fault := range map[string]revtest.Fault{
		"502 after the video was created":       {Status: 502, RawBody: "<html>Bad Gateway</html>", AfterHandled: true},
		"connection dropped after the body":     {Drop: true, AfterHandled: true},
		"504 after the video was created (API)": {Status: 504, Code: "GatewayTimeout", AfterHandled: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.addRecording(t, "forwardedCalls/"+stem+".mp4")
			fault.Path, fault.Times = "/api/v2/uploads/videos", 1
			e.rev.Inject(fault)
			now := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)
			u := e.uploader(t, uploader.Policy{}, func(c *uploader.Config) {
				c.SearchLag = 30 * time.Second
				c.Now = func() time.Time { return now }
			})
			require.ErrorIs(t, u.Scan(ctx), vbrick.ErrUploadInterrupted)
			require.Len(t, e.rev.Videos(), 1, "Rev created the video")
			now = now.Add(31 * time.Second)
			scanUntilDone(t, u, 4)
			assert.Len(t, e.rev.Videos(), 1, "the recording is in Rev exactly once")
			posts := 0
			for _, r := range e.rev.Requests() {
				if r.Method == "POST" && strings.Contains(r.Path, "uploads") {
					posts++
				}
			}
			assert.Equal(t, 1, posts, "the upload was sent again")
			assert.Contains(t, e.logs.String(), "Rev already has the recording from an interrupted upload")
		})
	}
	t.Run("owner unknown to Rev", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "spaces/"+spaceID+"/"+stem+".mp4")
		u := e.uploader(t, uploader.Policy{OwnedByCospaceOwner: true, FallbackOwner: "admin"}, func(c *uploader.Config) {
			c.UserName = func(jid string) string { return "x-" + strings.Split(jid, "@")[0] }
		})
		err := u.Scan(ctx)
		require.NoError(t, err)
		require.Len(t, e.rev.Videos(), 1)
		assert.Equal(t, "admin", e.rev.Videos()[0].Fields.Owner.Username)
		assert.Contains(t, e.logs.String(), "Rev does not know the owner")
	})
	t.Run("processing failed keeps the file", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		u := e.uploader(t, uploader.Policy{DeleteAfterUpload: true}, func(c *uploader.Config) {
			c.Hook = func(s uploader.Stage, _ string) {
				if s == uploader.StageRenamed {
					e.rev.SetStatus(e.rev.Videos()[0].ID, vbrick.StatusProcessingFailed)
				}
			}
		})
		scanUntilDone(t, u, 3)
		assert.Len(t, e.files(t), 2, "recording and journal kept")
		assert.Equal(t, 1, u.Stats().Failed)
	})
}

// Resuming from each journal state without a second upload (the process-level kill
// tests are in examples/uploader).
func TestResume(t *testing.T) {
	ctx := context.Background()
	write := func(t *testing.T, e *env, j map[string]any) {
		data, _ := json.Marshal(j)
		require.NoError(t, os.WriteFile(filepath.Join(e.dir, "forwardedCalls", "."+stem+".upload"), data, 0o644))
	}
	upload := func(t *testing.T, e *env, tag string) string {
		c := e.revClient(t)
		id, err := c.UploadVideo(ctx, filepath.Join(e.dir, "forwardedCalls", stem+".mp4"), vbrick.VideoMetadata{Uploader: revUser, Tags: []string{tag}}, vbrick.UploadOptions{})
		require.NoError(t, err)
		return id
	}
	t.Run("sent, answer lost: found by its tag", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		id := upload(t, e, uploader.Tag("k1"))
		write(t, e, map[string]any{"file": stem + ".mp4", "key": "k1", "state": "uploading"})
		scanUntilDone(t, e.uploader(t, uploader.Policy{}), 3)
		require.Len(t, e.rev.Videos(), 1, "not sent twice")
		assert.Contains(t, e.files(t), filepath.Join("forwardedCalls", stem+"_vid-id="+id+"@vbrick.mp4"))
	})
	t.Run("uploaded, not renamed", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		id := upload(t, e, "x")
		write(t, e, map[string]any{"file": stem + ".mp4", "key": "k2", "videoId": id, "state": "uploaded"})
		scanUntilDone(t, e.uploader(t, uploader.Policy{}), 3)
		require.Len(t, e.rev.Videos(), 1)
		assert.Contains(t, e.files(t), filepath.Join("forwardedCalls", stem+"_vid-id="+id+"@vbrick.mp4"))
	})
	t.Run("chunked upload cut short", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		u := e.uploader(t, uploader.Policy{}, func(c *uploader.Config) { c.ChunkSize = 100 << 10 })
		// The first chunk passes (a fault that only delays by nothing), the second
		// and its two resends are dropped.
		e.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Times: 1, Delay: time.Nanosecond})
		e.rev.Inject(revtest.Fault{Path: "/api/v2/uploads/videos", Drop: true, Times: 3})
		require.Error(t, u.Scan(ctx))
		v := e.rev.Videos()
		require.Len(t, v, 1)
		assert.Equal(t, vbrick.StatusUploading, v[0].Status)
		scanUntilDone(t, u, 4)
		v = e.rev.Videos()
		require.Len(t, v, 2)
		assert.True(t, v[0].Deleted, "the partial video was deleted")
		assert.Equal(t, vbrick.StatusReady, v[1].Status)
	})
	t.Run("ready, delete not done", func(t *testing.T) {
		e := newEnv(t)
		path := e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		id := upload(t, e, "x")
		require.NoError(t, os.Rename(path, filepath.Join(e.dir, "forwardedCalls", stem+"_vid-id="+id+"@vbrick.mp4")))
		write(t, e, map[string]any{"file": stem + ".mp4", "key": "k3", "videoId": id, "state": "ready"})
		u := e.uploader(t, uploader.Policy{DeleteAfterUpload: true})
		scanUntilDone(t, u, 2)
		assert.Empty(t, e.files(t))
		for _, r := range e.rev.Requests() {
			assert.NotContains(t, r.Path, "/status", "Ready was recorded; no poll needed")
		}
	})
	t.Run("renamed by the CMS Uploader, no journal", func(t *testing.T) {
		e := newEnv(t)
		path := e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		id := upload(t, e, "x")
		require.NoError(t, os.Rename(path, filepath.Join(e.dir, "forwardedCalls", stem+"_vid-id="+id+"@vbrick.mp4")))
		scanUntilDone(t, e.uploader(t, uploader.Policy{}), 3)
		assert.Len(t, e.rev.Videos(), 1)
	})
	t.Run("damaged journal", func(t *testing.T) {
		e := newEnv(t)
		e.addRecording(t, "forwardedCalls/"+stem+".mp4")
		require.NoError(t, os.WriteFile(filepath.Join(e.dir, "forwardedCalls", "."+stem+".upload"), []byte("{garbage"), 0o644))
		err := e.uploader(t, uploader.Policy{}).Scan(ctx)
		require.ErrorContains(t, err, "damaged")
		assert.Empty(t, e.rev.Videos(), "an unreadable journal is never guessed at")
	})
}

func TestNewChecksPolicy(t *testing.T) {
	e := newEnv(t)
	c := e.revClient(t)
	for _, cfg := range []uploader.Config{
		{Rev: c, Uploader: "u"},
		{Dir: e.dir, Uploader: "u"},
		{Dir: e.dir, Rev: c, Uploader: "u", Policy: uploader.Policy{ViewAccess: "Everyone"}},
		{Dir: e.dir, Rev: c, Uploader: "u", Policy: uploader.Policy{MemberAccess: "admin"}},
	} {
		_, err := uploader.New(cfg)
		assert.Error(t, err)
	}
}
