package cluster_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/pcapgen"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/media/testclip"
)

// sippCaller is a Call Bridge-shaped caller for sipp: H.264 video from a capture
// (play_pcap_video), the stream each call goes to in its Contact's x-cisco-stream (the
// injection file's field), held until [hold] ms pass without a keyframe request (SIP
// INFO, answered), then BYE.
const sippCaller = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Call Bridge-shaped caller, video from a capture">
  <send retrans="500">
    <![CDATA[
      INVITE sip:stream@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Call Bridge" <sip:cms@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:stream@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:cms@[local_ip]:[local_port]>;x-cisco-stream="[field0]"
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=cms 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=video [media_port+2] RTP/AVP 96
      a=rtpmap:96 H264/90000
      a=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=[field1]
      a=sendonly

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Call Bridge" <sip:cms@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_video="[capture]"/>
    </action>
  </nop>
  <!-- The node asks for keyframes with SIP INFO (picture_fast_update), as a Call
       Bridge expects: answered 200, until [hold] ms pass without one. -->
  <label id="hold"/>
  <recv request="INFO" timeout="[hold]" ontimeout="bye"/>
  <send next="hold">` + sippAnswerLast + `  </send>
  <label id="bye"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Call Bridge" <sip:cms@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:stream@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`

// sippAnswerLast is the body of a sipp <send> that answers the last request 200 OK.
const sippAnswerLast = `
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
`

// videoCapture writes the clip's H.264 as RTP (paced as a live encoder sends it, with a
// Sender Report a second) into a capture of d, the clip looped.
func videoCapture(t *testing.T, clip *testclip.Clip, path string, d time.Duration) {
	t.Helper()
	type pkt struct {
		at   time.Duration
		ts   uint32
		data []byte
	}
	var pkts []pkt
	var cur time.Duration
	var first uint32
	seen := false
	snd := &rtpsend.Sender{SPS: clip.SPS, PPS: clip.PPS, Video: rtpsend.NewStream(nil, nil, nil, 90000), Audio: rtpsend.NewStream(nil, nil, nil, 48000)}
	snd.Output = func(st *rtpsend.Stream, b []byte) error {
		if st != snd.Video {
			return nil
		}
		ts := binary.BigEndian.Uint32(b[4:])
		if !seen {
			seen, first = true, ts
		}
		pkts = append(pkts, pkt{at: cur, ts: ts - first, data: append([]byte(nil), b...)})
		return nil
	}
	frames := clip.Interleaved()
	for _, sf := range rtpsend.Schedule(frames) {
		if frames[sf.Index].Codec != media.CodecH264 {
			continue
		}
		cur = sf.At
		require.NoError(t, snd.Send(&frames[sf.Index]))
	}
	l := pcapgen.Loop{Length: clip.Duration, ClockRate: 90000}
	for _, p := range pkts {
		l.Packets = append(l.Packets, pcapgen.Packet{At: p.at, TS: p.ts, Data: p.data})
	}
	require.NoError(t, pcapgen.WriteLooped(path, l, 0xcafe0001, d))
}

// Must-shows 1 and 2 of issue 19 with sipp as the Call Bridge: 30 calls from sipp (each
// to a stream of its own in x-cisco-stream, H.264 from a capture of the clip) through
// Kamailio to three streamer nodes, node 1 at -call-limit 8. Every node takes at least
// 20 % of the calls, node 1 no more than 8 (its 503s fail over), sipp counts 30
// successful calls and none failed, and nginx-rtmp received all 30 streams.
func TestInteropClusterSippCalls(t *testing.T) {
	peer.Serialize(t)
	sipp := peer.Require(t, "sipp", "sip-tester")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	cl := startCluster(t, []int{8, 40, 40})
	dir := t.TempDir()
	capture := filepath.Join(dir, "video.pcap")
	videoCapture(t, clip, capture, 8*time.Second)
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	sprop := spropOf(clip)
	for i := range 30 {
		fmt.Fprintf(&inf, "%s;%s\n", cl.ng.URL("sipp"+strconv.Itoa(i)), sprop)
	}
	infPath := filepath.Join(dir, "calls.csv")
	require.NoError(t, os.WriteFile(infPath, []byte(inf.String()), 0o644))
	scenario := filepath.Join(dir, "caller.xml")
	xml := strings.NewReplacer("[capture]", capture, "[hold]", "3000").Replace(sippCaller)
	require.NoError(t, os.WriteFile(scenario, []byte(xml), 0o644))
	ports := peer.FreeUDPPorts(t, 4)
	kamCPU, t0 := cl.kam.GroupCPU(), time.Now()
	p := peer.Start(t, sipp, cl.front, "-sf", scenario, "-inf", infPath, "-m", "30", "-r", "15", "-l", "30",
		"-i", "127.0.0.1", "-p", strconv.Itoa(peer.FreeUDPPorts(t, 1)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(ports),
		"-nostdin", "-timeout", "60s", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv"))
	require.NoError(t, p.Wait(90*time.Second), "sipp: every call succeeded\n%s\nkamailio: %s", p.Output(), tailLines(cl.kam.Output(), 30))
	kamUsed, wall := cl.kam.GroupCPU()-kamCPU, time.Since(t0)
	t.Logf("Kamailio: %.1f ms CPU for 30 calls (INVITE, ACK, keyframe INFOs, BYE, 503 failovers) and %.1f s of OPTIONS probes of 3 nodes: %.2f ms per call at most",
		float64(kamUsed)/1e6, wall.Seconds(), float64(kamUsed)/1e6/30)
	per := make([]int, len(cl.nodes))
	for k, n := range cl.nodes {
		per[k] = strings.Count(n.proc.Output(), "call started")
	}
	t.Logf("30 sipp calls: %v per node", per)
	require.Equal(t, 30, per[0]+per[1]+per[2])
	for k, n := range per {
		require.GreaterOrEqual(t, n, 6, "node %d takes at least 20 %%: %v", k+1, per)
	}
	require.LessOrEqual(t, per[0], 8, "node 1 no more than its limit: %v", per)
	require.Contains(t, cl.kam.Output(), "failed over", "node 1's 503s failed over")
	require.Eventually(t, func() bool { return len(cl.ng.Recordings()) >= 30 }, 30*time.Second, 50*time.Millisecond,
		"%d of 30 streams at nginx", len(cl.ng.Recordings()))
}
