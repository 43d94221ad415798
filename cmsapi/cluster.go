package cmsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Registry keeps each node's live objects (calls, call legs, participants) where the
// other nodes of a cluster read them, with a heartbeat. Package cmsapi/pgstore keeps it
// in PostgreSQL; NewMemoryRegistry in this process.
type Registry interface {
	// Publish records a node's live objects; the registry's clock stamps the heartbeat.
	Publish(ctx context.Context, live NodeLive) error
	// Peers returns what the nodes other than node last published, those whose
	// heartbeat is at most maxAge old.
	Peers(ctx context.Context, node string, maxAge time.Duration) ([]NodeLive, error)
	// Leave removes a node's record: it stopped.
	Leave(ctx context.Context, node string) error
}

// NodeLive is what one node publishes.
type NodeLive struct {
	// Node is the node's name, unique in the cluster; URL its API's base
	// ("https://10.0.0.2:9443"), where the other nodes send the changes to its calls.
	Node, URL    string
	Calls        []Call
	CallLegs     []CallLeg
	Participants []Participant
}

// ClusterConfig configures a Cluster.
type ClusterConfig struct {
	// Node names this node (unique in the cluster); URL is its API's base URL as the
	// other nodes reach it.
	Node, URL string
	// Local runs this node's calls (conference/cms.Backend).
	Local Backend
	// Registry is shared by the cluster's nodes.
	Registry Registry
	// User and Password are the API credentials of the other nodes (a cluster's nodes
	// share them), for the changes sent to the node that holds a call.
	User, Password string
	// HTTPClient sends those changes (default: TLS-verifying, 10 s timeout).
	HTTPClient *http.Client
	// Interval is the heartbeat's (default 2 s). A node not heard from in three is
	// taken as gone: its calls are not listed.
	Interval time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// Cluster is a Backend for one node of a cluster of API nodes: its own calls run on
// Local; the lists show the whole cluster's (the other nodes' as they last published
// them); a change to another node's call or leg (PUT or DELETE /calls/{id}, POST
// /calls/{id}/callLegs, DELETE /callLegs/{id}) is sent to that node's API, which carries
// it out, and its answer (a CMS failure too) is the answer. POST /calls starts the call
// here. Give it to NewServer as the Backend, with a Store over the cluster's Journal.
//
// It publishes this node's live objects on a heartbeat of its own goroutine and at once
// after each change made through it (calls that arrive over SIP are listed elsewhere
// from the next heartbeat); Close stops it and takes the node out.
type Cluster struct {
	cfg  ClusterConfig
	log  *slog.Logger
	hc   *http.Client
	stop chan struct{}
	done chan struct{}
	once sync.Once
	mu   sync.Mutex // serialises Publish
}

// NewCluster publishes this node's live objects once (an error if the registry cannot
// be reached) and starts the heartbeat.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Node == "" || cfg.URL == "" || cfg.Local == nil || cfg.Registry == nil {
		return nil, errors.New("cmsapi: a cluster node needs Node, URL, Local and Registry")
	}
	if u, err := url.Parse(cfg.URL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("cmsapi: cluster node URL %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, hc: cfg.HTTPClient, stop: make(chan struct{}), done: make(chan struct{})}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if err := c.Publish(ctx); err != nil {
		return nil, err
	}
	go c.heartbeat()
	return c, nil
}

// Close stops the heartbeat, joins it and removes this node from the registry.
// Idempotent.
func (c *Cluster) Close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
		defer cancel()
		err = c.cfg.Registry.Leave(ctx, c.cfg.Node)
	})
	return err
}

func (c *Cluster) heartbeat() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
		if err := c.Publish(ctx); err != nil {
			c.log.Warn("cmsapi: cluster heartbeat not written", "node", c.cfg.Node, "err", err)
		}
		cancel()
	}
}

// Publish writes this node's live objects to the registry now (the heartbeat does it on
// its own).
func (c *Cluster) Publish(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.cfg.Local
	live := NodeLive{Node: c.cfg.Node, URL: c.cfg.URL, Calls: l.Calls(), CallLegs: l.CallLegs(), Participants: l.Participants()}
	if err := c.cfg.Registry.Publish(ctx, live); err != nil {
		return fmt.Errorf("cmsapi: publishing node %s: %w", c.cfg.Node, err)
	}
	return nil
}

