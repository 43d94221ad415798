package h264

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// NALUType is the nal_unit_type of an H.264 NAL unit header (ITU-T H.264 Table 7-1).
type NALUType uint8

// NAL unit types used by sipcast.
const (
	NALUTypeNonIDR NALUType = 1
	NALUTypeIDR    NALUType = 5
	NALUTypeSEI    NALUType = 6
	NALUTypeSPS    NALUType = 7
	NALUTypePPS    NALUType = 8
	NALUTypeAUD    NALUType = 9
)

// TypeOf returns the type of a NAL unit; it returns 0 for an empty slice.
func TypeOf(nalu []byte) NALUType {
	if len(nalu) == 0 {
		return 0
	}
	return NALUType(nalu[0] & 0x1f)
}

// ErrAVCCTruncated is returned when an AVCC length prefix points past the end of the data.
var ErrAVCCTruncated = errors.New("h264: AVCC NAL unit length exceeds the data")

// NextAVCC splits the first NAL unit off AVCC data (4-byte big-endian length prefixes).
// It does not copy: nalu and rest alias b.
func NextAVCC(b []byte) (nalu, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: %d bytes left for a 4-byte length", ErrAVCCTruncated, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("%w: length %d, %d bytes left", ErrAVCCTruncated, n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

// IsNonReference reports whether every slice of an AVCC access unit has nal_ref_idc 0,
// meaning no other picture references it and dropping it does not disturb decoding.
// It returns false for malformed data.
func IsNonReference(avcc []byte) bool {
	slices := 0
	for len(avcc) > 0 {
		nalu, rest, err := NextAVCC(avcc)
		if err != nil {
			return false
		}
		avcc = rest
		t := TypeOf(nalu)
		if t >= NALUTypeNonIDR && t <= NALUTypeIDR {
			if nalu[0]&0x60 != 0 {
				return false
			}
			slices++
		}
	}
	return slices > 0
}

// HasSlice reports whether an AVCC access unit holds a coded slice (NAL unit types 1 to
// 5): what is left of a picture whose slices were all lost (its parameter sets, an SEI)
// holds none and is no picture. It returns false for malformed data.
func HasSlice(avcc []byte) bool {
	for len(avcc) > 0 {
		nalu, rest, err := NextAVCC(avcc)
		if err != nil {
			return false
		}
		avcc = rest
		if t := TypeOf(nalu); t >= NALUTypeNonIDR && t <= NALUTypeIDR {
			return true
		}
	}
	return false
}

// ParamSets returns the first SPS and PPS found in an AVCC access unit, aliasing avcc.
func ParamSets(avcc []byte) (sps, pps []byte) {
	for len(avcc) > 0 {
		nalu, rest, err := NextAVCC(avcc)
		if err != nil {
			return sps, pps
		}
		avcc = rest
		switch TypeOf(nalu) {
		case NALUTypeSPS:
			if sps == nil {
				sps = nalu
			}
		case NALUTypePPS:
			if pps == nil {
				pps = nalu
			}
		}
	}
	return sps, pps
}

// AppendAVCC appends nalu to dst with a 4-byte length prefix.
func AppendAVCC(dst, nalu []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(nalu)))
	return append(dst, nalu...)
}
