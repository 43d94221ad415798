// Package rtpaac rebuilds AAC access units from RTP packets in the mpeg4-generic format
// (RFC 3640): AAC-hbr and AAC-lbr modes, several access units per packet, and access
// units fragmented over several packets. The AU header layout comes from the SDP fmtp
// parameters sizelength, indexlength and indexdeltalength; [ParseFMTP] reads them along
// with the config (any length: ffmpeg sends 2 to 5 bytes).
//
// The decoder is pure, bounded and fuzzed.
//
// Specification: RFC 3640 §3.2 and §3.3.6 (AAC-hbr), §3.3.5 (AAC-lbr).
package rtpaac
