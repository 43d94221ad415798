package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/rtmp/amf0"
	"github.com/sipcast/sipcast/rtmp/chunk"
	"github.com/sipcast/sipcast/rtmp/handshake"
	"github.com/sipcast/sipcast/rtmp/message"
)

// The hostile-peer suite for the RTMP server: raw clients over loopback that skip steps,
// repeat them or send what costs us memory.

type rawRTMP struct {
	t  *testing.T
	nc net.Conn
	w  *chunk.Writer
	r  *chunk.Reader
}

func dialRaw(t *testing.T, addr net.Addr) (*rawRTMP, error) {
	nc, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := handshake.Client(nc, 0); err != nil {
		return nil, err
	}
	return &rawRTMP{t: t, nc: nc, w: chunk.NewWriter(nc), r: chunk.NewReader(nc)}, nil
}

func (c *rawRTMP) command(streamID uint32, values ...any) {
	c.t.Helper()
	b, err := amf0.Marshal(nil, values...)
	require.NoError(c.t, err)
	require.NoError(c.t, c.w.WriteMessage(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, streamID, nil, b))
}

// reply reads until a command arrives and returns its name and info code, or the error
// that ended the connection.
func (c *rawRTMP) reply() (name, code string, err error) {
	var m chunk.Message
	for {
		if err := c.r.Read(&m); err != nil {
			return "", "", err
		}
		if m.Type != message.TypeCommandAMF0 {
			continue
		}
		vs, err := amf0.Unmarshal(m.Payload)
		if err != nil || len(vs) == 0 {
			return "", "", errors.Join(errors.New("bad command"), err)
		}
		name, _ = vs[0].(string)
		for _, v := range vs {
			if o, ok := v.(amf0.Object); ok && o.String("code") != "" {
				code = o.String("code")
			}
		}
		return name, code, nil
	}
}

