package aacenc

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"

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
	// frequency). Bands above it are not coded, which costs neither bits nor time, and
	// the lines of the band it falls in above it are zeroed.
	Bandwidth int
	// LongOnly turns block switching off: every frame is coded with a long window
	// (what the first version did; for comparisons).
	LongOnly bool
	// NoMidSide codes stereo as left and right in every band (for comparisons).
	NoMidSide bool
	// InputRate is the rate of the samples Encode takes: SampleRate (0 means that), or
	// SampleRate divided by an integer up to 12 (8000 or 16000 at 48 kHz: a G.711 or
	// G.722 call). Below SampleRate each frame takes NextFrameSamples() samples per
	// channel (1024 at the lower rate, as near as whole samples go), and the encoder
	// upsamples with no filter: each sample followed by zeros. It codes nothing above
	// the input's Nyquist frequency, and every image the zeros make lies above it, so
	// the band limit is the interpolation filter; and it computes only with the samples
	// that are there.
	InputRate int
}

// inputScale maps full scale (±1) to the spectrum's units: with the sine window and
// this MDCT (no normalisation), a decoder's output is the input at 2^16.
const inputScale = 65536

// FrameSamples are the samples per channel of one access unit.
const FrameSamples = 1024

// The window sequences (ISO/IEC 14496-3 Table 4.109).
const (
	onlyLong = iota
	longStart
	eightShort
	longStop
)

// maxUnits bounds a frame's coding units: eight window groups of 14 short bands, or
// the 49 long bands.
const maxUnits = 8 * 14

// attackRatio is how much a 128-sample segment's high-passed energy must exceed the
// mean of the eight before it to be an attack (3GPP TS 26.403 §5.4.1 uses the same
// ratio); minAttack is the least energy (full scale 1) that can be one.
const (
	attackRatio = 10
	minAttack   = 1e-4
)

// Encoder encodes one stream. Not safe for concurrent use.
type Encoder struct {
	cfg         Config
	asc         aac.Config
	long, short *mdct
	*tables     // shared by every Encoder, read only
	// hist holds each channel's last three frames (scaled): the block being coded is
	// the first two, the third the look-ahead that block switching needs.
	hist [2][3 * FrameSamples]float64
	// att are the attack bits of those three frames, one per 128-sample segment.
	att    [3]uint8
	segE   [8]float64 // the last eight segments' high-passed energies
	hpPrev float64
	seq    int // the window sequence of the frame being coded
	sx     [8][128]float64
	spec   [2][FrameSamples]float64 // the frame's spectrum, short windows interleaved by group and band
	mag    [2][FrameSamples]float64 // |spec|^(3/4), what the quantizer scales
	q      [2][FrameSamples]int32
	// The frame's coding units: scalefactor bands (of each window group, for short
	// windows), contiguous in spec from ustart[u] to ustart[u+1].
	nunits                  int
	ustart                  [maxUnits + 1]int
	maxSFB                  int
	maxSFBLong, maxSFBShort int
	// cutLong and cutShort are the first line of a long and a short transform above the
	// source's band (Bandwidth or InputRate): zeroed before coding.
	cutLong, cutShort int
	scale             float64 // inputScale, times up
	// up is SampleRate/InputRate. Above 1, low holds each channel's input samples
	// (scaled) from the block's start on, lowFirst is the index in the stream of
	// low[c][0] (its time at SampleRate: up·lowFirst), and frames counts the frames
	// taken.
	up                      int
	low                     [2][]float64
	lowFirst                int64
	frames                  int64
	ngroups                 int
	glen                    [8]int
	cbs                     [2][maxUnits]uint8
	off                     [2][maxUnits]int // each unit's scalefactor less the global gain
	masked                  [2][maxUnits]bool
	ms                      [maxUnits]bool
	msBands                 int
	gain                    [2]int
	last                    int // the last frame's global gain: where the next search starts
	slope                   float64
	budget, reserve, maxRes int
	// The psychoacoustic model's figures per channel and unit: energy per line, masking
	// threshold per line, form factor (Σ |x|^(1/2)); and whether the last frame's noise
	// stayed under the threshold everywhere.
	dens, thr, ffac [2][maxUnits]float64
	transparent     bool
	// The spreading function between neighbouring bands (from the one below, up; from
	// the one above, down), for long and short windows.
	upLong, downLong   [49]float64
	upShort, downShort [14]float64
	quietLong          [49]float64
	quietShort         [14]float64
	w                  bitWriter
	out                []byte
	pad                int // bytes of fill elements in the frame being written (their headers included)
	stats              Stats
}

