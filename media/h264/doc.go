// Package h264 holds pure helpers for ITU-T H.264 (AVC) bitstreams: NAL unit types, the
// AVCC length-prefixed layout, the sequence parameter set fields sipcast needs (profile,
// level, picture size), and the AVCDecoderConfigurationRecord of ISO/IEC 14496-15 §5.3.3.
//
// Everything here works on byte slices, allocates only where documented, and is fuzzed.
package h264
