package chunk

import (
	"encoding/binary"
	"fmt"
	"io"
)

type outStream struct {
	used       bool
	timestamp  uint32
	delta      uint32
	deltaValid bool // delta came from a type 1/2 header, so a type 3 header may repeat it
	length     uint32
	typ        uint8
	streamID   uint32
	extended   bool
}

// Writer writes RTMP messages as chunks, choosing the smallest header that is
// unambiguous for every common peer: type 0 for the first message of a chunk stream, a new
// message stream id or a timestamp going backwards; type 1 when length or type change;
// type 2 for a new delta; type 3 for continuation chunks and for a repeated type 1/2 delta.
// A type 3 header never directly follows a type 0 one for a new message, because
// nginx-rtmp and ffmpeg disagree about the delta it implies.
//
// Writer does not buffer: give it a bufio.Writer and flush that. It is not safe for
// concurrent use, and it does not allocate in steady state.
type Writer struct {
	w         io.Writer
	chunkSize uint32
	streams   map[uint32]*outStream
	hdr       [18]byte
}

// NewWriter returns a Writer with chunk size 128.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, chunkSize: DefaultChunkSize, streams: make(map[uint32]*outStream)}
}

// SetChunkSize changes the outgoing chunk size. The caller must have sent (or be about to
// send, as the next message) a Set Chunk Size message announcing it; see WriteSetChunkSize.
func (w *Writer) SetChunkSize(n uint32) error {
	if n == 0 || n > MaxChunkSize {
		return fmt.Errorf("%w: %d", ErrInvalidChunkSize, n)
	}
	w.chunkSize = n
	return nil
}

// ChunkSize returns the outgoing chunk size.
func (w *Writer) ChunkSize() uint32 { return w.chunkSize }

// WriteSetChunkSize sends Set Chunk Size on chunk stream 2 and switches to the new size.
func (w *Writer) WriteSetChunkSize(n uint32) error {
	if n == 0 || n > MaxChunkSize {
		return fmt.Errorf("%w: %d", ErrInvalidChunkSize, n)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	if err := w.WriteMessage(2, TypeSetChunkSize, 0, 0, nil, b[:]); err != nil {
		return err
	}
	w.chunkSize = n
	return nil
}

func (w *Writer) basicHeader(b []byte, format uint8, csid uint32) int {
	switch {
	case csid < 64:
		b[0] = format<<6 | byte(csid)
		return 1
	case csid < 64+256:
		b[0] = format << 6
		b[1] = byte(csid - 64)
		return 2
	default:
		b[0] = format<<6 | 1
		binary.LittleEndian.PutUint16(b[1:], uint16(csid-64))
		return 3
	}
}

// WriteMessage writes one message whose body is prefix followed by payload (so that a
// caller can put a small header in front of a large buffer without copying). csid must be
// between 2 and 65599.
func (w *Writer) WriteMessage(csid uint32, typ uint8, timestamp, streamID uint32, prefix, payload []byte) error {
	if csid < 2 || csid > 65599 {
		return fmt.Errorf("%w: %d", errChunkStreamIDZero, csid)
	}
	total := len(prefix) + len(payload)
	if total > maxMessageLength {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, total, maxMessageLength)
	}
	s := w.streams[csid]
	if s == nil {
		s = &outStream{}
		w.streams[csid] = s
	}
	length := uint32(total)
	var format uint8
	var tsField uint32
	switch {
	case !s.used || streamID != s.streamID || timestamp < s.timestamp:
		format, tsField = 0, timestamp
	case length != s.length || typ != s.typ:
		format, tsField = 1, timestamp-s.timestamp
	case s.deltaValid && timestamp-s.timestamp == s.delta && !s.extended:
		format, tsField = 3, s.delta
	default:
		format, tsField = 2, timestamp-s.timestamp
	}
	h := w.hdr[:]
	n := w.basicHeader(h, format, csid)
	ext := tsField >= 0xffffff
	if format <= 2 {
		f := tsField
		if ext {
			f = 0xffffff
		}
		h[n], h[n+1], h[n+2] = byte(f>>16), byte(f>>8), byte(f)
		n += 3
		if format <= 1 {
			h[n], h[n+1], h[n+2] = byte(length>>16), byte(length>>8), byte(length)
			h[n+3] = typ
			n += 4
			if format == 0 {
				binary.LittleEndian.PutUint32(h[n:], streamID)
				n += 4
			}
		}
		if ext {
			binary.BigEndian.PutUint32(h[n:], tsField)
			n += 4
		}
	}
	s.used = true
	s.timestamp, s.length, s.typ, s.streamID = timestamp, length, typ, streamID
	if format != 3 {
		s.delta = tsField
		s.deltaValid = format != 0
		s.extended = ext
	}
	if _, err := w.w.Write(h[:n]); err != nil {
		return err
	}
	// Continuation chunks: type 3, repeating an extended timestamp as nginx and ffmpeg do.
	cont := w.basicHeader(w.hdr[:], 3, csid)
	if s.extended {
		binary.BigEndian.PutUint32(w.hdr[cont:], tsField)
		cont += 4
	}
	room := w.chunkSize
	for _, part := range [2][]byte{prefix, payload} {
		for len(part) > 0 {
			if room == 0 {
				if _, err := w.w.Write(w.hdr[:cont]); err != nil {
					return err
				}
				room = w.chunkSize
			}
			k := uint32(len(part))
			if k > room {
				k = room
			}
			if _, err := w.w.Write(part[:k]); err != nil {
				return err
			}
			part = part[k:]
			room -= k
		}
	}
	return nil
}
