package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BaresipOptions shape a baresip configuration.
type BaresipOptions struct {
	// Account is the accounts line's parameters after the address (default
	// "regint=0;audio_codecs=PCMU;video_codecs=H264").
	Account string
	// CA, when set, makes baresip trust it for TLS and present its 127.0.0.1 certificate
	// (it needs one of its own for requests we send it over TLS, such as our BYE).
	CA *CA
	// Modules are loaded in addition (e.g. "srtp.so" for SRTP).
	Modules []string
	// Listen, when set, is the UDP and TCP port baresip takes calls on (127.0.0.1).
	Listen int
	// Address is the account's address (default "sip:bs@127.0.0.1"); a registering
	// account names its registrar's port here.
	Address string
}

// BaresipConfig writes a baresip configuration (sine audio, generated video encoded by
// libx264, PCMU and H.264) into a temp dir and returns the dir. ausine only makes 48 kHz
// stereo, so the source runs at that rate and baresip resamples for PCMU; aubridge is a
// player that needs no sound card.
func BaresipConfig(t *testing.T, o BaresipOptions) string {
	dir := t.TempDir()
	cfg := `poll_method epoll
sip_listen 127.0.0.1:0
audio_source ausine,440
audio_player aubridge,nil
audio_alert aubridge,nil
video_source fakevideo,nil
video_size 320x240
video_bitrate 300000
video_fps 15
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module avcodec.so
module fakevideo.so
module_app account.so
module_app menu.so
avcodec_h264enc libx264
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
`
	for _, m := range o.Modules {
		cfg += "module " + m + "\n"
	}
	if o.Listen != 0 { // baresip takes the first sip_listen
		cfg = strings.Replace(cfg, "sip_listen 127.0.0.1:0\n", fmt.Sprintf("sip_listen 127.0.0.1:%d\n", o.Listen), 1)
	}
	if o.CA != nil {
		cert, err := os.ReadFile(o.CA.CertFile)
		require.NoError(t, err)
		key, err := os.ReadFile(o.CA.KeyFile)
		require.NoError(t, err)
		pem := filepath.Join(dir, "cert.pem")
		require.NoError(t, os.WriteFile(pem, append(cert, key...), 0o600))
		cfg += fmt.Sprintf("sip_cafile %s\nsip_certificate %s\nsip_listen 127.0.0.1:%d\n", o.CA.CAFile, pem, FreePort(t))
	}
	account := o.Account
	if account == "" {
		account = "regint=0;audio_codecs=PCMU;video_codecs=H264"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644))
	address := o.Address
	if address == "" {
		address = "sip:bs@127.0.0.1"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accounts"), []byte("<"+address+">;"+account+"\n"), 0o644))
	return dir
}
