package rtmp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/rtmp/amf0"
	"github.com/sipcast/sipcast/rtmp/chunk"
	"github.com/sipcast/sipcast/rtmp/flv"
	"github.com/sipcast/sipcast/rtmp/handshake"
	"github.com/sipcast/sipcast/rtmp/message"
)

// ServerOption configures a Server.
type ServerOption func(*Server) error

// WithServerLogger sets the server's logger (default: discard).
func WithServerLogger(l *slog.Logger) ServerOption {
	return func(s *Server) error { s.log = l; return nil }
}

// WithAdobeAuth requires Adobe authentication (authmod=adobe) from publishers and players;
// lookup returns the password of a user.
func WithAdobeAuth(lookup func(user string) (password string, ok bool)) ServerOption {
	return func(s *Server) error { s.lookup = lookup; return nil }
}

// WithApps restricts the applications the server accepts; a connect to another one is
// answered by closing the connection, as nginx-rtmp does.
func WithApps(apps ...string) ServerOption {
	return func(s *Server) error { s.apps = apps; return nil }
}

// WithRecorder makes the server write every published stream as an FLV file; open is
// called with "app/stream" at each publish start and its writer is closed at the end.
func WithRecorder(open func(key string) (io.WriteCloser, error)) ServerOption {
	return func(s *Server) error { s.record = open; return nil }
}

// WithIdleTimeout sets how long a connecting client or a publisher may stay silent before
// the server closes it (default 30 s). A player, which has little to say, is sent a ping
// request every half of it and closed after twice this time without a message (ffmpeg and every Flash-era player answer pings).
func WithIdleTimeout(d time.Duration) ServerOption {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("rtmp: invalid idle timeout %v", d)
		}
		s.idle = d
		return nil
	}
}

// DefaultMaxConnections is how many connections a Server serves at once unless
// WithMaxConnections says otherwise; further ones are closed as they are accepted.
const DefaultMaxConnections = 1024

// WithMaxConnections sets how many connections the server serves at once (default
// DefaultMaxConnections). Each connection may hold up to its chunk reader's budget
// (chunk.DefaultMaxBufferedBytes), so this also bounds the server's memory.
func WithMaxConnections(n int) ServerOption {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("rtmp: invalid connection limit %d", n)
		}
		s.maxConns = n
		return nil
	}
}

// StreamEvent tells about a publisher or player joining or leaving a stream.
type StreamEvent struct {
	Key     string // "app/stream"
	Publish bool   // publisher (true) or player (false)
	Start   bool   // joined (true) or left (false)
	Remote  string
}

// WithStreamEvents sets a function told about publishers and players. It is called from
// connection goroutines and must not block.
func WithStreamEvents(f func(StreamEvent)) ServerOption {
	return func(s *Server) error { s.onEvent = f; return nil }
}

// Server is a small RTMP server: it accepts publishers (ffmpeg, OBS, sipcast's Publisher)
// and fans each stream out to players (ffplay, ffprobe, VLC), starting them at the last
// keyframe. It is meant for tests, the demo and small deployments, not for scale.
type Server struct {
	log      *slog.Logger
	lookup   func(string) (string, bool)
	apps     []string
	record   func(string) (io.WriteCloser, error)
	onEvent  func(StreamEvent)
	idle     time.Duration
	maxConns int

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	streams   map[string]*stream
	closed    bool
	wg        sync.WaitGroup

	challenges *challengeStore
}

// NewServer returns a Server; call Serve to accept connections.
func NewServer(opts ...ServerOption) (*Server, error) {
	s := &Server{
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		conns:      make(map[net.Conn]struct{}),
		streams:    make(map[string]*stream),
		challenges: newChallengeStore(1024),
		idle:       30 * time.Second,
		maxConns:   DefaultMaxConnections,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Serve accepts connections on ln in a goroutine the server owns, and returns at once.
// Wrap ln with tls.NewListener for RTMPS. Close closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// Listen listens on a TCP address such as "127.0.0.1:0" and serves it.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := s.Serve(ln); err != nil {
		ln.Close()
		return nil, err
	}
	return ln.Addr(), nil
}

