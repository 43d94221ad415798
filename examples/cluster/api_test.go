package cluster_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
)

// sippDialIn turns sippCaller into an endpoint dialling a space's URI ([space]), with
// no stream of its own in the Contact; it holds the call until the node hangs up (BYE
// answered) or [hold] ms pass without a keyframe request.
func sippDialIn(sprop string) string {
	s := strings.NewReplacer(
		"INVITE sip:stream@", "INVITE sip:[space]@",
		"To: <sip:stream@", "To: <sip:[space]@",
		`;x-cisco-stream="[field0]"`, "",
		"[field1]", sprop,
	).Replace(sippCaller)
	s = strings.Replace(s, `  <recv request="INFO" timeout="[hold]" ontimeout="bye"/>`,
		`  <recv request="BYE" optional="true" next="byed"/>
  <recv request="INFO" timeout="[hold]" ontimeout="bye"/>`, 1)
	s = strings.Replace(s, `  <recv response="200" crlf="true"/>
</scenario>`, `  <recv response="200" crlf="true" next="end"/>
  <label id="byed"/>
  <send>`+sippAnswerLast+`  </send>
  <label id="end"/>
  <pause milliseconds="0"/>
</scenario>`, 1)
	return s
}

var apiURLRe = regexp.MustCompile(`msg="API listening" url=(http://[0-9.:]+)/api/v1`)

// Two streamer nodes (127.0.0.2 and .3) serve the CMS API over one PostgreSQL
// (-cms-db): a call profile and a space (its streamUrl at nginx-rtmp) created through
// node a are served by node b; sipp dials the space's URI at node b, and the call streams
// (ffprobe decodes H.264 from nginx's recording of it). Node a lists node b's call and
// its leg (GET /calls, /calls/{id}/callLegs), and DELETE /calls/{id} sent to node a ends
// it: node b hangs up (sipp's BYE answered) and neither node lists it any more. Node a
// never ran a call.
func TestInteropTwoAPINodesSharePostgres(t *testing.T) {
	peer.Serialize(t)
	sipp := peer.Require(t, "sipp", "sip-tester")
	pg := peer.StartPostgres(t)
	ng := peer.StartNginx(t, peer.NginxOptions{})
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "streamer")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sipcast/sipcast/examples/streamer").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const password = "cluster-API-pw"
	pwFile := filepath.Join(dir, "api.pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(password+"\n"), 0o600))

	ips := []string{"127.0.0.2", "127.0.0.3"}
	sipPort := freeOnAll(t, ips)
	var nodes []*node
	var clients []*cmsapi.Client
	for i, ip := range ips {
		n := &node{ip: ip, proc: peer.Start(t, bin, "-sip-udp", net.JoinHostPort(ip, strconv.Itoa(sipPort)), "-sip-tcp", "none",
			"-media-ip", ip, "-api", ip+":0", "-api-insecure", "-api-user", "tms", "-api-password-file", pwFile,
			"-cms-db", pg.URL, "-node", fmt.Sprintf("node-%c", 'a'+i), "-cluster-heartbeat", "500ms", "-log-level", "info")}
		require.Eventually(t, func() bool { return strings.Contains(n.proc.Output(), "streamer ready") },
			20*time.Second, 20*time.Millisecond, "%s", n.proc.Output())
		m := apiURLRe.FindStringSubmatch(n.proc.Output())
		require.NotNil(t, m, "the API's URL in the log: %s", n.proc.Output())
		c, err := cmsapi.NewClient(m[1], "tms", password)
		require.NoError(t, err)
		nodes, clients = append(nodes, n), append(clients, c)
	}
	a, b := clients[0], clients[1]
	ctx := context.Background()

	cp, err := a.CreateObject(ctx, "callProfiles", &cmsapi.CallProfile{StreamingMode: "automatic"})
	require.NoError(t, err)
	space, err := a.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board", URI: "board", StreamURL: ng.URL("board"), CallProfile: cp})
	require.NoError(t, err)
	got, err := b.CoSpace(ctx, space)
	require.NoError(t, err, "node b serves node a's space")
	require.Equal(t, "board", got.URI)

	capture := filepath.Join(dir, "video.pcap")
	videoCapture(t, clip, capture, 6*time.Second)
	scenario := filepath.Join(dir, "dialin.xml")
	xml := strings.NewReplacer("[capture]", capture, "[hold]", "60000", "[space]", "board").Replace(sippDialIn(spropOf(clip)))
	require.NoError(t, os.WriteFile(scenario, []byte(xml), 0o644))
	p := peer.Start(t, sipp, net.JoinHostPort(ips[1], strconv.Itoa(sipPort)), "-sf", scenario, "-m", "1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(peer.FreeUDPPorts(t, 1)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(peer.FreeUDPPorts(t, 4)),
		"-nostdin", "-timeout", "90s", "-timeout_error")

	// Node a lists node b's call, from node b's heartbeat.
	var calls []cmsapi.Call
	require.Eventually(t, func() bool {
		calls, err = cmsapi.ListAll[cmsapi.Call](ctx, a, "calls", nil)
		return err == nil && len(calls) == 1
	}, 20*time.Second, 50*time.Millisecond, "node a lists no call (%v); sipp: %s\nnode b: %s", err, p.Output(), tailLines(nodes[1].proc.Output(), 20))
	call := calls[0]
	require.Equal(t, space, call.CoSpace)
	legs, err := cmsapi.ListAll[cmsapi.CallLeg](ctx, a, "calls/"+call.ID+"/callLegs", nil)
	require.NoError(t, err)
	require.Len(t, legs, 1, "node b's leg, listed by node a")
	bCalls, err := cmsapi.ListAll[cmsapi.Call](ctx, b, "calls", nil)
	require.NoError(t, err)
	require.Len(t, bCalls, 1)
	require.Equal(t, call.ID, bCalls[0].ID)

	// The call streams: nginx records it while it runs.
	require.Eventually(t, func() bool { return len(ng.Recordings()) == 1 }, 20*time.Second, 50*time.Millisecond,
		"no stream at nginx; node b: %s", tailLines(nodes[1].proc.Output(), 20))

	// Node a ends node b's call.
	require.NoError(t, a.Delete(ctx, "calls/"+url.PathEscape(call.ID)))
	require.NoError(t, p.Wait(time.Minute), "sipp: node b hung up and sipp answered\n%s", p.Output())
	for i, c := range clients {
		require.Eventually(t, func() bool {
			calls, err := cmsapi.ListAll[cmsapi.Call](ctx, c, "calls", nil)
			return err == nil && len(calls) == 0
		}, 10*time.Second, 50*time.Millisecond, "node %d still lists the call", i)
	}
	probe, err := peer.FFprobe(t, time.Minute, ng.Recordings()[0])
	require.NoError(t, err)
	v := probe.Stream("video")
	require.NotNil(t, v, "H.264 in nginx's recording of the call")
	require.Equal(t, "h264", v.CodecName)
	require.Positive(t, v.Frames())
	deleted := "method=DELETE path=/api/v1/calls/" + call.ID + " status=200"
	require.Contains(t, nodes[0].proc.Output(), deleted, "asked of node a")
	require.Contains(t, nodes[1].proc.Output(), deleted, "carried out by node b")
	require.Equal(t, 1, strings.Count(nodes[1].proc.Output(), "call started"), "node b ran the call")
	require.Zero(t, strings.Count(nodes[0].proc.Output(), "call started"), "node a ran none")
	require.NotContains(t, nodes[0].proc.Output()+nodes[1].proc.Output(), password, "no API password in the logs")
}
