package message

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is returned when a control message body is shorter than its type requires.
var ErrShort = errors.New("message: control message too short")

func u32(b []byte, what string) (uint32, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("%w: %s of %d bytes", ErrShort, what, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// PutUint32 writes a 4-byte body (Set Chunk Size, Abort, Acknowledgement, Window
// Acknowledgement Size) into b and returns it.
func PutUint32(b *[4]byte, v uint32) []byte {
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

// ParseUint32 reads a 4-byte control message body.
func ParseUint32(b []byte, what string) (uint32, error) { return u32(b, what) }

// Limit types of Set Peer Bandwidth.
const (
	LimitHard    = 0
	LimitSoft    = 1
	LimitDynamic = 2
)

// SetPeerBandwidth is the Set Peer Bandwidth message (§5.4.5).
type SetPeerBandwidth struct {
	Size      uint32
	LimitType uint8
}

// Marshal writes the 5-byte body into b.
func (m SetPeerBandwidth) Marshal(b *[5]byte) []byte {
	binary.BigEndian.PutUint32(b[:], m.Size)
	b[4] = m.LimitType
	return b[:]
}

// Unmarshal parses the body.
func (m *SetPeerBandwidth) Unmarshal(b []byte) error {
	if len(b) < 5 {
		return fmt.Errorf("%w: Set Peer Bandwidth of %d bytes", ErrShort, len(b))
	}
	m.Size, m.LimitType = binary.BigEndian.Uint32(b), b[4]
	return nil
}

// User control event types (§6.2 and §7.1.7).
const (
	EventStreamBegin      = 0
	EventStreamEOF        = 1
	EventStreamDry        = 2
	EventSetBufferLength  = 3
	EventStreamIsRecorded = 4
	EventPingRequest      = 6
	EventPingResponse     = 7
)

// UserControl is a User Control message. Data is the stream id for the stream events and
// the timestamp for pings; BufferLength is set only for Set Buffer Length.
type UserControl struct {
	Event        uint16
	Data         uint32
	BufferLength uint32
}

// Marshal writes the body into b and returns it (6 bytes, 10 for Set Buffer Length).
func (m UserControl) Marshal(b *[10]byte) []byte {
	binary.BigEndian.PutUint16(b[:], m.Event)
	binary.BigEndian.PutUint32(b[2:], m.Data)
	if m.Event == EventSetBufferLength {
		binary.BigEndian.PutUint32(b[6:], m.BufferLength)
		return b[:10]
	}
	return b[:6]
}

// Unmarshal parses the body. Unknown events with a 4-byte argument are accepted.
func (m *UserControl) Unmarshal(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("%w: User Control of %d bytes", ErrShort, len(b))
	}
	m.Event = binary.BigEndian.Uint16(b)
	m.Data = binary.BigEndian.Uint32(b[2:])
	m.BufferLength = 0
	if m.Event == EventSetBufferLength {
		if len(b) < 10 {
			return fmt.Errorf("%w: Set Buffer Length of %d bytes", ErrShort, len(b))
		}
		m.BufferLength = binary.BigEndian.Uint32(b[6:])
	}
	return nil
}
