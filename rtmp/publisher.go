package rtmp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/rtmp/amf0"
	"github.com/sipcast/sipcast/rtmp/chunk"
	"github.com/sipcast/sipcast/rtmp/flv"
	"github.com/sipcast/sipcast/rtmp/handshake"
	"github.com/sipcast/sipcast/rtmp/message"
)

// State is the state of a Publisher.
type State int32

// Publisher states.
const (
	StateConnecting State = iota
	StatePublishing
	StateRetrying
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StatePublishing:
		return "publishing"
	case StateRetrying:
		return "retrying"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Event reports a state change of a Publisher.
type Event struct {
	State State
	// Err is why a connection attempt failed or a connection was lost (StateRetrying,
	// StateClosed). It never contains credentials.
	Err error
	// Attempt counts consecutive failed attempts (StateRetrying).
	Attempt int
	// Retry is the wait before the next attempt (StateRetrying).
	Retry time.Duration
}

// VideoTrack describes the video a Publisher sends: a media.Track whose Codec is
// media.CodecH264 (legacy FLV), media.CodecH265 or media.CodecAV1 (Enhanced RTMP, FourCC
// hvc1/av01). For H.264, SPS and PPS seed the sequence header (optional: the parameter
// sets announced on frames, Frame.Track, are used, and a change sends a new sequence
// header); for H.265 and AV1, Config is the HEVCDecoderConfigurationRecord or
// AV1CodecConfigurationRecord sent as the Enhanced RTMP sequence start (required).
type VideoTrack = media.Track

// AudioTrack describes the audio a Publisher sends: a media.Track whose Codec is
// media.CodecAAC, media.CodecPCMU, media.CodecPCMA (8 kHz mono) or media.CodecOpus
// (Enhanced RTMP, FourCC Opus), and Config the AAC AudioSpecificConfig (required for AAC)
// or the OpusHead (optional for Opus).
type AudioTrack = media.Track

// Stats are a Publisher's counters.
type Stats struct {
	State       State
	BytesSent   uint64
	VideoFrames uint64 // sent, keyframes included
	KeyFrames   uint64
	AudioFrames uint64
	// DroppedVideo and DroppedAudio count frames dropped by the queue.
	DroppedVideo, DroppedAudio uint64
	// Reconnects counts successful publishes after the first.
	Reconnects uint64
	// Queued is the frames waiting to be sent.
	Queued, QueuedBytes int
	// ClampedTimestamps counts frames whose timestamp went backwards and was held.
	ClampedTimestamps uint64
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher) error

// WithLogger sets the logger (default: discard). URLs are logged redacted.
func WithLogger(l *slog.Logger) PublisherOption {
	return func(p *Publisher) error { p.log = l; return nil }
}

// WithTLSConfig sets the TLS configuration for rtmps URLs. Verification stays on unless
// the configuration turns it off; ServerName defaults to the URL's host.
func WithTLSConfig(c *tls.Config) PublisherOption {
	return func(p *Publisher) error { p.tlsConfig = c.Clone(); return nil }
}

// WithDialer replaces the TCP dialer.
func WithDialer(d func(ctx context.Context, network, addr string) (net.Conn, error)) PublisherOption {
	return func(p *Publisher) error { p.dial = d; return nil }
}

// WithVideo declares the video track.
func WithVideo(t VideoTrack) PublisherOption {
	return func(p *Publisher) error {
		switch t.Codec {
		case media.CodecH264:
		case media.CodecH265, media.CodecAV1:
			if len(t.Config) == 0 {
				return fmt.Errorf("rtmp: %s video needs its configuration record", t.Codec)
			}
		default:
			return fmt.Errorf("rtmp: video codec %s cannot be sent over RTMP", t.Codec)
		}
		p.video = &t
		return nil
	}
}

// WithTracks sets the video and the audio track from media.Track descriptions (what a
// media.Receiver announces, what conference outputs are given), each by its codec.
func WithTracks(tracks ...media.Track) PublisherOption {
	return func(p *Publisher) error {
		for _, t := range tracks {
			o := WithAudio(t)
			if t.Codec.IsVideo() {
				o = WithVideo(t)
			}
			if err := o(p); err != nil {
				return err
			}
		}
		return nil
	}
}

// WithAudio sets the audio track (see AudioTrack).
func WithAudio(t AudioTrack) PublisherOption {
	return func(p *Publisher) error {
		switch t.Codec {
		case media.CodecAAC:
			if _, err := aac.ParseConfig(t.Config); err != nil {
				return fmt.Errorf("rtmp: AAC audio needs a valid AudioSpecificConfig: %w", err)
			}
		case media.CodecPCMU, media.CodecPCMA, media.CodecOpus:
		default:
			return fmt.Errorf("rtmp: audio codec %s cannot be sent over RTMP", t.Codec)
		}
		p.audio = &t
		return nil
	}
}

// WithKeyframeRequest sets the function called when the publisher needs a keyframe (after
// a (re)connect or dropped video). It is called from WriteFrame's or the publisher's
// goroutine and must not block.
func WithKeyframeRequest(f func()) PublisherOption {
	return func(p *Publisher) error { p.onKeyframe = f; return nil }
}

// WithEvents sets the function told about state changes, from the publisher's goroutine.
// It must not block.
func WithEvents(f func(Event)) PublisherOption {
	return func(p *Publisher) error { p.onEvent = f; return nil }
}

// WithBackoff sets the reconnect backoff bounds (default 250 ms to 1 s, with jitter, so
// the stream resumes within about a second of the server coming back).
func WithBackoff(min, max time.Duration) PublisherOption {
	return func(p *Publisher) error {
		if min <= 0 || max < min {
			return fmt.Errorf("rtmp: invalid backoff %v..%v", min, max)
		}
		p.minBackoff, p.maxBackoff = min, max
		return nil
	}
}

// WithMaxAttempts stops the publisher after n consecutive failed connection attempts
// (default 0: retry forever). Done is closed and Err returns the last failure.
func WithMaxAttempts(n int) PublisherOption {
	return func(p *Publisher) error { p.maxAttempts = n; return nil }
}

// WithConnectTimeout bounds each connection attempt up to publish start (default 10 s).
func WithConnectTimeout(d time.Duration) PublisherOption {
	return func(p *Publisher) error { p.connectTimeout = d; return nil }
}

// WithQueue sets the queue bounds: frames, bytes, and the largest single frame
// (defaults 512 frames, 16 MiB, 4 MiB).
func WithQueue(frames, bytes, maxFrame int) PublisherOption {
	return func(p *Publisher) error {
		if frames < 2 || bytes < 1 || maxFrame < 1 || maxFrame > bytes {
			return errors.New("rtmp: invalid queue bounds")
		}
		p.queueFrames, p.queueBytes, p.maxFrame = frames, bytes, maxFrame
		return nil
	}
}

// WithManualFlush makes WriteFrame queue frames without waking the sending goroutine;
// Flush wakes it. A caller that produces frames in rounds (media.Poller's AfterTick) then
// pays one wake-up per round instead of one per frame. As a safety net the goroutine is
// woken anyway once manualFlushFrames frames wait.
func WithManualFlush() PublisherOption {
	return func(p *Publisher) error { p.manualFlush = true; return nil }
}

// manualFlushFrames is how many unflushed frames wake the sender regardless.
const manualFlushFrames = 64

// WithCredentialsInQuery sends the URL's user and password as "user" and "pass" query
// parameters of the stream name, for servers that authenticate that way (nginx-rtmp
// on_publish, SRS hooks) instead of with Adobe authentication.
func WithCredentialsInQuery() PublisherOption {
	return func(p *Publisher) error { p.credsInQuery = true; return nil }
}

// Publisher publishes one stream to an RTMP or RTMPS server. It connects in the
// background, reconnects by itself with backoff when the server goes away, and never
// blocks its caller: frames go through a bounded queue that drops (and counts) the least
// important data first.
type Publisher struct {
	url            *URL
	log            *slog.Logger
	tlsConfig      *tls.Config
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	video          *VideoTrack
	audio          *AudioTrack
	onKeyframe     func()
	onEvent        func(Event)
	minBackoff     time.Duration
	maxBackoff     time.Duration
	maxAttempts    int
	connectTimeout time.Duration
	queueFrames    int
	manualFlush    bool
	queueBytes     int
	maxFrame       int
	credsInQuery   bool

	q        *frameQueue
	closeCh  chan struct{}
	closing  sync.Once
	done     chan struct{}
	err      error
	ready    chan struct{} // closed at the first publish start
	readyOne sync.Once

	state       atomic.Int32
	bytesPrev   atomic.Uint64 // bytes of finished connections
	curConn     atomic.Pointer[conn]
	videoFrames atomic.Uint64
	keyFrames   atomic.Uint64
	audioFrames atomic.Uint64
	reconnects  atomic.Uint64
	clamped     atomic.Uint64

	// Owned by the publisher goroutine.
	cur          slot
	vh           [flv.MaxVideoHeaderSize]byte
	ah           [flv.MaxAudioHeaderSize]byte
	baseSet      bool
	base         time.Duration
	lastVideo    uint32
	lastAudio    uint32
	sps, pps     []byte
	videoSeqSent bool
	seqBuf       []byte
}

// NewPublisher validates the URL and options and starts publishing in the background.
func NewPublisher(rawURL string, opts ...PublisherOption) (*Publisher, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Stream == "" {
		return nil, fmt.Errorf("%w: no stream name in %s (application %q): use rtmp://host/app/stream", ErrInvalidURL, u, u.App)
	}
	p := &Publisher{
		url:            u,
		log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		minBackoff:     250 * time.Millisecond,
		maxBackoff:     time.Second,
		connectTimeout: 10 * time.Second,
		queueFrames:    512,
		queueBytes:     16 << 20,
		maxFrame:       4 << 20,
		closeCh:        make(chan struct{}),
		done:           make(chan struct{}),
		ready:          make(chan struct{}),
	}
	var d net.Dialer
	p.dial = d.DialContext
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	if p.video == nil && p.audio == nil {
		return nil, errors.New("rtmp: a publisher needs a video or an audio track")
	}
	if p.video != nil && p.video.Codec == media.CodecH264 {
		p.sps, p.pps = bytes.Clone(p.video.SPS), bytes.Clone(p.video.PPS)
	}
	p.q = newFrameQueue(p.queueFrames, p.queueBytes, p.maxFrame)
	p.q.manual = p.manualFlush
	p.log = p.log.With("url", u.String())
	go p.run()
	return p, nil
}

// URL returns the redacted URL.
func (p *Publisher) URL() string { return p.url.String() }

// WriteFrame queues a copy of f for sending and returns at once. It returns false when
// the frame was dropped (the queue is full, video is waiting for a keyframe, or the
// publisher is closed). Frames of a codec the publisher has no track for are dropped.
// In steady state it does not allocate.
func (p *Publisher) WriteFrame(f *media.Frame) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	if f.Codec.IsVideo() {
		if p.video == nil || f.Codec != p.video.Codec {
			return false
		}
	} else if p.audio == nil || f.Codec != p.audio.Codec {
		return false
	}
	queued, requestKey := p.q.push(f)
	if requestKey {
		p.requestKeyframe()
	}
	return queued
}

