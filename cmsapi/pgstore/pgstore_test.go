package pgstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/cmsapi/pgstore"
	"github.com/sipcast/sipcast/internal/peer"
)

const (
	apiUser = "tms"
	apiPass = "api-pw-of-the-cluster"
)

// node is one API node over the database: its own pool (a process of its own would
// have one), store and server.
type node struct {
	store  *cmsapi.Store
	db     *pgstore.DB
	url    string
	client *cmsapi.Client
}

func newNode(t *testing.T, dsn string) *node {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	db, err := pgstore.New(ctx, pool)
	require.NoError(t, err)
	store, err := cmsapi.NewSharedStore(ctx, db)
	require.NoError(t, err)
	srv := cmsapi.NewServer(cmsapi.ServerConfig{User: apiUser, Password: apiPass, Store: store})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	c, err := cmsapi.NewClient(hs.URL, apiUser, apiPass, cmsapi.WithRetry(1, time.Millisecond, time.Millisecond), cmsapi.WithHTTPClient(hs.Client()))
	require.NoError(t, err)
	return &node{store: store, db: db, url: hs.URL, client: c}
}

func spaceIDs(s *cmsapi.Store) []string {
	var ids []string
	for _, cs := range cmsapi.All[cmsapi.CoSpace](s) {
		ids = append(ids, cs.ID)
	}
	return ids
}

// Two API nodes on one PostgreSQL share the configuration through the API: a space
// created on one is served and routed by the other; a URI is unique across both, also
// when twenty creations race through both nodes at once (exactly one wins); changes,
// deletions (with the space's access methods) and /system/profiles reach the other; a
// bulk sync's spaces keep their order; a node started later loads all of it. With the
// database stopped, writes answer 500 and leave nothing, reads answer from what was
// last read; started again, both nodes go on.
func TestInteropSharedStoreThroughPostgres(t *testing.T) {
	pg := peer.StartPostgres(t)
	a, b := newNode(t, pg.URL), newNode(t, pg.URL)
	ctx := context.Background()

	id, err := a.client.Create(ctx, "coSpaces", url.Values{"name": {"Board"}, "uri": {"Board.Room"}, "streamUrl": {"rtmp://live.example.com/app/board"}})
	require.NoError(t, err)
	var cs cmsapi.CoSpace
	require.NoError(t, b.client.Get(ctx, "coSpaces/"+id, nil, &cs))
	require.Equal(t, "board.room", cs.URI)
	got, ok := b.store.SpaceFor("board.room")
	require.True(t, ok, "node b routes a dial-in to node a's space")
	require.Equal(t, "rtmp://live.example.com/app/board", got.StreamURL)

	_, err = b.client.Create(ctx, "coSpaces", url.Values{"name": {"Clash"}, "uri": {"board.room"}})
	var e *cmsapi.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "duplicateCoSpaceUri", e.Failure)

	// Twenty creations of one URI at once, through both nodes: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, refused := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := a
			if i%2 == 1 {
				n = b
			}
			_, err := n.client.Create(ctx, "coSpaces", url.Values{"name": {"Race " + strconv.Itoa(i)}, "uri": {"race"}})
			var e *cmsapi.Error
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.As(err, &e) && e.Failure == "duplicateCoSpaceUri":
				refused++
			default:
				t.Errorf("creation %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, won)
	require.Equal(t, 19, refused)

	require.NoError(t, b.client.Update(ctx, "coSpaces/"+id, url.Values{"name": {"Board of directors"}}))
	require.NoError(t, a.client.Get(ctx, "coSpaces/"+id, nil, &cs))
	require.Equal(t, "Board of directors", cs.Name)
	am, err := b.client.Create(ctx, "coSpaces/"+id+"/accessMethods", url.Values{"uri": {"board.guests"}, "name": {"guests"}})
	require.NoError(t, err)
	_, ok = a.store.SpaceFor("board.guests")
	require.True(t, ok)

	cp, err := a.client.Create(ctx, "callProfiles", url.Values{"streamingMode": {"automatic"}})
	require.NoError(t, err)
	require.NoError(t, a.client.Update(ctx, "system/profiles", url.Values{"callProfile": {cp}}))
	require.Equal(t, cp, b.store.Profiles().CallProfile)

	set, err := b.client.Create(ctx, "cospaceBulkParameterSets", url.Values{"startIndex": {"1"}, "endIndex": {"12"},
		"coSpaceUriMapping": {"room.$index$"}, "coSpaceNameMapping": {"Room $index$"}})
	require.NoError(t, err)
	_, err = b.client.Create(ctx, "cospaceBulkSyncs", url.Values{"cospaceBulkParameterSet": {set}})
	require.NoError(t, err)
	var names []string
	for _, s := range cmsapi.All[cmsapi.CoSpace](a.store) {
		if strings.HasPrefix(s.Name, "Room ") {
			names = append(names, s.Name)
		}
	}
	require.Equal(t, []string{"Room 1", "Room 2", "Room 3", "Room 4", "Room 5", "Room 6", "Room 7", "Room 8", "Room 9", "Room 10", "Room 11", "Room 12"},
		names, "the bulk sync's spaces in their order on the other node")

	require.NoError(t, a.client.Delete(ctx, "coSpaces/"+id))
	status, body := raw(t, b, http.MethodGet, "/api/v1/coSpaces/"+id+"/accessMethods/"+am)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "coSpaceDoesNotExist")
	_, ok = b.store.SpaceFor("board.guests")
	require.False(t, ok, "the access method went with its space")

	c := newNode(t, pg.URL)
	require.Equal(t, spaceIDs(a.store), spaceIDs(c.store), "a node started later loads the same, in the same order")
	require.Equal(t, spaceIDs(a.store), spaceIDs(b.store))
	require.Equal(t, cp, c.store.Profiles().CallProfile)

	// The database goes away.
	pg.Stop(t)
	status, _ = raw(t, a, http.MethodPost, "/api/v1/coSpaces", "name=Lost&uri=lost")
	require.Equal(t, http.StatusInternalServerError, status)
	_, ok = b.store.SpaceFor("room.3")
	require.True(t, ok, "reads answer from what was last read")
	require.Positive(t, b.store.SyncErrors())
	pg.Start(t)
	_, ok = a.store.SpaceFor("lost")
	require.False(t, ok, "the failed write left nothing")
	_, err = a.client.Create(ctx, "coSpaces", url.Values{"name": {"Lost"}, "uri": {"lost"}})
	require.NoError(t, err, "writes work again once the database is back")
	_, ok = b.store.SpaceFor("lost")
	require.True(t, ok)
}

