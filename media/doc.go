// Package media holds the types that carry media between sipcast's packages: the codec
// identifiers and [Frame], one complete access unit on a call's clock.
//
// Codec-specific parsing lives in sub-packages (media/h264, media/aac); they are pure
// (no goroutines, sockets or logging) and fuzzed. The RTP receive pipeline (sessions,
// jitter buffer, depacketizers, lip sync) is being built on top of these types.
package media
