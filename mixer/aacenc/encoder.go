package aacenc

import (
	"errors"
	"fmt"
	"math"

	"github.com/sipcast/sipcast/media/aac"
)

// Config is what an Encoder makes.
type Config struct {
	// SampleRate is 44100 or 48000; Channels 1 or 2.
	SampleRate, Channels int
	// Bitrate is the target in bits per second, 32000 to 192000 per stream
	// (default 64000 per channel, at most 128000).
	Bitrate int
	// Bandwidth is the highest frequency worth coding, in Hz: a band-limited source's
	// (4000 for G.711). 0, or more than the bitrate affords, means what the bitrate
	// affords (4 kHz plus a fifth of the bitrate per channel, up to the Nyquist
	// frequency). Bands above it are not coded, which costs neither bits nor time.
	Bandwidth int
}

// inputScale maps full scale (±1) to the spectrum's units: with the sine window and
// this MDCT (no normalisation), a decoder's output is the input at 2^16.
const inputScale = 65536

// FrameSamples are the samples per channel of one access unit.
const FrameSamples = 1024

// Encoder encodes one stream. Not safe for concurrent use.
type Encoder struct {
	cfg     Config
	asc     aac.Config
	t       *mdct
	window  [2 * FrameSamples]float64
	prev    [2][FrameSamples]float64 // the last frame's samples per channel
	x       [2 * FrameSamples]float64
	spec    [2][FrameSamples]float64
	mag     [2][FrameSamples]float64 // |spec|^(3/4), what the quantizer scales
	q       [2][FrameSamples]int32
	maxSFB  int
	budget  int // bits per frame on average
	reserve int // bits saved from earlier frames
	maxRes  int
	w       bitWriter
	out     []byte
	gain    [2]int
	last    int // the last frame's global gain: where the next search starts
	cbs     [2][49]uint8
	frames  int64
	pad     int // bytes of fill elements in the frame being written (their headers included)
	stats   Stats
}

// Stats count what an Encoder made.
type Stats struct {
	// Frames encoded; CodedBits their bits but fill; FillBits the bits spent on fill
	// elements to hold the bitrate (silence, a band-limited source).
	Frames              int64
	CodedBits, FillBits int64
	// CodedBands counts the scalefactor bands with spectrum coded (not the zero book):
	// the bands a source's content reaches.
	CodedBands int64
}

// Stats returns the counters.
func (e *Encoder) Stats() Stats { return e.stats }

// New returns an encoder for cfg.
func New(cfg Config) (*Encoder, error) {
	if cfg.SampleRate != 44100 && cfg.SampleRate != 48000 {
		return nil, fmt.Errorf("aacenc: sample rate %d: 44100 or 48000", cfg.SampleRate)
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return nil, errors.New("aacenc: 1 or 2 channels")
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = min(64000*cfg.Channels, 128000)
	}
	if cfg.Bitrate < 16000*cfg.Channels || cfg.Bitrate > 192000 {
		return nil, fmt.Errorf("aacenc: bitrate %d: 16 to 192 kb/s (at least 16 kb/s per channel)", cfg.Bitrate)
	}
	e := &Encoder{cfg: cfg, t: newMDCT(2 * FrameSamples),
		asc: aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: cfg.SampleRate, Channels: cfg.Channels}}
	for i := range e.window {
		e.window[i] = math.Sin(math.Pi * (float64(i) + 0.5) / (2 * FrameSamples))
	}
	e.budget = cfg.Bitrate * FrameSamples / cfg.SampleRate
	e.maxRes = 6144*cfg.Channels - e.budget // the decoder's input buffer, less one frame
	// The bandwidth the bitrate affords per channel, as the last band coded.
	perCh := float64(cfg.Bitrate) / float64(cfg.Channels)
	bw := math.Min(float64(cfg.SampleRate)/2, 4000+perCh*0.2)
	if cfg.Bandwidth > 0 {
		bw = math.Min(bw, float64(cfg.Bandwidth))
	}
	line := int(bw / (float64(cfg.SampleRate) / 2) * FrameSamples)
	for e.maxSFB < 49 && swbOffsetLong48[e.maxSFB] < line {
		e.maxSFB++
	}
	e.out = make([]byte, 0, 6144/8*cfg.Channels)
	return e, nil
}

