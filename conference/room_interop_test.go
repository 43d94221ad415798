package conference_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference/cms"
	"github.com/sipcast/sipcast/internal/pcapgen"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/mixer/g711"
)

// sippTone is a sipp scenario that answers a call with PCMU and plays a capture
// (play_pcap_audio, the path put in for PCAP) until the BYE.
const sippTone = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="UAS tone">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
      m=video 0 RTP/AVP 96

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <nop>
    <action>
      <exec play_pcap_audio="PCAP"/>
    </action>
  </nop>
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

// toneCapture writes a capture of a PCMU tone (freq Hz, amplitude amp) for d, 20 ms a
// packet, for sipp to play.
func toneCapture(t *testing.T, path string, freq, amp float64, d time.Duration) {
	t.Helper()
	l := pcapgen.Loop{Length: time.Second, ClockRate: 8000}
	pcm := make([]int16, 160)
	for k := range 50 {
		for i := range pcm {
			pcm[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(k*160+i)/8000))
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0}, Payload: g711.ULaw.Encode(nil, pcm)}
		b, err := p.Marshal()
		require.NoError(t, err)
		l.Packets = append(l.Packets, pcapgen.Packet{At: time.Duration(k) * 20 * time.Millisecond, TS: uint32(k * 160), Data: b})
	}
	require.NoError(t, pcapgen.WriteLooped(path, l, 0x5151, d))
}

// makeClip encodes a 4-second test picture of size (25 fps, 2 s GOP, no B-frames) with
// ffmpeg's libx264 and loads it.
func makeClip(t *testing.T, size string) *testmedia.Clip {
	t.Helper()
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	path := filepath.Join(t.TempDir(), "clip.flv")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25",
		"-t", "4", "-c:v", "libx264", "-profile:v", "main", "-bf", "0", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-pix_fmt", "yuv420p", "-f", "flv", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	clip, err := testmedia.Load(path)
	require.NoError(t, err)
	return clip
}

// lazy is a message made when it is printed.
type lazy func() string

func (l lazy) String() string { return l() }

// picture is one decoded picture: keyframe, size, time.
type picture struct {
	key  bool
	size string
	at   float64
}

// pictures is what ffprobe decodes of a file's video, in presentation order.
func pictures(t *testing.T, file string) []picture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, peer.Require(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "v",
		"-show_entries", "frame=key_frame,width,height,best_effort_timestamp_time", "-of", "csv=p=0", file).Output()
	require.NoError(t, err)
	var pics []picture
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",") // key_frame, best_effort_timestamp_time, width, height
		if len(f) < 4 {
			continue
		}
		at, _ := strconv.ParseFloat(f[1], 64)
		pics = append(pics, picture{key: f[0] == "1", size: f[2] + "x" + f[3], at: at})
	}
	return pics
}

