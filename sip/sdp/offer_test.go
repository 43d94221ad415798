package sdp

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func offerConfig() Config {
	return Config{Address: net.IPv4(192, 0, 2, 7), Resolution: Resolution720p,
		Ports: func(kind string, i int) (int, int) {
			if kind == "audio" {
				return 40000, 40001
			}
			return 40002, 40003
		}}
}

func TestOfferAndNegotiate(t *testing.T) {
	offer, err := Offer(offerConfig())
	require.NoError(t, err)
	s := string(offer)
	require.Contains(t, s, "m=audio 40000 RTP/AVP 111 9 0 8 101")
	require.Contains(t, s, "m=video 40002 RTP/AVP 96 97")
	require.Contains(t, s, "a=fmtp:97 profile-level-id=42e01f;packetization-mode=0;level-asymmetry-allowed=1;max-fs=3600")
	require.Contains(t, s, "a=rtcp-fb:96 nack pli")
	require.Equal(t, 2, strings.Count(s, "a=recvonly"))

	// A softphone's answer: PCMU with DTMF, H.264 mode 0, sending only.
	answer := "v=0\r\no=- 5 5 IN IP4 198.51.100.9\r\ns=-\r\nc=IN IP4 198.51.100.9\r\nt=0 0\r\n" +
		"m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n" +
		"m=video 5006 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=0\r\na=rtcp-fb:97 nack pli\r\na=sendonly\r\n"
	media, err := Negotiate([]byte(answer), offerConfig())
	require.NoError(t, err)
	require.Len(t, media, 2)
	require.True(t, media[0].Accepted)
	require.Equal(t, "PCMU", media[0].Codec)
	require.EqualValues(t, 101, media[0].DTMFPayloadType)
	require.Equal(t, "198.51.100.9:5004", media[0].RemoteRTP.String())
	require.True(t, media[1].Accepted)
	require.EqualValues(t, 97, media[1].PayloadType)
	require.True(t, media[1].PLI)
	require.Equal(t, "recvonly", media[1].Direction)

	_, err = Offer(Config{})
	require.Error(t, err)
	cfg := offerConfig()
	cfg.Resolution = ResolutionAudioOnly
	offer, err = Offer(cfg)
	require.NoError(t, err)
	require.NotContains(t, string(offer), "m=video")
}

// Our offers name RFC 6464 levels (a=extmap:1); a callee's answer that keeps them makes
// the negotiated audio carry them.
func TestOfferAudioLevels(t *testing.T) {
	offer, err := Offer(offerConfig())
	require.NoError(t, err)
	require.Contains(t, string(offer), "a=extmap:1 "+AudioLevelURI)
	answer := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=extmap:1 " + AudioLevelURI + "\r\na=sendrecv\r\n"
	ms, err := Negotiate([]byte(answer), offerConfig())
	require.NoError(t, err)
	require.Equal(t, uint8(1), ms[0].AudioLevelID)
}
