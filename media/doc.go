// Package media holds the types that carry media between sipcast's packages: the codec
// identifiers, [Frame], one complete access unit on a call's clock, [FrameWriter], what
// takes frames (with [FrameWriterFunc] and [NoOpFrameWriter] for decoration), and
// [Track], a received track's description. The bundled test clips are in media/testclip.
//
// Codec-specific parsing lives in sub-packages (media/h264, media/aac); they are pure
// (no goroutines, sockets or logging) and fuzzed. The RTP receive pipeline (sessions,
// jitter buffer, depacketizers, lip sync) is being built on top of these types.
package media
