package sdp

import (
	"bytes"
	"net"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
)

// callBridgeOffer is shaped like the Cisco Meeting Server Call Bridge's INVITE to a
// streamer: AAC-LATM and other audio, H.264 in two packetization modes with feedback,
// presentation video, BFCP, H.224 and the UDP/UDT/IX application line.
const callBridgeOffer = `v=0
o=- 1 1 IN IP4 10.106.81.10
s=-
c=IN IP4 10.106.81.10
b=AS:4064
t=0 0
m=audio 50000 RTP/AVP 96 97 9 0 101
b=AS:128
a=rtpmap:96 MP4A-LATM/90000
a=fmtp:96 profile-level-id=24;object=23;bitrate=64000
a=rtpmap:97 mpeg4-generic/48000
a=fmtp:97 profile-level-id=16;streamtype=5;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3
a=rtpmap:101 telephone-event/90000
a=fmtp:101 0-15
a=sendrecv
m=video 50002 RTP/AVP 98 99
b=AS:3936
a=rtpmap:98 H264/90000
a=fmtp:98 profile-level-id=42e016;packetization-mode=1;max-mbps=245760;max-fs=8160
a=rtpmap:99 H264/90000
a=fmtp:99 profile-level-id=42e016;packetization-mode=0
a=rtcp-fb:* nack pli
a=rtcp-fb:* ccm fir
a=content:main
a=sendrecv
m=video 50004 RTP/AVP 98
a=rtpmap:98 H264/90000
a=fmtp:98 profile-level-id=42e016;packetization-mode=1
a=content:slides
a=sendrecv
m=application 50006 UDP/BFCP *
a=floorctrl:c-s
m=application 50008 RTP/AVP 107
a=rtpmap:107 H224/4800
m=application 50010 UDP/UDT/IX *
`

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func ports(kind string, i int) (int, int) {
	if kind == "audio" {
		return 40000 + 2*i, 40001 + 2*i
	}
	return 42000 + 2*i, 42001 + 2*i
}

func TestAnswerCallBridgeOffer(t *testing.T) {
	ans, res, err := Answer(crlf(callBridgeOffer), Config{Address: net.IPv4(10, 0, 0, 5), Ports: ports, Resolution: Resolution720p})
	require.NoError(t, err)
	var sd psdp.SessionDescription
	require.NoError(t, sd.Unmarshal(ans), "the answer parses:\n%s", ans)
	require.Len(t, sd.MediaDescriptions, 6, "one answer m-line per offered m-line, in order")

	audio := res[0]
	require.True(t, audio.Accepted)
	require.Equal(t, "MP4A-LATM", audio.Codec)
	require.EqualValues(t, 96, audio.PayloadType)
	require.EqualValues(t, 101, audio.DTMFPayloadType, "telephone-event at the audio clock rate is kept")
	require.Equal(t, "recvonly", audio.Direction)
	require.Equal(t, "10.106.81.10:50000", audio.RemoteRTP.String())
	require.Equal(t, "10.106.81.10:50001", audio.RemoteRTCP.String())
	require.Equal(t, 128, audio.BandwidthAS)

	video := res[1]
	require.True(t, video.Accepted)
	require.EqualValues(t, 98, video.PayloadType, "mode 1 is preferred in offer order")
	require.True(t, video.NACK || video.PLI)
	require.True(t, video.PLI)
	require.True(t, video.FIR)
	vmd := sd.MediaDescriptions[1]
	require.Equal(t, 42000, vmd.MediaName.Port.Value)
	fmtp, _ := vmd.Attribute("fmtp")
	require.Contains(t, fmtp, "max-fs=3600", "720p limit")

	for i, reason := range map[int]string{2: "one video stream", 3: "not handled", 4: "not handled", 5: "not handled"} {
		require.False(t, res[i].Accepted, "m-line %d", i)
		require.Contains(t, res[i].Reason, reason)
		require.Equal(t, 0, sd.MediaDescriptions[i].MediaName.Port.Value, "m-line %d answered with port 0", i)
	}
	require.Equal(t, []string{"UDP", "UDT", "IX"}, sd.MediaDescriptions[5].MediaName.Protos)

	tc := video.TrackConfig()
	require.Equal(t, media.EncodingH264, tc.Encoding)
	require.True(t, tc.PLI)
}

