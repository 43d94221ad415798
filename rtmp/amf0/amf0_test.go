package amf0

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// cases feed decode, encode and the fuzz corpus. Bytes follow AMF0 §2.
var cases = []struct {
	name string
	v    any
	enc  []byte
}{
	{"number", 1.5, []byte{0x00, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
	{"true", true, []byte{0x01, 0x01}},
	{"string", "connect", []byte{0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't'}},
	{"null", nil, []byte{0x05}},
	{"undefined", Undefined{}, []byte{0x06}},
	{"reference", Reference(3), []byte{0x07, 0x00, 0x03}},
	{"date", Date{Millis: 0, TimeZone: 0}, []byte{0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	{"object", Object{{"app", "live"}, {"fpad", false}}, []byte{
		0x03,
		0x00, 0x03, 'a', 'p', 'p', 0x02, 0x00, 0x04, 'l', 'i', 'v', 'e',
		0x00, 0x04, 'f', 'p', 'a', 'd', 0x01, 0x00,
		0x00, 0x00, 0x09, // object end
	}},
	{"ecma array (onMetaData)", ECMAArray{{"width", 1280.0}}, []byte{
		0x08, 0x00, 0x00, 0x00, 0x01, // count 1
		0x00, 0x05, 'w', 'i', 'd', 't', 'h', 0x00, 0x40, 0x94, 0, 0, 0, 0, 0, 0,
		0x00, 0x00, 0x09,
	}},
	{"strict array", StrictArray{1.0, "a"}, []byte{
		0x0a, 0, 0, 0, 2,
		0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
		0x02, 0x00, 0x01, 'a',
	}},
	{"typed object", TypedObject{"C", Object{{"x", nil}}}, []byte{
		0x10, 0x00, 0x01, 'C', 0x00, 0x01, 'x', 0x05, 0x00, 0x00, 0x09,
	}},
	{"xml", XMLDocument("<a/>"), []byte{0x0f, 0, 0, 0, 4, '<', 'a', '/', '>'}},
	{"unsupported", Unsupported{}, []byte{0x0d}},
	{"nested", Object{{"o", Object{{"n", 2.0}}}}, []byte{
		0x03, 0x00, 0x01, 'o',
		0x03, 0x00, 0x01, 'n', 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x09,
		0x00, 0x00, 0x09,
	}},
}

func TestDecode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.enc)
			v, rest, err := Decode(in)
			require.NoError(t, err)
			require.Empty(t, rest)
			require.Equal(t, c.v, v)
			require.Equal(t, c.enc, in, "decoder must not mutate its input")
		})
	}
}

func TestMarshal(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Marshal(nil, c.v)
			require.NoError(t, err)
			require.Equal(t, c.enc, b)
		})
	}
}

func TestLongStringRoundTrip(t *testing.T) {
	s := string(bytes.Repeat([]byte{'x'}, 70000))
	b, err := Marshal(nil, s)
	require.NoError(t, err)
	require.Equal(t, byte(markerLongString), b[0])
	v, rest, err := Decode(b)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.Equal(t, s, v)
}

func TestMarshalGoTypes(t *testing.T) {
	b, err := Marshal(nil, 3, map[string]any{"b": 1, "a": "x"})
	require.NoError(t, err)
	vs, err := Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, []any{3.0, Object{{"a", "x"}, {"b", 1.0}}}, vs)

	_, err = Marshal(nil, struct{}{})
	require.ErrorIs(t, err, ErrUnsupportedType)
}

func TestDecodeErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"empty":                 {nil, ErrTruncated},
		"short number":          {[]byte{0x00, 1, 2}, ErrTruncated},
		"string past end":       {[]byte{0x02, 0x00, 0x09, 'a'}, ErrTruncated},
		"long string past end":  {[]byte{0x0c, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrTruncated},
		"object without end":    {[]byte{0x03, 0x00, 0x01, 'a', 0x05}, ErrTruncated},
		"strict array too long": {[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x05}, ErrTruncated},
		"stray object end":      {[]byte{0x09}, ErrUnexpectedEnd},
		"amf3 switch":           {[]byte{0x11}, ErrUnknownMarker},
		"unknown marker":        {[]byte{0x42}, ErrUnknownMarker},
		"too deep":              {bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, MaxDepth+2), ErrTooDeep},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Decode(c.in)
			require.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		f.Add(c.enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		vs, err := Unmarshal(b)
		require.Equal(t, in, b, "decoder must not mutate its input")
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same values.
		enc, err := Marshal(nil, vs...)
		require.NoError(t, err)
		vs2, err := Unmarshal(enc)
		require.NoError(t, err)
		// %#v prints NaN as NaN on both sides, where == would not hold.
		require.Equal(t, fmt.Sprintf("%#v", vs), fmt.Sprintf("%#v", vs2), "values change in a round trip")
		enc2, err := Marshal(nil, vs2...)
		require.NoError(t, err)
		require.Equal(t, enc, enc2)
	})
}

// Counts from the wire are charged against MaxDecodedBytes before anything is made: a
// strict array of 16 Mi nulls (16 MiB on the wire, 256 MiB decoded) is refused, and the
// decoder's heap stays small; so are many small objects and long strings.
func TestDecodeAmplificationBounded(t *testing.T) {
	const n = 16 << 20
	nulls := make([]byte, 5+n)
	nulls[0] = markerStrictArray
	binary.BigEndian.PutUint32(nulls[1:], n)
	for i := 5; i < len(nulls); i++ {
		nulls[i] = markerNull
	}
	objects := bytes.Repeat([]byte{markerObject, 0, 0, markerObjectEnd}, 1<<20)
	var props []byte
	props = append(props, markerObject)
	for i := 0; i < 1<<20; i++ {
		props = append(props, 0, 1, 'k', markerNull)
	}
	props = append(props, 0, 0, markerObjectEnd)
	long := make([]byte, 5+4<<20)
	long[0] = markerLongString
	binary.BigEndian.PutUint32(long[1:], 4<<20)
	for name, b := range map[string][]byte{"strict array of nulls": nulls, "a million empty objects": objects,
		"an object of a million properties": props, "a 4 MiB long string": long} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Unmarshal(b)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrTooLarge, name)
		allocated := after.TotalAlloc - before.TotalAlloc
		require.Less(t, allocated, uint64(4*MaxDecodedBytes), "%s: %d bytes allocated", name, allocated)
	}
	// A real command decodes.
	vs, err := Unmarshal(cases[7].enc)
	require.NoError(t, err)
	require.Len(t, vs, 1)
}