// A three-party conference joined through the CMS API's dial-out (Config.Mix): our own
// callee (G.722, 1700 Hz, a 640x360 picture), baresip (PCMU, ausine's 1000 Hz, its
// fakevideo at 320x240) and sipp (PCMU, a 440 Hz capture, no video). Shown by the
// peers' own decoding:
//   - our callee hears baresip's and sipp's tones and not its own; baresip's decoded
//     audio (sndfile) holds ours and sipp's and not its own;
//   - the picture follows whoever speaks: our callee alone (baresip, whose sine never
//     stops, muted through the API: rxAudioMute), then baresip alone (our callee
//     quiet), then our callee again — ffprobe decodes 640x360, 320x240, 640x360 runs in
//     the stream nginx-rtmp recorded and in our recording, each run starting on a
//     keyframe, no two changes closer than the hold-off (1.5 s); sipp (no video, a
//     quieter tone) is never shown;
//   - the recording (decoded by ffmpeg) carries all three tones; after sipp's leg is
//     muted through the API, our callee and the end of the recording no longer carry
//     440 Hz.
func TestInteropMixedConference(t *testing.T) {
	peer.Serialize(t)
	baresip := peer.Require(t, "baresip", "baresip-core")
	peer.RequireFile(t, "/usr/lib/baresip/modules/avcodec.so", "baresip-ffmpeg")
	peer.RequireFile(t, "/usr/lib/baresip/modules/sndfile.so", "baresip-core")
	sipp := peer.Require(t, "sipp", "sip-tester")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	clip := makeClip(t, "640x360")
	r := newCMSRigWith(t, cms.Config{Mix: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := cmsapi.NewClient(r.api.URL, tmsUser, tmsPass, cmsapi.WithHTTPClient(r.api.Client()))
	require.NoError(t, err)
	cp, err := client.CreateObject(ctx, "callProfiles", &cmsapi.CallProfile{StreamingMode: "automatic", RecordingMode: "automatic"})
	require.NoError(t, err)
	space, err := client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Three", URI: "three.room", StreamURL: ng.URL("three"), CallProfile: cp})
	require.NoError(t, err)

	// Our callee.
	ours, oursAddr := answerTone(t, "G722", 1700, clip)
	ours.setAmp(0.5) // -6 dBFS: louder than baresip's sine, so that it takes the picture when it speaks
	// baresip, auto-answering, its decoded audio kept by sndfile.
	bobPort := peer.FreePort(t)
	dir := peer.BaresipConfig(t, peer.BaresipOptions{Listen: bobPort, Account: "regint=0;answermode=auto;audio_codecs=PCMU;video_codecs=H264"})
	snd := t.TempDir()
	cfgPath := filepath.Join(dir, "config")
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	cfgs := strings.Replace(string(cfg), "audio_source ausine,440", "audio_source ausine,1000", 1) + "module sndfile.so\nsnd_path " + snd + "\n"
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfgs), 0o644))
	bob := peer.Start(t, baresip, "-f", dir, "-v", "-n", "127.0.0.1", "-t", "150")
	t.Cleanup(func() { bob.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(bob.Output(), "baresip is ready") }, 20*time.Second, 20*time.Millisecond, "%s", bob.Output())
	// sipp, playing a 440 Hz capture.
	sdir := t.TempDir()
	pcap := filepath.Join(sdir, "tone.pcap")
	toneCapture(t, pcap, 440, 0.2, 2*time.Minute)
	scenario := filepath.Join(sdir, "uas_tone.xml")
	require.NoError(t, os.WriteFile(scenario, []byte(strings.Replace(sippTone, "PCAP", pcap, 1)), 0o644))
	sippPort := peer.FreeUDPPorts(t, 1)
	sp := peer.Start(t, sipp, "-sf", scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(sippPort), "-mi", "127.0.0.1",
		"-mp", strconv.Itoa(peer.FreeUDPPorts(t, 1)), "-m", "1", "-nostdin", "-timeout", "150s")
	t.Cleanup(func() { sp.Kill() })

	for name, addr := range map[string]string{"ours.test": oursAddr, "baresip.test": fmt.Sprintf("127.0.0.1:%d", bobPort),
		"sipp.test": fmt.Sprintf("127.0.0.1:%d", sippPort)} {
		_, err = client.CreateObject(ctx, "outboundDialPlanRules", &cmsapi.OutboundDialPlanRule{Domain: name, Priority: cmsapi.Int(10),
			SipProxy: addr, SipControlEncryption: "unencrypted", FailureAction: "stop"})
		require.NoError(t, err)
	}
	confID := created(t, r.do(t, "POST", "/api/v1/calls", "coSpace="+space), "calls")
	legs := map[string]string{}
	for who, user := range map[string]string{"ours": "desk", "baresip": "bs", "sipp": "sipp"} { // bs: baresip's account
		legs[who] = created(t, r.do(t, "POST", "/api/v1/calls/"+confID+"/callLegs", "remoteParty="+user+"@"+who+".test"), "callLegs")
	}
	state := func() string {
		var st []string
		for who, id := range legs {
			body := r.do(t, "GET", "/api/v1/callLegs/"+id, "").body
			if i := strings.Index(body, "<state>"); i >= 0 {
				st = append(st, who+":"+body[i+7:i+7+strings.Index(body[i+7:], "<")])
			}
		}
		sort.Strings(st)
		return strings.Join(st, " ")
	}
	require.Eventually(t, func() bool { return state() == "baresip:connected ours:connected sipp:connected" }, 30*time.Second, 50*time.Millisecond,
		"three legs connected: %v\nbaresip: %s\nsipp: %s", lazy(state), tailLines(bob.Output(), 20), sp.Output())

	// Our callee hears baresip (1000 Hz) and sipp (440 Hz), not itself.
	hears := func(want, not []float64) string {
		x := ours.last(time.Second)
		if x == nil {
			return "nothing heard yet"
		}
		for _, f := range want {
			if lv := tones(x, ours.rate, f)[0]; lv < -40 {
				return fmt.Sprintf("%.0f Hz at %.1f dB", f, lv)
			}
		}
		for _, f := range not {
			if lv := tones(x, ours.rate, f)[0]; lv > -50 {
				return fmt.Sprintf("%.0f Hz (not to be heard) at %.1f dB", f, lv)
			}
		}
		return ""
	}
	require.Eventually(t, func() bool { return hears([]float64{1000, 440}, []float64{1700}) == "" }, 20*time.Second, 50*time.Millisecond,
		"our callee hears the others: %v", lazy(func() string { return hears([]float64{1000, 440}, []float64{1700}) }))
	speaker := func() string {
		ci, ok := r.bridge.Call(confID)
		if !ok || ci.Room == nil {
			return ""
		}
		return ci.Room.Showing
	}
	oursCall := func() string { return legs["ours"] } // a dialled leg's call in the Bridge is named by the leg
	mute := func(who string, on bool) {
		t.Helper()
		modified(t, r.do(t, "PUT", "/api/v1/callLegs/"+legs[who], "rxAudioMute="+strconv.FormatBool(on)))
	}
	// Who speaks is set through the API too: baresip's sine never stops, so it is muted
	// (rxAudioMute) while our callee is to speak alone.
	mute("baresip", true)
	require.Eventually(t, func() bool { return speaker() == oursCall() }, 20*time.Second, 20*time.Millisecond,
		"our callee, alone speaking, is shown: %v (legs %v)", lazy(func() string { ci, _ := r.bridge.Call(confID); return fmt.Sprintf("%+v", ci.Room) }), legs)
	// Our callee quiet, baresip back: baresip speaks alone and takes the picture.
	ours.setQuiet(true)
	mute("baresip", false)
	require.Eventually(t, func() bool { return speaker() == legs["baresip"] }, 20*time.Second, 20*time.Millisecond, "baresip shown")
	// Our callee again.
	mute("baresip", true)
	ours.setQuiet(false)
	require.Eventually(t, func() bool { return speaker() == oursCall() }, 20*time.Second, 20*time.Millisecond, "our callee shown again")

	// sipp muted through the API too: its tone leaves what our callee hears, and the mix.
	mute("sipp", true)
	require.Eventually(t, func() bool { return hears(nil, []float64{1700, 440, 1000}) == "" }, 20*time.Second, 50*time.Millisecond,
		"sipp muted: %v", lazy(func() string { return hears(nil, []float64{1700, 440, 1000}) }))
	heard := ours.heardSamples()
	require.Eventually(t, func() bool { return ours.heardSamples() > heard+2*ours.rate }, 20*time.Second, 20*time.Millisecond,
		"two seconds more, muted")
	require.NoError(t, client.Delete(ctx, "calls/"+confID))
	require.Eventually(t, func() bool { _, ok := r.bridge.Call(confID); return !ok }, 30*time.Second, 20*time.Millisecond,
		"the conference's outputs end")

	// The recording: all three tones, and none of sipp's at the end; the picture runs.
	mp4s, err := filepath.Glob(filepath.Join(r.rec, "spaces", space, "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1)
	pcm, err := peer.DecodeAudio(t, mp4s[0], 16000, 1)
	require.NoError(t, err)
	require.Greater(t, len(pcm), 16000*4, "the recording's audio")
	all := tones(pcm, 16000, 440, 1000, 1700)
	for i, f := range []float64{440, 1000, 1700} {
		require.Greater(t, all[i], -40.0, "%.0f Hz in the recording: %.1f", f, all)
	}
	end := tones(pcm[len(pcm)-16000:], 16000, 440, 1700)
	require.Less(t, end[0], -50.0, "sipp muted: no 440 Hz at the recording's end: %.1f", end)
	require.Greater(t, end[1], -40.0, "our callee still at the end: %.1f", end)
	flvs := ng.Recordings()
	require.NotEmpty(t, flvs)
	for _, file := range []string{mp4s[0], flvs[len(flvs)-1]} {
		pics := pictures(t, file)
		var changes []picture
		for i, p := range pics {
			if i == 0 || p.size != pics[i-1].size {
				changes = append(changes, p)
			}
		}
		var seq []string
		for _, c := range changes {
			seq = append(seq, c.size)
		}
		require.Contains(t, strings.Join(seq, " "), "640x360 320x240 640x360", "%s: the picture follows the speaker", file)
		for i, c := range changes {
			require.True(t, c.key, "%s: %s starts on a keyframe at %.2f s", file, c.size, c.at)
			if i > 0 {
				require.GreaterOrEqual(t, c.at-changes[i-1].at, 1.5, "%s: no switch sooner than the hold-off: %+v", file, changes)
			}
		}
	}

	// baresip heard ours and sipp's, not its own (its decoded audio, 48 kHz stereo).
	decs, err := filepath.Glob(filepath.Join(snd, "*dec*.wav"))
	require.NoError(t, err)
	require.NotEmpty(t, decs, "sndfile kept baresip's decoded audio: %s", tailLines(bob.Output(), 20))
	bx, err := peer.DecodeAudio(t, decs[0], 16000, 1)
	require.NoError(t, err)
	bl := tones(bx, 16000, 440, 1700, 1000)
	require.Greater(t, bl[0], -46.0, "baresip hears sipp: %.1f", bl)
	require.Greater(t, bl[1], -46.0, "baresip hears our callee: %.1f", bl)
	require.Less(t, bl[2], -50.0, "baresip does not hear itself: %.1f", bl)
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
