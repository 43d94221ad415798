package rtplatm

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// Errors returned by Decode. ErrMorePacketsNeeded is flow control, not a failure.
var (
	ErrMorePacketsNeeded = errors.New("rtplatm: more packets needed")
	ErrMalformed         = errors.New("rtplatm: malformed AudioMuxElement")
	ErrNoConfig          = errors.New("rtplatm: no StreamMuxConfig received yet")
)

// MaxElementSize bounds an AudioMuxElement (and so the bytes buffered from fragments).
const MaxElementSize = 64 << 10

// Decoder turns MP4A-LATM RTP packets of one stream, in sequence order, into AAC access
// units. It is not safe for concurrent use.
type Decoder struct {
	Config Config

	elem    []byte
	elemTS  uint32
	started bool
	aus     [][]byte
	out     []byte
	// ConfigChanged is set by Decode when an in-band StreamMuxConfig changed the
	// AudioSpecificConfig; the caller clears it.
	ConfigChanged bool
}

// AudioSpecificConfig returns the current AAC configuration, or nil before one is known.
func (d *Decoder) AudioSpecificConfig() []byte {
	return d.Config.StreamMuxConfig.AudioSpecificConfig
}

// Lost drops an element in progress.
func (d *Decoder) Lost() { d.elem, d.started = d.elem[:0], false }

// Decode adds a packet. When the packet ends an AudioMuxElement (marker bit) it returns
// the element's access units, all with the packet's timestamp (the element's first; the
// others follow at 1024-sample steps); otherwise ErrMorePacketsNeeded. The access units
// are valid until the next call. The packet is not modified.
func (d *Decoder) Decode(p *rtp.Packet) ([][]byte, uint32, error) {
	if d.started && p.Timestamp != d.elemTS {
		d.Lost() // a fragmented element lost its end
	}
	if !d.started {
		d.started, d.elemTS = true, p.Timestamp
	}
	if len(d.elem)+len(p.Payload) > MaxElementSize {
		d.Lost()
		return nil, 0, fmt.Errorf("%w: element exceeds %d bytes", ErrMalformed, MaxElementSize)
	}
	d.elem = append(d.elem, p.Payload...)
	if !p.Marker {
		return nil, 0, ErrMorePacketsNeeded
	}
	ts := d.elemTS
	aus, err := d.parseElement(d.elem)
	d.elem, d.started = d.elem[:0], false
	return aus, ts, err
}

func (d *Decoder) parseElement(b []byte) ([][]byte, error) {
	r := bitReader{b: b}
	if d.Config.CPresent {
		same, err := r.read(1)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if same == 0 {
			smc, err := parseStreamMuxConfig(&r)
			if err != nil {
				return nil, fmt.Errorf("%w: StreamMuxConfig: %v", ErrMalformed, err)
			}
			old := d.Config.StreamMuxConfig.AudioSpecificConfig
			if string(old) != string(smc.AudioSpecificConfig) {
				d.ConfigChanged = true
			}
			d.Config.StreamMuxConfig = smc
		} else if d.Config.StreamMuxConfig.AudioSpecificConfig == nil {
			return nil, ErrNoConfig
		}
	}
	smc := d.Config.StreamMuxConfig
	if smc.NumSubFrames == 0 {
		return nil, ErrNoConfig
	}
	d.aus, d.out = d.aus[:0], d.out[:0]
	type span struct{ off, n int }
	var spans [64]span
	for i := 0; i < smc.NumSubFrames; i++ {
		n := 0
		for {
			v, err := r.read(8)
			if err != nil {
				return nil, fmt.Errorf("%w: PayloadLengthInfo: %v", ErrMalformed, err)
			}
			n += int(v)
			if v != 255 {
				break
			}
		}
		off := len(d.out)
		var err error
		if d.out, err = r.appendBytes(d.out, n); err != nil {
			return nil, fmt.Errorf("%w: payload of %d bytes, %d bits left", ErrMalformed, n, r.left())
		}
		spans[i] = span{off, n}
	}
	for i := 0; i < smc.NumSubFrames; i++ {
		d.aus = append(d.aus, d.out[spans[i].off:spans[i].off+spans[i].n])
	}
	return d.aus, nil
}
