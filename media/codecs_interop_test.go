package media_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
)

// encodeAudio makes a small file of the clip's audio in a telephony codec with ffmpeg.
func encodeAudio(t *testing.T, ffmpeg, name string, args ...string) string {
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(ffmpeg, append(append([]string{"-hide_banner", "-loglevel", "error", "-i",
		filepath.Join(testmedia.Dir(), "audio.flv")}, args...), out)...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return out
}

// receive runs a session with one track while ffmpeg sends input (with -c copy) as RTP.
func receive(t *testing.T, ffmpeg, input string, cfg media.TrackConfig) []media.Frame {
	var log frameLog
	s, err := media.NewSession(media.WithLocalIP([]byte{127, 0, 0, 1}), media.WithFrames(log.add))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTrack(cfg))
	s.Start()
	rtpPort, rtcpPort := s.LocalPorts()
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", input, "-c:a", "copy",
		"-f", "rtp", "-payload_type", fmt.Sprint(cfg.PayloadType), fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", rtpPort, rtcpPort))
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	// Frames come out as the jitter buffer releases them; wait until the stream is quiet.
	last := -1
	for len(log.get()) != last {
		last = len(log.get())
		time.Sleep(300 * time.Millisecond) // polling for the tail, bounded by the stream's end
	}
	return log.get()
}

// packetHashes returns the MD5 of each packet of a file, as ffprobe reads them.
func packetHashes(t *testing.T, file string) []string {
	ffprobe := peer.Require(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-show_packets", "-show_data_hash", "MD5",
		"-show_entries", "packet=data_hash", "-of", "csv=p=0", file).Output()
	require.NoError(t, err)
	var hashes []string
	for _, field := range strings.FieldsFunc(string(out), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		// Lines may carry side data (Opus "Skip Samples,312,..."); keep the hashes.
		if h, ok := strings.CutPrefix(field, "MD5:"); ok {
			hashes = append(hashes, h)
		}
	}
	return hashes
}

func TestInteropSessionOpus(t *testing.T) {
	peer.Serialize(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	file := encodeAudio(t, ffmpeg, "a.ogg", "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20")
	frames := receive(t, ffmpeg, file, media.TrackConfig{PayloadType: 111, Encoding: media.EncodingOpus, ClockRate: 48000})
	want := packetHashes(t, file)
	var got []string
	for _, f := range frames {
		sum := md5.Sum(f.Data)
		got = append(got, hex.EncodeToString(sum[:]))
	}
	require.Equal(t, len(want), len(frames), "Opus packets")
	for i, f := range frames {
		require.Equal(t, want[i], got[i], "packet %d", i)
		require.Equal(t, media.CodecOpus, f.Codec)
		// 20 ms apart, once on the Sender Report clock (the switch from arrival time may
		// step once in the first frames).
		if i > 10 {
			require.InDelta(t, 0.020, (f.PTS - frames[i-1].PTS).Seconds(), 0.0005, "frame %d", i)
		}
	}
}

// PCM-like codecs are cut into packets by ffmpeg's own packet size: the bytes must match.
func TestInteropSessionG711AndG722(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	for _, c := range []struct {
		name, file string
		args       []string
		cfg        media.TrackConfig
		codec      media.Codec
	}{
		{"PCMU", "a.ul", []string{"-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw", "-f", "mulaw"},
			media.TrackConfig{PayloadType: 0, Encoding: media.EncodingPCMU, ClockRate: 8000}, media.CodecPCMU},
		{"PCMA", "a.al", []string{"-ar", "8000", "-ac", "1", "-c:a", "pcm_alaw", "-f", "alaw"},
			media.TrackConfig{PayloadType: 8, Encoding: media.EncodingPCMA, ClockRate: 8000}, media.CodecPCMA},
		{"G722", "a.g722", []string{"-ar", "16000", "-ac", "1", "-c:a", "g722", "-f", "g722"},
			media.TrackConfig{PayloadType: 9, Encoding: media.EncodingG722, ClockRate: 8000}, media.CodecG722},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := encodeAudio(t, ffmpeg, c.file, c.args...)
			want, err := os.ReadFile(file)
			require.NoError(t, err)
			frames := receive(t, ffmpeg, file, c.cfg)
			var got []byte
			for _, f := range frames {
				require.Equal(t, c.codec, f.Codec)
				got = append(got, f.Data...)
			}
			require.True(t, bytes.Equal(want, got), "%s: %d bytes sent, %d received", c.name, len(want), len(got))
		})
	}
}
