// Package sdp answers SDP offers (RFC 3264 offer/answer, on pion/sdp/v3) the way a
// streaming or recording endpoint must: it picks, per m-line, the first codec of its own
// preference list that the offer has (matching fmtp where it matters: H.264
// packetization-mode, AAC configs), keeps telephone-event, answers the direction it can
// honour, echoes rtcp-mux and the RTCP feedback it implements (nack, nack pli, ccm fir),
// chooses an SDES crypto suite and makes its own key, bounds received video resolution
// (the CMS `streamer sip resolution 720p|1080p|audio-only` setting) with H.264 max-fs,
// and answers every m-line it does not handle — BFCP, H.224, the Call Bridge's
// `m=application ... UDP/UDT/IX` — with port 0.
//
// The package is pure: it turns an offer into an answer and a description of what was
// agreed ([Media]), which maps onto media.TrackConfig. It is fuzzed.
//
// Specifications: RFC 3264, RFC 4566, RFC 6184 §8 (H.264 parameters), RFC 3640 and
// RFC 6416 (AAC), RFC 4568 (SDES), RFC 5761 (rtcp-mux), RFC 4585 and RFC 5104 (feedback).
package sdp