// Stats count what an Encoder made.
type Stats struct {
	// Frames encoded; CodedBits their bits but fill; FillBits the bits spent on fill
	// elements to hold the bitrate (silence, a band-limited source).
	Frames              int64
	CodedBits, FillBits int64
	// CodedBands counts the scalefactor bands with spectrum coded (not the zero book):
	// the bands a source's content reaches. MaskedBands counts those left out because
	// the psychoacoustic threshold masked them.
	CodedBands, MaskedBands int64
	// ShortFrames are the frames coded with eight short windows (attacks); Bands the
	// scalefactor bands of the frames (per channel, coded or not, by window group for
	// short windows); MidSideBands the stereo bands coded as mid and side.
	ShortFrames, Bands, MidSideBands int64
	// Quantizations counts the spectra quantized (and their bits counted) in the search
	// for each frame's global gain: Quantizations/Frames is the search's cost.
	Quantizations int64
	// GlobalGains sums the frames' global gains: GlobalGains/Frames is the mean
	// quantizer step, in steps of 1.5 dB (lower is finer).
	GlobalGains int64
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
	up := 1
	if cfg.InputRate != 0 && cfg.InputRate != cfg.SampleRate {
		up = cfg.SampleRate / max(1, cfg.InputRate)
		if cfg.InputRate < 0 || up < 2 || up > 12 || cfg.InputRate*up != cfg.SampleRate {
			return nil, fmt.Errorf("aacenc: input rate %d: the sample rate (%d) divided by 1 to 12", cfg.InputRate, cfg.SampleRate)
		}
	}
	e := &Encoder{cfg: cfg, long: newMDCT(2 * FrameSamples), short: newMDCT(256), tables: sharedTables(),
		asc: aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: cfg.SampleRate, Channels: cfg.Channels}}
	e.budget = cfg.Bitrate * FrameSamples / cfg.SampleRate
	e.maxRes = 6144*cfg.Channels - e.budget // the decoder's input buffer, less one frame
	// The bandwidth the bitrate affords per channel, as the last band coded.
	perCh := float64(cfg.Bitrate) / float64(cfg.Channels)
	bw := math.Min(float64(cfg.SampleRate)/2, 4000+perCh*0.2)
	e.scale = inputScale
	source := 0.0 // the source's own band limit, when known
	if cfg.Bandwidth > 0 {
		source = float64(cfg.Bandwidth)
	}
	e.up = up
	if up > 1 {
		e.scale *= float64(up)
		for c := range cfg.Channels {
			e.low[c] = make([]float64, 0, 3*FrameSamples/up+4)
		}
		nyq := float64(cfg.SampleRate) / float64(2*up)
		if source == 0 || source > nyq {
			source = nyq
		}
	}
	if source > 0 {
		bw = math.Min(bw, source)
	}
	frac := bw / (float64(cfg.SampleRate) / 2)
	e.cutLong, e.cutShort = FrameSamples, 128
	if source > 0 {
		e.cutLong, e.cutShort = int(frac*FrameSamples), int(frac*128)
	}
	for e.maxSFBLong < 49 && float64(swbOffsetLong48[e.maxSFBLong]) < frac*FrameSamples {
		e.maxSFBLong++
	}
	for e.maxSFBShort < 14 && float64(swbOffsetShort48[e.maxSFBShort]) < frac*128 {
		e.maxSFBShort++
	}
	bark := func(f float64) float64 { return 13*math.Atan(0.00076*f) + 3.5*math.Atan(f*f/(7500*7500)) }
	hz := float64(cfg.SampleRate) / 2 / FrameSamples
	// The spreading from band b-1 to b (up[b]) and from b+1 to b (down[b]).
	spread := func(offsets []int, scale float64, q, up, down []float64, upBels float64) {
		var last float64
		for b := range q {
			f := scale * hz * float64(offsets[b]+offsets[b+1]) / 2
			q[b] = quiet(f, int(2*FrameSamples/scale))
			z := bark(f)
			if b > 0 {
				up[b] = math.Pow(10, -upBels*(z-last))
				down[b-1] = math.Pow(10, -spreadDown*(z-last))
			}
			last = z
		}
	}
	spread(swbOffsetLong48[:], 1, e.quietLong[:], e.upLong[:], e.downLong[:], spreadUpLong)
	spread(swbOffsetShort48[:], 8, e.quietShort[:], e.upShort[:], e.downShort[:], spreadUpShort)
	e.out = make([]byte, 0, 6144/8*cfg.Channels)
	return e, nil
}

// quietCap bounds the threshold in quiet (dB SPL): Terhardt's curve rises steeply above
// 15 kHz, and taken as it is would leave out all the top octave of music at modest
// levels.
const quietCap = 30

// quiet is the threshold in quiet (Terhardt's approximation of the threshold of
// hearing, up to quietCap) at f Hz, as an energy per MDCT line of a transform of n
// samples, full scale played at 96 dB SPL: a full-scale sine's line in this MDCT is
// about 2^16·n/4.
func quiet(f float64, n int) float64 {
	k := math.Max(f, 20) / 1000
	db := 3.64*math.Pow(k, -0.8) - 6.5*math.Exp(-0.6*(k-3.3)*(k-3.3)) + 1e-3*math.Pow(k, 4)
	full := float64(inputScale) * float64(n) / 4
	return full * full * math.Pow(10, (math.Min(db, quietCap)-96)/10)
}

