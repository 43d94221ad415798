package chunk

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

type wireCase struct {
	name string
	wire []byte
	msgs []Message
}

// readCases are hand-assembled chunk streams (RTMP specification §5.3.1 and §5.3.2.1),
// annotated per field.
var readCases = []wireCase{
	{
		name: "type 0 then type 2 then type 3 (spec example 1, audio)",
		wire: []byte{
			0x03,             // fmt 0, csid 3
			0x00, 0x03, 0xe8, // timestamp 1000
			0x00, 0x00, 0x02, // length 2
			0x08,                   // audio
			0x01, 0x00, 0x00, 0x00, // stream id 1 (little endian)
			0xaa, 0xbb,
			0x83,             // fmt 2, csid 3
			0x00, 0x00, 0x21, // delta 33
			0xcc, 0xdd,
			0xc3, // fmt 3: same delta
			0xee, 0xff,
		},
		msgs: []Message{
			{3, 8, 1000, 1, []byte{0xaa, 0xbb}},
			{3, 8, 1033, 1, []byte{0xcc, 0xdd}},
			{3, 8, 1066, 1, []byte{0xee, 0xff}},
		},
	},
	{
		name: "message split over type 3 chunks with chunk size 128 (spec example 2)",
		wire: append(append(append([]byte{
			0x04, 0, 0, 0x0a, 0, 0, 0xc8, 0x09, 1, 0, 0, 0, // fmt 0, csid 4, ts 10, len 200, video
		}, bytes.Repeat([]byte{1}, 128)...), 0xc4), bytes.Repeat([]byte{2}, 72)...),
		msgs: []Message{{4, 9, 10, 1, append(bytes.Repeat([]byte{1}, 128), bytes.Repeat([]byte{2}, 72)...)}},
	},
	{
		name: "type 1 header and two-byte chunk stream id",
		wire: []byte{
			0x00, 0x06, // fmt 0, csid 64+6
			0, 0, 5, 0, 0, 1, 0x14, 0, 0, 0, 0, 0x05,
			0x40, 0x06, // fmt 1, csid 70
			0, 0, 3, 0, 0, 2, 0x12, 0x05, 0x06,
		},
		msgs: []Message{{70, 20, 5, 0, []byte{5}}, {70, 18, 8, 0, []byte{5, 6}}},
	},
	{
		name: "three-byte chunk stream id",
		wire: []byte{0x01, 0x10, 0x01, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0x07},
		msgs: []Message{{64 + 0x10 + 0x100, 8, 0, 0, []byte{7}}},
	},
	{
		name: "extended timestamp, repeated in the type 3 continuation",
		wire: append(append(append([]byte{
			0x05, 0xff, 0xff, 0xff, 0, 0, 0x82, 9, 1, 0, 0, 0, // fmt 0 with ts 0xffffff, len 130
			0x01, 0x00, 0x00, 0x00, // extended timestamp 0x01000000
		}, bytes.Repeat([]byte{9}, 128)...), 0xc5, 0x01, 0x00, 0x00, 0x00), 9, 9),
		msgs: []Message{{5, 9, 0x01000000, 1, bytes.Repeat([]byte{9}, 130)}},
	},
	{
		name: "extended timestamp omitted from the continuation (old encoders)",
		wire: append(append(append([]byte{
			0x05, 0xff, 0xff, 0xff, 0, 0, 0x82, 9, 1, 0, 0, 0,
			0x01, 0x00, 0x00, 0x00,
		}, bytes.Repeat([]byte{9}, 128)...), 0xc5), 9, 9),
		msgs: []Message{{5, 9, 0x01000000, 1, bytes.Repeat([]byte{9}, 130)}},
	},
	{
		name: "set chunk size applies to what follows",
		wire: append([]byte{
			0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // set chunk size 256
			0x06, 0, 0, 0, 0, 0x00, 0xc8, 9, 1, 0, 0, 0, // len 200 in one chunk
		}, bytes.Repeat([]byte{3}, 200)...),
		msgs: []Message{
			{2, 1, 0, 0, []byte{0, 0, 1, 0}},
			{6, 9, 0, 1, bytes.Repeat([]byte{3}, 200)},
		},
	},
	{
		name: "abort discards the partial message",
		wire: append(append([]byte{
			0x07, 0, 0, 0, 0, 0, 0xc8, 9, 1, 0, 0, 0,
		}, bytes.Repeat([]byte{1}, 128)...),
			0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 7, // abort csid 7
			0x07, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0x42,
		),
		msgs: []Message{
			{2, 2, 0, 0, []byte{0, 0, 0, 7}},
			{7, 9, 0, 1, []byte{0x42}},
		},
	},
}

