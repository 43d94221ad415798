package amf0

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Type markers (AMF0 §2.1).
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerMovieClip   = 0x04
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerReference   = 0x07
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0a
	markerDate        = 0x0b
	markerLongString  = 0x0c
	markerUnsupported = 0x0d
	markerRecordSet   = 0x0e
	markerXMLDocument = 0x0f
	markerTypedObject = 0x10
	markerAVMPlus     = 0x11
)

// MaxDepth is the deepest nesting of objects and arrays Decode accepts. RTMP commands nest
// two or three levels; the limit keeps hostile input from exhausting the stack.
const MaxDepth = 32

// MaxDecodedBytes bounds the memory that one Unmarshal or Decode call may allocate for
// the values it returns, counted as Go holds them: 32 bytes per value (an interface and
// what it boxes), 64 per object property, and the bytes of every string. Counts read from the wire
// (array lengths) are checked against it before anything is allocated. An AMF0 null is
// one byte on the wire and 16 bytes decoded, so without this bound a 16 MiB message of
// nulls in a strict array would take 256 MiB or more. RTMP commands and onMetaData are a few
// KiB; 1 MiB is far above any real one and bounds the amplification of a hostile one.
const MaxDecodedBytes = 1 << 20

// Errors returned by Decode.
var (
	ErrTooLarge        = errors.New("amf0: decoded values exceed the memory bound")
	ErrTruncated       = errors.New("amf0: value truncated")
	ErrUnknownMarker   = errors.New("amf0: unknown type marker")
	ErrTooDeep         = errors.New("amf0: nesting too deep")
	ErrUnexpectedEnd   = errors.New("amf0: object-end marker outside an object")
	ErrUnsupportedType = errors.New("amf0: unsupported Go type")
)

// Undefined is the AMF0 undefined value.
type Undefined struct{}

// Unsupported is the AMF0 unsupported value.
type Unsupported struct{}

// Reference is an AMF0 reference to an earlier complex value, by index.
type Reference uint16

// XMLDocument is an AMF0 XML document (a long string).
type XMLDocument string

// Date is an AMF0 date: milliseconds since the Unix epoch, and a time zone that AMF0
// says to ignore (kept for round trips).
type Date struct {
	Millis   float64
	TimeZone int16
}

// Property is one key and value of an Object or ECMAArray.
type Property struct {
	Key   string
	Value any
}

// Object is an anonymous AMF0 object with its properties in wire order.
type Object []Property

// ECMAArray is an AMF0 associative array, as used by onMetaData.
type ECMAArray []Property

// StrictArray is an AMF0 dense array.
type StrictArray []any

// TypedObject is an AMF0 object with a class name.
type TypedObject struct {
	Class      string
	Properties Object
}