// tables are what every Encoder reads and none writes.
type tables struct {
	// winLong are the long windows by sequence (only long, long start, long stop);
	// winShort the short sine window.
	winLong  [4][2 * FrameSamples]float64
	winShort [256]float64
	// invStep is 1/step(sf)^(3/4) by scalefactor.
	invStep [256]float64
}

var sharedTables = sync.OnceValue(func() *tables {
	t := &tables{}
	t.windows()
	for sf := range t.invStep {
		t.invStep[sf] = 1 / math.Pow(step(sf), 0.75)
	}
	return t
})

// windows makes the sine windows: long ones for each sequence (ISO/IEC 14496-3
// §4.6.11.3.2), whose halves next to short windows fall or rise as a short one does.
func (e *tables) windows() {
	const n, half = 2 * FrameSamples, FrameSamples
	for i := range e.winShort {
		e.winShort[i] = math.Sin(math.Pi * (float64(i) + 0.5) / 256)
	}
	for i := range n {
		v := math.Sin(math.Pi * (float64(i) + 0.5) / n)
		e.winLong[onlyLong][i] = v
		switch {
		case i < half:
			e.winLong[longStart][i] = v
		case i < half+448:
			e.winLong[longStart][i] = 1
		case i < half+576:
			e.winLong[longStart][i] = e.winShort[128+i-half-448]
		}
		switch {
		case i >= half:
			e.winLong[longStop][i] = v
		case i >= 576:
			e.winLong[longStop][i] = 1
		case i >= 448:
			e.winLong[longStop][i] = e.winShort[i-448]
		}
	}
}

// AudioSpecificConfig is the stream's configuration (for FLV's AAC sequence header and
// MP4's esds).
func (e *Encoder) AudioSpecificConfig() []byte {
	b, _ := e.asc.Marshal()
	return b
}

// Delay is the encoder's delay in samples: the first two frames out are silence (the
// MDCT's overlap, and the frame of look-ahead that block switching needs), and the
// input appears from the third on (a decoder's priming).
func (e *Encoder) Delay() int { return 2 * FrameSamples }

// Encode takes FrameSamples samples per channel (interleaved, full scale ±1: beyond it
// they are clipped, and NaN is silence) and returns one raw_data_block, valid until the
// next call.
func (e *Encoder) Encode(pcm []float32) ([]byte, error) {
	ch := e.cfg.Channels
	if e.up > 1 {
		if n := e.NextFrameSamples(); len(pcm) != n*ch {
			return nil, fmt.Errorf("aacenc: %d samples: want %d per channel", len(pcm), n)
		}
		e.takeLow(pcm)
		return e.encode(), nil
	}
	if len(pcm) != FrameSamples*ch {
		return nil, fmt.Errorf("aacenc: %d samples: want %d per channel", len(pcm), FrameSamples)
	}
	for c := range ch {
		h := &e.hist[c]
		copy(h[:2*FrameSamples], h[FrameSamples:])
		dst := h[2*FrameSamples:]
		for i := range dst {
			v := float64(pcm[i*ch+c])
			if !(v >= -1 && v <= 1) {
				v = clip(v)
			}
			dst[i] = v * e.scale
		}
	}
	e.att[0], e.att[1], e.att[2] = e.att[1], e.att[2], e.attacks(pcm)
	return e.encode(), nil
}

// NextFrameSamples is how many samples per channel the next Encode takes: FrameSamples,
// or below SampleRate those of the next 1024 at SampleRate (InputRate).
func (e *Encoder) NextFrameSamples() int {
	if e.up == 1 {
		return FrameSamples
	}
	return int(e.lowIndex(e.frames+1) - e.lowIndex(e.frames))
}

// lowIndex is the index of the first input sample at or after frame f's start.
func (e *Encoder) lowIndex(f int64) int64 {
	up := int64(e.up)
	return (f*FrameSamples + up - 1) / up
}

// takeLow takes a frame of input below SampleRate: its samples appended to low (those
// before the new block's start let go), its attacks found.
func (e *Encoder) takeLow(pcm []float32) {
	ch := e.cfg.Channels
	f := e.frames // the frame taken: the block coded is frames f-2 and f-1
	e.frames++
	drop := int(max(0, e.lowIndex(f-2)-e.lowFirst))
	for c := range ch {
		l := e.low[c]
		n := copy(l, l[min(drop, len(l)):])
		l = l[:n]
		for i := c; i < len(pcm); i += ch {
			v := float64(pcm[i])
			if !(v >= -1 && v <= 1) {
				v = clip(v)
			}
			l = append(l, v*e.scale)
		}
		e.low[c] = l
	}
	e.lowFirst = max(e.lowFirst, e.lowIndex(f-2))
	// The attacks, by 128-sample segment (at SampleRate) of the frame.
	var en [8]float64
	pos := int(e.lowIndex(f)*int64(e.up) - f*FrameSamples) // the first sample's, in the frame
	for i := 0; i < len(pcm); i, pos = i+ch, pos+e.up {
		v := float64(pcm[i])
		if ch == 2 {
			v += float64(pcm[i+1])
		}
		d := v - e.hpPrev
		e.hpPrev = v
		en[pos/128] += d * d
	}
	var bits uint8
	for s := range en {
		bits |= e.attack(s, en[s])
	}
	e.att[0], e.att[1], e.att[2] = e.att[1], e.att[2], bits
}

