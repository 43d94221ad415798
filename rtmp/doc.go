// Package rtmp publishes media to RTMP and RTMPS servers (nginx-rtmp, YouTube, Facebook,
// Wowza, Vbrick DME) and contains a small server that accepts publishers and fans them
// out to players.
//
// Layering (pure wire packages first, each fuzzed):
//
//   - rtmp/amf0: AMF0 values of commands and metadata.
//   - rtmp/handshake: C0/C1/C2 and S0/S1/S2.
//   - rtmp/chunk: the chunk stream (four header types, extended timestamps, Set Chunk
//     Size, Abort), with bounded memory.
//   - rtmp/message: protocol control and user control messages.
//   - rtmp/flv: FLV tag bodies (AVC, AAC, G.711, Enhanced RTMP hvc1/av01/Opus),
//     onMetaData and FLV files.
//
// This package adds the sessions on top: [Publisher] (connect, releaseStream/FCPublish,
// createStream, publish; reconnect with backoff; a bounded queue that drops
// non-reference video first, then video, then the oldest audio; Adobe authentication;
// RTMPS with verification on) and [Server].
//
// URLs are accepted as users write them, rtmp[s]://[user:pass@]host[:port]/app[/instance]/stream[?query],
// split into application and stream as ffmpeg splits them. Credentials are used for
// authentication and never appear in logs, errors or String output.
//
// Specifications: Adobe RTMP Specification 1.0 (2012); Adobe Flash Video File Format
// Specification 10.1 Annex E; Enhanced RTMP v1/v2 (veovera.org).
package rtmp