// Close stops accepting, closes every connection and waits for all goroutines. It is
// idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if len(s.conns) >= s.maxConns {
			s.mu.Unlock()
			s.log.Warn("rtmp server: connection limit reached, closing", "limit", s.maxConns, "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
			nc.Close()
		}()
	}
}

func (s *Server) event(e StreamEvent) {
	if s.onEvent != nil {
		s.onEvent(e)
	}
}

// packet is one media or data message shared by all players; it is never modified.
type packet struct {
	typ       uint8
	timestamp uint32
	data      []byte
	key       bool // video keyframe
	header    bool // metadata or sequence header: never skipped while waiting for a keyframe
}

type player struct {
	ch      chan *packet
	waitKey bool
	dropped int
}

type stream struct {
	key       string
	publisher bool
	metadata  *packet
	videoSeq  *packet
	audioSeq  *packet
	gop       []*packet // from the last keyframe; bounded
	gopBytes  int
	players   map[*player]struct{}
}

const (
	maxGOPBytes   = 8 << 20
	playerQueue   = 1024
	serverIOLimit = 30 * time.Second
)

func (s *Server) getStream(key string) *stream {
	st := s.streams[key]
	if st == nil {
		st = &stream{key: key, players: make(map[*player]struct{})}
		s.streams[key] = st
	}
	return st
}

func (s *Server) dropStreamIfIdle(st *stream) {
	if !st.publisher && len(st.players) == 0 {
		delete(s.streams, st.key)
	}
}

// session is the server side of one connection.
type session struct {
	s        *Server
	c        *conn
	remote   string
	app      string
	key      string // stream key while publishing or playing
	pub      *stream
	play     *player
	playSt   *stream
	rec      *flv.FileWriter
	recClose io.Closer
	wdone    chan struct{}
	// connected is set once connect succeeded (application allowed, authenticated):
	// before that no other command is taken.
	connected bool
}

// preConnectMaxMessage bounds messages before connect succeeds: a connect command is a
// few hundred bytes (ffmpeg's, OBS's and the Call Bridge's are under 1 KiB).
const preConnectMaxMessage = 64 << 10