// AudioSpecificConfig is the stream's configuration (for FLV's AAC sequence header and
// MP4's esds).
func (e *Encoder) AudioSpecificConfig() []byte {
	b, _ := e.asc.Marshal()
	return b
}

// Delay is the encoder's delay in samples: the first frame out is the MDCT's overlap,
// silence, and the input appears from the second on (a decoder's priming).
func (e *Encoder) Delay() int { return FrameSamples }

// Encode takes FrameSamples samples per channel (interleaved, full scale ±1) and returns
// one raw_data_block, valid until the next call.
func (e *Encoder) Encode(pcm []float32) ([]byte, error) {
	ch := e.cfg.Channels
	if len(pcm) != FrameSamples*ch {
		return nil, fmt.Errorf("aacenc: %d samples: want %d per channel", len(pcm), FrameSamples)
	}
	for c := range ch {
		for i := range FrameSamples {
			e.x[i] = e.prev[c][i] * e.window[i]
			v := float64(pcm[i*ch+c]) * inputScale
			e.x[FrameSamples+i] = v * e.window[FrameSamples+i]
			e.prev[c][i] = v
		}
		e.t.transform(e.x[:], e.spec[c][:])
		for i, v := range e.spec[c][:swbOffsetLong48[e.maxSFB]] { // the lines coded
			a := math.Abs(v)
			e.mag[c][i] = math.Sqrt(a * math.Sqrt(a)) // |v|^(3/4)
		}
	}
	avail := e.budget + e.reserve
	bits := e.fit(avail)
	// Constant bitrate: what the reservoir cannot keep is spent on fill elements, so
	// the stream holds its rate through silence too (the decoder's buffer model).
	e.pad = 0
	if over := avail - bits - e.maxRes; over > 0 {
		e.pad = over / 8
		bits += e.pad * 8
	}
	e.reserve = min(e.maxRes, max(0, avail-bits))
	e.frames++
	e.stats.Frames++
	e.stats.CodedBits += int64(bits - e.pad*8)
	e.stats.FillBits += int64(e.pad * 8)
	for c := range ch {
		for b := range e.maxSFB {
			if e.cbs[c][b] != 0 {
				e.stats.CodedBands++
			}
		}
	}
	return e.write(), nil
}

