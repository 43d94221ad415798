package conference_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/sip"
)

var reCrypto = regexp.MustCompile(`a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)`)

func srtpContext(t *testing.T, keySalt []byte) *srtp.Context {
	c, err := srtp.CreateContext(keySalt[:16], keySalt[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	require.NoError(t, err)
	return c
}

// An encrypted Call Bridge-shaped call, with only Go: the caller offers RTP/SAVP audio
// and video with SDES keys (AES_CM_128_HMAC_SHA1_80) and rtcp-mux, and sends the clip
// as SRTP. The Bridge answers with its own keys and rtcp-mux, decrypts every frame and
// streams them; its RTCP comes back encrypted, on the RTP port.
func TestEncryptedCallWithRTCPMux(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, events := goRTMP(t)
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: url("encrypted")})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ourKey := make([]byte, 30)
	_, _ = rand.Read(ourKey)
	line := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(ourKey) + "\r\na=rtcp-mux\r\n"
	call, conn, sender := dialBridgeWith(ctx, t, b, clip, dialOpts{video: true, audio: true, edit: func(offer string) string {
		offer = strings.ReplaceAll(offer, "RTP/AVP", "RTP/SAVP")
		return strings.ReplaceAll(offer, "a=sendonly\r\n", "a=sendonly\r\n"+line)
	}})
	answer := string(call.Answer)
	require.Equal(t, 2, strings.Count(answer, "RTP/SAVP"), "both m-lines accepted encrypted:\n%s", answer)
	require.Equal(t, 2, strings.Count(answer, "a=rtcp-mux"), answer)
	keys := reCrypto.FindAllStringSubmatch(answer, -1)
	require.Len(t, keys, 2, answer)

	enc := srtpContext(t, ourKey)
	sender.Output = func(st *rtpsend.Stream, packet []byte) error {
		out, err := enc.EncryptRTP(nil, packet, nil)
		if err != nil {
			return err
		}
		_, err = conn.WriteToUDP(out, st.RTP)
		return err
	}
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), 0, 0, nil))

	// The Bridge's receiver reports come to our RTP port, as SRTCP under its key.
	theirKey, err := base64.StdEncoding.DecodeString(keys[0][1])
	require.NoError(t, err)
	dec := srtpContext(t, theirKey)
	buf := make([]byte, 1500)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	gotRR := false
	for !gotRR {
		n, from, err := conn.ReadFromUDP(buf)
		require.NoError(t, err, "no RTCP from the Bridge on the RTP port")
		require.True(t, strings.Contains(answer, " "+strconv.Itoa(from.Port)+" RTP/SAVP"), "RTCP from port %d, not an RTP port of the answer", from.Port)
		plain, err := dec.DecryptRTCP(nil, buf[:n], nil)
		if err != nil {
			continue // the other m-line's key
		}
		pkts, err := rtcp.Unmarshal(plain)
		require.NoError(t, err)
		for _, p := range pkts {
			if _, ok := p.(*rtcp.ReceiverReport); ok {
				gotRR = true
			}
		}
	}

	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].VideoFrames == uint64(clip.VideoFrames) && c[0].AudioFrames == uint64(clip.AudioFrames)
	}, 10*time.Second, 10*time.Millisecond, "every frame decrypted: %+v", b.Calls())
	published := false
	for !published {
		select {
		case e := <-events:
			published = e.Publish && e.Start
		case <-ctx.Done():
			t.Fatal("nothing was streamed")
		}
	}
	require.NoError(t, call.Hangup(ctx))
}
