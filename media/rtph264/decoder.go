package rtph264

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"

	"github.com/sipcast/sipcast/media/h264"
)

// Errors returned by Decode. ErrMorePacketsNeeded is flow control, not a failure.
var (
	ErrMorePacketsNeeded = errors.New("rtph264: more packets needed")
	ErrUnsupported       = errors.New("rtph264: unsupported packetization (STAP-B, MTAP or FU-B)")
	ErrMalformed         = errors.New("rtph264: malformed payload")
	ErrFragmentLost      = errors.New("rtph264: fragmented NAL unit lost a fragment")
	ErrTooLarge          = errors.New("rtph264: access unit exceeds MaxAccessUnitSize")
)

// DefaultMaxAccessUnitSize bounds an access unit: far above a 1080p keyframe at broadcast
// bitrates (a few hundred KB) and small enough that hostile input cannot exhaust memory.
const DefaultMaxAccessUnitSize = 8 << 20

// NAL unit types of the RTP payload format (RFC 6184 §5.2).
const (
	typeSTAPA = 24
	typeSTAPB = 25
	typeMTAP1 = 26
	typeMTAP2 = 27
	typeFUA   = 28
	typeFUB   = 29
)

// Decoder turns RTP packets of one H.264 stream, in sequence order, into access units.
// It is not safe for concurrent use.
type Decoder struct {
	// MaxAccessUnitSize bounds access units (default DefaultMaxAccessUnitSize).
	MaxAccessUnitSize int

	au        []byte // access unit being assembled (AVCC)
	out       []byte // the last access unit returned
	auTS      uint32
	auKey     bool
	auStarted bool
	fuStart   int // offset in au of the FU-A NAL unit's length prefix, -1 when none
	dropAU    bool

	// Rejected counts packets rejected as unsupported or malformed.
	Rejected uint64
}

// AccessUnit is a decoded access unit. Data is valid until the next call to Decode.
type AccessUnit struct {
	Data      []byte // AVCC
	Timestamp uint32 // RTP timestamp (presentation time)
	Keyframe  bool
}

func (d *Decoder) max() int {
	if d.MaxAccessUnitSize > 0 {
		return d.MaxAccessUnitSize
	}
	return DefaultMaxAccessUnitSize
}

// Lost tells the decoder that packets were lost before the next one: the access unit in
// progress is discarded.
func (d *Decoder) Lost() {
	d.reset()
}

func (d *Decoder) reset() {
	d.au = d.au[:0]
	d.auStarted, d.auKey, d.dropAU = false, false, false
	d.fuStart = -1
}

// Decode adds one packet. It returns a complete access unit when the packet has the
// marker bit, or when its timestamp starts a new access unit while one is pending (the
// marker was lost); otherwise ErrMorePacketsNeeded. The packet is not modified.
func (d *Decoder) Decode(p *rtp.Packet) (AccessUnit, error) {
	var done AccessUnit
	if d.auStarted && p.Timestamp != d.auTS {
		// A new picture began without the previous one's marker bit.
		done = d.finish()
	}
	if !d.auStarted {
		d.auStarted, d.auTS, d.fuStart = true, p.Timestamp, -1
	}
	err := d.add(p.Payload)
	if err != nil {
		if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrMalformed) {
			d.Rejected++
		}
		d.dropAU = true
	}
	if p.Marker {
		m := d.finish()
		if done.Data == nil {
			done = m
		}
		// If two units complete at once (missing marker, then a one-packet picture) the
		// second one wins the next call; rare enough to drop the first instead.
	}
	if done.Data != nil {
		return done, nil
	}
	if err != nil {
		return AccessUnit{}, err
	}
	return AccessUnit{}, ErrMorePacketsNeeded
}

func (d *Decoder) finish() AccessUnit {
	var au AccessUnit
	if !d.dropAU && d.fuStart < 0 && len(d.au) > 0 {
		d.out, d.au = d.au, d.out[:0]
		au = AccessUnit{Data: d.out, Timestamp: d.auTS, Keyframe: d.auKey}
	}
	d.reset()
	return au
}

func (d *Decoder) appendNALU(nalu []byte) error {
	if len(nalu) == 0 {
		return fmt.Errorf("%w: empty NAL unit", ErrMalformed)
	}
	if len(d.au)+4+len(nalu) > d.max() {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(d.au)+4+len(nalu))
	}
	if h264.TypeOf(nalu) == h264.NALUTypeIDR {
		d.auKey = true
	}
	d.au = h264.AppendAVCC(d.au, nalu)
	return nil
}

func (d *Decoder) add(payload []byte) error {
	if len(payload) < 1 {
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if payload[0]&0x80 != 0 {
		return fmt.Errorf("%w: forbidden_zero_bit set", ErrMalformed)
	}
	typ := payload[0] & 0x1f
	if d.fuStart >= 0 && typ != typeFUA {
		// A fragmented NAL unit was cut off by another packet: drop it.
		d.au = d.au[:d.fuStart]
		d.fuStart = -1
		d.dropAU = true
	}
	switch typ {
	case typeSTAPA:
		b := payload[1:]
		n := 0
		for len(b) > 0 {
			if len(b) < 2 {
				return fmt.Errorf("%w: STAP-A size truncated", ErrMalformed)
			}
			size := int(binary.BigEndian.Uint16(b))
			if size == 0 || size > len(b)-2 {
				return fmt.Errorf("%w: STAP-A NAL unit of %d bytes, %d left", ErrMalformed, size, len(b)-2)
			}
			if err := d.appendNALU(b[2 : 2+size]); err != nil {
				return err
			}
			b = b[2+size:]
			n++
		}
		if n == 0 {
			return fmt.Errorf("%w: empty STAP-A", ErrMalformed)
		}
		return nil
	case typeFUA:
		if len(payload) < 3 {
			return fmt.Errorf("%w: FU-A of %d bytes", ErrMalformed, len(payload))
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		if start {
			if d.fuStart >= 0 {
				d.au = d.au[:d.fuStart]
				d.dropAU = true
			}
			if len(d.au)+5 > d.max() {
				return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(d.au)+5)
			}
			d.fuStart = len(d.au)
			hdr := payload[0]&0xe0 | payload[1]&0x1f
			d.au = append(d.au, 0, 0, 0, 0, hdr)
			if h264.NALUType(hdr&0x1f) == h264.NALUTypeIDR {
				d.auKey = true
			}
		} else if d.fuStart < 0 {
			return ErrFragmentLost
		}
		if len(d.au)+len(payload)-2 > d.max() {
			d.au = d.au[:d.fuStart]
			d.fuStart = -1
			return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(d.au)+len(payload)-2)
		}
		d.au = append(d.au, payload[2:]...)
		if end {
			binary.BigEndian.PutUint32(d.au[d.fuStart:], uint32(len(d.au)-d.fuStart-4))
			d.fuStart = -1
		}
		return nil
	case typeSTAPB, typeMTAP1, typeMTAP2, typeFUB:
		return fmt.Errorf("%w: NAL unit type %d", ErrUnsupported, typ)
	case 0, 30, 31:
		return fmt.Errorf("%w: reserved NAL unit type %d", ErrMalformed, typ)
	default:
		return d.appendNALU(payload)
	}
}