// Flush wakes the sending goroutine for the frames queued since the last Flush (see
// WithManualFlush; without it frames are sent as they are written and Flush does nothing).
func (p *Publisher) Flush() { p.q.flush() }

func (p *Publisher) requestKeyframe() {
	if p.onKeyframe != nil {
		p.onKeyframe()
	}
}

// State returns the current state.
func (p *Publisher) State() State { return State(p.state.Load()) }

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	n, b, dv, da := p.q.stats()
	sent := p.bytesPrev.Load()
	if c := p.curConn.Load(); c != nil {
		sent += c.bytesSent.Load()
	}
	return Stats{
		State: p.State(), BytesSent: sent,
		VideoFrames: p.videoFrames.Load(), KeyFrames: p.keyFrames.Load(), AudioFrames: p.audioFrames.Load(),
		DroppedVideo: dv, DroppedAudio: da, Reconnects: p.reconnects.Load(),
		Queued: n, QueuedBytes: b, ClampedTimestamps: p.clamped.Load(),
	}
}

// Ready waits until the first publish has started, the publisher has stopped, or ctx ends.
func (p *Publisher) Ready(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		if p.err != nil {
			return p.err
		}
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the publisher has stopped: after Close, or after WithMaxAttempts
// consecutive failures.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err returns why the publisher stopped by itself; nil while running and after Close.
func (p *Publisher) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close unpublishes, closes the connection and waits for the publisher's goroutines.
// Frames still queued are sent first if the connection is up. It is idempotent.
func (p *Publisher) Close() error {
	p.closing.Do(func() { close(p.closeCh) })
	<-p.done
	return nil
}

func (p *Publisher) setState(e Event) {
	p.state.Store(int32(e.State))
	if e.Err != nil {
		p.log.Warn("rtmp publisher", "state", e.State.String(), "err", e.Err, "attempt", e.Attempt)
	} else {
		p.log.Info("rtmp publisher", "state", e.State.String())
	}
	if p.onEvent != nil {
		p.onEvent(e)
	}
}

func (p *Publisher) closed() bool {
	select {
	case <-p.closeCh:
		return true
	default:
		return false
	}
}

func (p *Publisher) backoff(attempt int) time.Duration {
	d := p.minBackoff
	for i := 1; i < attempt && d < p.maxBackoff; i++ {
		d *= 2
	}
	if d > p.maxBackoff {
		d = p.maxBackoff
	}
	// ±20 % jitter so that many publishers do not reconnect in lockstep.
	j := time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
	return j
}

func (p *Publisher) run() {
	defer close(p.done)
	failures := 0
	published := false
	for {
		p.setState(Event{State: StateConnecting})
		wasPublishing, err := p.session(published)
		if wasPublishing {
			published = true
			failures = 0
		}
		if p.closed() {
			p.setState(Event{State: StateClosed})
			return
		}
		failures++
		if p.maxAttempts > 0 && failures >= p.maxAttempts {
			p.err = err
			p.setState(Event{State: StateClosed, Err: err})
			return
		}
		wait := p.backoff(failures)
		p.setState(Event{State: StateRetrying, Err: err, Attempt: failures, Retry: wait})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.closeCh:
			t.Stop()
			p.setState(Event{State: StateClosed})
			return
		}
	}
}

