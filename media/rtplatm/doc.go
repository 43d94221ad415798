// Package rtplatm rebuilds AAC access units from RTP packets in the MP4A-LATM format
// (RFC 6416 §6): the LATM AudioMuxElement with its StreamMuxConfig either out of band in
// the SDP (cpresent=0, config=...) or in band (cpresent=1), one program and one layer,
// one or more subframes per element, and elements fragmented over several packets (the
// marker bit ends one). The CMS streamer answers the Call Bridge with MP4A-LATM, so this
// is the AAC the Call Bridge sends.
//
// The decoder is pure, bounded and fuzzed.
//
// Specifications: RFC 6416 §6; ISO/IEC 14496-3 §1.7.3 (LATM syntax) and §1.6.2.1
// (AudioSpecificConfig).
package rtplatm
