package rtmp

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/sipcast/sipcast/rtmp/amf0"
	"github.com/sipcast/sipcast/rtmp/chunk"
	"github.com/sipcast/sipcast/rtmp/message"
)

// OutChunkSize is the chunk size sipcast announces, as the CMS streamer does.
const OutChunkSize = 4096

// conn is one RTMP connection after the handshake: a chunk reader used by one goroutine,
// and a chunk writer shared under a mutex (the reader answers pings and acknowledgements
// while another goroutine sends media).
type conn struct {
	nc net.Conn
	r  *chunk.Reader

	wmu       sync.Mutex
	bw        *bufio.Writer
	w         *chunk.Writer
	cmdBuf    []byte
	ctlBuf    [10]byte
	bytesSent atomic.Uint64 // read by Stats without taking wmu

	// reader-side state
	ackWindow uint32
	lastAck   uint64
}

func newConn(nc net.Conn) *conn {
	c := &conn{nc: nc, r: chunk.NewReader(nc)}
	// 16 KB: a round's P-frames and audio in one write; a keyframe takes a few (64 KB
	// held 48 KB more per stream for two writes fewer every keyframe).
	c.bw = bufio.NewWriterSize(countingWriter{nc, &c.bytesSent}, 16<<10)
	c.w = chunk.NewWriter(c.bw)
	return c
}

type countingWriter struct {
	nc net.Conn
	n  *atomic.Uint64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.nc.Write(p)
	w.n.Add(uint64(n))
	return n, err
}

// writeControl sends a protocol control message and flushes. Caller must not hold wmu.
func (c *conn) writeControl(typ uint8, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteMessage(message.ChunkStreamControl, typ, 0, 0, nil, body); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *conn) writeUserControl(uc message.UserControl) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteMessage(message.ChunkStreamControl, message.TypeUserControl, 0, 0, nil, uc.Marshal(&c.ctlBuf)); err != nil {
		return err
	}
	return c.bw.Flush()
}

// writeCommand sends an AMF0 command (or data message) and flushes.
func (c *conn) writeAMF(csid uint32, typ uint8, streamID uint32, values ...any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	c.cmdBuf, err = amf0.Marshal(c.cmdBuf[:0], values...)
	if err != nil {
		return err
	}
	if err := c.w.WriteMessage(csid, typ, 0, streamID, nil, c.cmdBuf); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *conn) setChunkSize(n uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteSetChunkSize(n); err != nil {
		return err
	}
	return c.bw.Flush()
}

// read returns the next message that is not consumed by the connection itself:
// acknowledgement windows and pings are handled here.
func (c *conn) read(m *chunk.Message) error {
	for {
		if err := c.r.Read(m); err != nil {
			return err
		}
		if err := c.maybeAck(); err != nil {
			return err
		}
		if m.StreamID != 0 || m.ChunkStreamID != message.ChunkStreamControl && m.Type > message.TypeSetPeerBandwidth {
			return nil
		}
		switch m.Type {
		case message.TypeSetChunkSize, message.TypeAbort, message.TypeAcknowledgement:
			continue
		case message.TypeWindowAckSize:
			v, err := message.ParseUint32(m.Payload, "Window Acknowledgement Size")
			if err != nil {
				return fmt.Errorf("%w: %v", ErrProtocol, err)
			}
			c.ackWindow = v
			continue
		case message.TypeSetPeerBandwidth:
			continue
		case message.TypeUserControl:
			var uc message.UserControl
			if err := uc.Unmarshal(m.Payload); err != nil {
				return fmt.Errorf("%w: %v", ErrProtocol, err)
			}
			if uc.Event == message.EventPingRequest {
				if err := c.writeUserControl(message.UserControl{Event: message.EventPingResponse, Data: uc.Data}); err != nil {
					return err
				}
				continue
			}
		}
		return nil
	}
}

func (c *conn) maybeAck() error {
	if c.ackWindow == 0 {
		return nil
	}
	n := c.r.BytesRead()
	if n-c.lastAck < uint64(c.ackWindow) {
		return nil
	}
	c.lastAck = n
	var b [4]byte
	return c.writeControl(message.TypeAcknowledgement, message.PutUint32(&b, uint32(n)))
}

// command is a decoded AMF0 command message.
type command struct {
	Name     string
	TxID     float64
	Object   amf0.Object // the command object, or nil
	Args     []any       // what follows the command object
	StreamID uint32
}

func parseCommand(m *chunk.Message) (command, error) {
	var c command
	vs, err := amf0.Unmarshal(m.Payload)
	if err != nil {
		return c, fmt.Errorf("%w: command: %v", ErrProtocol, err)
	}
	if len(vs) < 1 {
		return c, fmt.Errorf("%w: empty command", ErrProtocol)
	}
	name, ok := vs[0].(string)
	if !ok {
		return c, fmt.Errorf("%w: command name of type %T", ErrProtocol, vs[0])
	}
	c.Name, c.StreamID = name, m.StreamID
	if len(vs) > 1 {
		c.TxID, _ = vs[1].(float64)
	}
	if len(vs) > 2 {
		c.Object, _ = vs[2].(amf0.Object)
		c.Args = vs[3:]
	}
	return c, nil
}

// statusInfo returns the info object of an onStatus/_error/_result command.
func (c command) info() amf0.Object {
	for _, a := range c.Args {
		if o, ok := a.(amf0.Object); ok {
			return o
		}
	}
	return c.Object
}