func (s *Server) handle(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(s.idle))
	if err := handshake.Server(nc, 0); err != nil {
		s.log.Debug("rtmp server: handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	// Writes from here on are small control messages (player media sets its own
	// deadline); a deadline left from the handshake would break long sessions.
	_ = nc.SetWriteDeadline(time.Time{})
	ss := &session{s: s, c: newConn(nc), remote: nc.RemoteAddr().String()}
	ss.c.r.MaxMessageSize = preConnectMaxMessage
	defer ss.cleanup()
	if err := ss.loop(); !isEOF(err) { // loop returns only on an error
		s.log.Info("rtmp server: connection ended", "remote", ss.remote, "err", err)
	}
}

func (ss *session) loop() error {
	var m chunk.Message
	for {
		// Publishers and connecting clients must keep talking; players answer the
		// pings their writer sends while the stream is quiet.
		if ss.play == nil {
			_ = ss.c.nc.SetReadDeadline(time.Now().Add(ss.s.idle))
		} else {
			_ = ss.c.nc.SetReadDeadline(time.Now().Add(2 * ss.s.idle))
		}
		if err := ss.c.read(&m); err != nil {
			return err
		}
		switch m.Type {
		case message.TypeCommandAMF0, message.TypeCommandAMF3:
			if m.Type == message.TypeCommandAMF3 && len(m.Payload) > 0 {
				m.Payload = m.Payload[1:]
			}
			cmd, err := parseCommand(&m)
			if err != nil {
				return err
			}
			if err := ss.command(cmd); err != nil {
				return err
			}
		case message.TypeDataAMF0, message.TypeAudio, message.TypeVideo:
			if ss.pub != nil { // only after a publish, which needs connect
				ss.media(&m)
			}
		}
	}
}

// ErrNotConnected is why a connection that sends a command other than connect before
// connect succeeded is closed.
var ErrNotConnected = fmt.Errorf("%w: command before connect", ErrProtocol)

func (ss *session) command(cmd command) error {
	c := ss.c
	if !ss.connected {
		if cmd.Name != "connect" {
			// As nginx-rtmp: nothing but connect before connect, so that the allowed
			// applications and authentication cannot be skipped.
			return fmt.Errorf("%w: %q", ErrNotConnected, cmd.Name)
		}
		return ss.connect(cmd)
	}
	switch cmd.Name {
	case "connect":
		return fmt.Errorf("%w: a second connect", ErrProtocol)
	case "createStream":
		return c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "_result", cmd.TxID, nil, 1.0)
	case "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength", "_checkbw":
		if cmd.Name == "FCUnpublish" {
			ss.endPublish()
		}
		return c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "_result", cmd.TxID, nil, amf0.Undefined{})
	case "publish":
		name, _ := firstString(cmd.Args)
		return ss.publish(cmd.StreamID, name)
	case "play":
		name, _ := firstString(cmd.Args)
		return ss.startPlay(cmd.StreamID, name)
	case "deleteStream", "closeStream":
		ss.endPublish()
		ss.endPlay()
	}
	return nil
}

func firstString(vs []any) (string, bool) {
	for _, v := range vs {
		if s, ok := v.(string); ok {
			return s, true
		}
	}
	return "", false
}

func status(level, code, desc string) amf0.Object {
	return amf0.Object{{Key: "level", Value: level}, {Key: "code", Value: code}, {Key: "description", Value: desc}}
}

func (ss *session) connect(cmd command) error {
	app := cmd.Object.String("app")
	query := ""
	if i := strings.IndexByte(app, '?'); i >= 0 {
		app, query = app[:i], app[i+1:]
	}
	if query == "" {
		if _, q, ok := strings.Cut(cmd.Object.String("tcUrl"), "?"); ok {
			query = q
		}
	}
	ss.app = strings.TrimSuffix(app, "/")
	if len(ss.s.apps) > 0 && !contains(ss.s.apps, ss.app) {
		ss.s.log.Info("rtmp server: unknown application, closing", "app", ss.app, "remote", ss.remote)
		return fmt.Errorf("%w: application %q not found", ErrProtocol, ss.app)
	}
	if ss.s.lookup != nil {
		if desc, ok := ss.s.checkAuth(query); !ok {
			_ = ss.c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "_error", cmd.TxID, nil,
				status("error", "NetConnection.Connect.Rejected", desc))
			return fmt.Errorf("%w: authentication: %s", ErrProtocol, redactAuth(desc))
		}
	}
	var b4 [4]byte
	var b5 [5]byte
	if err := ss.c.writeControl(message.TypeWindowAckSize, message.PutUint32(&b4, 2500000)); err != nil {
		return err
	}
	if err := ss.c.writeControl(message.TypeSetPeerBandwidth, message.SetPeerBandwidth{Size: 2500000, LimitType: message.LimitDynamic}.Marshal(&b5)); err != nil {
		return err
	}
	if err := ss.c.setChunkSize(OutChunkSize); err != nil {
		return err
	}
	ss.connected = true
	ss.c.r.MaxMessageSize = 0 // the chunk reader's default from here on
	props := amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}}
	info := append(status("status", "NetConnection.Connect.Success", "Connection succeeded."), amf0.Property{Key: "objectEncoding", Value: 0.0})
	return ss.c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "_result", cmd.TxID, props, info)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func streamKey(app, name string) string {
	name, _, _ = strings.Cut(name, "?")
	return app + "/" + name
}