// encode codes the block in hist (or low) once the frame's attacks are known.
func (e *Encoder) encode() []byte {
	ch := e.cfg.Channels
	e.seq = e.sequence(e.seq)
	e.layout()
	for c := range ch {
		e.transform(c)
	}
	e.midSide()
	end := e.ustart[e.nunits]
	for c := range ch {
		for i, v := range e.spec[c][:end] { // the lines coded
			a := math.Abs(v)
			e.mag[c][i] = math.Sqrt(a * math.Sqrt(a)) // |v|^(3/4)
		}
	}
	e.psychoacoustics()
	hard := e.budget + e.reserve
	bits := e.fit(hard)
	e.transparent = e.noiseBelowThreshold()
	// Constant bitrate: what the reservoir cannot keep is spent on fill elements, so
	// the stream holds its rate through silence too (the decoder's buffer model).
	e.pad = 0
	if over := hard - bits - e.maxRes; over > 0 {
		e.pad = over / 8
		bits += e.pad * 8
	}
	e.reserve = min(e.maxRes, max(0, hard-bits))
	e.stats.Frames++
	e.stats.CodedBits += int64(bits - e.pad*8)
	e.stats.FillBits += int64(e.pad * 8)
	if e.seq == eightShort {
		e.stats.ShortFrames++
	}
	e.stats.MidSideBands += int64(e.msBands)
	e.stats.Bands += int64(e.nunits)
	e.stats.GlobalGains += int64(e.gain[0])
	for c := range ch {
		for u := range e.nunits {
			if e.cbs[c][u] != 0 {
				e.stats.CodedBands++
			}
			if e.masked[c][u] {
				e.stats.MaskedBands++
			}
		}
	}
	return e.write()
}

// clip brings a sample beyond full scale to it, and NaN to 0.
func clip(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return 0 // NaN
}

// attacks finds the attacks in a frame: the bit of each 128-sample segment whose
// high-passed energy (first differences of the channels' sum) is attackRatio times the
// mean of the eight segments before it.
func (e *Encoder) attacks(pcm []float32) uint8 {
	ch := e.cfg.Channels
	var bits uint8
	for s := range 8 {
		var en float64
		for i := s * 128; i < (s+1)*128; i++ {
			v := float64(pcm[i*ch])
			if ch == 2 {
				v += float64(pcm[i*ch+1])
			}
			d := v - e.hpPrev
			e.hpPrev = v
			en += d * d
		}
		bits |= e.attack(s, en)
	}
	return bits
}

// attack is segment s's bit if its energy en makes it an attack, and moves the
// segments' energies on.
func (e *Encoder) attack(s int, en float64) uint8 {
	var mean float64
	for _, x := range e.segE {
		mean += x
	}
	var bit uint8
	if mean /= 8; en > attackRatio*mean && en > minAttack {
		bit = 1 << s
	}
	copy(e.segE[:], e.segE[1:])
	e.segE[7] = en
	return bit
}

// The segments a block's short windows cover: the last four of its first frame and the
// first five of its second (the windows span samples 448 to 1600 of the block).
const (
	shortFirst  = 0xf0
	shortSecond = 0x1f
)

// sequence chooses the window sequence of the block (the first two frames of hist)
// after one coded with prev: eight short windows over an attack, a long start window
// before them and a long stop window after (Table 4.109's order: a short sequence is
// entered through a start window and left through a stop window).
func (e *Encoder) sequence(prev int) int {
	if e.cfg.LongOnly {
		return onlyLong
	}
	cur := e.att[0]&shortFirst != 0 || e.att[1]&shortSecond != 0
	next := e.att[1]&shortFirst != 0 || e.att[2]&shortSecond != 0
	switch {
	case cur, prev == longStart, prev == eightShort && next:
		return eightShort
	case prev == eightShort:
		return longStop
	case next:
		return longStart
	}
	return onlyLong
}

// layout sets the frame's coding units. Eight short windows are grouped: the windows
// before an attack in one group, the attack and what follows in another, so each shares
// its side information (a block short only for its neighbours' sake is one group).
func (e *Encoder) layout() {
	if e.seq != eightShort {
		e.ngroups, e.glen[0], e.maxSFB, e.nunits = 1, 1, e.maxSFBLong, e.maxSFBLong
		copy(e.ustart[:e.maxSFB+1], swbOffsetLong48[:e.maxSFB+1])
		return
	}
	e.ngroups, e.glen[0] = 1, 8
	pos := -1 // the first attack, in samples from the block's start
	for s := 4; s < 8 && pos < 0; s++ {
		if e.att[0]&(1<<s) != 0 {
			pos = 128 * s
		}
	}
	for s := 0; s < 5 && pos < 0; s++ {
		if e.att[1]&(1<<s) != 0 {
			pos = FrameSamples + 128*s
		}
	}
	if w := (pos - 448 + 64) / 128; pos >= 0 && w > 0 && w < 8 {
		e.ngroups, e.glen[0], e.glen[1] = 2, w, 8-w
	}
	e.maxSFB = e.maxSFBShort
	u, at := 0, 0
	for g := range e.ngroups {
		for b := range e.maxSFB {
			e.ustart[u] = at
			at += (swbOffsetShort48[b+1] - swbOffsetShort48[b]) * e.glen[g]
			u++
		}
	}
	e.ustart[u], e.nunits = at, u
}

