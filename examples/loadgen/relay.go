package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	psdp "github.com/pion/sdp/v3"

	"github.com/sipcast/sipcast/sip"
)

// measureRelay measures examples/relay placing n calls to a callee that answers as a
// phone with PCMU and H.264 (the clip, padded) and sends the schedule: sipp playing
// captures of it (o.callee "sipp"), or loadgen's own UA and senders ("loadgen"). The
// relay transcodes the audio to AAC and streams each call to the sink. It returns the relay
// process's CPU per stream-second over o.duration.
func measureRelay(ctx context.Context, o options, sched *schedule_, sink *sink, n int, out io.Writer) (result, error) {
	var r result
	bin := o.relay
	if bin == "" || bin == "build" {
		bin = filepath.Join(os.TempDir(), fmt.Sprintf("loadgen-relay-%d", rand.Uint32()))
		defer os.Remove(bin)
		if err := goBuild(ctx, bin, "relay"); err != nil {
			return r, err
		}
	}
	var logs syncBuffer
	var calleePort int
	var calls []*call
	answered := make(chan struct{}, n)
	var conn *net.UDPConn
	if o.callee == "sipp" {
		port, err := freeUDPPort()
		if err != nil {
			return r, err
		}
		dir, err := os.MkdirTemp("", "loadgen-sipp")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(dir)
		// The captures last the measured window, the loop before it and a margin for the
		// calls' setup.
		// A sipp that exits answers nothing more: waitPublishing says so, with its log.
		_, stopSipp, err := startSippCallee(ctx, sched, dir, port, o.duration+sched.length+15*time.Second, &logs)
		if err != nil {
			return r, err
		}
		defer stopSipp()
		calleePort = port
	} else {
		ua, c, err := loadgenCallee(sched, n, answered, &calls)
		if err != nil {
			return r, err
		}
		defer ua.Close()
		defer c.Close()
		conn = c
		calleePort = ua.UDPAddr().(*net.UDPAddr).Port
	}
	httpAddr, err := freeTCPAddr()
	if err != nil {
		return r, err
	}
	sipPort, err := freeUDPPort()
	if err != nil {
		return r, err
	}
	var keyBytes [16]byte
	_, _ = crand.Read(keyBytes[:])
	key := hex.EncodeToString(keyBytes[:])
	cmd := exec.CommandContext(ctx, bin, "-http", httpAddr, "-sip-udp", fmt.Sprintf("127.0.0.1:%d", sipPort), "-media-ip", "127.0.0.1",
		"-rtmp-hosts", "127.0.0.1", "-sip-domains", "127.0.0.1", "-max-calls", strconv.Itoa(n+10), "-log-level", "warn")
	cmd.Env = append(os.Environ(), "SIPCAST_RELAY_KEY="+key)
	cmd.Stderr = &logs
	exited, stopProc, err := start(cmd, 20*time.Second)
	if err != nil {
		return r, err
	}
	defer stopProc()
	post := func(path string, body any) error {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/rest-api/call/"+path, bytes.NewReader(b))
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d %s", path, res.StatusCode, msg)
		}
		return nil
	}
	prefix := fmt.Sprintf("relay%d", rand.Uint32())
	base := sink.url("")
	base = base[:len(base)-1] // rtmp://host/live
	for i := range n {
		body := map[string]any{"callId": fmt.Sprintf("%s-%d", prefix, i), "callee": "load", "sipDomain": "127.0.0.1", "sipPort": calleePort,
			"rtmpUrl": base, "rtmpStream": fmt.Sprintf("%s-%d", prefix, i)}
		for attempt := 0; ; attempt++ { // the relay may still be starting
			if err = post("startup", body); err == nil || attempt == 50 || ctx.Err() != nil {
				break
			}
			select {
			case <-exited:
				return r, fmt.Errorf("the relay exited:\n%s", tail(logs.String(), 20))
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err != nil {
			return r, err
		}
	}
	if o.callee != "sipp" {
		for range n {
			select {
			case <-answered:
			case <-time.After(30 * time.Second):
				return r, fmt.Errorf("not every call arrived:\n%s", tail(logs.String(), 20))
			case <-ctx.Done():
				return r, ctx.Err()
			}
		}
		defer startSending(ctx, conn, sched, calls, o.senders)()
	}
	if err := waitPublishing(ctx, sink, prefix, n, exited, &logs); err != nil {
		return r, err
	}
	o.memProfile = "" // the relay writes no heap profile (and SIGUSR1 would end it)
	r, err = measureProcess(ctx, cmd.Process.Pid, o, sched, sink, prefix, n, "", out)
	if err != nil {
		return r, err
	}
	for i := range n {
		_ = post("terminate", map[string]string{"callId": fmt.Sprintf("%s-%d", prefix, i)})
	}
	return r, nil
}

// loadgenCallee is loadgen's own callee: a UA that answers each call with PCMU and
// H.264 from one socket, appending the call to *calls (for startSending) and telling
// answered.
func loadgenCallee(sched *schedule_, n int, answered chan<- struct{}, calls *[]*call) (*sip.UA, *net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetWriteBuffer(4 << 20)
	local := conn.LocalAddr().(*net.UDPAddr)
	answer := []byte(fmt.Sprintf("v=0\r\no=loadgen 1 1 IN IP4 127.0.0.1\r\ns=loadgen\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"+
		"m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=%s,%s\r\na=sendonly\r\n",
		local.Port, local.Port, base64.StdEncoding.EncodeToString(sched.sps), base64.StdEncoding.EncodeToString(sched.pps)))
	var mu sync.Mutex
	ua, err := sip.New(sip.WithUDP("127.0.0.1:0"), sip.WithUserAgentName("sipcast loadgen callee"), sip.WithCallLimit(n+10),
		sip.WithInviteHandler(func(c *sip.Call) ([]byte, error) {
			cl, err := callFromOffer(c.Offer)
			if err != nil {
				return nil, &sip.StatusError{Code: 488, Reason: "Not Acceptable Here"}
			}
			mu.Lock()
			cl.offset = time.Duration(len(*calls)) * sched.length / time.Duration(n)
			*calls = append(*calls, cl)
			mu.Unlock()
			answered <- struct{}{}
			return answer, nil
		}))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return ua, conn, nil
}

// callFromOffer is the sending state of a call whose offer is the relay's: where its
// audio and video go.
func callFromOffer(offer []byte) (*call, error) {
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		return nil, err
	}
	host := ""
	if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		host = sd.ConnectionInformation.Address.Address
	}
	c := &call{vssrc: rand.Uint32(), assrc: rand.Uint32(), vseq: uint16(rand.Uint32()), aseq: uint16(rand.Uint32()),
		vbase: rand.Uint32(), abase: rand.Uint32()}
	for _, md := range sd.MediaDescriptions {
		ip := net.ParseIP(host)
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			ip = net.ParseIP(md.ConnectionInformation.Address.Address)
		}
		if ip == nil || md.MediaName.Port.Value == 0 {
			continue
		}
		rtp := &net.UDPAddr{IP: ip, Port: md.MediaName.Port.Value}
		rtcp := &net.UDPAddr{IP: ip, Port: rtp.Port + 1}
		switch md.MediaName.Media {
		case "audio":
			c.audio, c.artcp = rtp, rtcp
		case "video":
			c.video, c.vrtcp = rtp, rtcp
		}
	}
	if c.audio == nil || c.video == nil {
		return nil, fmt.Errorf("loadgen: the offer has no audio or no video")
	}
	return c, nil
}