func (ss *session) publish(streamID uint32, name string) error {
	if name == "" {
		return ss.c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
			status("error", "NetStream.Publish.BadName", "No stream name"))
	}
	if ss.pub != nil || ss.play != nil {
		// One stream per connection, as nginx-rtmp: a second publish would leave the
		// first stream's name taken until the server stops.
		return ss.c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
			status("error", "NetStream.Publish.BadConnection", "This connection already has a stream"))
	}
	key := streamKey(ss.app, name)
	s := ss.s
	s.mu.Lock()
	st := s.getStream(key)
	if st.publisher {
		s.mu.Unlock()
		return ss.c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
			status("error", "NetStream.Publish.BadName", "Already publishing"))
	}
	st.publisher = true
	st.metadata, st.videoSeq, st.audioSeq, st.gop, st.gopBytes = nil, nil, nil, nil, 0
	s.mu.Unlock()
	ss.pub, ss.key = st, key
	if s.record != nil {
		w, err := s.record(key)
		if err != nil {
			s.log.Warn("rtmp server: cannot record", "stream", key, "err", err)
		} else if fw, err := flv.NewFileWriter(w, true, true); err == nil {
			ss.rec, ss.recClose = fw, w
		} else {
			w.Close()
		}
	}
	s.event(StreamEvent{Key: key, Publish: true, Start: true, Remote: ss.remote})
	if err := ss.c.writeUserControl(message.UserControl{Event: message.EventStreamBegin, Data: streamID}); err != nil {
		return err
	}
	return ss.c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
		status("status", "NetStream.Publish.Start", name+" is now published."))
}

func (ss *session) media(m *chunk.Message) {
	p := &packet{typ: m.Type, timestamp: m.Timestamp}
	if m.Type == message.TypeDataAMF0 {
		// Store onMetaData without the @setDataFrame wrapper, as players expect.
		md, err := flv.ParseMetadata(m.Payload)
		if err != nil {
			return
		}
		b, err := amf0.Marshal(nil, "onMetaData", md)
		if err != nil {
			return
		}
		p.data = b
	} else {
		p.data = bytes.Clone(m.Payload)
	}
	seq := false
	switch m.Type {
	case message.TypeVideo:
		var v flv.VideoTag
		if v.Unmarshal(p.data) != nil {
			return
		}
		seq = v.PacketType == flv.PacketSequenceStart
		p.key = v.FrameType == flv.FrameKey && !seq
	case message.TypeAudio:
		var a flv.AudioTag
		if a.Unmarshal(p.data) != nil {
			return
		}
		seq = (a.SoundFormat == flv.SoundAAC && a.PacketType == flv.AACSequenceHeader) || (a.Enhanced && a.PacketType == flv.PacketSequenceStart)
	}
	if ss.rec != nil {
		typ := p.typ
		if err := ss.rec.WriteTag(typ, p.timestamp, nil, p.data); err != nil {
			ss.s.log.Warn("rtmp server: recording failed", "stream", ss.key, "err", err)
			ss.recClose.Close()
			ss.rec, ss.recClose = nil, nil
		}
	}
	p.header = seq || m.Type == message.TypeDataAMF0
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ss.pub
	switch {
	case m.Type == message.TypeDataAMF0:
		st.metadata = p
	case seq && m.Type == message.TypeVideo:
		st.videoSeq = p
	case seq:
		st.audioSeq = p
	default:
		if p.key {
			st.gop, st.gopBytes = st.gop[:0], 0
		}
		if st.gopBytes+len(p.data) <= maxGOPBytes && (len(st.gop) > 0 || p.key) {
			st.gop = append(st.gop, p)
			st.gopBytes += len(p.data)
		}
	}
	for pl := range st.players {
		pl.send(p)
	}
}

