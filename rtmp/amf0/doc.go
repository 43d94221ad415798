// Package amf0 encodes and decodes Action Message Format version 0, the value encoding of
// RTMP commands and metadata (Adobe "Action Message Format -- AMF 0", December 2007).
//
// Values map to Go as follows: Number ↔ float64, Boolean ↔ bool, String and Long String ↔
// string, Null ↔ nil, Undefined ↔ [Undefined], Object ↔ [Object] (ordered properties),
// ECMA Array ↔ [ECMAArray], Strict Array ↔ [StrictArray], Date ↔ [Date], XML Document ↔
// [XMLDocument], Typed Object ↔ [TypedObject], Reference ↔ [Reference], Unsupported ↔
// [Unsupported]. Marshal also accepts Go integer types as Numbers and map[string]any as an
// Object (keys sorted, for deterministic output).
//
// The package is pure: no goroutines, no I/O, no logging. Decoding is bounded by the input
// length and a nesting depth of [MaxDepth]; it never panics on hostile input (fuzzed).
package amf0
