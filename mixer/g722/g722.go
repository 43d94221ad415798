package g722

// band is one sub-band's ADPCM state.
type band struct {
	sPredictor      int16    // predictor output
	sZero           int32    // zero-section output
	partReconstMem  [2]int8  // signs of the last partially reconstructed signals
	prevQtzdReconst int16    // the last quantized reconstructed signal
	poleMem         [2]int16 // second-order pole section coefficients
	diffMem         [6]int32 // quantized difference signals
	zeroMem         [6]int16 // sixth-order zero section coefficients
	logFactor       int16    // logarithmic quantizer scale factor
	scaleFactor     int16    // linear quantizer scale factor
}

var invLog2 = [32]int32{
	2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
	2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
	2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
	3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
}

var highLogFactorStep = [2]int32{798, -214}

var highInvQuant = [4]int32{-926, -202, 926, 202}

var lowLogFactorStep = [16]int32{
	-60, 3042, 1198, 538, 334, 172, 58, -30,
	3042, 1198, 538, 334, 172, 58, -30, -60,
}

var lowInvQuant4 = [16]int32{
	0, -2557, -1612, -1121, -786, -530, -323, -150,
	2557, 1612, 1121, 786, 530, 323, 150, 0,
}

var lowInvQuant6 = [64]int32{
	-17, -17, -17, -17, -3101, -2738, -2376, -2088,
	-1873, -1689, -1535, -1399, -1279, -1170, -1072, -982,
	-899, -822, -750, -682, -618, -558, -501, -447,
	-396, -347, -300, -254, -211, -170, -130, -91,
	3101, 2738, 2376, 2088, 1873, 1689, 1535, 1399,
	1279, 1170, 1072, 982, 899, 822, 750, 682,
	618, 558, 501, 447, 396, 347, 300, 254,
	211, 170, 130, 91, 54, 17, -54, -17,
}

// lowQuant are the lower band's decision levels (ITU-T G.722 Table 6).
var lowQuant = [29]int32{
	35, 72, 110, 150, 190, 233, 276, 323,
	370, 422, 473, 530, 587, 650, 714, 786,
	858, 940, 1023, 1121, 1219, 1339, 1458, 1612,
	1765, 1980, 2195, 2557, 2919,
}

// qmfCoeffs are the QMF's coefficients (ITU-T G.722 Table 11).
var qmfCoeffs = [12]int32{3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11}

func clip(v, lo, hi int32) int32 { return min(max(v, lo), hi) }

func clip16(v int32) int32 { return clip(v, -32768, 32767) }

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// adapt runs the adaptive predictor with the current dequantized difference.
func (b *band) adapt(curDiff int32) {
	cur := int8(boolInt(b.sZero+curDiff < 0))
	sg0, sg1 := int32(-1), int32(-1)
	if cur != b.partReconstMem[0] {
		sg0 = 1
	}
	if cur == b.partReconstMem[1] {
		sg1 = 1
	}
	b.partReconstMem[1], b.partReconstMem[0] = b.partReconstMem[0], cur

	p0, p1 := int32(b.poleMem[0]), int32(b.poleMem[1])
	p1 = clip((sg0*clip(p0, -8191, 8191)>>5)+(sg1<<7)+(p1*127>>7), -12288, 12288)
	limit := 15360 - p1
	p0 = clip(-192*sg0+(p0*255>>8), -limit, limit)
	b.poleMem[0], b.poleMem[1] = int16(p0), int16(p1)

	for i := range 6 {
		z := int32(b.zeroMem[i]) * 255 >> 8
		if curDiff != 0 {
			if b.diffMem[i]^curDiff < 0 {
				z -= 128
			} else {
				z += 128
			}
		}
		b.zeroMem[i] = int16(z)
	}
	for i := 5; i > 0; i-- {
		b.diffMem[i] = b.diffMem[i-1]
	}
	b.diffMem[0] = clip16(curDiff << 1)

	b.sZero = 0
	for i := 5; i >= 0; i-- {
		b.sZero += int32(b.zeroMem[i]) * b.diffMem[i] >> 15
	}
	curQ := clip16((int32(b.sPredictor) + curDiff) << 1)
	b.sPredictor = int16(clip16(b.sZero + (p0 * curQ >> 15) + (p1 * int32(b.prevQtzdReconst) >> 15)))
	b.prevQtzdReconst = int16(curQ)
}

func linearScale(logFactor int32) int16 {
	wd1 := invLog2[(logFactor>>6)&31]
	shift := logFactor >> 11
	if shift < 0 {
		return int16(wd1 >> -shift)
	}
	return int16(wd1 << shift)
}

