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

	au  []byte // access unit being assembled (AVCC)
	out []byte // the last access unit returned
	// next is a second access unit completed by the same packet (a lost marker, then a
	// one-packet picture), in out2, for Next.
	next      AccessUnit
	out2      []byte
	auTS      uint32
	auKey     bool
	auStarted bool
	fuStart   int // offset in au of the FU-A NAL unit's length prefix, -1 when none
	dropAU    bool
	// damaged says NAL units of the access unit in progress were lost or dropped;
	// lostBefore that packets were lost before the next packet, which may start a new
	// access unit whose first NAL units went with them.
	damaged, lostBefore bool

	// Rejected counts packets rejected as unsupported or malformed.
	Rejected uint64
}

// AccessUnit is a decoded access unit. Data is valid until the next call to Decode.
type AccessUnit struct {
	Data      []byte // AVCC
	Timestamp uint32 // RTP timestamp (presentation time)
	Keyframe  bool   // it holds IDR slices
	// Damaged says some of the unit's NAL units were lost (or malformed) and left out:
	// Data holds only complete NAL units, never a truncated or spliced one.
	Damaged bool
}

func (d *Decoder) max() int {
	if d.MaxAccessUnitSize > 0 {
		return d.MaxAccessUnitSize
	}
	return DefaultMaxAccessUnitSize
}

// Lost tells the decoder that packets were lost before the next one. The NAL unit being
// reassembled from fragments is dropped; the complete NAL units of the access unit in
// progress are kept, and it comes out marked Damaged, as does the next one when the next
// packet starts it (its first NAL units may have been lost too).
func (d *Decoder) Lost() {
	if d.fuStart >= 0 {
		d.au = d.au[:d.fuStart]
		d.fuStart = -1
	}
	if d.auStarted {
		d.damaged = true
	}
	d.lostBefore = true
}

func (d *Decoder) reset() {
	d.au = d.au[:0]
	d.auStarted, d.auKey, d.dropAU, d.damaged = false, false, false, false
	d.fuStart = -1
}

// Decode adds one packet. It returns a complete access unit when the packet has the
// marker bit, or when its timestamp starts a new access unit while one is pending (the
// marker was lost); otherwise ErrMorePacketsNeeded. The packet is not modified.
func (d *Decoder) Decode(p *rtp.Packet) (AccessUnit, error) {
	var done AccessUnit
	if d.auStarted && p.Timestamp != d.auTS {
		// A new picture began without the previous one's marker bit.
		done = d.finish(&d.out)
	}
	if !d.auStarted {
		d.auStarted, d.auTS, d.fuStart = true, p.Timestamp, -1
		d.damaged = d.lostBefore // its head may have been lost
	}
	d.lostBefore = false
	err := d.add(p.Payload)
	switch {
	case err == nil:
	case errors.Is(err, ErrTooLarge):
		d.dropAU = true // hostile or broken: the whole unit goes
	default:
		if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrMalformed) {
			d.Rejected++
		}
		d.damaged = true // this packet's NAL units are left out; the others stay
	}
	d.next = AccessUnit{}
	if p.Marker {
		if done.Data == nil {
			done = d.finish(&d.out)
		} else {
			// Two units complete at once (a lost marker, then a one-packet picture): the
			// second waits for Next.
			d.next = d.finish(&d.out2)
		}
	}
	if done.Data != nil {
		return done, nil
	}
	if err != nil {
		return AccessUnit{}, err
	}
	return AccessUnit{}, ErrMorePacketsNeeded
}

// Next returns the second access unit the last Decode completed, if it completed two (a
// picture whose marker packet was lost, then a one-packet picture). Its Data is valid
// until the next call to Decode.
func (d *Decoder) Next() (AccessUnit, bool) {
	au := d.next
	d.next = AccessUnit{}
	return au, au.Data != nil
}

// Flush returns the access unit in progress, if any (ok false otherwise): the stream
// ended before the packet with its marker bit came. It is marked Damaged (its last
// packets may have been lost). Its Data is valid until the next call to Decode.
func (d *Decoder) Flush() (AccessUnit, bool) {
	if !d.auStarted {
		return AccessUnit{}, false
	}
	d.damaged = true
	au := d.finish(&d.out)
	return au, au.Data != nil
}

// finish completes the access unit in progress into *out (its buffer swapped with the
// one being assembled).
func (d *Decoder) finish(out *[]byte) AccessUnit {
	var au AccessUnit
	if d.fuStart >= 0 { // a NAL unit whose last fragment never came
		d.au = d.au[:d.fuStart]
		d.fuStart = -1
		d.damaged = true
	}
	if d.damaged && d.auKey { // the IDR slices may all have been among the NAL units lost
		d.auKey = hasIDR(d.au)
	}
	if !d.dropAU && len(d.au) > 0 {
		*out, d.au = d.au, (*out)[:0]
		au = AccessUnit{Data: *out, Timestamp: d.auTS, Keyframe: d.auKey, Damaged: d.damaged}
	}
	d.reset()
	return au
}

// hasIDR reports whether an AVCC access unit holds an IDR slice.
func hasIDR(au []byte) bool {
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		if n <= 0 || n > len(au)-4 {
			return false
		}
		if h264.TypeOf(au[4:4+n]) == h264.NALUTypeIDR {
			return true
		}
		au = au[4+n:]
	}
	return false
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
		d.damaged = true
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
				d.damaged = true
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
