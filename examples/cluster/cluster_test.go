package cluster_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// node is a streamer process on an address of its own.
type node struct {
	ip   string
	proc *peer.Process
}

// freeOnAll is a UDP port free on every one of ips.
func freeOnAll(t *testing.T, ips []string) int {
	t.Helper()
	for range 100 {
		p := peer.FreePort(t)
		ok := true
		for _, ip := range ips {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: p})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no UDP port free on every node address")
	return 0
}

// Three streamer nodes (127.0.0.2, .3 and .4) behind Kamailio with this directory's
// kamailio.cfg and a dispatcher.list like its template (call load, maxload 50 each).
// 30 Call Bridge-shaped calls, each to a stream of its own and sending the clip, go to
// Kamailio and stay up:
//   - spread: every node takes at least 20 % of them;
//   - overflow: node 1 runs with -call-limit 8; it takes no more (its 503 fails the call
//     over to another node), and no call fails; full, it answers Kamailio's probes 503
//     and is left out (kamailio.cfg logs "cluster: node ... down").
//
// Then node 2 is drained with SIGTERM while it holds its calls: Kamailio's probes leave
// it out, five more calls all go to nodes 1 and 3 and succeed (node 2 answers INVITEs
// and OPTIONS 503), node 2's calls
// carry on until the callers hang up (their BYEs reach it through Kamailio), and then it
// exits by itself, with status 0. Node 1's calls end and Kamailio takes it back; then
// node 3 is killed (kill -9) with its calls up: six more calls all succeed on node 1. Every one of the 41 streams reached nginx-rtmp,
// and no call failed.
func TestInteropClusterBehindKamailio(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	limits := []int{8, 40, 40}
	cl := startCluster(t, limits)
	ips, nodes, kam, ng, front := cl.ips, cl.nodes, cl.kam, cl.ng, cl.front

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	playing, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	type placed struct {
		c    *siptest.Call
		node int
	}
	var calls []placed
	answerIP := regexp.MustCompile(`c=IN IP4 (127\.0\.0\.\d+)`)
	call := func(i int) placed {
		t.Helper()
		c, err := siptest.Dial(ctx, front, clip, siptest.Options{
			Dial: sip.DialOptions{ContactParams: map[string]string{"x-cisco-stream": ng.URL("cluster" + strconv.Itoa(i))}}})
		require.NoError(t, err, "call %d through Kamailio\nkamailio: %s", i, kam.Output())
		m := answerIP.FindSubmatch(c.Answer)
		require.NotNil(t, m, "%s", c.Answer)
		p := placed{c: c, node: -1}
		for k, ip := range ips {
			if string(m[1]) == ip {
				p.node = k
			}
		}
		require.GreaterOrEqual(t, p.node, 0, "answered by %s", m[1])
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Loop(playing, time.Minute) }()
		return p
	}
	// streams waits until n streams have reached nginx (each call its own stream key).
	streams := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return len(ng.Recordings()) >= n }, 30*time.Second, 20*time.Millisecond,
			"%d of %d streams at nginx\nkamailio: %s", len(ng.Recordings()), n, tailLines(kam.Output(), 40))
	}
	count := func(from int) []int {
		n := make([]int, len(ips))
		for _, p := range calls[from:] {
			n[p.node]++
		}
		return n
	}
	for i := range 30 {
		calls = append(calls, call(i))
	}
	per := count(0)
	t.Logf("30 calls: %v per node", per)
	for k, n := range per {
		require.GreaterOrEqual(t, n, 6, "node %d takes at least 20 %% of the calls: %v", k+1, per)
	}
	require.LessOrEqual(t, per[0], limits[0], "node 1 takes no more than its limit: %v", per)
	streams(30)
	if per[0] == limits[0] {
		// Full, node 1 answers Kamailio's probes 503, and is left out.
		require.Eventually(t, func() bool { return cl.left(ips[0]) }, 10*time.Second, 20*time.Millisecond,
			"Kamailio leaves out node 1 at its limit\nkamailio: %s", tailLines(kam.Output(), 20))
	}

	// Drain node 2: SIGTERM while it holds calls.
	drained := per[1]
	nodes[1].proc.Send(syscall.SIGTERM)
	require.Eventually(t, func() bool { return strings.Contains(nodes[1].proc.Output(), "drain") }, 10*time.Second, 20*time.Millisecond,
		"%s", nodes[1].proc.Output())
	require.Eventually(t, func() bool { return cl.left(ips[1]) }, 10*time.Second, 20*time.Millisecond,
		"Kamailio's probes (OPTIONS 503) leave out the draining node 2\nkamailio: %s", tailLines(kam.Output(), 20))
	for i := 30; i < 35; i++ {
		calls = append(calls, call(i))
	}
	after := count(30)
	t.Logf("5 calls after the drain: %v per node", after)
	require.Zero(t, after[1], "a draining node takes no call")
	streams(35)
	select {
	case <-nodes[1].proc.Done():
		t.Fatalf("node 2 exited with %d calls up:\n%s", drained, nodes[1].proc.Output())
	default:
	}
	// The callers of node 2 hang up: their BYEs reach it through Kamailio, and it exits.
	for _, p := range calls {
		if p.node == 1 {
			require.NoError(t, p.c.Close())
		}
	}
	require.NoError(t, nodes[1].proc.Wait(30*time.Second), "node 2 exits by itself once its calls are over:\n%s", nodes[1].proc.Output())

	// Node 3 killed (kill -9) with its calls up, and node 1's calls over: six calls more
	// all succeed, on node 1 (Kamailio fails over from the dead node, then its probes
	// leave it out).
	for _, p := range calls {
		if p.node == 0 {
			require.NoError(t, p.c.Close())
		}
	}
	// Node 1 at its limit answered Kamailio's probes 503 and was left out: it must be
	// taken back before node 3 dies, or no node is left to fail over to.
	require.Eventually(t, func() bool { return !cl.left(ips[0]) }, 10*time.Second, 20*time.Millisecond,
		"Kamailio takes node 1 back once its calls are over\nkamailio: %s", tailLines(kam.Output(), 20))
	nodes[2].proc.Kill()
	for i := 35; i < 41; i++ {
		calls = append(calls, call(i))
	}
	last := count(35)
	t.Logf("6 calls after node 3 died: %v per node", last)
	require.Equal(t, []int{6, 0, 0}, last)
	require.Contains(t, kam.Output(), "failed over", "Kamailio failed calls over (503 from node 1 at its limit, node 3 dead)")
	streams(41)
	stop()
	errs := make([]error, len(calls))
	var closing sync.WaitGroup
	for i, p := range calls { // at once: a BYE to the dead node takes Kamailio's timeout
		closing.Add(1)
		go func() { defer closing.Done(); errs[i] = p.c.Close() }()
	}
	closing.Wait()
	for i, p := range calls {
		if p.node == 2 {
			// The dead node's calls: the caller's BYE goes through Kamailio, which
			// answers for the node that does not: 408.
			require.ErrorContains(t, errs[i], "408", "a call of the dead node")
		} else {
			require.NoError(t, errs[i])
		}
	}
	select {
	case <-nodes[0].proc.Done():
		t.Fatalf("node 1 exited:\n%s", nodes[0].proc.Output())
	default:
	}
}

