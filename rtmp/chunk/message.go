package chunk

// Message is one reassembled RTMP message.
type Message struct {
	// ChunkStreamID is the chunk stream the message travelled on (2 for protocol control).
	ChunkStreamID uint32
	// Type is the message type id (see package rtmp/message).
	Type uint8
	// Timestamp is the absolute message timestamp in milliseconds (wrapping at 2^32).
	Timestamp uint32
	// StreamID is the message stream id.
	StreamID uint32
	// Payload is the message body.
	Payload []byte
}

// Protocol control message types handled by the chunk layer itself.
const (
	TypeSetChunkSize = 1
	TypeAbort        = 2
)

// Chunk size limits. The default is the protocol's initial 128 bytes.
const (
	DefaultChunkSize = 128
	// MaxChunkSize is the largest chunk size allowed by the specification (31 bits).
	MaxChunkSize = 0x7fffffff
	// maxMessageLength is the largest length a 24-bit message header can announce.
	maxMessageLength = 0xffffff
)
