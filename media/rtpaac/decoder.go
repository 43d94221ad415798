package rtpaac

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/rtp"
)

// Errors returned by Decode. ErrMorePacketsNeeded is flow control, not a failure.
var (
	ErrMorePacketsNeeded = errors.New("rtpaac: more packets needed")
	ErrMalformed         = errors.New("rtpaac: malformed payload")
	ErrFragmentLost      = errors.New("rtpaac: fragmented access unit lost a fragment")
)

// MaxAccessUnitSize bounds an access unit: an AAC frame is at most 6144 bits per channel,
// so 8 channels fit in 6 KiB; 64 KiB leaves room for any profile.
const MaxAccessUnitSize = 64 << 10

// maxAUsPerPacket bounds the AU headers read from one packet.
const maxAUsPerPacket = 256

// Config is the mpeg4-generic fmtp of one stream.
type Config struct {
	// SizeLength, IndexLength, IndexDeltaLength are the AU header field widths in bits:
	// 13, 3, 3 for AAC-hbr and 6, 2, 2 for AAC-lbr.
	SizeLength, IndexLength, IndexDeltaLength int
	// AudioSpecificConfig is the decoded config parameter.
	AudioSpecificConfig []byte
	// Mode is the mode parameter ("AAC-hbr", "AAC-lbr").
	Mode string
}

// ParseFMTP parses an a=fmtp value (without the payload type), e.g.
// "profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1190".
func ParseFMTP(fmtp string) (Config, error) {
	var c Config
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		switch k {
		case "sizelength", "indexlength", "indexdeltalength":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 32 {
				return c, fmt.Errorf("rtpaac: %s=%q out of range", k, v)
			}
			switch k {
			case "sizelength":
				c.SizeLength = n
			case "indexlength":
				c.IndexLength = n
			default:
				c.IndexDeltaLength = n
			}
		case "config":
			b, err := hex.DecodeString(v)
			if err != nil {
				return c, fmt.Errorf("rtpaac: config %q is not hex", v)
			}
			c.AudioSpecificConfig = b
		case "mode":
			c.Mode = v
		}
	}
	if c.SizeLength == 0 {
		return c, errors.New("rtpaac: fmtp has no sizelength")
	}
	return c, nil
}

// Decoder turns RTP packets of one mpeg4-generic stream, in sequence order, into AAC
// access units. It is not safe for concurrent use.
type Decoder struct {
	Config Config
	// SamplesPerAU is the duration of one access unit in RTP clock units (default 1024).
	SamplesPerAU uint32

	aus     [][]byte
	tss     []uint32
	frag    []byte
	fragLen int
	fragTS  uint32
}

// Lost tells the decoder packets were lost: a fragmented access unit in progress is dropped.
func (d *Decoder) Lost() { d.frag, d.fragLen = d.frag[:0], 0 }

type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) read(n int) (uint32, bool) {
	if n == 0 {
		return 0, true
	}
	if r.pos+n > len(r.b)*8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < n; i++ {
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-uint(r.pos%8)))&1
		r.pos++
	}
	return v, true
}

// Decode adds one packet and returns the access units it completes with their RTP
// timestamps, or ErrMorePacketsNeeded. The returned slices are valid until the next call
// and may alias the packet's payload; the packet is not modified.
func (d *Decoder) Decode(p *rtp.Packet) (aus [][]byte, timestamps []uint32, err error) {
	c := d.Config
	spa := d.SamplesPerAU
	if spa == 0 {
		spa = 1024
	}
	b := p.Payload
	if len(b) < 2 {
		d.Lost()
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	hdrBits := int(b[0])<<8 | int(b[1])
	hdrBytes := (hdrBits + 7) / 8
	if 2+hdrBytes > len(b) {
		d.Lost()
		return nil, nil, fmt.Errorf("%w: AU headers of %d bits in %d bytes", ErrMalformed, hdrBits, len(b))
	}
	r := bitReader{b: b[2 : 2+hdrBytes]}
	data := b[2+hdrBytes:]
	d.aus, d.tss = d.aus[:0], d.tss[:0]
	type span struct{ off, n int }
	var spans [maxAUsPerPacket]span
	n := 0
	off := 0
	for r.pos < hdrBits {
		size, ok := r.read(c.SizeLength)
		if !ok {
			break
		}
		idxLen := c.IndexDeltaLength
		if n == 0 {
			idxLen = c.IndexLength
		}
		if _, ok := r.read(idxLen); !ok {
			return nil, nil, fmt.Errorf("%w: AU header truncated", ErrMalformed)
		}
		if n == maxAUsPerPacket {
			return nil, nil, fmt.Errorf("%w: more than %d AUs in a packet", ErrMalformed, maxAUsPerPacket)
		}
		spans[n] = span{off, int(size)}
		off += int(size)
		n++
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%w: no AU header", ErrMalformed)
	}
	// A single AU larger than the packet's data is a fragment (RFC 3640 §3.2.3).
	if n == 1 && spans[0].n > len(data) {
		total := spans[0].n
		if total > MaxAccessUnitSize {
			d.Lost()
			return nil, nil, fmt.Errorf("%w: access unit of %d bytes", ErrMalformed, total)
		}
		if d.fragLen == 0 {
			d.fragLen, d.fragTS = total, p.Timestamp
			d.frag = d.frag[:0]
		} else if d.fragLen != total || d.fragTS != p.Timestamp {
			d.Lost()
			return nil, nil, ErrFragmentLost
		}
		if len(d.frag)+len(data) > total {
			d.Lost()
			return nil, nil, fmt.Errorf("%w: fragments exceed the access unit size", ErrMalformed)
		}
		d.frag = append(d.frag, data...)
		if len(d.frag) < total {
			if p.Marker {
				d.Lost()
				return nil, nil, ErrFragmentLost
			}
			return nil, nil, ErrMorePacketsNeeded
		}
		d.fragLen = 0
		d.aus = append(d.aus, d.frag)
		d.tss = append(d.tss, p.Timestamp)
		return d.aus, d.tss, nil
	}
	if d.fragLen != 0 {
		d.Lost() // a fragment series ended without completing
	}
	if off > len(data) {
		return nil, nil, fmt.Errorf("%w: AU sizes total %d bytes, %d present", ErrMalformed, off, len(data))
	}
	for i := 0; i < n; i++ {
		d.aus = append(d.aus, data[spans[i].off:spans[i].off+spans[i].n])
		d.tss = append(d.tss, p.Timestamp+uint32(i)*spa)
	}
	return d.aus, d.tss, nil
}