// closedByServer reads until the server closes the connection.
func (c *rawRTMP) closedByServer() bool {
	for {
		if _, _, err := c.reply(); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func connectCmd(app string) []any {
	return []any{"connect", 1.0, amf0.Object{{Key: "app", Value: app}, {Key: "tcUrl", Value: "rtmp://x/" + app}}}
}

// Nothing but connect before connect: publish and play sent first close the connection
// and take no stream, on a server whose connect needs Adobe auth and a known application.
func TestHostileRTMPCommandsBeforeConnect(t *testing.T) {
	events, evOpt := serverEvents()
	srv, err := NewServer(evOpt, WithApps("live"), WithAdobeAuth(func(u string) (string, bool) { return "secret", u == "user" }))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	for _, cmd := range [][]any{
		{"publish", 0.0, nil, "stolen", "live"},
		{"play", 0.0, nil, "stolen"},
		{"createStream", 2.0, nil},
		{"FCPublish", 3.0, nil, "stolen"},
	} {
		c, err := dialRaw(t, addr)
		require.NoError(t, err)
		c.command(1, cmd...)
		require.True(t, c.closedByServer(), "%v before connect", cmd[0])
	}
	// A connect without credentials is refused; the publish after it on the same
	// connection never runs.
	c, err := dialRaw(t, addr)
	require.NoError(t, err)
	// Both in one write: the server may close as soon as it has refused the connect,
	// and a second write would then race with its close (a broken pipe, seen in CI).
	var both bytes.Buffer
	w := chunk.NewWriter(&both)
	for i, cmd := range [][]any{connectCmd("live"), {"publish", 0.0, nil, "stolen", "live"}} {
		b, err := amf0.Marshal(nil, cmd...)
		require.NoError(t, err)
		require.NoError(t, w.WriteMessage(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, uint32(i), nil, b)) // the publish on stream 1
	}
	_, err = c.nc.Write(both.Bytes())
	require.NoError(t, err)
	name, code, err := c.reply()
	require.NoError(t, err)
	require.Equal(t, "_error", name)
	require.Equal(t, "NetConnection.Connect.Rejected", code)
	require.True(t, c.closedByServer())
	select {
	case e := <-events:
		t.Fatalf("a stream was taken: %+v", e)
	default:
	}
}

// One publish per connection: the second is refused, and when the connection ends the
// first name is free for another publisher.
func TestHostileRTMPSecondPublish(t *testing.T) {
	events, evOpt := serverEvents()
	srv, err := NewServer(evOpt)
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	c, err := dialRaw(t, addr)
	require.NoError(t, err)
	c.command(0, connectCmd("live")...)
	name, code, err := c.reply()
	require.NoError(t, err)
	require.Equal(t, "_result", name, code)
	c.command(1, "publish", 0.0, nil, "first", "live")
	_, code, err = c.reply()
	require.NoError(t, err)
	require.Equal(t, "NetStream.Publish.Start", code)
	require.Equal(t, "live/first", waitEvent(t, events, true, true, 10*time.Second).Key)
	c.command(1, "publish", 0.0, nil, "second", "live")
	_, code, err = c.reply()
	require.NoError(t, err)
	require.Equal(t, "NetStream.Publish.BadConnection", code)
	c.nc.Close()
	require.Equal(t, "live/first", waitEvent(t, events, true, false, 10*time.Second).Key)

	for _, stream := range []string{"first", "second"} {
		c, err := dialRaw(t, addr)
		require.NoError(t, err)
		c.command(0, connectCmd("live")...)
		_, _, err = c.reply()
		require.NoError(t, err)
		c.command(1, "publish", 0.0, nil, stream, "live")
		_, code, err := c.reply()
		require.NoError(t, err)
		require.Equal(t, "NetStream.Publish.Start", code, "live/%s is free", stream)
		c.nc.Close()
	}
}

// heapInUse returns the heap in use after a collection.
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// A connected client that sends a 4 MiB message on each of 40 chunk streams, then a
// strict array of 16 Mi nulls, holds at most the connection's budget: the chunk buffers
// count against chunk.DefaultMaxBufferedBytes whether or not a message is in progress,
// and the AMF0 decoder against amf0.MaxDecodedBytes. Before connect, a large message is
// refused before it is buffered.
func TestHostileRTMPAmplificationBounded(t *testing.T) {
	srv, err := NewServer()
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)

	pre, err := dialRaw(t, addr)
	require.NoError(t, err)
	huge := make([]byte, 1<<20)
	huge[0] = 0x05
	if pre.w.WriteMessage(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, 0, nil, huge) == nil {
		require.True(t, pre.closedByServer(), "a 1 MiB message before connect")
	} // else the server closed the connection while we wrote

	base := heapInUse()
	c, err := dialRaw(t, addr)
	require.NoError(t, err)
	c.command(0, connectCmd("live")...)
	name, _, err := c.reply()
	require.NoError(t, err)
	require.Equal(t, "_result", name)
	payload := bytes.Repeat([]byte{0x17}, 4<<20)
	for i := 0; i < 40; i++ {
		if err := c.w.WriteMessage(uint32(10+i), message.TypeVideo, 0, 1, nil, payload); err != nil {
			break // the server may close us: that is also a bound
		}
	}
	// createStream's answer says that the server has read everything before it.
	c.command(0, "createStream", 2.0, nil)
	held := int64(-1)
	if name, _, err := c.reply(); err == nil && name == "_result" {
		held = heapInUse() - base
		t.Logf("heap held by the connection after 40 × 4 MiB messages: %d MiB", held>>20)
		require.Less(t, held, int64(chunk.DefaultMaxBufferedBytes+8<<20), "chunk buffers beyond the budget")
	}

	const n = 16<<20 - 64
	nulls := make([]byte, 5+n)
	nulls[0] = 0x0a
	binary.BigEndian.PutUint32(nulls[1:], n)
	for i := 5; i < len(nulls); i++ {
		nulls[i] = 0x05
	}
	cmd, _ := amf0.Marshal(nil, "createStream", 3.0, nil)
	cmd = append(cmd, nulls...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := c.w.WriteMessage(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, 0, nil, cmd); err == nil {
		require.True(t, c.closedByServer(), "a command of 16 Mi nulls")
	}
	runtime.ReadMemStats(&after)
	// The 16 MiB message itself is buffered (within the budget); its decoding is not
	// allowed to cost more than amf0.MaxDecodedBytes on top.
	allocated := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("allocated while the server read and refused the array: %d MiB", allocated>>20)
	require.Less(t, allocated, int64(chunk.DefaultMaxBufferedBytes+16<<20), "decoding amplified the message")
}

// The server serves at most WithMaxConnections connections; the next is closed at once,
// and a slot frees when a connection ends.
func TestHostileRTMPConnectionLimit(t *testing.T) {
	srv, err := NewServer(WithMaxConnections(2))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	a, err := dialRaw(t, addr)
	require.NoError(t, err)
	_, err = dialRaw(t, addr)
	require.NoError(t, err)
	_, err = dialRaw(t, addr)
	require.Error(t, err, "a third connection got through the handshake")
	a.nc.Close()
	require.Eventually(t, func() bool {
		c, err := dialRaw(t, addr)
		if err == nil {
			c.nc.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the slot of a closed connection is never freed")
}

// A hostile server that answers a publisher's connect with a 1 MiB command: the publisher
// refuses the message before buffering it (its reader's bound is 64 KiB) and fails.
func TestHostileServerOversizedReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		if err := handshake.Server(nc, 0); err != nil {
			served <- err
			return
		}
		big := make([]byte, 1<<20)
		big[0] = 0x05
		served <- chunk.NewWriter(nc).WriteMessage(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, 0, nil, big)
	}()
	states := newStateLog()
	p, err := NewPublisher("rtmp://"+ln.Addr().String()+"/live/x", append(clipOptions(loadClip(t)), WithEvents(states.add))...)
	require.NoError(t, err)
	defer p.Close()
	e := states.waitState(t, StateRetrying, 20*time.Second)
	require.ErrorContains(t, e.Err, chunk.ErrMessageTooLarge.Error())
	<-served
}
