// Package sip is sipcast's SIP user agent, on github.com/emiago/sipgo: one sipgo
// UserAgent shared by the server and client sides, owning its listeners.
//
// What exists so far: inbound calls (the application decides per INVITE; 100/180/200,
// ACK, BYE both ways, CANCEL through sipgo's dialog layer, OPTIONS, a call limit answered
// 503 with Retry-After), Contact parameters exposed on the call (the Cisco Meeting Server
// Call Bridge's x-cisco-stream stream URL), and SDP answers through package sip/sdp.
// Outbound calls with digest authentication, REGISTER, TLS, dial plan routing, re-INVITE
// and UPDATE, session timers, DTMF and keyframe requests over INFO, and tracing are still
// to come.
package sip
