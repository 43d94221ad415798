package cmsapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// fakeBackend runs calls in memory and says what was asked of it.
type fakeBackend struct {
	mu    sync.Mutex
	name  string
	calls []Call
	legs  []CallLeg
	asked []string
	// refuse, when set, is the answer to EndCallLeg.
	refuse error
}

func (b *fakeBackend) note(s string) {
	b.asked = append(b.asked, s)
}

func (b *fakeBackend) Asked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.asked...)
}

func (b *fakeBackend) StartCall(_ context.Context, req CallRequest) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := NewID()
	b.calls = append(b.calls, Call{ID: id, Name: req.Name, CoSpace: req.Space.ID})
	b.note("start " + req.Space.URI)
	return id, nil
}

func (b *fakeBackend) UpdateCall(_ context.Context, id string, u CallUpdate) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.calls {
		if b.calls[i].ID == id && u.Name != nil {
			b.calls[i].Name = *u.Name
		}
	}
	b.note("update " + id)
	return nil
}

func (b *fakeBackend) EndCall(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, c := range b.calls {
		if c.ID == id {
			b.calls = append(b.calls[:i], b.calls[i+1:]...)
			b.note("end " + id)
			return nil
		}
	}
	return fail("callDoesNotExist")
}

func (b *fakeBackend) AddCallLeg(_ context.Context, callID string, req CallLegRequest) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := NewID()
	b.legs = append(b.legs, CallLeg{ID: id, RemoteParty: req.RemoteParty, Call: callID})
	b.note("dial " + req.RemoteParty + " from " + req.Space.URI)
	return id, nil
}

func (b *fakeBackend) EndCallLeg(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return b.refuse
	}
	b.note("hang up " + id)
	return nil
}

func (b *fakeBackend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Call(nil), b.calls...)
}

func (b *fakeBackend) CallLegs() []CallLeg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]CallLeg(nil), b.legs...)
}

func (b *fakeBackend) Participants() []Participant { return nil }
func (b *fakeBackend) Status() SystemStatus        { return SystemStatus{} }

// clusterNode is one API node of a test cluster.
type clusterNode struct {
	*testAPI
	backend *fakeBackend
	cluster *Cluster
}

// newClusterNode starts an API node over a shared journal and registry (its heartbeat
// an hour: the test publishes by hand, through changes and Publish).
func newClusterNode(t *testing.T, name string, j Journal, reg Registry) *clusterNode {
	t.Helper()
	store, err := NewSharedStore(context.Background(), j)
	require.NoError(t, err)
	var h http.Handler = http.NotFoundHandler()
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		handler := h
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	be := &fakeBackend{name: name}
	cl, err := NewCluster(context.Background(), ClusterConfig{Node: name, URL: hs.URL, Local: be, Registry: reg,
		User: apiUser, Password: apiPass, HTTPClient: hs.Client(), Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cl.Close()) })
	srv := NewServer(ServerConfig{User: apiUser, Password: apiPass, Store: store, Backend: cl})
	t.Cleanup(func() { _ = srv.Close() })
	mu.Lock()
	h = srv
	mu.Unlock()
	c, err := NewClient(hs.URL, apiUser, apiPass, WithRetry(1, time.Millisecond, time.Millisecond), WithHTTPClient(hs.Client()))
	require.NoError(t, err)
	return &clusterNode{testAPI: &testAPI{srv: srv, http: hs, client: c}, backend: be, cluster: cl}
}

