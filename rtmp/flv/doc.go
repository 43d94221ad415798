// Package flv encodes and decodes FLV tag bodies as RTMP carries them in audio and video
// messages (Adobe Flash Video File Format Specification v10.1, Annex E), the onMetaData
// script data sent through @setDataFrame, Enhanced RTMP (veovera enhanced-rtmp v1/v2:
// ExVideoTagHeader with FourCC hvc1/av01/avc1 and ExAudioTagHeader with FourCC Opus), and
// the FLV file container (header, tags, PreviousTagSize).
//
// Tag headers marshal into caller-supplied arrays so that the publisher can send a header
// in front of a frame without copying the frame; tag bodies unmarshal by aliasing the input.
// The package is pure and fuzzed.
package flv
