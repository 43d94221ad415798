package g711

// Codec is one of the two laws.
type Codec struct {
	enc *[16384]byte // by (sample + 32768) >> 2: a 14-bit index
	dec *[256]int16
}

// ULaw is G.711 µ-law (RTP payload type 0, PCMU).
var ULaw = Codec{enc: &ulawEnc, dec: &ulawDec}

// ALaw is G.711 A-law (RTP payload type 8, PCMA).
var ALaw = Codec{enc: &alawEnc, dec: &alawDec}

// Encode appends the codes of src to dst and returns it.
func (c Codec) Encode(dst []byte, src []int16) []byte {
	for _, s := range src {
		dst = append(dst, c.enc[(int(s)+32768)>>2])
	}
	return dst
}

// Decode appends the samples of src to dst and returns it.
func (c Codec) Decode(dst []int16, src []byte) []int16 {
	for _, b := range src {
		dst = append(dst, c.dec[b])
	}
	return dst
}

// EncodeSample is one sample's code.
func (c Codec) EncodeSample(s int16) byte { return c.enc[(int(s)+32768)>>2] }

// DecodeSample is one code's sample.
func (c Codec) DecodeSample(b byte) int16 { return c.dec[b] }

var (
	ulawEnc, alawEnc [16384]byte
	ulawDec, alawDec [256]int16
)

const (
	signBit   = 0x80
	quantMask = 0x0f
	segShift  = 4
	segMask   = 0x70
	bias      = 0x84
)

// ulawLinear is G.711's µ-law reconstruction level of a code.
func ulawLinear(u byte) int {
	u = ^u
	t := (int(u&quantMask) << 3) + bias
	t <<= (u & segMask) >> segShift
	if u&signBit != 0 {
		return bias - t
	}
	return t - bias
}

// alawLinear is G.711's A-law reconstruction level of a code.
func alawLinear(a byte) int {
	a ^= 0x55
	t := int(a & quantMask)
	seg := (a & segMask) >> segShift
	if seg != 0 {
		t = (t + t + 1 + 32) << (seg + 2)
	} else {
		t = (t + t + 1) << 3
	}
	if a&signBit != 0 {
		return t
	}
	return -t
}

// buildEncoder fills a 14-bit table: each input gets the code of the nearest level,
// positive codes from mask (zero) up, negative ones with the sign bit flipped.
func buildEncoder(table *[16384]byte, linear func(byte) int, mask byte) {
	j := 1
	table[8192] = mask
	for i := 0; i < 127; i++ {
		v1, v2 := linear(byte(i)^mask), linear(byte(i+1)^mask)
		v := (v1 + v2 + 4) >> 3 // the midpoint, in 14-bit units
		for ; j < v; j++ {
			table[8192-j] = byte(i) ^ (mask ^ 0x80)
			table[8192+j] = byte(i) ^ mask
		}
	}
	for ; j < 8192; j++ {
		table[8192-j] = 127 ^ (mask ^ 0x80)
		table[8192+j] = 127 ^ mask
	}
	table[0] = table[1]
}

func init() {
	for c := range 256 {
		ulawDec[c] = int16(ulawLinear(byte(c)))
		alawDec[c] = int16(alawLinear(byte(c)))
	}
	buildEncoder(&ulawEnc, ulawLinear, 0xff)
	buildEncoder(&alawEnc, alawLinear, 0xd5)
}