// send queues p for a player without blocking; a slow player loses video until the next
// keyframe.
func (pl *player) send(p *packet) {
	if pl.waitKey && p.typ == message.TypeVideo && !p.key && !p.header {
		pl.dropped++
		return
	}
	select {
	case pl.ch <- p:
		if p.key {
			pl.waitKey = false
		}
	default:
		pl.dropped++
		pl.waitKey = true
	}
}

func (ss *session) endPublish() {
	if ss.pub == nil {
		return
	}
	s := ss.s
	s.mu.Lock()
	st := ss.pub
	st.publisher = false
	for pl := range st.players {
		select {
		case pl.ch <- nil: // end of stream
		default:
		}
	}
	s.dropStreamIfIdle(st)
	s.mu.Unlock()
	if ss.recClose != nil {
		ss.recClose.Close()
		ss.rec, ss.recClose = nil, nil
	}
	s.event(StreamEvent{Key: ss.key, Publish: true, Start: false, Remote: ss.remote})
	ss.pub = nil
}

func (ss *session) startPlay(streamID uint32, name string) error {
	if ss.play != nil || ss.pub != nil {
		return nil
	}
	key := streamKey(ss.app, name)
	c := ss.c
	_ = c.writeUserControl(message.UserControl{Event: message.EventStreamIsRecorded, Data: streamID})
	if err := c.writeUserControl(message.UserControl{Event: message.EventStreamBegin, Data: streamID}); err != nil {
		return err
	}
	if err := c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
		status("status", "NetStream.Play.Reset", "Playing and resetting "+name+".")); err != nil {
		return err
	}
	if err := c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
		status("status", "NetStream.Play.Start", "Started playing "+name+".")); err != nil {
		return err
	}
	_ = c.writeAMF(message.ChunkStreamData, message.TypeDataAMF0, streamID, "|RtmpSampleAccess", true, true)

	pl := &player{ch: make(chan *packet, playerQueue), waitKey: true}
	s := ss.s
	s.mu.Lock()
	st := s.getStream(key)
	// Start with what a decoder needs: metadata, sequence headers, the current GOP.
	for _, p := range []*packet{st.metadata, st.videoSeq, st.audioSeq} {
		if p != nil {
			pl.ch <- p
		}
	}
	for _, p := range st.gop {
		pl.send(p)
	}
	st.players[pl] = struct{}{}
	s.mu.Unlock()
	ss.play, ss.playSt, ss.key = pl, st, key
	s.event(StreamEvent{Key: key, Publish: false, Start: true, Remote: ss.remote})
	ss.wdone = make(chan struct{})
	go ss.playWriter(pl, streamID, name)
	return nil
}

// playWriter sends a player's packets. It ends at end of stream (closing the connection
// so that the player sees EOF) or when the connection fails.
func (ss *session) playWriter(pl *player, streamID uint32, name string) {
	defer close(ss.wdone)
	c := ss.c
	ping := time.NewTicker(ss.s.idle / 2)
	defer ping.Stop()
	var ok bool
	for {
		var p *packet
		select {
		case p, ok = <-pl.ch:
		case <-ping.C:
			// Ask the player to answer, so that its read deadline tells a live
			// player from a vanished one even when it has nothing else to say.
			if err := c.writeUserControl(message.UserControl{Event: message.EventPingRequest, Data: uint32(time.Now().UnixMilli())}); err != nil {
				c.nc.Close()
			}
			continue
		}
		if !ok {
			return
		}
		if p == nil {
			_ = c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
				status("status", "NetStream.Play.UnpublishNotify", name+" is now unpublished."))
			_ = c.writeUserControl(message.UserControl{Event: message.EventStreamEOF, Data: streamID})
			_ = c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "onStatus", 0.0, nil,
				status("status", "NetStream.Play.Stop", "Stopped playing "+name+"."))
			c.nc.Close()
			return
		}
		csid := uint32(message.ChunkStreamVideo)
		switch p.typ {
		case message.TypeAudio:
			csid = message.ChunkStreamAudio
		case message.TypeDataAMF0:
			csid = message.ChunkStreamData
		}
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(serverIOLimit))
		err := c.w.WriteMessage(csid, p.typ, p.timestamp, streamID, nil, p.data)
		if err == nil && len(pl.ch) == 0 {
			err = c.bw.Flush()
		}
		c.wmu.Unlock()
		if err != nil {
			c.nc.Close()
			for range pl.ch { // drain until endPlay closes the channel
			}
			return
		}
	}
}

