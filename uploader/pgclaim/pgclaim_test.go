package pgclaim_test

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

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pg := peer.StartPostgres(t)
	db, err := pgxpool.New(context.Background(), pg.URL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// A holder whose lease ran out (its clock stepped by hand) is taken over: the new
// holder's claim has a higher epoch, the stale holder's Renew and Record are refused
// with uploader.ErrStale and change nothing, and a recording released as done is never
// claimed again. While a claim holds, no one else gets it.
func TestInteropClaimsFenceAStaleHolder(t *testing.T) {
	db := pool(t)
	ctx := context.Background()
	clk := peer.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	a, err := pgclaim.New(ctx, db, pgclaim.Config{Holder: "a", Lease: 30 * time.Second, Now: clk.Now})
	require.NoError(t, err)
	b, err := pgclaim.New(ctx, db, pgclaim.Config{Holder: "b", Lease: 30 * time.Second, Now: clk.Now})
	require.NoError(t, err)

	ca, ok, err := a.Claim(ctx, "spaces/1/rec")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, ca.Record(ctx, "uploading", ""))
	_, ok, err = b.Claim(ctx, "spaces/1/rec")
	require.NoError(t, err)
	require.False(t, ok, "held: no one else gets it")
	clk.Add(20 * time.Second)
	require.NoError(t, ca.Renew(ctx))
	clk.Add(20 * time.Second)
	_, ok, _ = b.Claim(ctx, "spaces/1/rec")
	require.False(t, ok, "renewed: still a's")

	clk.Add(31 * time.Second) // a stops renewing (stopped, cut off): the lease runs out
	cb, ok, err := b.Claim(ctx, "spaces/1/rec")
	require.NoError(t, err)
	require.True(t, ok, "taken over")
	require.ErrorIs(t, ca.Record(ctx, "uploaded", "video-by-a"), uploader.ErrStale, "the stale holder's late write is refused")
	require.ErrorIs(t, ca.Renew(ctx), uploader.ErrStale)
	require.ErrorIs(t, ca.Release(ctx, true), uploader.ErrStale)
	var state, video string
	var epoch int64
	require.NoError(t, db.QueryRow(ctx, `SELECT state, video_id, epoch FROM sipcast_upload_claims WHERE name = $1`, "spaces/1/rec").Scan(&state, &video, &epoch))
	require.Equal(t, "uploading", state, "nothing of the stale write")
	require.Empty(t, video)
	require.Equal(t, int64(2), epoch)

	require.NoError(t, cb.Record(ctx, "ready", "video-by-b"))
	require.NoError(t, cb.Release(ctx, true))
	_, ok, err = a.Claim(ctx, "spaces/1/rec")
	require.NoError(t, err)
	require.False(t, ok, "done: never claimed again")
}

// Three claimers racing over 40 recordings (FOR UPDATE SKIP LOCKED, no waiting): each
// recording is claimed by exactly one of them.
func TestInteropClaimsRace(t *testing.T) {
	db := pool(t)
	ctx := context.Background()
	var claimers []*pgclaim.Claimer
	for i := range 3 {
		c, err := pgclaim.New(ctx, db, pgclaim.Config{Holder: fmt.Sprint("u", i)})
		require.NoError(t, err)
		claimers = append(claimers, c)
	}
	var mu sync.Mutex
	held := map[string][]int{}
	var wg sync.WaitGroup
	for i, c := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 40 {
				name := fmt.Sprint("forwardedCalls/rec", n)
				_, ok, err := c.Claim(ctx, name)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					held[name] = append(held[name], i)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, held, 40)
	for name, by := range held {
		require.Len(t, by, 1, "%s claimed by %v", name, by)
	}
}
