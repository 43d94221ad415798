package chunk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors returned by Reader.Read.
var (
	ErrMessageTooLarge   = errors.New("chunk: message exceeds the size limit")
	ErrTooManyStreams    = errors.New("chunk: too many chunk streams with partial messages")
	ErrBufferLimit       = errors.New("chunk: partial messages exceed the buffer limit")
	ErrNoPreviousHeader  = errors.New("chunk: compressed header on a chunk stream without a previous header")
	ErrInvalidChunkSize  = errors.New("chunk: invalid chunk size")
	ErrMalformedControl  = errors.New("chunk: malformed protocol control message")
	ErrHeaderChangedMid  = errors.New("chunk: header changed in the middle of a message")
	errChunkStreamIDZero = errors.New("chunk: invalid chunk stream id")
)

// Defaults for the Reader limits.
const (
	// DefaultMaxMessageSize admits any message a 24-bit length can announce (16 MiB - 1);
	// a 1080p keyframe at high bitrate is well under that.
	DefaultMaxMessageSize = maxMessageLength
	// DefaultMaxChunkStreams bounds chunk streams with a partial message. Real peers use
	// fewer than ten.
	DefaultMaxChunkStreams = 64
	// DefaultMaxBufferedBytes bounds the memory of a Reader's message buffers on all
	// chunk streams together, partial or complete: twice the largest message, so that one
	// stream can hold a full-size message while another assembles one.
	DefaultMaxBufferedBytes = 32 << 20
)

type inStream struct {
	hasHeader bool
	timestamp uint32
	delta     uint32 // the timestamp field of the last type 1/2 header (or type 0's timestamp)
	length    uint32
	typ       uint8
	streamID  uint32
	extended  bool   // the last timestamp field was 0xffffff
	extValue  uint32 // the last extended timestamp value read
	buf       []byte
	inMessage bool
}

// Reader reads RTMP messages from a chunk stream. It applies Set Chunk Size and Abort
// messages itself (and still returns them). It is not safe for concurrent use.
type Reader struct {
	// MaxMessageSize bounds message lengths (default DefaultMaxMessageSize).
	MaxMessageSize int
	// MaxChunkStreams bounds the chunk streams tracked (default DefaultMaxChunkStreams).
	MaxChunkStreams int
	// MaxBufferedBytes bounds the capacity of all the chunk streams' message buffers
	// together (default DefaultMaxBufferedBytes). Buffers are kept between messages, so
	// that steady streams allocate nothing; when a stream needs more room than the budget
	// leaves, the buffers of streams between messages are released first, and a message
	// that still does not fit is ErrBufferLimit. A peer that sends one large message on
	// each of many chunk streams therefore holds at most this much.
	MaxBufferedBytes int

	r         *bufio.Reader
	cr        countingReader
	chunkSize uint32
	streams   map[uint32]*inStream
	buffered  int // bytes of partial messages
	held      int // capacity of every stream's buffer
	scratch   [16]byte
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// NewReader returns a Reader with the default limits and chunk size 128.
func NewReader(r io.Reader) *Reader {
	cr := &Reader{chunkSize: DefaultChunkSize, streams: make(map[uint32]*inStream)}
	cr.cr.r = r
	cr.r = bufio.NewReaderSize(&cr.cr, 16<<10)
	return cr
}

// BytesRead returns the bytes consumed from the underlying reader (for acknowledgements).
// It may run ahead of the messages returned by up to the internal buffer size.
func (r *Reader) BytesRead() uint64 { return r.cr.n }

// ChunkSize returns the current incoming chunk size.
func (r *Reader) ChunkSize() uint32 { return r.chunkSize }

func (r *Reader) limits() (maxMsg, maxStreams, maxBuf int) {
	maxMsg, maxStreams, maxBuf = r.MaxMessageSize, r.MaxChunkStreams, r.MaxBufferedBytes
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessageSize
	}
	if maxStreams <= 0 {
		maxStreams = DefaultMaxChunkStreams
	}
	if maxBuf <= 0 {
		maxBuf = DefaultMaxBufferedBytes
	}
	return
}

// Read reads the next complete message into m. The payload aliases a buffer of the
// Reader and is valid until the next call to Read.
func (r *Reader) Read(m *Message) error {
	for {
		done, err := r.readChunk(m)
		if err != nil {
			return err
		}
		if !done {
			continue
		}
		if m.StreamID == 0 {
			switch m.Type {
			case TypeSetChunkSize:
				if len(m.Payload) < 4 {
					return fmt.Errorf("%w: Set Chunk Size of %d bytes", ErrMalformedControl, len(m.Payload))
				}
				n := binary.BigEndian.Uint32(m.Payload) & 0x7fffffff
				if n == 0 {
					return fmt.Errorf("%w: 0", ErrInvalidChunkSize)
				}
				r.chunkSize = n
			case TypeAbort:
				if len(m.Payload) < 4 {
					return fmt.Errorf("%w: Abort of %d bytes", ErrMalformedControl, len(m.Payload))
				}
				r.abort(binary.BigEndian.Uint32(m.Payload))
			}
		}
		return nil
	}
}

func (r *Reader) abort(csid uint32) {
	if s, ok := r.streams[csid]; ok && s.inMessage {
		r.buffered -= len(s.buf)
		s.buf = s.buf[:0]
		s.inMessage = false
	}
}