func (ss *session) endPlay() {
	if ss.play == nil {
		return
	}
	s := ss.s
	s.mu.Lock()
	delete(ss.playSt.players, ss.play)
	close(ss.play.ch)
	s.dropStreamIfIdle(ss.playSt)
	s.mu.Unlock()
	<-ss.wdone
	s.event(StreamEvent{Key: ss.key, Publish: false, Start: false, Remote: ss.remote})
	ss.play = nil
}

func (ss *session) cleanup() {
	ss.endPublish()
	ss.c.nc.Close()
	ss.endPlay()
}

// Adobe authentication, server side.

type challengeStore struct {
	mu    sync.Mutex
	max   int
	items map[string]string // opaque -> user
	order []string
}

func newChallengeStore(max int) *challengeStore {
	return &challengeStore{max: max, items: make(map[string]string)}
}

func (c *challengeStore) add(opaque, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.order) >= c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[opaque] = user
	c.order = append(c.order, opaque)
}

func (c *challengeStore) take(opaque string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.items[opaque]
	delete(c.items, opaque)
	return u, ok
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// saltFor derives a stable per-user salt, so that the server needs no per-user state.
func (s *Server) saltFor(user string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%08x", fnv32(user))))
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// checkAuth runs one step of Adobe authentication on a connect query. It returns the
// rejection description to send, or ok.
func (s *Server) checkAuth(query string) (string, bool) {
	v := parseRawQuery(query)
	const prefix = "[ AccessManager.Reject ] : "
	if v.Get("authmod") != "adobe" {
		return prefix + "[ code=403 need auth; authmod=adobe ] : ", false
	}
	user := v.Get("user")
	if v.Get("response") == "" {
		if _, ok := s.lookup(user); !ok {
			return prefix + "[ authmod=adobe ] : ?reason=nosuchuser&opaque=", false
		}
		opaque := randomToken(8)
		s.challenges.add(opaque, user)
		return fmt.Sprintf("%s[ authmod=adobe ] : ?reason=needauth&user=%s&salt=%s&challenge=%s&opaque=%s",
			prefix, url.QueryEscape(user), s.saltFor(user), opaque, opaque), false
	}
	opaque := v.Get("opaque")
	if opaque == "" {
		opaque = v.Get("challenge")
	}
	issued, ok := s.challenges.take(opaque)
	pass, known := s.lookup(user)
	if !ok || !known || issued != user {
		return prefix + "[ authmod=adobe ] : ?reason=authfailed&opaque=" + opaque, false
	}
	want := adobeResponse(user, pass, s.saltFor(user), opaque, opaque, v.Get("challenge"))
	if v.Get("response") != want {
		return prefix + "[ authmod=adobe ] : ?reason=authfailed&opaque=" + opaque, false
	}
	return "", true
}

// parseRawQuery parses a query without turning '+' into a space: ffmpeg sends base64
// responses unescaped.
func parseRawQuery(q string) url.Values {
	v := url.Values{}
	for _, kv := range strings.Split(q, "&") {
		k, val, _ := strings.Cut(kv, "=")
		if uv, err := url.PathUnescape(val); err == nil {
			val = uv
		}
		if uk, err := url.PathUnescape(k); err == nil {
			k = uk
		}
		if k != "" {
			v.Add(k, val)
		}
	}
	return v
}
