package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Tag types of the FLV container.
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// MaxTagSize is the largest tag body the 24-bit DataSize field can announce.
const MaxTagSize = 0xffffff

// ErrNotFLV is returned by NewReader when the file does not start with an FLV header.
var ErrNotFLV = errors.New("flv: not an FLV file")

// Tag is one tag of an FLV file.
type Tag struct {
	Type uint8
	// Timestamp is the decode time in milliseconds.
	Timestamp uint32
	// Data is the tag body (an AudioTag, VideoTag or script data). From Reader.Read it is
	// valid until the next Read.
	Data []byte
}

// FileWriter writes an FLV file.
type FileWriter struct {
	w   io.Writer
	hdr [15]byte
}

// NewFileWriter writes the FLV header to w and returns a writer for the tags.
func NewFileWriter(w io.Writer, hasAudio, hasVideo bool) (*FileWriter, error) {
	flags := byte(0)
	if hasAudio {
		flags |= 4
	}
	if hasVideo {
		flags |= 1
	}
	if _, err := w.Write([]byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0}); err != nil {
		return nil, err
	}
	return &FileWriter{w: w}, nil
}

// WriteTag writes one tag whose body is prefix followed by data.
func (f *FileWriter) WriteTag(typ uint8, timestamp uint32, prefix, data []byte) error {
	n := len(prefix) + len(data)
	if n > MaxTagSize {
		return fmt.Errorf("flv: tag of %d bytes exceeds %d", n, MaxTagSize)
	}
	h := f.hdr[:11]
	h[0] = typ
	h[1], h[2], h[3] = byte(n>>16), byte(n>>8), byte(n)
	h[4], h[5], h[6], h[7] = byte(timestamp>>16), byte(timestamp>>8), byte(timestamp), byte(timestamp>>24)
	h[8], h[9], h[10] = 0, 0, 0
	if _, err := f.w.Write(h); err != nil {
		return err
	}
	if _, err := f.w.Write(prefix); err != nil {
		return err
	}
	if _, err := f.w.Write(data); err != nil {
		return err
	}
	binary.BigEndian.PutUint32(f.hdr[11:], uint32(11+n))
	_, err := f.w.Write(f.hdr[11:15])
	return err
}

// FileReader reads the tags of an FLV file.
type FileReader struct {
	r        io.Reader
	HasAudio bool
	HasVideo bool
	buf      []byte
	hdr      [15]byte
}

// NewFileReader reads the FLV header.
func NewFileReader(r io.Reader) (*FileReader, error) {
	var h [13]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFLV, err)
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return nil, ErrNotFLV
	}
	off := binary.BigEndian.Uint32(h[5:])
	if off < 9 || off > 1024 {
		return nil, fmt.Errorf("%w: header size %d", ErrNotFLV, off)
	}
	if _, err := io.CopyN(io.Discard, r, int64(off-9)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFLV, err)
	}
	return &FileReader{r: r, HasAudio: h[4]&4 != 0, HasVideo: h[4]&1 != 0}, nil
}

// Read returns the next tag, or io.EOF after the last one.
func (f *FileReader) Read(t *Tag) error {
	h := f.hdr[:11]
	if _, err := io.ReadFull(f.r, h); err != nil {
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("flv: truncated tag header: %w", err)
		}
		return err
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	t.Type = h[0] & 0x1f
	t.Timestamp = uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) | uint32(h[7])<<24
	// Grow with what arrives, not with what the header announces.
	f.buf = f.buf[:0]
	for len(f.buf) < n {
		step := n - len(f.buf)
		if step > 1<<20 {
			step = 1 << 20
		}
		start := len(f.buf)
		if cap(f.buf)-start < step {
			nb := make([]byte, start, start+step+start)
			copy(nb, f.buf)
			f.buf = nb
		}
		f.buf = f.buf[:start+step]
		if _, err := io.ReadFull(f.r, f.buf[start:]); err != nil {
			return fmt.Errorf("flv: truncated tag body: %w", unexpected(err))
		}
	}
	t.Data = f.buf
	if _, err := io.ReadFull(f.r, f.hdr[11:15]); err != nil && err != io.EOF {
		return fmt.Errorf("flv: truncated PreviousTagSize: %w", err)
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