func (b *band) updateLow(ilow int32) {
	b.adapt(int32(b.scaleFactor) * lowInvQuant4[ilow] >> 10)
	lf := clip((int32(b.logFactor)*127>>7)+lowLogFactorStep[ilow], 0, 18432)
	b.logFactor = int16(lf)
	b.scaleFactor = linearScale(lf - 8<<11)
}

func (b *band) updateHigh(dhigh, ihigh int32) {
	b.adapt(dhigh)
	lf := clip((int32(b.logFactor)*127>>7)+highLogFactorStep[ihigh&1], 0, 22528)
	b.logFactor = int16(lf)
	b.scaleFactor = linearScale(lf - 10<<11)
}

// qmf is the filter's last 24 inputs, oldest first.
type qmf [24]int32

// push adds two samples and returns the filter's two sums.
func (q *qmf) push(a, b int32) (x1, x2 int32) {
	copy(q[:22], q[2:])
	q[22], q[23] = a, b
	for i := range 12 {
		x2 += q[2*i] * qmfCoeffs[i]
		x1 += q[2*i+1] * qmfCoeffs[11-i]
	}
	return x1, x2
}

func newBands() [2]band {
	var b [2]band
	b[0].scaleFactor, b[1].scaleFactor = 8, 2
	return b
}

// Encoder codes 16 kHz samples, two to a byte. The zero value is not ready: use
// NewEncoder.
type Encoder struct {
	band    [2]band
	q       qmf
	pending int16
	odd     bool
}

// NewEncoder returns an encoder at the start of a stream.
func NewEncoder() *Encoder { e := &Encoder{}; e.Reset(); return e }

// Reset starts a new stream.
func (e *Encoder) Reset() { *e = Encoder{band: newBands()} }

// Encode appends the codes of src (16 kHz) to dst. A sample left over from an odd
// count waits for the next call.
func (e *Encoder) Encode(dst []byte, src []int16) []byte {
	for _, s := range src {
		if !e.odd {
			e.pending, e.odd = s, true
			continue
		}
		e.odd = false
		dst = append(dst, e.encodePair(int32(e.pending), int32(s)))
	}
	return dst
}

func (e *Encoder) encodePair(s0, s1 int32) byte {
	x1, x2 := e.q.push(s0, s1)
	xlow, xhigh := (x1+x2)>>14, (x1-x2)>>14
	lo, hi := &e.band[0], &e.band[1]

	diff := clip16(xhigh - int32(hi.sPredictor))
	pred := 141 * int32(hi.scaleFactor) >> 8
	ihigh := boolInt((diff^(diff>>31)) < pred) + 2*boolInt(diff >= 0)

	diff = clip16(xlow - int32(lo.sPredictor))
	limit := ((diff ^ (diff >> 31)) + 1) << 10
	i := int32(0)
	sf := int32(lo.scaleFactor)
	if limit > lowQuant[8]*sf {
		i = 9
	}
	for i < 29 && limit > lowQuant[i]*sf {
		i++
	}
	var ilow int32
	switch {
	case diff >= 0:
		ilow = 61 - i
	case i < 2:
		ilow = 63 - i
	default:
		ilow = 33 - i
	}

	hi.updateHigh(int32(hi.scaleFactor)*highInvQuant[ihigh]>>10, ihigh)
	lo.updateLow(ilow >> 2)
	return byte(ihigh<<6 | ilow)
}

// Decoder turns codes into 16 kHz samples, two per byte. The zero value is not ready:
// use NewDecoder.
type Decoder struct {
	band [2]band
	q    qmf
}

// NewDecoder returns a decoder at the start of a stream.
func NewDecoder() *Decoder { d := &Decoder{}; d.Reset(); return d }

// Reset starts a new stream.
func (d *Decoder) Reset() { *d = Decoder{band: newBands()} }

// Decode appends the samples of src to dst (two per byte).
func (d *Decoder) Decode(dst []int16, src []byte) []int16 {
	lo, hi := &d.band[0], &d.band[1]
	for _, c := range src {
		ihigh, ilow := int32(c>>6), int32(c&63)
		rlow := clip((int32(lo.scaleFactor)*lowInvQuant6[ilow]>>10)+int32(lo.sPredictor), -16384, 16383)
		lo.updateLow(ilow >> 2)
		dhigh := int32(hi.scaleFactor) * highInvQuant[ihigh] >> 10
		rhigh := clip(dhigh+int32(hi.sPredictor), -16384, 16383)
		hi.updateHigh(dhigh, ihigh)
		x1, x2 := d.q.push(rlow+rhigh, rlow-rhigh)
		dst = append(dst, int16(clip16(x1>>11)), int16(clip16(x2>>11)))
	}
	return dst
}
