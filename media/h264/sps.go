package h264

import (
	"errors"
	"fmt"
)

// MaxSPSSize bounds the SPS sizes ParseSPS accepts; real ones are tens of bytes.
const MaxSPSSize = 1024

// ErrNotSPS is returned by ParseSPS for a NAL unit that is not a sequence parameter set.
var ErrNotSPS = errors.New("h264: not an SPS NAL unit")

// SPS holds the sequence parameter set fields sipcast uses (ITU-T H.264 §7.3.2.1.1).
type SPS struct {
	ProfileIdc      uint8
	ConstraintFlags uint8
	LevelIdc        uint8
	// Width and Height are the cropped picture size in pixels.
	Width, Height int
	// MaxNumReorderFrames is how many frames may precede a frame in decoding order and
	// follow it in output order: 0 without B-frames. From the VUI bitstream restriction
	// when present; otherwise 0 for the Baseline profiles and -1 (unknown) for others.
	MaxNumReorderFrames int
	// TimeScale and NumUnitsInTick are the VUI timing information (0 when absent).
	TimeScale, NumUnitsInTick uint32
}

// ParseSPS parses an SPS NAL unit, header byte included.
func ParseSPS(nalu []byte) (SPS, error) {
	var s SPS
	if TypeOf(nalu) != NALUTypeSPS {
		return s, ErrNotSPS
	}
	if len(nalu) > MaxSPSSize {
		return s, fmt.Errorf("h264: SPS of %d bytes exceeds %d", len(nalu), MaxSPSSize)
	}
	var buf [MaxSPSSize]byte
	r := bitReader{b: unescapeRBSP(buf[:0], nalu[1:])}
	if len(r.b) < 3 {
		return s, fmt.Errorf("h264: SPS of %d bytes is too short", len(nalu))
	}
	s.ProfileIdc, s.ConstraintFlags, s.LevelIdc = r.b[0], r.b[1], r.b[2]
	r.pos = 24
	if err := s.parseRest(&r); err != nil {
		return s, fmt.Errorf("h264: SPS: %w", err)
	}
	return s, nil
}

func (s *SPS) parseRest(r *bitReader) error {
	if _, err := r.ue(); err != nil { // seq_parameter_set_id
		return err
	}
	chromaFormatIdc := uint32(1)
	separateColourPlane := uint32(0)
	switch s.ProfileIdc {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		var err error
		if chromaFormatIdc, err = r.ue(); err != nil {
			return err
		}
		if chromaFormatIdc > 3 {
			return fmt.Errorf("chroma_format_idc %d out of range", chromaFormatIdc)
		}
		if chromaFormatIdc == 3 {
			if separateColourPlane, err = r.bit(); err != nil {
				return err
			}
		}
		for i := 0; i < 2; i++ { // bit_depth_luma_minus8, bit_depth_chroma_minus8
			if _, err := r.ue(); err != nil {
				return err
			}
		}
		if _, err := r.bit(); err != nil { // qpprime_y_zero_transform_bypass_flag
			return err
		}
		present, err := r.bit()
		if err != nil {
			return err
		}
		if present == 1 {
			n := 8
			if chromaFormatIdc == 3 {
				n = 12
			}
			for i := 0; i < n; i++ {
				listPresent, err := r.bit()
				if err != nil {
					return err
				}
				if listPresent == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					if err := skipScalingList(r, size); err != nil {
						return err
					}
				}
			}
		}
	}
	if _, err := r.ue(); err != nil { // log2_max_frame_num_minus4
		return err
	}
	pocType, err := r.ue()
	if err != nil {
		return err
	}
	switch pocType {
	case 0:
		if _, err := r.ue(); err != nil {
			return err
		}
	case 1:
		if _, err := r.bit(); err != nil {
			return err
		}
		if _, err := r.se(); err != nil {
			return err
		}
		if _, err := r.se(); err != nil {
			return err
		}
		n, err := r.ue()
		if err != nil {
			return err
		}
		if n > 255 {
			return fmt.Errorf("num_ref_frames_in_pic_order_cnt_cycle %d out of range", n)
		}
		for i := uint32(0); i < n; i++ {
			if _, err := r.se(); err != nil {
				return err
			}
		}
	case 2:
	default:
		return fmt.Errorf("pic_order_cnt_type %d out of range", pocType)
	}
	if _, err := r.ue(); err != nil { // max_num_ref_frames
		return err
	}
	if _, err := r.bit(); err != nil { // gaps_in_frame_num_value_allowed_flag
		return err
	}
	wMbs, err := r.ue()
	if err != nil {
		return err
	}
	hMapUnits, err := r.ue()
	if err != nil {
		return err
	}
	frameMbsOnly, err := r.bit()
	if err != nil {
		return err
	}
	if frameMbsOnly == 0 {
		if _, err := r.bit(); err != nil { // mb_adaptive_frame_field_flag
			return err
		}
	}
	if _, err := r.bit(); err != nil { // direct_8x8_inference_flag
		return err
	}
	if wMbs > 1024 || hMapUnits > 1024 {
		return fmt.Errorf("picture of %dx%d macroblocks is too large", wMbs+1, hMapUnits+1)
	}
	width := int(wMbs+1) * 16
	height := int(2-frameMbsOnly) * int(hMapUnits+1) * 16
	cropping, err := r.bit()
	if err != nil {
		return err
	}
	if cropping == 1 {
		var c [4]uint32 // left, right, top, bottom
		for i := range c {
			if c[i], err = r.ue(); err != nil {
				return err
			}
		}
		cropX, cropY := 1, 2-int(frameMbsOnly)
		if separateColourPlane == 0 && chromaFormatIdc != 0 {
			subW, subH := 2, 2
			switch chromaFormatIdc {
			case 2:
				subH = 1
			case 3:
				subW, subH = 1, 1
			}
			cropX, cropY = subW, subH*(2-int(frameMbsOnly))
		}
		width -= cropX * int(c[0]+c[1])
		height -= cropY * int(c[2]+c[3])
		if width <= 0 || height <= 0 {
			return fmt.Errorf("cropping leaves an empty picture")
		}
	}
	s.Width, s.Height = width, height
	s.MaxNumReorderFrames = -1
	if s.ProfileIdc == 66 {
		s.MaxNumReorderFrames = 0
	}
	vui, err := r.bit()
	if err != nil || vui == 0 {
		return nil // the VUI is optional; what we have is enough
	}
	_ = s.parseVUI(r) // a truncated VUI leaves the defaults
	return nil
}