// fit chooses each channel's quantizer so that the frame fits in avail bits (as fine as
// it can be), and returns the frame's bits.
func (e *Encoder) fit(avail int) int {
	// The finest global gain that fits: the bits fall as the gain rises. Below floor the
	// largest coefficient would not fit the 13 bits a quantized value has.
	var peak float64
	for c := range e.cfg.Channels {
		for _, v := range e.spec[c][:swbOffsetLong48[e.maxSFB]] {
			peak = math.Max(peak, math.Abs(v))
		}
	}
	floor := 0
	if peak > 0 {
		floor = int(math.Ceil(100 + 4*math.Log2(peak/math.Pow(8191-0.4054, 4.0/3))))
	}
	// The gain moves little from frame to frame: gallop from the last one to a bracket,
	// then bisect it (a few quantizations, not the eight a search of 0..255 takes).
	lo, hi := min(max(floor, 0), 255), 255
	done, bits := -1, 0 // the gain quantized last, and its bits
	fits := func(g int) bool {
		done, bits = g, e.quantizeAll(g)
		return bits <= avail
	}
	if g := min(max(e.last, lo), hi); fits(g) {
		hi = g
		for d := 1; hi > lo; d *= 2 {
			g := max(lo, hi-d)
			if !fits(g) {
				lo = g + 1
				break
			}
			hi = g
		}
	} else {
		lo = g + 1
		for d := 1; lo < hi; d *= 2 {
			g := min(hi, lo+d-1)
			if fits(g) || g == hi { // 255 quantizes every band to zero: it fits
				hi = g
				break
			}
			lo = g + 1
		}
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fits(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	e.last = lo
	if done != lo {
		bits = e.quantizeAll(lo)
	}
	return bits
}

// quantizeAll quantizes every channel with the scalefactor sf and returns the frame's
// bits.
func (e *Encoder) quantizeAll(sf int) int {
	total := 3 + 4 // element id and tag
	if e.cfg.Channels == 2 {
		total += 1 + icsInfoBits + 2 // common_window, ics_info, ms_mask_present
	} else {
		total += icsInfoBits
	}
	for c := range e.cfg.Channels {
		e.gain[c] = sf
		total += e.quantize(c, sf)
	}
	total += 3 // ID_END
	return total
}

const icsInfoBits = 1 + 2 + 1 + 6 + 1

// step is the quantizer's step for a scalefactor: 2^((sf-100)/4).
func step(sf int) float64 { return math.Exp2(float64(sf-100) / 4) }

// quantize quantizes one channel (ISO/IEC 14496-3 §4.6.1.3 inverted: |x|^(3/4) in units
// of the step, rounded with the standard 0.4054 offset), chooses each band's codebook,
// and returns the channel's bits (global gain, sections, scalefactors, flags, spectrum).
func (e *Encoder) quantize(c, sf int) int {
	inv := 1 / math.Pow(step(sf), 0.75)
	spec, mag, q := &e.spec[c], &e.mag[c], &e.q[c]
	bits := 8 + 3 // global_gain; pulse, tns, gain control flags
	for b := range e.maxSFB {
		start, end := swbOffsetLong48[b], swbOffsetLong48[b+1]
		var peak int32
		for i := start; i < end; i++ {
			v := int32(mag[i]*inv + 0.4054)
			if v > 8191 {
				v = 8191
			}
			if spec[i] < 0 {
				v = -v
			}
			q[i] = v
			peak = max(peak, v, -v)
		}
		cb, cost := bestCodebook(q[start:end], peak)
		e.cbs[c][b] = cb
		bits += cost
		if cb != 0 {
			bits += 1 // the scalefactor delta: all bands share sf (index 60, one bit)
		}
	}
	for i := swbOffsetLong48[e.maxSFB]; i < FrameSamples; i++ {
		q[i] = 0
	}
	return bits + e.sectionBits(c)
}

// sectionBits counts section_data: runs of bands sharing a codebook.
func (e *Encoder) sectionBits(c int) int {
	bits := 0
	for b := 0; b < e.maxSFB; {
		n := 1
		for b+n < e.maxSFB && e.cbs[c][b+n] == e.cbs[c][b] {
			n++
		}
		bits += 4 + 5*(n/31+1)
		b += n
	}
	return bits
}

// codebook layout: dimension, values per dimension, whether signed, largest value.
var books = [12]struct {
	dim, mod, off int32
	unsigned      bool
	lav           int32
}{
	{}, {4, 3, 1, false, 1}, {4, 3, 1, false, 1}, {4, 3, 0, true, 2}, {4, 3, 0, true, 2},
	{2, 9, 4, false, 4}, {2, 9, 4, false, 4}, {2, 8, 0, true, 7}, {2, 8, 0, true, 7},
	{2, 13, 0, true, 12}, {2, 13, 0, true, 12}, {2, 17, 0, true, 16},
}

// bestCodebook returns the cheapest codebook for a band's values and its bits.
func bestCodebook(q []int32, peak int32) (uint8, int) {
	if peak == 0 {
		return 0, 0
	}
	var first uint8
	switch {
	case peak <= 1:
		first = 1
	case peak <= 2:
		first = 3
	case peak <= 4:
		first = 5
	case peak <= 7:
		first = 7
	case peak <= 12:
		first = 9
	default:
		return 11, bandBits(q, 11)
	}
	a, b := bandBits(q, first), bandBits(q, first+1)
	if b < a {
		return first + 1, b
	}
	return first, a
}

// index is the codeword index of values v in codebook cb, and the number of sign bits
// and escape bits that follow it.
func index(v []int32, cb uint8) (idx int32, extra int) {
	bk := books[cb]
	for _, x := range v {
		a := x
		if bk.unsigned {
			if a < 0 {
				a = -a
			}
			if a != 0 {
				extra++
			}
			if cb == 11 && a >= 16 {
				n := 0
				for 1<<(n+1) <= a {
					n++
				}
				extra += 2*n - 3 // escape: (n-4) ones, a zero, n bits
				a = 16
			}
		} else {
			a += bk.off
		}
		idx = idx*bk.mod + a
	}
	return idx, extra
}

func bandBits(q []int32, cb uint8) int {
	bk := books[cb]
	bits := 0
	for i := 0; i < len(q); i += int(bk.dim) {
		idx, extra := index(q[i:i+int(bk.dim)], cb)
		bits += int(spectral[cb].bits[idx]) + extra
	}
	return bits
}

// write writes the frame quantized last.
func (e *Encoder) write() []byte {
	w := &e.w
	w.reset(e.out)
	if e.cfg.Channels == 1 {
		w.write(0, 3) // ID_SCE
		w.write(0, 4)
		e.writeICS(0, true)
	} else {
		w.write(1, 3) // ID_CPE
		w.write(0, 4)
		w.write(1, 1) // common_window
		e.writeICSInfo()
		w.write(0, 2) // ms_mask_present: none
		e.writeICS(0, false)
		e.writeICS(1, false)
	}
	e.writeFill(e.pad)
	w.write(7, 3) // ID_END
	e.out = w.bytes()
	return e.out
}

func (e *Encoder) writeICSInfo() {
	w := &e.w
	w.write(0, 1) // ics_reserved_bit
	w.write(0, 2) // ONLY_LONG_SEQUENCE
	w.write(0, 1) // sine window
	w.write(uint32(e.maxSFB), 6)
	w.write(0, 1) // predictor_data_present
}

func (e *Encoder) writeICS(c int, withInfo bool) {
	w := &e.w
	w.write(uint32(e.gain[c]), 8)
	if withInfo {
		e.writeICSInfo()
	}
	cbs := &e.cbs[c]
	for b := 0; b < e.maxSFB; { // section_data
		n := 1
		for b+n < e.maxSFB && cbs[b+n] == cbs[b] {
			n++
		}
		w.write(uint32(cbs[b]), 4)
		for left := n; ; left -= 31 {
			if left >= 31 {
				w.write(31, 5)
				continue
			}
			w.write(uint32(left), 5)
			break
		}
		b += n
	}
	for b := range e.maxSFB { // scale_factor_data: every band at the global gain
		if cbs[b] != 0 {
			w.write(scalefactorCodes[60], uint(scalefactorBits[60]))
		}
	}
	w.write(0, 1) // pulse_data_present
	w.write(0, 1) // tns_data_present
	w.write(0, 1) // gain_control_data_present
	q := &e.q[c]
	for b := range e.maxSFB { // spectral_data
		cb := cbs[b]
		if cb == 0 {
			continue
		}
		bk := books[cb]
		for i := swbOffsetLong48[b]; i < swbOffsetLong48[b+1]; i += int(bk.dim) {
			v := q[i : i+int(bk.dim)]
			idx, _ := index(v, cb)
			w.write(spectral[cb].codes[idx], uint(spectral[cb].bits[idx]))
			if !bk.unsigned {
				continue
			}
			for _, x := range v {
				if x != 0 {
					w.write(boolBit(x < 0), 1)
				}
			}
			if cb == 11 {
				for _, x := range v {
					a := max(x, -x)
					if a < 16 {
						continue
					}
					n := 0
					for 1<<(n+1) <= a {
						n++
					}
					w.write(1<<(n-4)-1, uint(n-4)) // (n-4) ones
					w.write(0, 1)
					w.write(uint32(a)-1<<n, uint(n))
				}
			}
		}
	}
}

func boolBit(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// writeFill writes fill elements (ID_FIL, extension type FILL) of n bytes in all, their
// headers included (7 bits, 15 more with an escaped count).
func (e *Encoder) writeFill(n int) {
	w := &e.w
	for n > 1 {
		// One element: header 7 bits (15 when escaped) and count payload bytes.
		count := min(n-1, 269)
		if count >= 15 {
			count = min(n-2, 269)
		}
		if count <= 0 {
			return
		}
		w.write(6, 3) // ID_FIL
		if count < 15 {
			w.write(uint32(count), 4)
		} else {
			w.write(15, 4)
			w.write(uint32(count-14), 8)
		}
		w.write(0, 8) // extension_type FILL, fill_nibble
		for range count - 1 {
			w.write(0xa5, 8)
		}
		used := (7 + 8*count + 7) / 8
		if count >= 15 {
			used = (15 + 8*count + 7) / 8
		}
		n -= used
	}
}