func readAll(t *testing.T, wire []byte) ([]Message, error) {
	t.Helper()
	r := NewReader(bytes.NewReader(wire))
	var out []Message
	for {
		var m Message
		err := r.Read(&m)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		m.Payload = bytes.Clone(m.Payload)
		out = append(out, m)
	}
}

func TestRead(t *testing.T) {
	for _, c := range readCases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.wire)
			msgs, err := readAll(t, in)
			require.NoError(t, err)
			require.Equal(t, c.msgs, msgs)
			require.Equal(t, c.wire, in)
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0x5a}, 10000)
	msgs := []Message{
		{3, 20, 0, 0, []byte("connect")},
		{4, 9, 0, 1, big},
		{4, 9, 40, 1, big[:5000]},
		{4, 9, 80, 1, big[:5000]},  // same delta and length: type 3
		{4, 9, 120, 1, big[:5000]}, // again
		{4, 9, 170, 1, big[:5000]}, // new delta: type 2
		{4, 8, 170, 1, []byte{1}},  // new type: type 1
		{4, 9, 100, 1, []byte{2}},  // backwards: type 0
		{4, 9, 0x1000000, 1, big},  // extended
		{4, 9, 0x1000010, 1, big},
		{4, 9, 0x2000010, 1, big[:3]},
		{300, 9, 5, 1, []byte{1}},
		{70000 - 4401, 9, 5, 1, []byte{1}},
	}
	for _, size := range []uint32{128, 4096, 60000} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		require.NoError(t, w.WriteSetChunkSize(size))
		for _, m := range msgs {
			half := len(m.Payload) / 2
			require.NoError(t, w.WriteMessage(m.ChunkStreamID, m.Type, m.Timestamp, m.StreamID, m.Payload[:half], m.Payload[half:]))
		}
		got, err := readAll(t, buf.Bytes())
		require.NoError(t, err)
		require.Len(t, got, len(msgs)+1)
		require.Equal(t, msgs, got[1:], "chunk size %d", size)
	}
}

func TestWriterHeaderChoice(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	fmtOf := func(f func()) byte {
		buf.Reset()
		f()
		return buf.Bytes()[0] >> 6
	}
	p := []byte{1, 2}
	require.EqualValues(t, 0, fmtOf(func() { _ = w.WriteMessage(4, 9, 0, 1, nil, p) }))
	require.EqualValues(t, 2, fmtOf(func() { _ = w.WriteMessage(4, 9, 40, 1, nil, p) }), "no type 3 after type 0")
	require.EqualValues(t, 3, fmtOf(func() { _ = w.WriteMessage(4, 9, 80, 1, nil, p) }))
	require.EqualValues(t, 2, fmtOf(func() { _ = w.WriteMessage(4, 9, 90, 1, nil, p) }))
	require.EqualValues(t, 1, fmtOf(func() { _ = w.WriteMessage(4, 9, 90, 1, nil, p[:1]) }))
	require.EqualValues(t, 0, fmtOf(func() { _ = w.WriteMessage(4, 9, 90, 2, nil, p[:1]) }))
}

