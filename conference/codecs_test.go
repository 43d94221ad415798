package conference_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/mixer/opusdec"
	"github.com/sipcast/sipcast/sip/sdp"
)

// A caller offering Opus, G.722 and PCMU gets Opus only from a build that decodes it,
// and G.722 otherwise: its audio is heard either way. AAC stays first.
func TestAudioCodecPreference(t *testing.T) {
	offer := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 111 9 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n")
	cfg := sdp.Config{Address: net.IPv4(127, 0, 0, 1), Audio: conference.AudioCodecs(), Ports: func(string, int) (int, int) { return 50000, 50001 }}
	_, ms, err := sdp.Answer(offer, cfg)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	want := "G722"
	if opusdec.Available {
		want = "opus"
	}
	require.Equal(t, want, ms[0].Codec)
	require.Equal(t, "MP4A-LATM", conference.AudioCodecs()[0].Name)
}