// Get returns the value of the first property named key, or nil.
func (o Object) Get(key string) any {
	for _, p := range o {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// String returns the property key as a string, or "" when absent or not a string.
func (o Object) String(key string) string {
	s, _ := o.Get(key).(string)
	return s
}

// Number returns the property key as a number, and whether it was one.
func (o Object) Number(key string) (float64, bool) {
	n, ok := o.Get(key).(float64)
	return n, ok
}

// Get returns the value of the first property named key, or nil.
func (a ECMAArray) Get(key string) any { return Object(a).Get(key) }

// Marshal appends the AMF0 encoding of each value to dst.
func Marshal(dst []byte, values ...any) ([]byte, error) {
	var err error
	for _, v := range values {
		if dst, err = marshal(dst, v, 0); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendNumber(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, markerNumber), math.Float64bits(f))
}

func appendUTF8(dst []byte, s string) ([]byte, error) {
	if len(s) > math.MaxUint16 {
		return dst, fmt.Errorf("amf0: key of %d bytes exceeds 65535", len(s))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...), nil
}

func appendProperties(dst []byte, props []Property, depth int) ([]byte, error) {
	var err error
	for _, p := range props {
		if dst, err = appendUTF8(dst, p.Key); err != nil {
			return dst, err
		}
		if dst, err = marshal(dst, p.Value, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, 0, 0, markerObjectEnd), nil
}

func marshal(dst []byte, v any, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return dst, ErrTooDeep
	}
	switch v := v.(type) {
	case float64:
		return appendNumber(dst, v), nil
	case float32:
		return appendNumber(dst, float64(v)), nil
	case int:
		return appendNumber(dst, float64(v)), nil
	case int32:
		return appendNumber(dst, float64(v)), nil
	case int64:
		return appendNumber(dst, float64(v)), nil
	case uint32:
		return appendNumber(dst, float64(v)), nil
	case uint16:
		return appendNumber(dst, float64(v)), nil
	case uint8:
		return appendNumber(dst, float64(v)), nil
	case bool:
		b := byte(0)
		if v {
			b = 1
		}
		return append(dst, markerBoolean, b), nil
	case string:
		if len(v) > math.MaxUint16 {
			if uint64(len(v)) > math.MaxUint32 {
				return dst, errors.New("amf0: string longer than 4 GiB")
			}
			dst = binary.BigEndian.AppendUint32(append(dst, markerLongString), uint32(len(v)))
			return append(dst, v...), nil
		}
		return appendUTF8(append(dst, markerString), v)
	case nil:
		return append(dst, markerNull), nil
	case Undefined:
		return append(dst, markerUndefined), nil
	case Unsupported:
		return append(dst, markerUnsupported), nil
	case Reference:
		return binary.BigEndian.AppendUint16(append(dst, markerReference), uint16(v)), nil
	case XMLDocument:
		if uint64(len(v)) > math.MaxUint32 {
			return dst, errors.New("amf0: XML document longer than 4 GiB")
		}
		dst = binary.BigEndian.AppendUint32(append(dst, markerXMLDocument), uint32(len(v)))
		return append(dst, v...), nil
	case Date:
		dst = binary.BigEndian.AppendUint64(append(dst, markerDate), math.Float64bits(v.Millis))
		return binary.BigEndian.AppendUint16(dst, uint16(v.TimeZone)), nil
	case Object:
		return appendProperties(append(dst, markerObject), v, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		props := make(Object, 0, len(keys))
		for _, k := range keys {
			props = append(props, Property{k, v[k]})
		}
		return appendProperties(append(dst, markerObject), props, depth)
	case ECMAArray:
		dst = binary.BigEndian.AppendUint32(append(dst, markerECMAArray), uint32(len(v)))
		return appendProperties(dst, v, depth)
	case StrictArray:
		dst = binary.BigEndian.AppendUint32(append(dst, markerStrictArray), uint32(len(v)))
		var err error
		for _, e := range v {
			if dst, err = marshal(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case TypedObject:
		var err error
		if dst, err = appendUTF8(append(dst, markerTypedObject), v.Class); err != nil {
			return dst, err
		}
		return appendProperties(dst, v.Properties, depth)
	default:
		return dst, fmt.Errorf("%w: %T", ErrUnsupportedType, v)
	}
}

// Unmarshal decodes every value in b, as found in an RTMP command message body.
// All the values together are bounded by MaxDecodedBytes.
func Unmarshal(b []byte) ([]any, error) {
	var out []any
	d := decoder{budget: MaxDecodedBytes}
	for len(b) > 0 {
		// out doubles as it grows: count each value twice.
		if err := d.spend(2 * valueCost); err != nil {
			return out, err
		}
		v, rest, err := d.decode(b, 0)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// Decode decodes one value from the start of b and returns the rest. Strings are copied;
// nothing returned aliases b. The value is bounded by MaxDecodedBytes.
func Decode(b []byte) (v any, rest []byte, err error) {
	d := decoder{budget: MaxDecodedBytes}
	return d.decode(b, 0)
}

// What decoded values cost in memory, for the MaxDecodedBytes budget.
const (
	valueCost    = 32 // an interface value, and the boxed header of a string, slice or float
	propertyCost = 32 // a Property's key string header and value interface
)

// decoder carries the memory budget left for one call.
type decoder struct{ budget int }

func (d *decoder) spend(n int) error {
	if n < 0 || n > d.budget {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, MaxDecodedBytes)
	}
	d.budget -= n
	return nil
}

func need(b []byte, n int, what string) error {
	if len(b) < n {
		return fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, n, len(b))
	}
	return nil
}

func (d *decoder) decodeUTF8(b []byte) (string, []byte, error) {
	if err := need(b, 2, "string length"); err != nil {
		return "", nil, err
	}
	n := int(binary.BigEndian.Uint16(b))
	if err := need(b[2:], n, "string"); err != nil {
		return "", nil, err
	}
	if err := d.spend(n); err != nil {
		return "", nil, err
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

func (d *decoder) decodeProperties(b []byte, depth int) ([]Property, []byte, error) {
	var props []Property
	for {
		key, rest, err := d.decodeUTF8(b)
		if err != nil {
			return nil, nil, err
		}
		if key == "" {
			if err := need(rest, 1, "object end"); err != nil {
				return nil, nil, err
			}
			if rest[0] == markerObjectEnd {
				return props, rest[1:], nil
			}
		}
		// A property's memory doubles as its slice grows: count it twice.
		if err := d.spend(2 * propertyCost); err != nil {
			return nil, nil, err
		}
		v, rest, err := d.decode(rest, depth+1)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, Property{key, v})
		b = rest
	}
}

func (d *decoder) decode(b []byte, depth int) (any, []byte, error) {
	if depth > MaxDepth {
		return nil, nil, ErrTooDeep
	}
	if err := need(b, 1, "type marker"); err != nil {
		return nil, nil, err
	}
	m, b := b[0], b[1:]
	switch m {
	case markerNumber:
		if err := need(b, 8, "number"); err != nil {
			return nil, nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case markerBoolean:
		if err := need(b, 1, "boolean"); err != nil {
			return nil, nil, err
		}
		return b[0] != 0, b[1:], nil
	case markerString:
		s, rest, err := d.decodeUTF8(b)
		return s, rest, err
	case markerLongString, markerXMLDocument:
		if err := need(b, 4, "long string length"); err != nil {
			return nil, nil, err
		}
		n := uint64(binary.BigEndian.Uint32(b))
		if uint64(len(b)-4) < n {
			return nil, nil, fmt.Errorf("%w: long string of %d bytes, %d left", ErrTruncated, n, len(b)-4)
		}
		if err := d.spend(int(n)); err != nil {
			return nil, nil, err
		}
		s := string(b[4 : 4+n])
		if m == markerXMLDocument {
			return XMLDocument(s), b[4+n:], nil
		}
		return s, b[4+n:], nil
	case markerNull:
		return nil, b, nil
	case markerUndefined:
		return Undefined{}, b, nil
	case markerUnsupported:
		return Unsupported{}, b, nil
	case markerReference:
		if err := need(b, 2, "reference"); err != nil {
			return nil, nil, err
		}
		return Reference(binary.BigEndian.Uint16(b)), b[2:], nil
	case markerDate:
		if err := need(b, 10, "date"); err != nil {
			return nil, nil, err
		}
		return Date{math.Float64frombits(binary.BigEndian.Uint64(b)), int16(binary.BigEndian.Uint16(b[8:]))}, b[10:], nil
	case markerObject:
		props, rest, err := d.decodeProperties(b, depth)
		return Object(props), rest, err
	case markerECMAArray:
		// The count is advisory (servers get it wrong); the object-end marker ends it.
		if err := need(b, 4, "ECMA array count"); err != nil {
			return nil, nil, err
		}
		props, rest, err := d.decodeProperties(b[4:], depth)
		return ECMAArray(props), rest, err
	case markerStrictArray:
		if err := need(b, 4, "strict array count"); err != nil {
			return nil, nil, err
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) { // every element takes at least one byte
			return nil, nil, fmt.Errorf("%w: strict array of %d elements, %d bytes left", ErrTruncated, n, len(b))
		}
		// The elements' memory is charged before the array is made.
		if err := d.spend(int(n) * valueCost); err != nil {
			return nil, nil, fmt.Errorf("strict array of %d elements: %w", n, err)
		}
		arr := make(StrictArray, 0, n)
		for i := uint32(0); i < n; i++ {
			v, rest, err := d.decode(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			arr = append(arr, v)
			b = rest
		}
		return arr, b, nil
	case markerTypedObject:
		class, rest, err := d.decodeUTF8(b)
		if err != nil {
			return nil, nil, err
		}
		props, rest, err := d.decodeProperties(rest, depth)
		return TypedObject{class, props}, rest, err
	case markerObjectEnd:
		return nil, nil, ErrUnexpectedEnd
	case markerAVMPlus:
		return nil, nil, fmt.Errorf("%w: 0x11 (switch to AMF3) is not supported", ErrUnknownMarker)
	default:
		return nil, nil, fmt.Errorf("%w: 0x%02x", ErrUnknownMarker, m)
	}
}