// changed publishes now, after a change went through this node: the other nodes list
// it from the answer on.
func (c *Cluster) changed() {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	if err := c.Publish(ctx); err != nil {
		c.log.Warn("cmsapi: cluster registry not written", "node", c.cfg.Node, "err", err)
	}
}

// peers returns the other nodes' live objects (none when the registry does not answer:
// this node's are still listed).
func (c *Cluster) peers() []NodeLive {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	p, err := c.cfg.Registry.Peers(ctx, c.cfg.Node, 3*c.cfg.Interval)
	if err != nil {
		c.log.Warn("cmsapi: cluster registry not read", "node", c.cfg.Node, "err", err)
		return nil
	}
	return p
}

// owner returns the peer that holds a call (leg false) or a call leg.
func (c *Cluster) owner(id string, leg bool) (NodeLive, bool) {
	for _, p := range c.peers() {
		if !leg && slices.ContainsFunc(p.Calls, func(x Call) bool { return strings.EqualFold(x.ID, id) }) ||
			leg && slices.ContainsFunc(p.CallLegs, func(x CallLeg) bool { return strings.EqualFold(x.ID, id) }) {
			return p, true
		}
	}
	return NodeLive{}, false
}

func (c *Cluster) localCall(id string) bool {
	return slices.ContainsFunc(c.cfg.Local.Calls(), func(x Call) bool { return strings.EqualFold(x.ID, id) })
}

func (c *Cluster) localLeg(id string) bool {
	return slices.ContainsFunc(c.cfg.Local.CallLegs(), func(x CallLeg) bool { return strings.EqualFold(x.ID, id) })
}

// forward sends a change to the node that holds the object, and makes its CMS failure
// this node's answer.
func (c *Cluster) forward(ctx context.Context, p NodeLive, do func(*Client) error) error {
	cl, err := NewClient(p.URL, c.cfg.User, c.cfg.Password, WithHTTPClient(c.hc), WithLogger(c.log), WithRetry(1, time.Millisecond, time.Millisecond))
	if err != nil {
		return err
	}
	err = do(cl)
	var e *Error
	if errors.As(err, &e) && e.Failure != "" {
		return &Failure{Tag: e.Failure, Parameter: e.Parameter, Reason: e.Reason, Status: e.Status}
	}
	if err != nil {
		return fmt.Errorf("cmsapi: node %s, which holds the call: %w", p.Node, err)
	}
	return nil
}

// StartCall implements Backend: the call starts on this node.
func (c *Cluster) StartCall(ctx context.Context, req CallRequest) (string, error) {
	id, err := c.cfg.Local.StartCall(ctx, req)
	if err == nil {
		c.changed()
	}
	return id, err
}

// UpdateCall implements Backend.
func (c *Cluster) UpdateCall(ctx context.Context, id string, u CallUpdate) error {
	if c.localCall(id) {
		defer c.changed()
		return c.cfg.Local.UpdateCall(ctx, id, u)
	}
	p, ok := c.owner(id, false)
	if !ok {
		return fail("callDoesNotExist")
	}
	form := url.Values{}
	if u.Name != nil {
		form.Set("name", *u.Name)
	}
	for k, v := range map[string]*bool{"locked": u.Locked, "recording": u.Recording, "streaming": u.Streaming} {
		if v != nil {
			form.Set(k, strconv.FormatBool(*v))
		}
	}
	return c.forward(ctx, p, func(cl *Client) error { return cl.Update(ctx, "calls/"+url.PathEscape(id), form) })
}

// EndCall implements Backend.
func (c *Cluster) EndCall(ctx context.Context, id string) error {
	if c.localCall(id) {
		defer c.changed()
		return c.cfg.Local.EndCall(ctx, id)
	}
	p, ok := c.owner(id, false)
	if !ok {
		return fail("callDoesNotExist")
	}
	return c.forward(ctx, p, func(cl *Client) error { return cl.Delete(ctx, "calls/"+url.PathEscape(id)) })
}