// Two API nodes over one journal share the configuration: what one creates, changes or
// deletes the other serves at once; a space's URI is unique across both (the write is
// made on the latest state); /system/profiles is shared; lists keep the creation order.
// With the journal gone, writes fail (500) and change nothing, in memory or later, and
// reads answer from what was last read.
func TestSharedStoreAcrossNodes(t *testing.T) {
	peer.CheckNoLeaks(t)
	j, reg := NewMemoryJournal(), NewMemoryRegistry()
	a, b := newClusterNode(t, "a", j, reg), newClusterNode(t, "b", j, reg)
	ctx := context.Background()

	id, err := a.client.Create(ctx, "coSpaces", url.Values{"name": {"Team"}, "uri": {"Team.Room"}})
	require.NoError(t, err)
	var cs CoSpace
	require.NoError(t, b.client.Get(ctx, "coSpaces/"+id, nil, &cs))
	require.Equal(t, "team.room", cs.URI)
	got, ok := b.srv.Store().SpaceFor("team.room")
	require.True(t, ok, "node b routes a dial-in to the space node a created")
	require.Equal(t, id, got.ID)

	_, err = b.client.Create(ctx, "coSpaces", url.Values{"name": {"Other"}, "uri": {"team.room"}})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "duplicateCoSpaceUri", e.Failure, "unique across the nodes")

	require.NoError(t, b.client.Update(ctx, "coSpaces/"+id, url.Values{"name": {"Renamed"}}))
	require.NoError(t, a.client.Get(ctx, "coSpaces/"+id, nil, &cs))
	require.Equal(t, "Renamed", cs.Name)

	am, err := a.client.Create(ctx, "coSpaces/"+id+"/accessMethods", url.Values{"uri": {"guest.team"}, "name": {"guests"}})
	require.NoError(t, err)
	_, ok = b.srv.Store().SpaceFor("guest.team")
	require.True(t, ok, "the access method reaches node b")

	second, err := b.client.Create(ctx, "coSpaces", url.Values{"name": {"Second"}, "uri": {"second"}})
	require.NoError(t, err)
	third, err := a.client.Create(ctx, "coSpaces", url.Values{"name": {"Third"}, "uri": {"third"}})
	require.NoError(t, err)
	for _, n := range []*clusterNode{a, b} {
		var ids []string
		for _, s := range All[CoSpace](n.srv.Store()) {
			ids = append(ids, s.ID)
		}
		require.Equal(t, []string{id, second, third}, ids, "creation order on both")
	}

	require.NoError(t, a.client.Update(ctx, "system/profiles", url.Values{"callProfile": {""}}))
	cp, err := a.client.Create(ctx, "callProfiles", url.Values{"streamingMode": {"automatic"}})
	require.NoError(t, err)
	require.NoError(t, a.client.Update(ctx, "system/profiles", url.Values{"callProfile": {cp}}))
	require.Equal(t, cp, b.srv.Store().Profiles().CallProfile)

	require.NoError(t, b.client.Delete(ctx, "coSpaces/"+id))
	status, _, body := a.raw(t, http.MethodGet, "/api/v1/coSpaces/"+id+"/accessMethods/"+am, "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "coSpaceDoesNotExist")
	_, ok = a.srv.Store().SpaceFor("guest.team")
	require.False(t, ok, "the access method went with its space")

	// The journal goes away.
	j.SetFailure(errors.New("connection refused"))
	status, _, _ = a.raw(t, http.MethodPost, "/api/v1/coSpaces", "name=Lost&uri=lost")
	require.Equal(t, http.StatusInternalServerError, status)
	require.NoError(t, b.client.Get(ctx, "coSpaces/"+second, nil, &cs), "reads answer from what was last read")
	require.Positive(t, b.srv.Store().SyncErrors())
	j.SetFailure(nil)
	_, ok = a.srv.Store().SpaceFor("lost")
	require.False(t, ok, "the failed write left nothing in node a's memory")
	require.Len(t, All[CoSpace](b.srv.Store()), 2)
	_, err = a.client.Create(ctx, "coSpaces", url.Values{"name": {"Lost"}, "uri": {"lost"}})
	require.NoError(t, err, "and writes work again")
	_, ok = b.srv.Store().SpaceFor("lost")
	require.True(t, ok)
}

// A bulk sync run through one node makes spaces the other serves.
func TestSharedStoreBulkSync(t *testing.T) {
	j, reg := NewMemoryJournal(), NewMemoryRegistry()
	a, b := newClusterNode(t, "a", j, reg), newClusterNode(t, "b", j, reg)
	ctx := context.Background()
	set, err := a.client.Create(ctx, "cospaceBulkParameterSets", url.Values{"startIndex": {"1"}, "endIndex": {"3"},
		"coSpaceUriMapping": {"room.$index$"}, "coSpaceNameMapping": {"Room $index$"}})
	require.NoError(t, err)
	syncID, err := a.client.Create(ctx, "cospaceBulkSyncs", url.Values{"cospaceBulkParameterSet": {set}})
	require.NoError(t, err)
	var st CoSpaceBulkSync
	require.NoError(t, b.client.Get(ctx, "cospaceBulkSyncs/"+syncID, nil, &st))
	require.Equal(t, "complete", st.Status)
	for _, u := range []string{"room.1", "room.2", "room.3"} {
		_, ok := b.srv.Store().SpaceFor(u)
		require.True(t, ok, u)
	}
}