// session connects, publishes and streams until the connection fails or Close.
func (p *Publisher) session(reconnect bool) (published bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.connectTimeout)
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // Close aborts a connection attempt.
		defer watch.Done()
		select {
		case <-p.closeCh:
			cancel()
		case <-stop:
		}
	}()
	c, streamID, err := p.connect(ctx)
	close(stop)
	watch.Wait()
	cancel()
	if err != nil {
		return false, err
	}
	defer c.nc.Close()
	if reconnect {
		p.reconnects.Add(1)
	}
	p.curConn.Store(c)
	defer func() {
		p.curConn.Store(nil)
		p.bytesPrev.Add(c.bytesSent.Swap(0))
	}()
	p.readyOne.Do(func() { close(p.ready) })
	p.setState(Event{State: StatePublishing})

	readErr := make(chan error, 1)
	results := make(chan float64, 4)
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		readErr <- p.readLoop(c, results)
	}()
	defer rd.Wait()
	defer c.nc.Close()

	if err := p.sendHeaders(c, streamID); err != nil {
		return true, p.lost(err)
	}
	if p.video != nil && p.q.restartVideo() {
		p.requestKeyframe()
	}
	for {
		if err := p.drain(c, streamID); err != nil {
			return true, p.lost(err)
		}
		select {
		case <-p.q.notify:
		case err := <-readErr:
			return true, p.lost(err)
		case <-p.closeCh:
			_ = p.drain(c, streamID)
			p.barrier(c, readErr, results)
			_ = c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "FCUnpublish", 0.0, nil, p.url.PublishName())
			_ = c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "deleteStream", 0.0, nil, float64(streamID))
			p.shutdown(c, readErr)
			return true, ErrClosed
		}
	}
}