func TestReadLimits(t *testing.T) {
	t.Run("message too large", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{0x04, 0, 0, 0, 0x10, 0, 1, 9, 1, 0, 0, 0}))
		r.MaxMessageSize = 1 << 20
		require.ErrorIs(t, r.Read(&Message{}), ErrMessageTooLarge)
	})
	t.Run("announced length does not allocate", func(t *testing.T) {
		// 16 MiB announced, 10 bytes sent: the reader must fail on EOF without holding 16 MiB.
		r := NewReader(bytes.NewReader([]byte{0x04, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
		require.ErrorIs(t, r.Read(&Message{}), io.ErrUnexpectedEOF)
		for _, s := range r.streams {
			require.LessOrEqual(t, cap(s.buf), 256)
		}
	})
	t.Run("too many chunk streams", func(t *testing.T) {
		wire := []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 1} // chunk size 1
		for i := 0; i < 10; i++ {
			wire = append(wire, byte(3+i), 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0, 0) // 256-byte messages, one byte each
		}
		r := NewReader(bytes.NewReader(wire))
		r.MaxChunkStreams = 4
		require.NoError(t, r.Read(&Message{})) // the Set Chunk Size
		require.ErrorIs(t, r.Read(&Message{}), ErrTooManyStreams)
	})
	t.Run("buffered bytes", func(t *testing.T) {
		var wire []byte
		for i := 0; i < 4; i++ {
			wire = append(wire, byte(3+i), 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0)
			wire = append(wire, bytes.Repeat([]byte{1}, 128)...)
		}
		r := NewReader(bytes.NewReader(wire))
		r.MaxBufferedBytes = 300
		require.ErrorIs(t, r.Read(&Message{}), ErrBufferLimit)
	})
	t.Run("compressed header first", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{0x44, 0, 0, 0, 0, 0, 1, 9}))
		require.ErrorIs(t, r.Read(&Message{}), ErrNoPreviousHeader)
	})
	t.Run("zero chunk size", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0}))
		require.ErrorIs(t, r.Read(&Message{}), ErrInvalidChunkSize)
	})
}

func TestWriterAllocs(t *testing.T) {
	w := NewWriter(io.Discard)
	payload := make([]byte, 50000)
	prefix := make([]byte, 5)
	ts := uint32(0)
	require.NoError(t, w.WriteSetChunkSize(4096))
	allocs := testing.AllocsPerRun(100, func() {
		ts += 40
		_ = w.WriteMessage(6, 9, ts, 1, prefix, payload)
	})
	require.Zero(t, allocs)
}

func TestReaderAllocs(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	payload := make([]byte, 50000)
	for i := 0; i < 200; i++ {
		require.NoError(t, w.WriteMessage(6, 9, uint32(i*40), 1, nil, payload))
	}
	r := NewReader(bytes.NewReader(buf.Bytes()))
	var m Message
	require.NoError(t, r.Read(&m)) // warm up: grows the buffer once
	allocs := testing.AllocsPerRun(100, func() { _ = r.Read(&m) })
	require.Zero(t, allocs)
}

func FuzzReader(f *testing.F) {
	for _, c := range readCases {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		r := NewReader(bytes.NewReader(b)) // the limits a server runs with
		var m Message
		for i := 0; i < 1000; i++ {
			if err := r.Read(&m); err != nil {
				break
			}
			require.LessOrEqual(t, len(m.Payload), DefaultMaxMessageSize)
			require.GreaterOrEqual(t, m.ChunkStreamID, uint32(2))
			require.LessOrEqual(t, r.HeldBytes(), DefaultMaxBufferedBytes)
		}
		require.LessOrEqual(t, r.buffered, DefaultMaxBufferedBytes)
		require.LessOrEqual(t, r.HeldBytes(), DefaultMaxBufferedBytes)
		require.Equal(t, in, b)
	})
}

// One large message on each of many chunk streams: the buffers kept between messages count
// against MaxBufferedBytes, so the Reader holds at most that (it held one buffer per
// stream at its largest size, 40 × 2 MiB here, before), and every message still arrives.
func TestReaderHeldBuffersBounded(t *testing.T) {
	var wire bytes.Buffer
	w := NewWriter(&wire)
	payload := bytes.Repeat([]byte{0xab}, 2<<20)
	const streams = 40
	for i := 0; i < streams; i++ {
		require.NoError(t, w.WriteMessage(uint32(3+i), 9, uint32(i), 1, nil, payload))
	}
	r := NewReader(&wire)
	r.MaxBufferedBytes = 8 << 20
	var m Message
	for i := 0; i < streams; i++ {
		require.NoError(t, r.Read(&m), "message %d", i)
		require.Len(t, m.Payload, len(payload))
		require.LessOrEqual(t, r.HeldBytes(), 8<<20, "after message %d", i)
	}
	// A steady stream reuses its buffer: reading more messages on one chunk stream
	// allocates nothing once it has grown.
	wire.Reset()
	for i := 0; i < 20; i++ {
		require.NoError(t, w.WriteMessage(3, 9, uint32(100+i), 1, nil, payload[:64<<10]))
	}
	require.NoError(t, r.Read(&m))
	allocs := testing.AllocsPerRun(10, func() { require.NoError(t, r.Read(&m)) })
	require.Zero(t, allocs)
}
