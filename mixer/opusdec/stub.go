//go:build !opus

package opusdec

// Available says whether this build decodes Opus.
const Available = false

// MaxFrameSamples bounds one packet's samples per channel (120 ms at 48 kHz).
const MaxFrameSamples = 5760

// Decoder decodes one stream (not in this build).
type Decoder struct{}

// New fails: this build does not decode Opus.
func New(channels int) (*Decoder, error) { return nil, ErrNotBuilt }

// Decode is never reached (New fails).
func (d *Decoder) Decode(dst []int16, packet []byte) ([]int16, error) { return dst, ErrNotBuilt }

// Encoder encodes one stream (not in this build).
type Encoder struct{}

// NewEncoder fails: this build does not encode Opus.
func NewEncoder(rate int) (*Encoder, error) { return nil, ErrNotBuilt }

// Encode is never reached (NewEncoder fails).
func (e *Encoder) Encode(pcm []int16) ([]byte, error) { return nil, ErrNotBuilt }
