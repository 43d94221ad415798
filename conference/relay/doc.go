// Package relay is the Flashphoner Web Call Server "SIP as RTMP" service on a
// conference.Bridge: a REST call asks the relay to register with a SIP server, call
// someone and relay the callee's audio and video to an RTMP server, transcoded to AAC
// (H.264 passed through); the caller polls the call, sends it keys and ends it.
//
// The REST API has WCS's shape, JSON under /rest-api/call/: startup (callId, callee,
// toStream, rtmpUrl, rtmpStream, hasAudio, hasVideo, sipLogin, sipAuthenticationName,
// sipPassword, sipDomain, sipOutboundProxy, sipPort, sipRegisterRequired, appKey), find
// ({callId} or {status}), find_all, send_dtmf ({callId, dtmf, type}: RFC 4733 events, or
// SIP INFO with type INFO) and terminate ({callId}). Every request needs an API key
// (X-Api-Key, or Authorization: Bearer); a body is at most 16 KiB; a bad or missing
// field gets 400 naming it, a duplicate callId or stream 409, an unknown call 404, and
// an RTMP server or SIP domain outside the allow-lists (Config.RTMPHosts,
// Config.SIPDomains) 403.
//
// Each call registers first when asked (digest authentication, refreshed, and
// unregistered at the end), calls callee@sipDomain (through sipOutboundProxy when one
// is given), and once answered relays the call as any Bridge call: the callee gets our
// generated audio from the answer on, a restarting RTMP server is retried, and the call
// ends on BYE, terminate or media timeout with a reason a person understands
// (Call.EndReason). REST hooks (CallStatusEvent, StreamStatusEvent,
// RegistrationStatusEvent) are POSTed to Config.Hook from a queue of their own: retried,
// never holding a call back.
//
// The SIP password and the stream key (rtmpStream) never appear in the log, in find's
// answers, in hooks or on the page. The page, at /, is plain HTML and JavaScript: a form
// with the startup fields, the calls with their status, duration, bitrate and end
// reason, a keypad and a terminate button for each.
package relay