func TestAnswerAudioOnlyAndStatic(t *testing.T) {
	offer := "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
		"m=audio 4000 RTP/AVP 0 8\na=sendonly\nm=video 4002 RTP/AVP 98\na=rtpmap:98 H264/90000\n"
	_, res, err := Answer(crlf(offer), Config{Ports: ports, Resolution: ResolutionAudioOnly})
	require.NoError(t, err)
	require.True(t, res[0].Accepted)
	require.Equal(t, "PCMU", res[0].Codec, "static payload type without rtpmap")
	require.Equal(t, "recvonly", res[0].Direction)
	require.False(t, res[1].Accepted)
	require.Equal(t, "audio-only", res[1].Reason)
}

func TestAnswerSRTPAndMux(t *testing.T) {
	offer := "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
		"m=audio 4000 RTP/SAVP 0\na=rtcp-mux\n" +
		"a=crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA\n" +
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\n"
	_, _, err := Answer(crlf(offer), Config{Ports: ports})
	require.ErrorIs(t, err, ErrNoCommonMedia, "SRTP not enabled")
	ans, res, err := Answer(crlf(offer), Config{Ports: ports, SRTP: true, RTCPMux: true})
	require.NoError(t, err)
	require.NotNil(t, res[0].Crypto)
	require.Equal(t, "AES_CM_128_HMAC_SHA1_80", res[0].Crypto.Suite)
	require.True(t, strings.HasPrefix(res[0].Crypto.RemoteKey, "inline:d0Rm"))
	require.True(t, res[0].RTCPMux)
	require.Equal(t, 4000, res[0].RemoteRTCP.Port)
	require.Contains(t, string(ans), "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:")
	require.NotContains(t, string(ans), "d0RmdmcmVCspeEc3", "our key, not theirs")
}

func TestAnswerRejectsBadInput(t *testing.T) {
	_, _, err := Answer([]byte("not sdp"), Config{})
	require.ErrorIs(t, err, ErrMalformedOffer)
	_, _, err = Answer(bytes.Repeat([]byte("a"), MaxOfferSize+1), Config{})
	require.ErrorIs(t, err, ErrMalformedOffer)
	offer := "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 4002 RTP/AVP 98\na=rtpmap:98 H264/90000\na=fmtp:98 packetization-mode=2\n"
	_, res, err := Answer(crlf(offer), Config{})
	require.ErrorIs(t, err, ErrNoCommonMedia, "interleaved mode 2 is not supported")
	require.Equal(t, "no acceptable codec", res[0].Reason)
}

func FuzzAnswer(f *testing.F) {
	f.Add(crlf(callBridgeOffer))
	f.Add(crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		ans, res, err := Answer(b, Config{Ports: ports, SRTP: true, RTCPMux: true, Resolution: Resolution1080p})
		require.Equal(t, in, b)
		if err != nil {
			return
		}
		var sd psdp.SessionDescription
		require.NoError(t, sd.Unmarshal(ans), "every answer parses")
		require.Equal(t, len(res), len(sd.MediaDescriptions))
	})
}

// RFC 6464 audio levels: the first acceptable a=extmap of the audio m-line is answered
// and named in the result (and its TrackConfig); two-byte ids (15 and up), a recvonly
// extension and other extensions are not; a video m-line's is not either.
func TestAnswerAudioLevelExtension(t *testing.T) {
	for _, tc := range []struct {
		lines string
		id    uint8
	}{
		{"a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\n", 3},
		{"a=extmap:2/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level\n", 2},
		{"a=extmap:15 urn:ietf:params:rtp-hdrext:ssrc-audio-level\na=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n", 4},
		{"a=extmap:5/recvonly urn:ietf:params:rtp-hdrext:ssrc-audio-level\n", 0},
		{"a=extmap:1 urn:ietf:params:rtp-hdrext:toffset\n", 0},
		{"a=extmap:x urn:ietf:params:rtp-hdrext:ssrc-audio-level\n", 0},
		{"", 0},
	} {
		offer := "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
			"m=audio 4000 RTP/AVP 0\na=sendrecv\n" + tc.lines +
			"m=video 4002 RTP/AVP 98\na=rtpmap:98 H264/90000\na=extmap:6 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
		ans, res, err := Answer(crlf(offer), Config{Ports: ports})
		require.NoError(t, err, tc.lines)
		require.Equal(t, tc.id, res[0].AudioLevelID, tc.lines)
		require.Equal(t, tc.id, res[0].TrackConfig().AudioLevelID, tc.lines)
		require.Zero(t, res[1].AudioLevelID, "video")
		n := strings.Count(string(ans), "extmap")
		if tc.id == 0 {
			require.Zero(t, n, "%s\n%s", tc.lines, ans)
		} else {
			require.Equal(t, 1, n, "%s", ans)
			require.Contains(t, string(ans), "a=extmap:"+string(rune('0'+tc.id))+" "+AudioLevelURI)
		}
	}
}
