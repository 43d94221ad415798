// Package message defines RTMP message type ids and the protocol control and user control
// messages (Adobe RTMP specification §5.4 and §6.2): Set Chunk Size, Abort, Acknowledgement,
// Window Acknowledgement Size, Set Peer Bandwidth and the User Control events (Stream Begin,
// Stream EOF, Set Buffer Length, Ping Request and Response). Command messages are AMF0
// (package rtmp/amf0) and audio/video bodies are FLV tags (package rtmp/flv).
//
// The package is pure and allocation-free.
package message
