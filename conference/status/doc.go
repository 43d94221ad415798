// Package status serves a conference.Bridge's live status page, the Call Bridge web
// admin's "active calls" in spirit: each call's remote party, duration and state, its
// incoming media per track (codec, resolution, frame rate, bitrate, loss, jitter), its
// stream (URL with the key redacted, state, reconnects, drops) and its recording (file,
// size), refreshed every second, with a button that ends a call after a confirmation.
// The same data is served as JSON.
//
// The handler does no authentication: serve it behind credentials (the streamer wraps
// it in the API's Basic auth). Ending a call needs a POST with the X-Sipcast-Request
// header, which a cross-site form cannot send, so a page elsewhere cannot end calls
// with the operator's credentials. Plain HTML and JavaScript, no build step.
package status