func raw(t *testing.T, n *node, method, path string, form ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(strings.Join(form, "&")))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(apiUser, apiPass)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

// The registry: each node's published calls and legs are the other nodes' peers, with
// the database's clock for the heartbeat (one older than the bound is not listed), and
// a node that left is gone.
func TestInteropRegistryThroughPostgres(t *testing.T) {
	pg := peer.StartPostgres(t)
	a, b := newNode(t, pg.URL), newNode(t, pg.URL)
	ctx := context.Background()
	yes := true
	require.NoError(t, a.db.Publish(ctx, cmsapi.NodeLive{Node: "a", URL: "https://10.0.0.2:9443"}))
	require.NoError(t, b.db.Publish(ctx, cmsapi.NodeLive{Node: "b", URL: "https://10.0.0.3:9443",
		Calls:    []cmsapi.Call{{ID: "c1", Name: "Board", CoSpace: "s1", Streaming: &yes}},
		CallLegs: []cmsapi.CallLeg{{ID: "l1", Call: "c1", RemoteParty: "sip:alice@example.com", Status: &cmsapi.CallLegStatus{State: "connected"}}}}))
	peers, err := a.db.Peers(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Len(t, peers, 1)
	require.Equal(t, "b", peers[0].Node)
	require.Equal(t, "https://10.0.0.3:9443", peers[0].URL)
	require.Equal(t, "Board", peers[0].Calls[0].Name)
	require.True(t, *peers[0].Calls[0].Streaming)
	require.Equal(t, "connected", peers[0].CallLegs[0].Status.State)

	pool, err := pgxpool.New(ctx, pg.URL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `UPDATE sipcast_cms_nodes SET heartbeat = now() - interval '10 seconds' WHERE node = 'b'`)
	require.NoError(t, err)
	peers, err = a.db.Peers(ctx, "a", 6*time.Second)
	require.NoError(t, err)
	require.Empty(t, peers, "b's heartbeat is older than the bound")
	peers, err = a.db.Peers(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Len(t, peers, 1)
	require.NoError(t, b.db.Leave(ctx, "b"))
	peers, err = a.db.Peers(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Empty(t, peers, "b left")
	peers, err = b.db.Peers(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.Len(t, peers, 1, "b sees a")
}

// BenchmarkInteropHeartbeat is one heartbeat of a full node (500 calls, each with a
// leg) written, and read back by another node, on a PostgreSQL of the test's own; it
// reports the server's CPU per heartbeat (pg-cpu-ms/op), for the capacity model in
// docs/SCALE.md:
//
//	go test ./cmsapi/pgstore/ -run '^$' -bench Heartbeat -benchtime 200x
func BenchmarkInteropHeartbeat(b *testing.B) {
	pg := peer.StartPostgres(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.URL)
	require.NoError(b, err)
	defer pool.Close()
	db, err := pgstore.New(ctx, pool)
	require.NoError(b, err)
	live := cmsapi.NodeLive{Node: "a", URL: "https://10.0.0.2:9443"}
	yes := true
	for i := range 500 {
		id := cmsapi.NewID()
		live.Calls = append(live.Calls, cmsapi.Call{ID: id, Name: "Space " + strconv.Itoa(i), CoSpace: cmsapi.NewID(), Streaming: &yes})
		live.CallLegs = append(live.CallLegs, cmsapi.CallLeg{ID: cmsapi.NewID(), Call: id, RemoteParty: "sip:cms@10.0.0.1",
			Status: &cmsapi.CallLegStatus{State: "connected", DurationSeconds: int64(i)}})
	}
	cpu := pg.CPU()
	b.ResetTimer()
	for range b.N {
		require.NoError(b, db.Publish(ctx, live))
		peers, err := db.Peers(ctx, "b", time.Minute)
		require.NoError(b, err)
		require.Len(b, peers[0].Calls, 500)
	}
	b.StopTimer()
	b.ReportMetric(float64(pg.CPU()-cpu)/1e6/float64(b.N), "pg-cpu-ms/op")
}