// nodeState is Kamailio's log line for a node left out or taken back (kamailio.cfg's
// dispatcher event routes).
var nodeState = regexp.MustCompile(`cluster: node (?:sip:)?(127\.0\.0\.\d+):\d+ (up|down)`)

// left says whether Kamailio's last word on the node at ip is that it left it out.
func (cl *cluster) left(ip string) bool {
	down := false
	for _, m := range nodeState.FindAllStringSubmatch(cl.kam.Output(), -1) {
		if m[1] == ip {
			down = m[2] == "down"
		}
	}
	return down
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cluster is three streamer nodes (127.0.0.2, .3, .4) behind Kamailio (this
// directory's kamailio.cfg, a dispatcher.list like its template, maxload 50 each), and
// nginx-rtmp for their streams.
type cluster struct {
	ips   []string
	nodes []*node
	kam   *peer.Process
	ng    *peer.Nginx
	front string // Kamailio's host:port
	// dir holds the dispatcher list and Kamailio's runtime files; kport is its port.
	dir   string
	kport int
}

// startKamailio starts Kamailio (again) on the cluster's port and waits until it listens.
func (cl *cluster) startKamailio(t *testing.T) {
	t.Helper()
	kamailio := peer.Require(t, "kamailio", "kamailio")
	cl.kam = peer.Start(t, kamailio, "-f", "kamailio.cfg", "-DD", "-E", "-m", "64", "-M", "8", "-w", cl.dir, "-Y", cl.dir,
		"-A", fmt.Sprintf("LISTEN=udp:127.0.0.1:%d", cl.kport), "-A", fmt.Sprintf("DISPATCHER_LIST=%q", filepath.Join(cl.dir, "dispatcher.list")))
	require.Eventually(t, func() bool { return strings.Contains(cl.kam.Output(), "Listening on") }, 20*time.Second, 20*time.Millisecond, "%s", cl.kam.Output())
	cl.front = fmt.Sprintf("127.0.0.1:%d", cl.kport)
}

func startCluster(t *testing.T, limits []int) *cluster {
	t.Helper()
	peer.Require(t, "kamailio", "kamailio")
	dir := t.TempDir()
	cl := &cluster{ng: peer.StartNginx(t, peer.NginxOptions{}), ips: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, dir: dir}
	bin := filepath.Join(dir, "streamer")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sipcast/sipcast/examples/streamer").CombinedOutput()
	require.NoError(t, err, "%s", out)
	port := freeOnAll(t, cl.ips)
	var list strings.Builder
	for i, ip := range cl.ips {
		n := &node{ip: ip, proc: peer.Start(t, bin, "-sip-udp", net.JoinHostPort(ip, strconv.Itoa(port)), "-sip-tcp", "none",
			"-media-ip", ip, "-call-limit", strconv.Itoa(limits[i]), "-log-level", "info")}
		cl.nodes = append(cl.nodes, n)
		fmt.Fprintf(&list, "1 sip:%s:%d 0 0 duid=node%d;maxload=50\n", ip, port, i+1)
	}
	dispatcher := filepath.Join(dir, "dispatcher.list")
	require.NoError(t, os.WriteFile(dispatcher, []byte(list.String()), 0o644))
	cl.kport = peer.FreeUDPPorts(t, 1)
	cl.startKamailio(t)
	for _, n := range cl.nodes {
		require.Eventually(t, func() bool { return strings.Contains(n.proc.Output(), "streamer ready") },
			20*time.Second, 20*time.Millisecond, "%s", n.proc.Output())
	}
	return cl
}

// spropOf is the clip's sprop-parameter-sets.
func spropOf(clip *testclip.Clip) string {
	return base64.StdEncoding.EncodeToString(clip.SPS) + "," + base64.StdEncoding.EncodeToString(clip.PPS)
}

// Kamailio killed (kill -9, its workers with it) and started again on its address while
// calls are up: the calls carry on (their media never went through it), their callers'
// BYEs reach the nodes through the new Kamailio (the Record-Route the dialogs carry, no
// state of the old one needed), and new calls through it are placed and stream.
func TestInteropKamailioRestart(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	cl := startCluster(t, []int{40, 40, 40})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	playing, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	call := func(i int) *siptest.Call {
		t.Helper()
		c, err := siptest.Dial(ctx, cl.front, clip, siptest.Options{
			Dial: sip.DialOptions{ContactParams: map[string]string{"x-cisco-stream": cl.ng.URL("restart" + strconv.Itoa(i))}}})
		require.NoError(t, err, "call %d through Kamailio\nkamailio: %s", i, cl.kam.Output())
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Loop(playing, time.Minute) }()
		return c
	}
	streams := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return len(cl.ng.Recordings()) >= n }, 30*time.Second, 20*time.Millisecond,
			"%d of %d streams at nginx\nkamailio: %s", len(cl.ng.Recordings()), n, tailLines(cl.kam.Output(), 40))
	}
	ended := func() int {
		n := 0
		for _, nd := range cl.nodes {
			n += strings.Count(nd.proc.Output(), ": call ended (") // not "streaming stopped ... (call ended)"
		}
		return n
	}
	var calls []*siptest.Call
	for i := range 6 {
		calls = append(calls, call(i))
	}
	streams(6)

	cl.kam.Kill()
	cl.startKamailio(t)
	require.Zero(t, ended(), "no call ended with Kamailio")
	for _, c := range calls[:3] {
		require.NoError(t, c.Close(), "a BYE through the restarted Kamailio\nkamailio: %s", tailLines(cl.kam.Output(), 40))
	}
	require.Eventually(t, func() bool { return ended() == 3 }, 10*time.Second, 20*time.Millisecond, "the nodes ended the three calls: %d\nkamailio: %s\nnode: %s", ended(), tailLines(cl.kam.Output(), 30), tailLines(cl.nodes[0].proc.Output(), 10))
	for i := 6; i < 10; i++ {
		calls = append(calls, call(i))
	}
	streams(10)
	stop()
	for _, c := range calls[3:] {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return ended() == 10 }, 10*time.Second, 20*time.Millisecond, "every call ended on its node")
}
