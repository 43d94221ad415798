package message

// Message type ids (RTMP specification §5.4, §7.1).
const (
	TypeSetChunkSize     = 1
	TypeAbort            = 2
	TypeAcknowledgement  = 3
	TypeUserControl      = 4
	TypeWindowAckSize    = 5
	TypeSetPeerBandwidth = 6
	TypeAudio            = 8
	TypeVideo            = 9
	TypeDataAMF3         = 15
	TypeSharedObjectAMF3 = 16
	TypeCommandAMF3      = 17
	TypeDataAMF0         = 18
	TypeSharedObjectAMF0 = 19
	TypeCommandAMF0      = 20
	TypeAggregate        = 22
)

// Conventional chunk stream ids, as ffmpeg and nginx-rtmp use them.
const (
	ChunkStreamControl = 2 // protocol control messages
	ChunkStreamCommand = 3 // NetConnection commands
	ChunkStreamAudio   = 4
	ChunkStreamVideo   = 6
	ChunkStreamData    = 5 // metadata and NetStream commands
)
