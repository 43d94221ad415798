package aac

import "fmt"

// SamplesPerFrame is the number of samples per channel in an AAC-LC access unit.
const SamplesPerFrame = 1024

// SilentFrame returns an AAC-LC raw_data_block that decodes to one frame of silence for
// the configuration's channels (1: a single channel element, 2: a channel pair element),
// in 4 or 7 bytes: each channel's individual_channel_stream is a long window with
// max_sfb 0, so it carries no spectral data at all and any sample rate accepts it. It
// fills audio gaps and gives video-only calls the audio track that players and services
// such as YouTube expect.
func SilentFrame(c Config) ([]byte, error) {
	if c.ObjectType != ObjectTypeAACLC {
		return nil, fmt.Errorf("aac: silence for object type %d: only AAC-LC (2)", c.ObjectType)
	}
	var w bitWriter
	switch c.Channels {
	case 1:
		w.put(0, 3) // ID_SCE
		w.put(0, 4) // element_instance_tag
		w.silentICS()
	case 2:
		w.put(1, 3) // ID_CPE
		w.put(0, 4)
		w.put(0, 1) // common_window
		w.silentICS()
		w.silentICS()
	default:
		return nil, fmt.Errorf("aac: silence for %d channels: only mono and stereo", c.Channels)
	}
	w.put(7, 3) // ID_END
	return w.bytes(), nil
}

// silentICS writes an individual_channel_stream without spectral data (ISO/IEC 14496-3
// 4.4.2.7): global_gain, ics_info (long window, max_sfb 0), then no section, scale
// factor or spectral data, and the pulse, TNS and gain control flags off.
func (w *bitWriter) silentICS() {
	w.put(100, 8) // global_gain: any value, nothing is scaled
	w.put(0, 1)   // ics_reserved_bit
	w.put(0, 2)   // window_sequence: ONLY_LONG_SEQUENCE
	w.put(0, 1)   // window_shape
	w.put(0, 6)   // max_sfb
	w.put(0, 1)   // predictor_data_present
	w.put(0, 1)   // pulse_data_present
	w.put(0, 1)   // tns_data_present
	w.put(0, 1)   // gain_control_data_present
}

type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>uint(i)&1) << (7 - uint(w.n%8))
		w.n++
	}
}

func (w *bitWriter) bytes() []byte { return w.b }
