package uploader_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/uploader"
	"github.com/sipcast/sipcast/uploader/pgclaim"
)

// Two uploaders on one share, sharing it through PostgreSQL (pgclaim). a claims the
// recording and stops at StageUploading, as a SIGSTOPped process would (its journal,
// with the upload's key, written; nothing sent), for longer than its lease. b takes the
// recording over, finds nothing in Rev tagged with that key, uploads it and sees it
// Ready. When a goes on, the epoch refuses it: it sends nothing more, and its Scan says
// uploader.ErrStale. The recording is in Rev once. Then four more recordings, both
// uploaders scanning at once: each in Rev once.
func TestInteropUploadersShareThroughPostgres(t *testing.T) {
	e := newEnv(t)
	pg := peer.StartPostgres(t)
	db, err := pgxpool.New(context.Background(), pg.URL)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	clk := peer.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	claimer := func(holder string) *pgclaim.Claimer {
		// Renewed only when the test says so (the leases run on the stepped clock).
		c, err := pgclaim.New(ctx, db, pgclaim.Config{Holder: holder, Lease: 30 * time.Second, Renew: time.Hour, Now: clk.Now})
		require.NoError(t, err)
		return c
	}
	e.addRecording(t, "forwardedCalls/"+stem+".mp4")
	stopped, goOn := make(chan struct{}), make(chan struct{})
	var once sync.Once
	policy := uploader.Policy{FallbackOwner: "admin"}
	a := e.uploader(t, policy, func(c *uploader.Config) {
		c.Claims = claimer("a")
		c.Hook = func(s uploader.Stage, _ string) {
			if s == uploader.StageUploading {
				once.Do(func() { close(stopped); <-goOn })
			}
		}
	})
	b := e.uploader(t, policy, func(c *uploader.Config) { c.Claims = claimer("b") })
	aDone := make(chan error, 1)
	go func() { aDone <- a.Scan(ctx) }()
	<-stopped
	require.NoError(t, b.Scan(ctx))
	require.Empty(t, e.rev.Videos(), "a's lease holds: b leaves the recording alone")
	clk.Add(31 * time.Second) // a's lease runs out
	scanUntilDone(t, b, 6)
	require.Len(t, e.rev.Videos(), 1)
	close(goOn)
	require.ErrorIs(t, <-aDone, uploader.ErrStale)
	require.Len(t, e.rev.Videos(), 1, "a sent nothing")
	require.Equal(t, 1, b.Stats().Uploaded)
	require.Zero(t, a.Stats().Uploaded)

	for i := range 4 {
		e.addRecording(t, fmt.Sprintf("forwardedCalls/2026010112%02d00+0000.mp4", i+1))
	}
	var wg sync.WaitGroup
	for _, u := range []*uploader.Uploader{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_ = u.Scan(ctx)
			}
		}()
	}
	wg.Wait()
	videos := e.rev.Videos()
	require.Len(t, videos, 5, "each recording in Rev once")
	titles := map[string]int{}
	for _, v := range videos {
		titles[v.Fields.Title]++
	}
	for title, n := range titles {
		require.Equal(t, 1, n, "%s", title)
	}
	require.Equal(t, 4, a.Stats().Uploaded+b.Stats().Uploaded-1)
}