// transform windows a channel's block and takes its MDCT: one long, or eight short
// ones interleaved by window group and band (§4.6.11.3: the order the bitstream has).
func (e *Encoder) transform(c int) {
	h := &e.hist[c]
	// Below SampleRate the samples are low[c], from the block's start (at SampleRate)
	// at up·lowFirst - start, one every up.
	start := (e.frames - 3) * FrameSamples
	at := int(int64(e.up)*e.lowFirst - start)
	if e.seq != eightShort {
		if e.up > 1 {
			e.long.transformSparse(e.low[c], at, e.up, e.winLong[e.seq][:], e.spec[c][:], e.cutLong)
			clear(e.spec[c][e.cutLong:max(e.cutLong, swbOffsetLong48[e.maxSFBLong])])
			return
		}
		// The lines above the cut are not made; those up to the last band's end are
		// zeroed (a short block's layout may have left values there).
		e.long.transformWindowed(h[:2*FrameSamples], e.winLong[e.seq][:], e.spec[c][:], e.cutLong)
		clear(e.spec[c][e.cutLong:max(e.cutLong, swbOffsetLong48[e.maxSFBLong])])
		return
	}
	for win := range 8 {
		from := 448 + 128*win
		if e.up > 1 {
			e.short.transformSparse(e.low[c], at-from, e.up, e.winShort[:], e.sx[win][:], e.cutShort)
			continue
		}
		e.short.transformWindowed(h[from:from+256], e.winShort[:], e.sx[win][:], e.cutShort)
	}
	at, w0 := 0, 0
	for g := range e.ngroups {
		for b := range e.maxSFB {
			lo, hi := swbOffsetShort48[b], swbOffsetShort48[b+1]
			for win := w0; win < w0+e.glen[g]; win++ {
				at += copy(e.spec[c][at:], e.sx[win][lo:hi])
			}
		}
		w0 += e.glen[g]
	}
}

// midSide codes a stereo band as mid and side, M = (L+R)/2 and S = (L-R)/2, where that
// takes fewer bits for the same noise: the bits of a band go as log2 of its energy over
// the noise, and M/S needs half the noise in each of M and S to leave L and R as much,
// so it pays when 4·E(M)·E(S) < E(L)·E(R), here with a margin. Its scalefactors are
// three steps finer (a step's noise goes as 2^(3/8) per step: 2^(-9/8) ≈ 1/2).
func (e *Encoder) midSide() {
	e.msBands = 0
	for u := range e.nunits {
		e.ms[u] = false
		e.off[0][u], e.off[1][u] = 0, 0
	}
	if e.cfg.Channels != 2 || e.cfg.NoMidSide {
		return
	}
	l, r := &e.spec[0], &e.spec[1]
	quiet := e.quietLong[:]
	if e.seq == eightShort {
		quiet = e.quietShort[:]
	}
	for u := range e.nunits {
		var el, er, em, es float64
		for i := e.ustart[u]; i < e.ustart[u+1]; i++ {
			m, s := (l[i]+r[i])/2, (l[i]-r[i])/2
			el, er, em, es = el+l[i]*l[i], er+r[i]*r[i], em+m*m, es+s*s
		}
		// Bands under the threshold in quiet on both sides are left as they are: there
		// is nothing to gain, only flags to send.
		inaudible := math.Max(el, er) < quiet[u%e.maxSFB]*float64(e.ustart[u+1]-e.ustart[u])
		if inaudible || 4*em*es >= 0.8*el*er {
			continue
		}
		e.ms[u] = true
		e.msBands++
		e.off[0][u], e.off[1][u] = -3, -3
		for i := e.ustart[u]; i < e.ustart[u+1]; i++ {
			l[i], r[i] = (l[i]+r[i])/2, (l[i]-r[i])/2
		}
	}
}

// The psychoacoustic model's constants (after 3GPP TS 26.403 §5.4): a band masks
// itself 29 dB down, and its neighbours through a spreading function falling 15 dB per
// Bark towards higher frequencies and 30 dB per Bark towards lower ones (20 and 30 for
// short windows, whose bands are wider in time and narrower in resolution).
const (
	selfMask      = 0.00126 // -29 dB
	spreadUpLong  = 1.5     // tenths of dB... in bels per Bark
	spreadUpShort = 2.0
	spreadDown    = 3.0
)