// barrier sends a command the server must answer and waits (up to 2 s) for the answer:
// servers handle messages in order, so by then they have processed all media sent before.
func (p *Publisher) barrier(c *conn, readErr <-chan error, results <-chan float64) {
	const txid = 6.0
	if c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "createStream", txid, nil) != nil {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case id := <-results:
			if id == txid {
				return
			}
		case <-readErr:
			return
		case <-t.C:
			return
		}
	}
}

// shutdown half-closes the connection and waits briefly for the server to close its side,
// so that the server reads everything we sent (closing with unread data in our receive
// buffer would reset the connection and make the server drop the stream's tail).
func (p *Publisher) shutdown(c *conn, readErr <-chan error) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.nc.(closeWriter); ok {
		if cw.CloseWrite() == nil {
			t := time.NewTimer(2 * time.Second)
			defer t.Stop()
			select {
			case <-readErr:
			case <-t.C:
			}
		}
	}
}

func (p *Publisher) lost(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, ErrConnectionLost) {
		return &Error{Op: "send", URL: p.url.String(), Err: err} // already says so
	}
	return &Error{Op: "send", URL: p.url.String(), Err: fmt.Errorf("%w: %v", ErrConnectionLost, err)}
}

// readLoop consumes what the server sends while publishing (acknowledgements, pings,
// status messages) and returns when the connection fails or the server reports an error.
func (p *Publisher) readLoop(c *conn, results chan<- float64) error {
	var m chunk.Message
	for {
		if err := c.read(&m); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: the server closed the connection", ErrConnectionLost)
			}
			return err
		}
		if m.Type != message.TypeCommandAMF0 {
			continue
		}
		cmd, err := parseCommand(&m)
		if err != nil {
			continue
		}
		if cmd.Name == "_result" || cmd.Name == "_error" {
			select {
			case results <- cmd.TxID:
			default:
			}
		}
		if cmd.Name == "onStatus" {
			info := cmd.info()
			if info.String("level") == "error" {
				return &Error{Op: "publish", URL: p.url.String(), Code: info.String("code"), Description: info.String("description"), Err: ErrPublishRejected}
			}
		}
	}
}

