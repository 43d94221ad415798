// Package chunk implements the RTMP chunk stream (Adobe RTMP specification §5.3): it
// splits messages into chunks with the four header formats (type 0 full, type 1 without
// stream id, type 2 timestamp delta only, type 3 none), extended timestamps, and the
// protocol control messages that act on the chunk layer itself (Set Chunk Size and Abort).
//
// The package is pure: a [Reader] reads from an io.Reader and a [Writer] writes to an
// io.Writer; neither starts goroutines or logs. Every length read from the network is
// bounded: message lengths by [Reader.MaxMessageSize], the number of chunk streams with a
// partial message by [Reader.MaxChunkStreams], and the bytes held for partial messages by
// [Reader.MaxBufferedBytes]. Buffers grow with the bytes that actually arrive, never with
// what a header announces.
package chunk
