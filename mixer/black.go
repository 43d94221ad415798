package mixer

import (
	"bytes"
	_ "embed"
	"errors"
)

// black.264 is two seconds of a black 320x240 picture at 5 fps, H.264 Constrained
// Baseline level 1.3 (one IDR with its SPS and PPS, then nine P frames that skip every
// macroblock), Annex B. Made with ffmpeg 5.1 (libx264):
//
//	ffmpeg -f lavfi -i color=black:s=320x240:r=5 -t 2 -c:v libx264 -preset veryslow \
//	  -profile:v baseline -level 1.3 -g 10 -keyint_min 10 -sc_threshold 0 -bf 0 \
//	  -x264-params slice-max-size=1000:repeat-headers=1 -pix_fmt yuv420p -f h264 black.264
//
//go:embed black.264
var black264 []byte

// BlackFrameRate is the frames per second a BlackVideo makes.
const BlackFrameRate = 5

// BlackVideo makes H.264 black pictures, 320x240 at 5 fps, looping every two seconds
// (each loop starts with an IDR picture and its parameter sets): the video a relay
// sends a callee that would otherwise receive none. Every NAL unit fits a single RTP
// packet. Not safe for concurrent use.
type BlackVideo struct {
	units [][][]byte // access units: their NAL units (SEI left out)
	next  int
}

// NewBlackVideo returns a BlackVideo at its first picture.
func NewBlackVideo() (*BlackVideo, error) {
	var nalus [][]byte
	for _, n := range bytes.Split(black264, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		if len(n) > 0 {
			nalus = append(nalus, n)
		}
	}
	v := &BlackVideo{}
	var au [][]byte
	for _, n := range nalus {
		switch t := n[0] & 0x1f; t {
		case 6: // SEI: x264's settings, nothing a decoder needs
		case 1, 5:
			v.units = append(v.units, append(au, n))
			au = nil
		default:
			au = append(au, n)
		}
	}
	if len(v.units) == 0 || v.units[0][len(v.units[0])-1][0]&0x1f != 5 {
		return nil, errors.New("mixer: the black video does not start with an IDR picture")
	}
	return v, nil
}

// Next returns the next picture's NAL units (valid until the picture after it) and the
// RTP timestamp step to it (90 kHz).
func (v *BlackVideo) Next() (nalus [][]byte, step uint32) {
	au := v.units[v.next]
	v.next = (v.next + 1) % len(v.units)
	return au, 90000 / BlackFrameRate
}