// psychoacoustics computes each coding unit's masking threshold (its own energy 29 dB
// down, spread to its neighbours in Bark, and no lower than the threshold in quiet) and
// marks the units wholly below it. Those are
// left out (their bits go to the rest) unless the last frame was transparent: when the
// bits suffice to keep the noise under the threshold everywhere, masked units are
// coded too, so a high bitrate is not capped by them.
func (e *Encoder) psychoacoustics() {
	quiet, up, down := e.quietLong[:], e.upLong[:], e.downLong[:]
	if e.seq == eightShort {
		quiet, up, down = e.quietShort[:], e.upShort[:], e.downShort[:]
	}
	for c := range e.cfg.Channels {
		sp, dens, thr, ffac := &e.spec[c], &e.dens[c], &e.thr[c], &e.ffac[c]
		for u := range e.nunits {
			var en, ff float64
			for _, v := range sp[e.ustart[u]:e.ustart[u+1]] {
				en += v * v
				ff += math.Sqrt(math.Abs(v))
			}
			dens[u] = en / float64(e.ustart[u+1]-e.ustart[u])
			thr[u] = dens[u] * selfMask
			ffac[u] = ff
		}
		for g := range e.ngroups {
			lo, hi := g*e.maxSFB, (g+1)*e.maxSFB
			for u := lo + 1; u < hi; u++ { // upwards
				thr[u] = max(thr[u], thr[u-1]*up[u-lo])
			}
			for u := hi - 2; u >= lo; u-- { // downwards
				thr[u] = max(thr[u], thr[u+1]*down[u-lo])
			}
		}
		for u := range e.nunits {
			thr[u] = max(thr[u], quiet[u%e.maxSFB])
			e.masked[c][u] = dens[u] < thr[u] && !e.transparent
		}
	}
}

// noiseBelowThreshold says whether the frame quantized last keeps its noise under the
// masking threshold in every unit. A unit's noise is estimated from its form factor
// (3GPP TS 26.403 §5.6.1): each line x quantized with step s leaves about
// |x|^(1/2)·s^(3/2)/6.75 (the non-uniform quantizer's step at x, squared, over 12).
func (e *Encoder) noiseBelowThreshold() bool {
	for c := range e.cfg.Channels {
		for u := range e.nunits {
			nl := float64(e.ustart[u+1] - e.ustart[u])
			switch {
			case e.masked[c][u]:
			case e.cbs[c][u] == 0:
				if e.dens[c][u] > e.thr[c][u] {
					return false
				}
			default:
				s := step(e.gain[c] + e.off[c][u])
				if s*math.Sqrt(s)*e.ffac[c][u]/6.75 > e.thr[c][u]*nl {
					return false
				}
			}
		}
	}
	return true
}

// log2MaxQuant is log2 of the largest magnitude a quantized value can stand for at a
// step of 1: (8191 - 0.4054)^(4/3).
var log2MaxQuant = 4.0 / 3 * math.Log2(8191-0.4054)

// acceptSlack is the share of the learned slope (bits per gain step) that the bits left
// over at a fitting gain must reach for the search to try a finer one.
const acceptSlack = 1.0