// parseVUI reads the VUI (H.264 Annex E.1.1) up to the bitstream restriction.
func (s *SPS) parseVUI(r *bitReader) error {
	flag := func() (bool, error) { b, err := r.bit(); return b == 1, err }
	if ar, err := flag(); err != nil {
		return err
	} else if ar {
		idc, err := r.bits(8)
		if err != nil {
			return err
		}
		if idc == 255 { // Extended_SAR
			if _, err := r.bits(32); err != nil {
				return err
			}
		}
	}
	if ov, err := flag(); err != nil {
		return err
	} else if ov {
		if _, err := r.bit(); err != nil {
			return err
		}
	}
	if vs, err := flag(); err != nil {
		return err
	} else if vs {
		if _, err := r.bits(4); err != nil { // video_format, video_full_range_flag
			return err
		}
		cd, err := flag()
		if err != nil {
			return err
		}
		if cd {
			if _, err := r.bits(24); err != nil {
				return err
			}
		}
	}
	if cl, err := flag(); err != nil {
		return err
	} else if cl {
		if _, err := r.ue(); err != nil {
			return err
		}
		if _, err := r.ue(); err != nil {
			return err
		}
	}
	if ti, err := flag(); err != nil {
		return err
	} else if ti {
		var err error
		if s.NumUnitsInTick, err = r.bits(32); err != nil {
			return err
		}
		if s.TimeScale, err = r.bits(32); err != nil {
			return err
		}
		if _, err := r.bit(); err != nil { // fixed_frame_rate_flag
			return err
		}
	}
	nal, err := flag()
	if err != nil {
		return err
	}
	if nal {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	vcl, err := flag()
	if err != nil {
		return err
	}
	if vcl {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	if nal || vcl {
		if _, err := r.bit(); err != nil { // low_delay_hrd_flag
			return err
		}
	}
	if _, err := r.bit(); err != nil { // pic_struct_present_flag
		return err
	}
	br, err := flag()
	if err != nil || !br {
		return err
	}
	if _, err := r.bit(); err != nil { // motion_vectors_over_pic_boundaries_flag
		return err
	}
	for i := 0; i < 4; i++ { // max_bytes_per_pic_denom .. log2_max_mv_length_vertical
		if _, err := r.ue(); err != nil {
			return err
		}
	}
	n, err := r.ue()
	if err != nil {
		return err
	}
	if n > 16 {
		return fmt.Errorf("max_num_reorder_frames %d out of range", n)
	}
	s.MaxNumReorderFrames = int(n)
	return nil
}

func skipHRD(r *bitReader) error {
	cnt, err := r.ue()
	if err != nil {
		return err
	}
	if cnt > 31 {
		return fmt.Errorf("cpb_cnt_minus1 %d out of range", cnt)
	}
	if _, err := r.bits(8); err != nil { // bit_rate_scale, cpb_size_scale
		return err
	}
	for i := uint32(0); i <= cnt; i++ {
		if _, err := r.ue(); err != nil {
			return err
		}
		if _, err := r.ue(); err != nil {
			return err
		}
		if _, err := r.bit(); err != nil {
			return err
		}
	}
	_, err = r.bits(20) // four 5-bit lengths
	return err
}

func skipScalingList(r *bitReader, size int) error {
	last, next := int32(8), int32(8)
	for j := 0; j < size; j++ {
		if next != 0 {
			delta, err := r.se()
			if err != nil {
				return err
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
	return nil
}