// The live objects of two API nodes: a call started on node b is listed by node a, and
// its changes sent to a (PUT and DELETE /calls/{id}, POST /calls/{id}/callLegs, DELETE
// /callLegs/{id}) are carried out by b, a CMS failure of b's being a's answer. A node
// whose heartbeat is older than three intervals, or that left, is not listed.
func TestClusterCallsAcrossNodes(t *testing.T) {
	peer.CheckNoLeaks(t)
	j, reg := NewMemoryJournal(), NewMemoryRegistry()
	var clockMu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	reg.Now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	a, b := newClusterNode(t, "a", j, reg), newClusterNode(t, "b", j, reg)
	ctx := context.Background()
	space, err := a.client.Create(ctx, "coSpaces", url.Values{"name": {"Board"}, "uri": {"board"}})
	require.NoError(t, err)

	callID, err := b.client.Create(ctx, "calls", url.Values{"coSpace": {space}})
	require.NoError(t, err)
	require.Equal(t, []string{"start board"}, b.backend.Asked())
	var calls List[Call]
	require.NoError(t, a.client.Get(ctx, "calls", nil, &calls))
	require.Equal(t, 1, calls.Total, "node a lists node b's call")
	var c Call
	require.NoError(t, a.client.Get(ctx, "calls/"+callID, nil, &c))
	require.Equal(t, space, c.CoSpace)
	again, err := a.client.Create(ctx, "calls", url.Values{"coSpace": {space}})
	require.NoError(t, err)
	require.Equal(t, callID, again, "one call per space, across the nodes")
	require.Empty(t, a.backend.Asked())

	require.NoError(t, a.client.Update(ctx, "calls/"+callID, url.Values{"name": {"Board meeting"}}))
	legID, err := a.client.Create(ctx, "calls/"+callID+"/callLegs", url.Values{"remoteParty": {"sip:alice@example.com"}})
	require.NoError(t, err)
	var leg CallLeg
	require.NoError(t, a.client.Get(ctx, "callLegs/"+legID, nil, &leg), "the leg node b dialled is listed by a")
	require.Equal(t, callID, leg.Call)
	require.NoError(t, a.client.Delete(ctx, "callLegs/"+legID))
	b.backend.mu.Lock()
	b.backend.refuse = &Failure{Tag: "callLegDoesNotExist"}
	b.backend.mu.Unlock()
	err = a.client.Delete(ctx, "callLegs/"+legID)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "callLegDoesNotExist", e.Failure, "node b's answer is node a's")
	require.Equal(t, http.StatusBadRequest, e.Status)

	require.NoError(t, a.client.Delete(ctx, "calls/"+callID))
	require.Equal(t, []string{"start board", "update " + callID, "dial sip:alice@example.com from board", "hang up " + legID, "end " + callID},
		b.backend.Asked(), "every change carried out by the node that holds the call")
	require.Empty(t, a.backend.Asked())
	for _, n := range []*clusterNode{a, b} {
		require.NoError(t, n.client.Get(ctx, "calls", nil, &calls))
		require.Zero(t, calls.Total)
	}
	err = a.client.Delete(ctx, "calls/"+callID)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "callDoesNotExist", e.Failure)

	// A node not heard from in three intervals is gone; a heartbeat brings it back.
	_, err = b.client.Create(ctx, "calls", url.Values{"coSpace": {space}})
	require.NoError(t, err)
	clockMu.Lock()
	now = now.Add(3*time.Hour + time.Second)
	clockMu.Unlock()
	require.NoError(t, a.client.Get(ctx, "calls", nil, &calls))
	require.Zero(t, calls.Total, "node b's heartbeat is stale")
	require.NoError(t, b.cluster.Publish(ctx))
	require.NoError(t, a.client.Get(ctx, "calls", nil, &calls))
	require.Equal(t, 1, calls.Total)
	require.NoError(t, b.cluster.Close())
	require.NoError(t, b.cluster.Close(), "idempotent")
	require.NoError(t, a.client.Get(ctx, "calls", nil, &calls))
	require.Zero(t, calls.Total, "node b left")
}

// A Cluster needs its node's name, URL, local backend and registry.
func TestClusterConfig(t *testing.T) {
	reg := NewMemoryRegistry()
	for _, cfg := range []ClusterConfig{
		{URL: "http://127.0.0.1:1", Local: &fakeBackend{}, Registry: reg},
		{Node: "a", Local: &fakeBackend{}, Registry: reg},
		{Node: "a", URL: "ftp://x", Local: &fakeBackend{}, Registry: reg},
		{Node: "a", URL: "http://127.0.0.1:1", Registry: reg},
		{Node: "a", URL: "http://127.0.0.1:1", Local: &fakeBackend{}},
	} {
		_, err := NewCluster(context.Background(), cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

// A journal recreated under running nodes (emptied, its version back to 0): a node that
// writes loads it anew before its write, and the other, at its next read, sees only what
// was written since, not the objects it had read before.
func TestSharedStoreJournalRecreated(t *testing.T) {
	j := NewMemoryJournal()
	ctx := context.Background()
	a, err := NewSharedStore(ctx, j)
	require.NoError(t, err)
	b, err := NewSharedStore(ctx, j)
	require.NoError(t, err)
	for _, u := range []string{"one", "two", "three"} {
		_, err := a.Create(&CoSpace{Name: u, URI: u}, "")
		require.NoError(t, err)
	}
	_, ok := b.SpaceFor("two")
	require.True(t, ok)
	j.Reset()
	_, err = b.Create(&CoSpace{Name: "Fresh", URI: "one"}, "")
	require.NoError(t, err, "the URI is free in the recreated journal")
	for _, s := range []*Store{a, b} {
		_, ok := s.SpaceFor("two")
		require.False(t, ok, "gone with the old journal")
		fresh, ok := s.SpaceFor("one")
		require.True(t, ok)
		require.Equal(t, "Fresh", fresh.Name)
		require.Len(t, All[CoSpace](s), 1)
	}
}