func (r *Reader) readFull(n int) ([]byte, error) {
	b := r.scratch[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// readChunk reads one chunk and fills m when it completes a message.
func (r *Reader) readChunk(m *Message) (bool, error) {
	maxMsg, maxStreams, maxBuf := r.limits()
	b0, err := r.r.ReadByte()
	if err != nil {
		return false, err
	}
	format := b0 >> 6
	csid := uint32(b0 & 0x3f)
	switch csid {
	case 0:
		b, err := r.readFull(1)
		if err != nil {
			return false, unexpectedEOF(err)
		}
		csid = 64 + uint32(b[0])
	case 1:
		b, err := r.readFull(2)
		if err != nil {
			return false, unexpectedEOF(err)
		}
		csid = 64 + uint32(b[0]) + uint32(b[1])<<8
	}
	s := r.streams[csid]
	if s == nil {
		if len(r.streams) >= maxStreams {
			r.evictIdle()
			if len(r.streams) >= maxStreams {
				return false, fmt.Errorf("%w: %d", ErrTooManyStreams, len(r.streams))
			}
		}
		s = &inStream{}
		r.streams[csid] = s
	}
	if format != 0 && !s.hasHeader {
		return false, fmt.Errorf("%w: type %d on chunk stream %d", ErrNoPreviousHeader, format, csid)
	}
	var tsField uint32
	switch format {
	case 0:
		b, err := r.readFull(11)
		if err != nil {
			return false, unexpectedEOF(err)
		}
		tsField = be24(b)
		length, typ, sid := be24(b[3:]), b[6], binary.LittleEndian.Uint32(b[7:])
		if s.inMessage && (length != s.length || typ != s.typ || sid != s.streamID) {
			return false, fmt.Errorf("%w: chunk stream %d", ErrHeaderChangedMid, csid)
		}
		s.length, s.typ, s.streamID = length, typ, sid
	case 1:
		b, err := r.readFull(7)
		if err != nil {
			return false, unexpectedEOF(err)
		}
		tsField = be24(b)
		length, typ := be24(b[3:]), b[6]
		if s.inMessage && (length != s.length || typ != s.typ) {
			return false, fmt.Errorf("%w: chunk stream %d", ErrHeaderChangedMid, csid)
		}
		s.length, s.typ = length, typ
	case 2:
		b, err := r.readFull(3)
		if err != nil {
			return false, unexpectedEOF(err)
		}
		tsField = be24(b)
	}
	if format <= 2 {
		s.extended = tsField == 0xffffff
		if s.extended {
			b, err := r.readFull(4)
			if err != nil {
				return false, unexpectedEOF(err)
			}
			tsField = binary.BigEndian.Uint32(b)
			s.extValue = tsField
		}
	} else if s.extended {
		// Type 3 after an extended timestamp repeats it (as ffmpeg, nginx-rtmp and the 2012
		// specification do); some old encoders omit it in continuation chunks, so there we
		// skip the 4 bytes only when they equal the value we expect.
		if s.inMessage {
			if p, err := r.r.Peek(4); err == nil && binary.BigEndian.Uint32(p) == s.extValue {
				_, _ = r.r.Discard(4)
			}
		} else {
			b, err := r.readFull(4)
			if err != nil {
				return false, unexpectedEOF(err)
			}
			s.extValue = binary.BigEndian.Uint32(b)
		}
	}
	if !s.inMessage {
		switch format {
		case 0:
			s.timestamp = tsField
			s.delta = tsField
		case 1, 2:
			s.delta = tsField
			s.timestamp += tsField
		case 3:
			s.timestamp += s.delta
		}
		if int(s.length) > maxMsg {
			return false, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, s.length, maxMsg)
		}
		s.hasHeader = true
		s.inMessage = true
		s.buf = s.buf[:0]
	}
	n := int(s.length) - len(s.buf)
	if uint32(n) > r.chunkSize {
		n = int(r.chunkSize)
	}
	if r.buffered+n > maxBuf {
		return false, fmt.Errorf("%w: %d bytes", ErrBufferLimit, maxBuf)
	}
	if cap(s.buf)-len(s.buf) < n {
		// Grow with what arrives; never by what the header announces.
		newCap := 2*cap(s.buf) + n
		if newCap > int(s.length) {
			newCap = int(s.length)
		}
		if r.held-cap(s.buf)+newCap > maxBuf {
			r.releaseIdle()
			if r.held-cap(s.buf)+newCap > maxBuf {
				return false, fmt.Errorf("%w: %d bytes", ErrBufferLimit, maxBuf)
			}
		}
		nb := make([]byte, len(s.buf), newCap)
		copy(nb, s.buf)
		r.held += newCap - cap(s.buf)
		s.buf = nb
	}
	start := len(s.buf)
	s.buf = s.buf[:start+n]
	if _, err := io.ReadFull(r.r, s.buf[start:]); err != nil {
		return false, unexpectedEOF(err)
	}
	r.buffered += n
	if len(s.buf) < int(s.length) {
		return false, nil
	}
	r.buffered -= len(s.buf)
	s.inMessage = false
	*m = Message{
		ChunkStreamID: csid,
		Type:          s.typ,
		Timestamp:     s.timestamp,
		StreamID:      s.streamID,
		Payload:       s.buf,
	}
	return true, nil
}

// evictIdle forgets chunk streams without a partial message (their header state is lost,
// which only matters to a peer that reuses them with compressed headers).
func (r *Reader) evictIdle() {
	for id, s := range r.streams {
		if !s.inMessage {
			r.held -= cap(s.buf)
			delete(r.streams, id)
		}
	}
}

// releaseIdle drops the buffers of chunk streams between messages, keeping their header
// state. The last message returned may alias one of them: Read's contract ends its
// validity at the next Read, which is where this runs.
func (r *Reader) releaseIdle() {
	for _, s := range r.streams {
		if !s.inMessage && s.buf != nil {
			r.held -= cap(s.buf)
			s.buf = nil
		}
	}
}

// HeldBytes returns the capacity of the Reader's message buffers, the memory that
// MaxBufferedBytes bounds.
func (r *Reader) HeldBytes() int { return r.held }

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