func (p *Publisher) drain(c *conn, streamID uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	wrote := false
	// A server that stops reading must not hang the publisher: writes time out and the
	// connection is replaced.
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for p.q.pop(&p.cur) {
		if err := p.writeFrame(c, streamID, &p.cur); err != nil {
			return err
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	return c.bw.Flush()
}

// timestamp maps a frame time to RTMP milliseconds: relative to the first frame, and
// never going backwards on either track (also across reconnects).
func (p *Publisher) timestamp(d time.Duration, last *uint32) uint32 {
	if !p.baseSet {
		p.base, p.baseSet = d, true
	}
	rel := d - p.base
	if rel < 0 {
		rel = 0
	}
	ms := uint32(uint64(rel/time.Millisecond) & math.MaxUint32)
	if ms < *last {
		p.clamped.Add(1)
		ms = *last
	}
	*last = ms
	return ms
}

// writeFrame sends one frame; the caller holds c.wmu.
func (p *Publisher) writeFrame(c *conn, streamID uint32, s *slot) error {
	if s.video {
		if s.codec == media.CodecH264 && s.ps && (!bytes.Equal(s.sps, p.sps) || !bytes.Equal(s.pps, p.pps)) {
			p.sps, p.pps = append(p.sps[:0], s.sps...), append(p.pps[:0], s.pps...)
			p.videoSeqSent = false // the track changed (Frame.Track): a new sequence header
		}
		ts := p.timestamp(s.dts, &p.lastVideo)
		if !p.videoSeqSent {
			if !s.key {
				return nil
			}
			if err := p.writeVideoSequence(c, streamID, ts); err != nil {
				return err
			}
			if !p.videoSeqSent {
				return nil // no parameter sets yet
			}
		}
		cts := int32((s.pts - s.dts) / time.Millisecond)
		tag := flv.VideoTag{FrameType: flv.FrameInter, PacketType: flv.PacketCodedFrames, CompositionTime: cts}
		if s.key {
			tag.FrameType = flv.FrameKey
		}
		p.setVideoCodec(&tag)
		if err := c.w.WriteMessage(message.ChunkStreamVideo, message.TypeVideo, ts, streamID, tag.MarshalHeader(&p.vh), s.buf); err != nil {
			return err
		}
		p.videoFrames.Add(1)
		if s.key {
			p.keyFrames.Add(1)
		}
		return nil
	}
	ts := p.timestamp(s.dts, &p.lastAudio)
	tag := p.audioTag(flv.AACRaw, flv.PacketCodedFrames)
	if err := c.w.WriteMessage(message.ChunkStreamAudio, message.TypeAudio, ts, streamID, tag.MarshalHeader(&p.ah), s.buf); err != nil {
		return err
	}
	p.audioFrames.Add(1)
	return nil
}

func (p *Publisher) setVideoCodec(t *flv.VideoTag) {
	switch p.video.Codec {
	case media.CodecH265:
		t.Enhanced, t.FourCC = true, flv.FourCCHEVC
	case media.CodecAV1:
		t.Enhanced, t.FourCC = true, flv.FourCCAV1
	default:
		t.CodecID = flv.VideoCodecAVC
	}
}

func (p *Publisher) audioTag(aacType, enhancedType uint8) flv.AudioTag {
	switch p.audio.Codec {
	case media.CodecAAC:
		return flv.AudioTag{SoundFormat: flv.SoundAAC, Rate: 3, Size: 1, Stereo: true, PacketType: aacType}
	case media.CodecPCMU:
		return flv.AudioTag{SoundFormat: flv.SoundG711MuLaw, Size: 1}
	case media.CodecPCMA:
		return flv.AudioTag{SoundFormat: flv.SoundG711ALaw, Size: 1}
	default: // Opus
		return flv.AudioTag{SoundFormat: flv.SoundExHeader, Enhanced: true, FourCC: flv.FourCCOpus, PacketType: enhancedType}
	}
}

// writeVideoSequence sends the video sequence header; the caller holds c.wmu.
func (p *Publisher) writeVideoSequence(c *conn, streamID, ts uint32) error {
	tag := flv.VideoTag{FrameType: flv.FrameKey, PacketType: flv.PacketSequenceStart}
	p.setVideoCodec(&tag)
	if p.video.Codec == media.CodecH264 {
		if p.sps == nil || p.pps == nil {
			return nil
		}
		cfg, err := h264.NewAVCConfig(p.sps, p.pps)
		if err != nil {
			return nil
		}
		if p.seqBuf, err = cfg.Marshal(p.seqBuf[:0]); err != nil {
			return nil
		}
		tag.Data = p.seqBuf
	} else {
		tag.Data = p.video.Config
	}
	if err := c.w.WriteMessage(message.ChunkStreamVideo, message.TypeVideo, ts, streamID, tag.MarshalHeader(&p.vh), tag.Data); err != nil {
		return err
	}
	p.videoSeqSent = true
	return nil
}

// sendHeaders sends onMetaData and the sequence headers at the start of a publish.
func (p *Publisher) sendHeaders(c *conn, streamID uint32) error {
	md := flv.Metadata{Encoder: "sipcast"}
	if p.video != nil {
		switch p.video.Codec {
		case media.CodecH264:
			md.VideoCodecID = flv.VideoCodecAVC
			if sps, err := h264.ParseSPS(p.sps); err == nil {
				md.Width, md.Height = sps.Width, sps.Height
			}
		case media.CodecH265:
			md.VideoCodecID = flv.FourCCNumber(flv.FourCCHEVC)
		case media.CodecAV1:
			md.VideoCodecID = flv.FourCCNumber(flv.FourCCAV1)
		}
	}
	if p.audio != nil {
		switch p.audio.Codec {
		case media.CodecAAC:
			md.AudioCodecID = flv.SoundAAC
			if cfg, err := aac.ParseConfig(p.audio.Config); err == nil {
				md.AudioSampleRate, md.AudioChannels = cfg.SampleRate, cfg.Channels
			}
		case media.CodecPCMU:
			md.AudioCodecID, md.AudioSampleRate, md.AudioChannels = flv.SoundG711MuLaw, 8000, 1
		case media.CodecPCMA:
			md.AudioCodecID, md.AudioSampleRate, md.AudioChannels = flv.SoundG711ALaw, 8000, 1
		case media.CodecOpus:
			md.AudioCodecID, md.AudioSampleRate, md.AudioChannels = flv.FourCCNumber(flv.FourCCOpus), 48000, 2
		}
	}
	if err := c.writeAMF(message.ChunkStreamData, message.TypeDataAMF0, streamID, "@setDataFrame", "onMetaData", md.ECMAArray()); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ts := p.lastVideo
	if p.lastAudio > ts {
		ts = p.lastAudio
	}
	p.videoSeqSent = false
	if p.video != nil {
		if err := p.writeVideoSequence(c, streamID, ts); err != nil {
			return err
		}
	}
	if p.audio != nil && (p.audio.Codec == media.CodecAAC || p.audio.Codec == media.CodecOpus && len(p.audio.Config) > 0) {
		tag := p.audioTag(flv.AACSequenceHeader, flv.PacketSequenceStart)
		if err := c.w.WriteMessage(message.ChunkStreamAudio, message.TypeAudio, ts, streamID, tag.MarshalHeader(&p.ah), p.audio.Config); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}

// connect dials, shakes hands, connects (answering Adobe authentication challenges),
// creates a stream and publishes. ctx bounds the whole exchange.
func (p *Publisher) connect(ctx context.Context) (*conn, uint32, error) {
	authQuery := ""
	for round := 0; round < 4; round++ {
		c, err := p.dialAndShake(ctx)
		if err != nil {
			return nil, 0, err
		}
		streamID, next, err := p.negotiate(ctx, c, authQuery)
		if err == nil && next == "" {
			return c, streamID, nil
		}
		c.nc.Close()
		if err != nil {
			return nil, 0, err
		}
		authQuery = next
	}
	return nil, 0, &Error{Op: "connect", URL: p.url.String(), Err: ErrAuthFailed, Hint: "the server kept asking for authentication"}
}

func (p *Publisher) dialAndShake(ctx context.Context) (*conn, error) {
	nc, err := p.dial(ctx, "tcp", p.url.Address())
	if err != nil {
		return nil, p.ctxErr(ctx, "dial", classifyDialError(p.url, err))
	}
	if p.url.Scheme == "rtmps" {
		cfg := p.tlsConfig
		if cfg == nil {
			cfg = &tls.Config{}
		} else {
			cfg = cfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = p.url.Host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, p.ctxErr(ctx, "tls", classifyDialError(p.url, err))
		}
		nc = tc
	}
	// The handshake and connect are bounded by ctx through the deadline.
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := handshake.Client(nc, 0); err != nil {
		nc.Close()
		return nil, p.ctxErr(ctx, "handshake", &Error{Op: "handshake", URL: p.url.String(),
			Err: fmt.Errorf("%w: handshake: %v", ErrConnectionLost, err), Hint: "is this an RTMP server (for rtmps, is TLS expected)?"})
	}
	c := newConn(nc)
	// A server sends a publisher only commands and control messages, each well under
	// 64 KiB; the same bounds as the server's before connect keep a hostile server from
	// making a publisher hold more.
	c.r.MaxMessageSize = publisherMaxMessage
	c.r.MaxBufferedBytes = 4 * publisherMaxMessage
	return c, nil
}

func (p *Publisher) ctxErr(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if p.closed() {
		return ErrClosed
	}
	return &Error{Op: op, URL: p.url.String(), Err: fmt.Errorf("%w: no answer within %v", ErrConnectionLost, p.connectTimeout)}
}

func clientChallenge() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// negotiate runs connect, createStream and publish. When the server asks for Adobe
// authentication it returns the query for the next attempt.
func (p *Publisher) negotiate(ctx context.Context, c *conn, authQuery string) (uint32, string, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(op string, err error) (uint32, string, error) { return 0, "", p.ctxErr(ctx, op, err) }
	if err := c.setChunkSize(OutChunkSize); err != nil {
		return fail("connect", p.lost(err))
	}
	app, tcURL := p.url.App, p.url.TCURL()
	if authQuery != "" {
		app += "?" + authQuery
		tcURL += "?" + authQuery
	}
	obj := amf0.Object{
		{Key: "app", Value: app},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; sipcast)"},
		{Key: "tcUrl", Value: tcURL},
		{Key: "fpad", Value: false},
		{Key: "capabilities", Value: 15.0},
		{Key: "audioCodecs", Value: 4071.0},
		{Key: "videoCodecs", Value: 252.0},
		{Key: "videoFunction", Value: 1.0},
	}
	if (p.video != nil && p.video.Codec != media.CodecH264) || (p.audio != nil && p.audio.Codec == media.CodecOpus) {
		obj = append(obj, amf0.Property{Key: "fourCcList", Value: amf0.StrictArray{"hvc1", "av01", "Opus"}})
	}
	if err := c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "connect", 1.0, obj); err != nil {
		return fail("connect", p.lost(err))
	}
	res, err := p.waitResult(c, 1)
	if err != nil {
		if isEOF(err) {
			return fail("connect", &Error{Op: "connect", URL: p.url.String(), Err: ErrClosedDuringConnect,
				Hint: fmt.Sprintf("check the application name %q in %s", p.url.App, p.url)})
		}
		return fail("connect", p.lost(err))
	}
	if res.Name == "_error" {
		info := res.info()
		desc := info.String("description")
		next, aerr := adobeStep(p.url, desc, clientChallenge())
		if aerr != nil {
			return fail("connect", &Error{Op: "connect", URL: p.url.String(), Code: info.String("code"), Err: aerr})
		}
		if next != "" && !strings.Contains(authQuery, "response=") {
			return 0, next, nil
		}
		if strings.Contains(authQuery, "response=") {
			return fail("connect", &Error{Op: "connect", URL: p.url.String(), Code: info.String("code"), Description: redactAuth(desc), Err: ErrAuthFailed})
		}
		return fail("connect", &Error{Op: "connect", URL: p.url.String(), Code: info.String("code"), Description: redactAuth(desc), Err: ErrConnectRejected,
			Hint: fmt.Sprintf("check the application name %q and any credentials", p.url.App)})
	}
	name := p.url.PublishName()
	if p.credsInQuery && p.url.User != "" {
		sep := "?"
		if strings.Contains(name, "?") {
			sep = "&"
		}
		name += sep + "user=" + queryEscape(p.url.User) + "&pass=" + queryEscape(p.url.Password)
	}
	_ = c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "releaseStream", 2.0, nil, name)
	_ = c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "FCPublish", 3.0, nil, name)
	if err := c.writeAMF(message.ChunkStreamCommand, message.TypeCommandAMF0, 0, "createStream", 4.0, nil); err != nil {
		return fail("createStream", p.lost(err))
	}
	res, err = p.waitResult(c, 4)
	if err != nil {
		return fail("createStream", p.lost(err))
	}
	sid, ok := firstNumber(res.Args)
	if res.Name != "_result" || !ok || sid < 0 || sid > math.MaxUint32 {
		return fail("createStream", &Error{Op: "createStream", URL: p.url.String(), Err: fmt.Errorf("%w: createStream answered %s", ErrPublishRejected, res.Name)})
	}
	streamID := uint32(sid)
	if err := c.writeAMF(message.ChunkStreamData, message.TypeCommandAMF0, streamID, "publish", 5.0, nil, name, "live"); err != nil {
		return fail("publish", p.lost(err))
	}
	var m chunk.Message
	for {
		if err := c.read(&m); err != nil {
			if isEOF(err) {
				return fail("publish", &Error{Op: "publish", URL: p.url.String(), Err: ErrClosedDuringPublish,
					Hint: fmt.Sprintf("check that the server accepts the stream name %q in application %q", p.url.Stream, p.url.App)})
			}
			return fail("publish", p.lost(err))
		}
		if m.Type != message.TypeCommandAMF0 {
			continue
		}
		cmd, err := parseCommand(&m)
		if err != nil {
			return fail("publish", err)
		}
		if cmd.Name != "onStatus" && !(cmd.Name == "_error" && cmd.TxID == 5) {
			continue
		}
		info := cmd.info()
		code := info.String("code")
		switch {
		case code == "NetStream.Publish.Start":
			_ = c.nc.SetDeadline(time.Time{})
			return streamID, "", nil
		case code == "NetStream.Publish.BadName":
			return fail("publish", &Error{Op: "publish", URL: p.url.String(), Code: code, Description: info.String("description"), Err: ErrBadName,
				Hint: fmt.Sprintf("is stream %q already being published?", p.url.Stream)})
		case info.String("level") == "error" || cmd.Name == "_error":
			return fail("publish", &Error{Op: "publish", URL: p.url.String(), Code: code, Description: info.String("description"), Err: ErrPublishRejected})
		}
	}
}

func queryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D", "?", "%3F", " ", "%20", "#", "%23").Replace(s)
}

// redactAuth removes challenge material from a server description before it is shown.
func redactAuth(desc string) string {
	if i := strings.Index(desc, "?reason="); i >= 0 {
		v, ok := parseAuthDescription(desc)
		if ok {
			return desc[:i] + "?reason=" + v.Get("reason")
		}
	}
	return desc
}

func firstNumber(vs []any) (float64, bool) {
	for _, v := range vs {
		if f, ok := v.(float64); ok {
			return f, true
		}
	}
	return 0, false
}

// publisherMaxMessage bounds each message a Publisher reads from its server.
const publisherMaxMessage = preConnectMaxMessage

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (strings.Contains(op.Err.Error(), "reset by peer") || strings.Contains(op.Err.Error(), "broken pipe"))
}

// waitResult reads until the _result or _error of transaction txid.
func (p *Publisher) waitResult(c *conn, txid float64) (command, error) {
	var m chunk.Message
	for {
		if err := c.read(&m); err != nil {
			return command{}, err
		}
		if m.Type != message.TypeCommandAMF0 {
			continue
		}
		cmd, err := parseCommand(&m)
		if err != nil {
			return command{}, err
		}
		if (cmd.Name == "_result" || cmd.Name == "_error") && cmd.TxID == txid {
			return cmd, nil
		}
	}
}
