// Package rtph264 rebuilds H.264 access units from RTP packets (RFC 6184): packetization
// modes 0 and 1, that is single NAL unit packets, STAP-A aggregates and FU-A fragments.
// STAP-B, MTAP and FU-B (interleaved mode 2) are rejected and counted.
//
// Access units come out in the AVCC layout of media.Frame (4-byte lengths), with
// parameter sets that arrive in-band kept in place, and a keyframe flag for IDR pictures.
// The decoder is pure, allocation-free once its buffers have grown, bounded by
// [Decoder.MaxAccessUnitSize], and fuzzed.
//
// Specification: RFC 6184.
package rtph264
