package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sipcast/sipcast/internal/pcapgen"
)

// The sipp callee: sipp answers the relay's calls with PCMU and H.264 and plays two
// captures into each answered call (play_pcap_audio and play_pcap_video), which
// loadgen writes from the schedule: the clip's video padded to bitrate, the PCMU
// signal, and a Sender Report per stream and second, looped for as long as the run
// needs. sipp rewrites each packet's ports to the call's (destination = the port in
// the relay's offer, plus the packet's offset from the capture's lowest port), so the
// Sender Reports go to the RTCP port beside each stream. sipp sends from a raw socket:
// it needs root.

const sippCalleeScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sipcast loadgen callee: PCMU and H.264 from captures">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=sipp loadgen callee
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
      m=video [media_port+2] RTP/AVP 96
      a=rtpmap:96 H264/90000
      a=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=[sprop]
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK" crlf="true">
    <action>
      <exec rtp_stream="[audio_ulaw],-1,0"/>
      <exec play_pcap_video="[video_pcap]"/>
    </action>
  </recv>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`

// startSippCallee writes the captures (length d of the schedule) and the scenario
// into dir and starts sipp answering on 127.0.0.1:port. stop ends it.
func startSippCallee(ctx context.Context, sched *schedule_, dir string, port int, d time.Duration, logs *syncBuffer) (exited <-chan struct{}, stop func(), err error) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		return nil, nil, fmt.Errorf("the sipp callee needs sipp (Debian sip-tester) on PATH: %w", err)
	}
	mediaPort, err := freeUDPRun(4)
	if err != nil {
		return nil, nil, err
	}
	audio, video := filepath.Join(dir, "callee-audio.ulaw"), filepath.Join(dir, "callee-video.pcap")
	var ulaw []byte
	for _, p := range sched.packets {
		if !p.video {
			ulaw = append(ulaw, p.data[12:]...)
		}
	}
	if err := os.WriteFile(audio, ulaw, 0o644); err != nil {
		return nil, nil, err
	}
	if err := writeCalleePcap(video, sched, true, d); err != nil {
		return nil, nil, err
	}
	sprop := base64.StdEncoding.EncodeToString(sched.sps) + "," + base64.StdEncoding.EncodeToString(sched.pps)
	xml := strings.NewReplacer("[audio_ulaw]", audio, "[video_pcap]", video, "[sprop]", sprop).Replace(sippCalleeScenario)
	scenario := filepath.Join(dir, "callee.xml")
	if err := os.WriteFile(scenario, []byte(xml), 0o644); err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-i", "127.0.0.1", "-p", fmt.Sprint(port),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(mediaPort), "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "sipp-errors.log"))
	cmd.Stdout, cmd.Stderr = logs, logs
	return start(cmd, 5*time.Second)
}

// writeCalleePcap writes the schedule's video (or audio) packets, looped for d and
// renumbered as one stream, with a Sender Report a second, as an Ethernet capture of
// UDP from 127.0.0.1:20000 to 127.0.0.1:30000 (RTCP: ports + 1). sipp replays it on
// the packets' capture times.
func writeCalleePcap(path string, sched *schedule_, video bool, d time.Duration) error {
	l := pcapgen.Loop{Length: sched.length, ClockRate: sched.audioRate, First: sched.firstAudio}
	ssrc := uint32(0x5eed0000)
	if video {
		l.ClockRate, l.First, ssrc = 90000, sched.firstVideo, ssrc+1
	}
	for _, p := range sched.packets {
		if p.video == video {
			l.Packets = append(l.Packets, pcapgen.Packet{At: p.at, TS: p.ts, Data: p.data})
		}
	}
	return pcapgen.WriteLooped(path, l, ssrc, d)
}