// AddCallLeg implements Backend: the leg is dialled by the node that holds the call.
func (c *Cluster) AddCallLeg(ctx context.Context, callID string, req CallLegRequest) (string, error) {
	if c.localCall(callID) {
		defer c.changed()
		return c.cfg.Local.AddCallLeg(ctx, callID, req)
	}
	p, ok := c.owner(callID, false)
	if !ok {
		return "", fail("callDoesNotExist")
	}
	form := url.Values{"remoteParty": {req.RemoteParty}}
	if req.Bandwidth > 0 {
		form.Set("bandwidth", strconv.Itoa(req.Bandwidth))
	}
	if req.CallLegProfile != "" {
		form.Set("callLegProfile", req.CallLegProfile)
	}
	var id string
	err := c.forward(ctx, p, func(cl *Client) error {
		var err error
		id, err = cl.Create(ctx, "calls/"+url.PathEscape(callID)+"/callLegs", form)
		return err
	})
	return id, err
}

// EndCallLeg implements Backend.
func (c *Cluster) EndCallLeg(ctx context.Context, id string) error {
	if c.localLeg(id) {
		defer c.changed()
		return c.cfg.Local.EndCallLeg(ctx, id)
	}
	p, ok := c.owner(id, true)
	if !ok {
		return fail("callLegDoesNotExist")
	}
	return c.forward(ctx, p, func(cl *Client) error { return cl.Delete(ctx, "callLegs/"+url.PathEscape(id)) })
}

// UpdateCallLeg implements CallLegUpdater: on the node that holds the leg.
func (c *Cluster) UpdateCallLeg(ctx context.Context, id string, u CallLegUpdate) error {
	if c.localLeg(id) {
		up, ok := c.cfg.Local.(CallLegUpdater)
		if !ok {
			return nil
		}
		defer c.changed()
		return up.UpdateCallLeg(ctx, id, u)
	}
	p, ok := c.owner(id, true)
	if !ok {
		return fail("callLegDoesNotExist")
	}
	form := url.Values{}
	if u.RxAudioMute != nil {
		form.Set("rxAudioMute", strconv.FormatBool(*u.RxAudioMute))
	}
	if u.TxAudioMute != nil {
		form.Set("txAudioMute", strconv.FormatBool(*u.TxAudioMute))
	}
	return c.forward(ctx, p, func(cl *Client) error { return cl.Update(ctx, "callLegs/"+url.PathEscape(id), form) })
}

// Calls implements Backend: this node's, then the other nodes'.
func (c *Cluster) Calls() []Call {
	out := c.cfg.Local.Calls()
	for _, p := range c.peers() {
		out = append(out, p.Calls...)
	}
	return out
}

// CallLegs implements Backend.
func (c *Cluster) CallLegs() []CallLeg {
	out := c.cfg.Local.CallLegs()
	for _, p := range c.peers() {
		out = append(out, p.CallLegs...)
	}
	return out
}

// Participants implements Backend.
func (c *Cluster) Participants() []Participant {
	out := c.cfg.Local.Participants()
	for _, p := range c.peers() {
		out = append(out, p.Participants...)
	}
	return out
}

// Status implements Backend: this node's figures, clusterEnabled true.
func (c *Cluster) Status() SystemStatus {
	st := c.cfg.Local.Status()
	st.ClusterEnabled = true
	return st
}

// MemoryRegistry is a Registry in this process, for the nodes of a cluster in one
// test. Its clock is Now (default time.Now).
type MemoryRegistry struct {
	Now   func() time.Time
	mu    sync.Mutex
	nodes map[string]memoryNode
}

type memoryNode struct {
	live NodeLive
	at   time.Time
}

// NewMemoryRegistry returns an empty registry.
func NewMemoryRegistry() *MemoryRegistry { return &MemoryRegistry{nodes: map[string]memoryNode{}} }

func (r *MemoryRegistry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Publish implements Registry.
func (r *MemoryRegistry) Publish(_ context.Context, live NodeLive) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes[live.Node] = memoryNode{live: live, at: r.now()}
	return nil
}

// Peers implements Registry.
func (r *MemoryRegistry) Peers(_ context.Context, node string, maxAge time.Duration) ([]NodeLive, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []NodeLive
	for name, n := range r.nodes {
		if name != node && now.Sub(n.at) <= maxAge {
			out = append(out, n.live)
		}
	}
	slices.SortFunc(out, func(a, b NodeLive) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// Leave implements Registry.
func (r *MemoryRegistry) Leave(_ context.Context, node string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nodes, node)
	return nil
}