// fit chooses the global gain so that the frame fits in avail bits (as fine as it can
// be), and returns the frame's bits.
func (e *Encoder) fit(avail int) int {
	// The finest global gain that fits: the bits fall as the gain rises. Below floor the
	// largest coefficient would not fit the 13 bits a quantized value has.
	lo, hi := 0, 255
	for c := range e.cfg.Channels {
		for u := range e.nunits {
			off := e.off[c][u]
			lo, hi = max(lo, -off), min(hi, 255-off)
			if e.masked[c][u] {
				continue
			}
			var peak float64
			for _, v := range e.spec[c][e.ustart[u]:e.ustart[u+1]] {
				if a := math.Abs(v); a > peak { // not math.Max: no NaN here (clip), and it is the hot loop
					peak = a
				}
			}
			if peak > 0 {
				lo = max(lo, int(math.Ceil(100+4*(math.Log2(peak)-log2MaxQuant)))-off)
			}
		}
	}
	lo = min(lo, hi)
	// The gain moves little from frame to frame: gallop from the last one to a bracket,
	// then bisect it (a few quantizations, not the eight a search of 0..255 takes).
	done, bits := -1, 0 // the gain quantized last, and its bits
	fits := func(g int) bool {
		prevG, prevBits := done, bits
		done, bits = g, e.quantizeAll(g)
		if prevG >= 0 {
			e.learn(prevG, prevBits, g, bits)
		}
		return bits <= avail
	}
	// A gain that fits with fewer bits to spare than a step finer would take (by the
	// slope) is the answer, as far as the slope can tell: the search ends there.
	close := func(g int) bool {
		return e.slope > 0 && g > lo && float64(avail-bits) < e.slope*acceptSlack
	}
	g := min(max(e.last, lo), hi)
	ok := fits(g)
	if ok && close(g) {
		e.last = g
		return bits
	}
	// A step of the gain changes the bits by about e.slope (learned from the frames
	// before): one quantization at the gain that predicts, then a gallop from there.
	if b0 := bits; e.slope > 0 {
		var p int
		if ok {
			p = max(lo, g-int(float64(avail-b0)/e.slope))
		} else {
			p = min(hi, g+int(math.Ceil(float64(b0-avail)/e.slope)))
		}
		if p != g {
			okP := fits(p)
			if okP && close(p) {
				e.last = p
				return bits
			}
			switch {
			case ok && okP, !ok && !okP: // the same side: gallop on from p
				g = p
			case ok: // p < g does not fit: the answer is in (p, g]
				lo, hi = p+1, g
				g = -1
			default: // p > g fits: in (g, p]
				lo, hi = g+1, p
				g = -1
			}
			ok = okP
		}
	}
	switch {
	case g < 0: // bracketed
	case ok:
		hi = g
		for d := 1; hi > lo; d *= 2 {
			g := max(lo, hi-d)
			if !fits(g) {
				lo = g + 1
				break
			}
			hi = g
		}
	default:
		lo = g + 1
		for d := 1; lo < hi; d *= 2 {
			g := min(hi, lo+d-1)
			if fits(g) || g == hi { // the coarsest gain is the best there is
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

// learn updates slope, the bits one step of the global gain saves, from two frames'
// quantizations (g1, b1) and (g2, b2).
func (e *Encoder) learn(g1, b1, g2, b2 int) {
	if g1 == g2 || b1 == b2 {
		return
	}
	s := math.Abs(float64(b1-b2) / float64(g1-g2))
	if e.slope == 0 {
		e.slope = s
		return
	}
	e.slope = 0.7*e.slope + 0.3*s
}

// icsInfoBits is the size of ics_info: long windows, and eight short ones.
func (e *Encoder) icsInfoBits() int {
	if e.seq == eightShort {
		return 1 + 2 + 1 + 4 + 7
	}
	return 1 + 2 + 1 + 6 + 1
}

// quantizeAll quantizes every channel with the global gain g and returns the frame's
// bits.
func (e *Encoder) quantizeAll(g int) int {
	e.stats.Quantizations++
	total := 3 + 4 // element id and tag
	if e.cfg.Channels == 2 {
		total += 1 + e.icsInfoBits() + 2 // common_window, ics_info, ms_mask_present
		if e.msBands > 0 && e.msBands < e.nunits {
			total += e.nunits // ms_used
		}
	} else {
		total += e.icsInfoBits()
	}
	for c := range e.cfg.Channels {
		e.gain[c] = g
		total += e.quantize(c, g)
	}
	total += 3 // ID_END
	return total
}

// step is the quantizer's step for a scalefactor: 2^((sf-100)/4).
func step(sf int) float64 { return math.Exp2(float64(sf-100) / 4) }

// quantize quantizes one channel (ISO/IEC 14496-3 §4.6.1.3 inverted: |x|^(3/4) in units
// of the step, rounded with the standard 0.4054 offset), chooses each unit's codebook,
// and returns the channel's bits (global gain, sections, scalefactors, flags, spectrum).
func (e *Encoder) quantize(c, g int) int {
	spec, mag, q := &e.spec[c], &e.mag[c], &e.q[c]
	bits := 8 + 3 // global_gain; pulse, tns, gain control flags
	prev := g
	for u := range e.nunits {
		start, end := e.ustart[u], e.ustart[u+1]
		if e.masked[c][u] {
			clear(q[start:end])
			e.cbs[c][u] = 0
			continue
		}
		sf := g + e.off[c][u]
		inv := e.invStep[sf]
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
		e.cbs[c][u] = cb
		bits += cost
		if cb != 0 {
			bits += int(scalefactorBits[sf-prev+60])
			prev = sf
		}
	}
	return bits + e.sectionBits(c)
}

// sectionBits counts section_data: runs of a group's bands sharing a codebook.
func (e *Encoder) sectionBits(c int) int {
	lenBits, esc := 5, 31
	if e.seq == eightShort {
		lenBits, esc = 3, 7
	}
	bits := 0
	for g := range e.ngroups {
		cbs := e.cbs[c][g*e.maxSFB : (g+1)*e.maxSFB]
		for b := 0; b < len(cbs); {
			n := 1
			for b+n < len(cbs) && cbs[b+n] == cbs[b] {
				n++
			}
			bits += 4 + lenBits*(n/esc+1)
			b += n
		}
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
		return 11, escBits(q)
	}
	a, b := bandBits2(q, first)
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

// bandBits2 is bandBits of codebooks cb and cb+1, a pair (1-2, 3-4, 5-6, 7-8, 9-10)
// whose tuples index alike and whose sign bits are alike: one pass for both, the tuple's
// index computed for the pair's layout (the hottest loop of the gain search).
func bandBits2(q []int32, cb uint8) (int, int) {
	ta, tb := spectral[cb].bits, spectral[cb+1].bits
	a, b := 0, 0
	switch cb {
	case 1: // signed quads, -1..1
		for i := 0; i+4 <= len(q); i += 4 {
			idx := (((q[i]+1)*3+q[i+1]+1)*3+q[i+2]+1)*3 + q[i+3] + 1
			a += int(ta[idx])
			b += int(tb[idx])
		}
	case 3: // unsigned quads, 0..2, and a sign bit per value not zero
		for i := 0; i+4 <= len(q); i += 4 {
			x0, x1, x2, x3 := abs32(q[i]), abs32(q[i+1]), abs32(q[i+2]), abs32(q[i+3])
			idx := ((x0*3+x1)*3+x2)*3 + x3
			signs := nz(x0) + nz(x1) + nz(x2) + nz(x3)
			a += int(ta[idx]) + signs
			b += int(tb[idx]) + signs
		}
	case 5: // signed pairs, -4..4
		for i := 0; i+2 <= len(q); i += 2 {
			idx := (q[i]+4)*9 + q[i+1] + 4
			a += int(ta[idx])
			b += int(tb[idx])
		}
	case 7, 9: // unsigned pairs (0..7 in 8s, 0..12 in 13s), and sign bits
		mod := books[cb].mod
		for i := 0; i+2 <= len(q); i += 2 {
			x0, x1 := abs32(q[i]), abs32(q[i+1])
			idx := x0*mod + x1
			signs := nz(x0) + nz(x1)
			a += int(ta[idx]) + signs
			b += int(tb[idx]) + signs
		}
	default:
		dim := int(books[cb].dim)
		for i := 0; i+dim <= len(q); i += dim {
			idx, extra := index(q[i:i+dim], cb)
			a += int(ta[idx]) + extra
			b += int(tb[idx]) + extra
		}
	}
	return a, b
}

// escBits is bandBits of codebook 11: unsigned pairs of 0..16, a sign bit per value
// not zero, and an escape sequence for each value of 16 and above (ISO/IEC 14496-3
// §4.6.3.3: n-4 ones, a zero, then n bits of the value, n = ⌊log2 v⌋).
func escBits(q []int32) int {
	t := spectral[11].bits
	n := 0
	for i := 0; i+2 <= len(q); i += 2 {
		x0, x1 := abs32(q[i]), abs32(q[i+1])
		n += nz(x0) + nz(x1)
		if x0 >= 16 {
			n += 2*(31-bits.LeadingZeros32(uint32(x0))) - 3
			x0 = 16
		}
		if x1 >= 16 {
			n += 2*(31-bits.LeadingZeros32(uint32(x1))) - 3
			x1 = 16
		}
		n += int(t[x0*17+x1])
	}
	return n
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// nz is 1 for a value not zero (one sign bit), 0 for zero.
func nz(x int32) int {
	if x != 0 {
		return 1
	}
	return 0
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
		switch {
		case e.msBands == 0:
			w.write(0, 2) // ms_mask_present: none
		case e.msBands == e.nunits:
			w.write(2, 2) // every band
		default:
			w.write(1, 2) // band by band
			for u := range e.nunits {
				w.write(boolBit(e.ms[u]), 1)
			}
		}
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
	w.write(uint32(e.seq), 2)
	w.write(0, 1) // sine window
	if e.seq == eightShort {
		w.write(uint32(e.maxSFB), 4)
		var grouping uint32 // a bit per window after the first: 1 if it joins the group before
		win := 0
		for g := range e.ngroups {
			for k := range e.glen[g] {
				if win > 0 {
					grouping = grouping<<1 | boolBit(k > 0)
				}
				win++
			}
		}
		w.write(grouping, 7)
		return
	}
	w.write(uint32(e.maxSFB), 6)
	w.write(0, 1) // predictor_data_present
}

func (e *Encoder) writeICS(c int, withInfo bool) {
	w := &e.w
	w.write(uint32(e.gain[c]), 8)
	if withInfo {
		e.writeICSInfo()
	}
	lenBits, esc := uint(5), 31
	if e.seq == eightShort {
		lenBits, esc = 3, 7
	}
	for g := range e.ngroups { // section_data
		cbs := e.cbs[c][g*e.maxSFB : (g+1)*e.maxSFB]
		for b := 0; b < len(cbs); {
			n := 1
			for b+n < len(cbs) && cbs[b+n] == cbs[b] {
				n++
			}
			w.write(uint32(cbs[b]), 4)
			for left := n; ; left -= esc {
				if left >= esc {
					w.write(uint32(esc), lenBits)
					continue
				}
				w.write(uint32(left), lenBits)
				break
			}
			b += n
		}
	}
	prev := e.gain[c]
	for u := range e.nunits { // scale_factor_data
		if e.cbs[c][u] != 0 {
			sf := e.gain[c] + e.off[c][u]
			d := sf - prev + 60
			w.write(scalefactorCodes[d], uint(scalefactorBits[d]))
			prev = sf
		}
	}
	w.write(0, 1) // pulse_data_present
	w.write(0, 1) // tns_data_present
	w.write(0, 1) // gain_control_data_present
	q := &e.q[c]
	for u := range e.nunits { // spectral_data
		cb := e.cbs[c][u]
		if cb == 0 {
			continue
		}
		bk := books[cb]
		for i := e.ustart[u]; i < e.ustart[u+1]; i += int(bk.dim) {
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
