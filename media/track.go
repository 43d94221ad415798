package media

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/media/jitter"
	"github.com/sipcast/sipcast/media/rtpaac"
	"github.com/sipcast/sipcast/media/rtpdtmf"
	"github.com/sipcast/sipcast/media/rtph264"
	"github.com/sipcast/sipcast/media/rtplatm"
)

// Encoding names a track's RTP payload format, as in the SDP rtpmap.
type Encoding string

// Payload formats the session depacketizes.
const (
	EncodingH264           Encoding = "H264"
	EncodingMPEG4Generic   Encoding = "mpeg4-generic"
	EncodingMP4ALATM       Encoding = "MP4A-LATM"
	EncodingOpus           Encoding = "opus"
	EncodingPCMU           Encoding = "PCMU"
	EncodingPCMA           Encoding = "PCMA"
	EncodingG722           Encoding = "G722"
	EncodingTelephoneEvent Encoding = "telephone-event"
)

// TrackConfig describes one negotiated receive track.
type TrackConfig struct {
	PayloadType uint8
	Encoding    Encoding
	// ClockRate is the RTP clock rate (the rtpmap rate; 8000 for G.722 as RFC 3551 says).
	ClockRate int
	// FMTP is the a=fmtp value without the payload type (sprop-parameter-sets, config...).
	FMTP string
	// NACK, PLI and FIR say which RTCP feedback the sender accepts (a=rtcp-fb: nack,
	// nack pli, ccm fir). Keyframes are asked for with PLI, or FIR when only that is
	// negotiated.
	NACK, PLI, FIR bool
	// JitterMinDelay and JitterMaxDelay bound the jitter buffer's target delay (defaults
	// 20 ms and 500 ms).
	JitterMinDelay, JitterMaxDelay time.Duration
	// AudioLevelID is the RTP header extension id of RFC 6464 audio levels (one-byte
	// headers, RFC 8285), 0 for none: each G.711, G.722 or Opus frame then carries the
	// level its packet gave (Frame.AudioLevel).
	AudioLevelID uint8
}

// codec returns the frame codec of an encoding.
// Codec is the codec an encoding name carries (CodecUnknown for none sipcast knows).
func (e Encoding) Codec() Codec {
	switch Encoding(strings.ToLower(string(e))) {
	case "h264":
		return CodecH264
	case "mpeg4-generic", "mp4a-latm":
		return CodecAAC
	case "opus":
		return CodecOpus
	case "pcmu":
		return CodecPCMU
	case "pcma":
		return CodecPCMA
	case "g722":
		return CodecG722
	}
	return CodecUnknown
}

// track is the receive state of one payload type; owned by the session's RTP goroutine.
type track struct {
	cfg   TrackConfig
	codec Codec
	cid   uint32 // the track's id in the Clock (cfg.clockID)
	buf   jitter.Buffer
	// dp is the payload format's depacketizer, chosen when the track is added.
	dp depacketizer
	// Where frames and events go, set with each packet (depacketize).
	clock          *Clock
	emit           func(*Frame)
	onDTMF         func(rtpdtmf.Event)
	keyframeNeeded func()
	keyframeSeen   func(at time.Time, intact bool) // set once (receiver.addTrack)
	sps            []byte
	pps            []byte
	withPS         []byte // keyframe with parameter sets prepended
	// desc is the track as announced on frames (Frame.Track); announced says it was.
	desc      Track
	announced bool
	// src is 1<<32 | SSRC once a packet arrived; read by the RTCP goroutine.
	src atomic.Uint64
	// lsr is the middle 32 bits of the last Sender Report's NTP time and lsrAt when it
	// arrived (unix nanoseconds); written by the RTCP goroutine.
	lsr   atomic.Uint32
	lsrAt atomic.Int64
	// firstArrival is when the first packet came; output waits startupHold for the first
	// Sender Report so that the timeline does not step after the first frames.
	firstArrival time.Time
	// receiver report bookkeeping (RTP goroutine)
	rrExpected, rrReceived uint64

	// decode time bookkeeping
	lastDTS   time.Duration
	haveDTS   bool
	reorder   dtsReorderer
	lastVideo time.Time
	needKey   bool
	// Loss handling (see LossPolicy): broken says the reference chain is broken since a
	// loss, until an intact keyframe; brokenAt is when (the arrival that found it), and
	// unresponsive that the sender let a keyframe request go unanswered past the bound.
	policy       LossPolicy
	broken       bool
	brokenAt     time.Time
	unresponsive bool
	// partial says the picture goes on from a keyframe that answered a request damaged:
	// its frames are forwarded Concealed until an intact keyframe, or frozen at the next
	// loss (LossAdaptive).
	partial bool
	// requestedAt and inFlight are the receiver's kfRequestedAt and kfInFlight.
	requestedAt *atomic.Int64
	inFlight    *atomic.Bool
	// shown says a picture went out: before it, freezing would show nothing at all.
	shown     bool
	concealed atomic.Uint64 // frames forwarded marked Concealed
	frozen    atomic.Uint64 // frames dropped while the picture froze
	// emptyFrames counts access units dropped because every slice was lost.
	emptyFrames atomic.Uint64
	// packetsLost and late are the jitter buffer's counters, as of its last round.
	packetsLost, late atomic.Uint64
	jitter            atomic.Int64 // the RFC 3550 interarrival jitter estimate (ns)
	frame             Frame
	lastNack          uint16
	nackValid         bool
	// nacked are the last NACKs' packets and when they were asked for; nackRTT the
	// round trip of a retransmission (smoothed, 0 until one came).
	nacked      [32]nackRecord
	nackNext    uint32
	nackRTT     time.Duration
	recoveredN  atomic.Uint64 // packets that came after a NACK asked for them
	nackTooLate atomic.Uint64 // missing packets not asked for: too late to arrive
}

type nackRecord struct {
	seq  uint16
	at   time.Time
	used bool
}

func (t *track) source() (uint32, bool) {
	v := t.src.Load()
	return uint32(v), v != 0
}

func (t *track) setSource(ssrc uint32) { t.src.Store(1<<32 | uint64(ssrc)) }

// reset forgets the stream state after an SSRC change.
func (t *track) reset() {
	_ = t.init()
	t.dp.reset()
	t.haveDTS, t.lastDTS, t.reorder, t.nackValid = false, 0, dtsReorderer{}, false
	t.nacked, t.nackRTT = [32]nackRecord{}, 0
	t.needKey = t.codec == CodecH264
	t.broken, t.partial = false, false
}

// audioSlots is the jitter buffer's capacity for an audio or telephone-event track: at
// 50 packets a second, 5 s, ten times the longest delay it waits; video keeps the
// default (1024: a keyframe's burst of a high-rate stream and its delay).
const audioSlots = 256

func (t *track) init() error {
	t.buf = jitter.Buffer{ClockRate: t.cfg.ClockRate, MinDelay: t.cfg.JitterMinDelay, MaxDelay: t.cfg.JitterMaxDelay}
	if t.codec != CodecH264 {
		t.buf.Capacity = audioSlots
	}
	return t.buf.Init()
}

func newTrack(cfg TrackConfig) (*track, error) {
	t := &track{cfg: cfg, codec: cfg.Encoding.Codec(), cid: cfg.clockID()}
	if cfg.ClockRate <= 0 {
		return nil, fmt.Errorf("media: track %d: clock rate %d", cfg.PayloadType, cfg.ClockRate)
	}
	if err := t.init(); err != nil {
		return nil, err
	}
	switch Encoding(strings.ToLower(string(cfg.Encoding))) {
	case "h264":
		t.sps, t.pps = SpropParameterSets(cfg.FMTP)
		t.needKey = true
		t.reorder.depth = reorderDepth(t.sps)
		t.dp = &h264Depacketizer{}
	case "mpeg4-generic":
		c, err := rtpaac.ParseFMTP(cfg.FMTP)
		if err != nil {
			return nil, fmt.Errorf("media: track %d: %w", cfg.PayloadType, err)
		}
		t.dp = &aacDepacketizer{dec: rtpaac.Decoder{Config: c}}
	case "mp4a-latm":
		c, err := rtplatm.ParseFMTP(cfg.FMTP)
		if err != nil {
			return nil, fmt.Errorf("media: track %d: %w", cfg.PayloadType, err)
		}
		t.dp = &latmDepacketizer{dec: rtplatm.Decoder{Config: c}}
	case "telephone-event":
		t.dp = &dtmfDepacketizer{}
	case "opus", "pcmu", "pcma", "g722":
		t.dp = rawDepacketizer{}
	default:
		return nil, fmt.Errorf("media: track %d: encoding %q is not supported", cfg.PayloadType, cfg.Encoding)
	}
	return t, nil
}

// Describe returns what the negotiation alone says of the track (ok false when it
// waits for the stream): H.264 with sprop-parameter-sets, AAC with its configuration
// in the fmtp (mpeg4-generic, MP4A-LATM with cpresent=0), G.711, G.722 and Opus. It is
// the description that the track's first frames would otherwise announce (Frame.Track).
func (c TrackConfig) Describe() (Track, bool) {
	t, err := newTrack(c)
	if err != nil {
		return Track{}, false
	}
	switch {
	case t.codec == CodecH264:
		if t.sps == nil || t.pps == nil {
			return Track{}, false
		}
		t.announceVideo()
	case t.codec.IsAudio():
		if !t.announceAudio(t.codec) {
			return Track{}, false
		}
	default:
		return Track{}, false
	}
	return t.desc, true
}

// SpropParameterSets decodes the SPS and PPS of an H.264 fmtp's sprop-parameter-sets
// (RFC 6184 §8.1); nil when absent.
func SpropParameterSets(fmtp string) (sps, pps []byte) {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || !strings.EqualFold(k, "sprop-parameter-sets") {
			continue
		}
		for _, part := range strings.Split(v, ",") {
			b, err := base64.StdEncoding.DecodeString(part)
			if err != nil {
				continue
			}
			switch h264.TypeOf(b) {
			case h264.NALUTypeSPS:
				sps = b
			case h264.NALUTypePPS:
				pps = b
			}
		}
	}
	return sps, pps
}

// AudioSpecificConfig returns the AAC configuration of an AAC track, or nil.
func (t *track) audioSpecificConfig() []byte { return t.dp.config() }

// depacketize feeds one in-order packet (lost: packets missing just before it) to the
// track's depacketizer, which emits what it completes.
func (t *track) depacketize(p *rtp.Packet, lost int, clock *Clock, arrival time.Time, emit func(*Frame), dtmf func(rtpdtmf.Event), keyframeNeeded func()) {
	t.clock, t.emit, t.onDTMF, t.keyframeNeeded = clock, emit, dtmf, keyframeNeeded
	if lost > 0 {
		t.dp.lost(t)
	}
	t.dp.depacketize(t, p, arrival)
}

// depacketizer turns one payload format's in-order RTP packets into frames (through the
// track's emitVideo and emitAudio) or telephone events. One is chosen per track when it
// is added; they share this interface and the track does the timing.
type depacketizer interface {
	depacketize(t *track, p *rtp.Packet, arrival time.Time)
	// lost drops what is in progress: packets are missing before the next one.
	lost(t *track)
	// flush gives out what is in progress: the stream ended (the session closes).
	flush(t *track, arrival time.Time)
	// reset forgets the stream (a new source).
	reset()
	// config is the AAC AudioSpecificConfig, nil for other formats or until known.
	config() []byte
}

// h264Depacketizer is RFC 6184 (single NAL units, STAP-A, FU-A).
type h264Depacketizer struct{ dec rtph264.Decoder }

func (d *h264Depacketizer) depacketize(t *track, p *rtp.Packet, arrival time.Time) {
	au, err := d.dec.Decode(p)
	if err != nil {
		if err != rtph264.ErrMorePacketsNeeded {
			t.breakChain() // the unit will come out Damaged
		}
		return
	}
	for ok := true; ok; au, ok = d.dec.Next() {
		if au.Damaged {
			t.breakChain()
		}
		t.emitVideo(au.Data, au.Timestamp, au.Keyframe, au.Damaged, arrival)
	}
}

// flush gives out a last picture whose marker packet never came: at the hang-up no
// next picture's timestamp will complete it.
func (d *h264Depacketizer) flush(t *track, arrival time.Time) {
	if au, ok := d.dec.Flush(); ok {
		t.breakChain() // as when the next picture completes it: the loss policy decides
		t.emitVideo(au.Data, au.Timestamp, au.Keyframe, au.Damaged, arrival)
	}
}

func (d *h264Depacketizer) lost(t *track) {
	d.dec.Lost()
	t.breakChain()
}

// breakChain notes that the picture's reference chain is broken (a loss) and asks for
// a keyframe when it was not broken already.
func (t *track) breakChain() {
	if !t.broken || t.partial {
		t.broken, t.partial, t.brokenAt = true, false, time.Time{}
		t.keyframeNeeded()
	}
}

func (d *h264Depacketizer) reset()         { d.dec = rtph264.Decoder{} }
func (d *h264Depacketizer) config() []byte { return nil }

// aacDepacketizer is RFC 3640 mpeg4-generic (AAC-hbr, AAC-lbr).
type aacDepacketizer struct{ dec rtpaac.Decoder }

func (d *aacDepacketizer) depacketize(t *track, p *rtp.Packet, arrival time.Time) {
	aus, tss, err := d.dec.Decode(p)
	if err != nil {
		return
	}
	for i, au := range aus {
		t.emitAudio(CodecAAC, au, tss[i], -1, t.clock, arrival, t.emit)
	}
}

func (d *aacDepacketizer) lost(*track)             { d.dec.Lost() }
func (d *aacDepacketizer) flush(*track, time.Time) {} // a fragment without its end is no frame
func (d *aacDepacketizer) reset()                  { d.dec.Lost() }
func (d *aacDepacketizer) config() []byte          { return d.dec.Config.AudioSpecificConfig }

// latmDepacketizer is RFC 6416 MP4A-LATM (cpresent 0 and 1).
type latmDepacketizer struct{ dec rtplatm.Decoder }

func (d *latmDepacketizer) depacketize(t *track, p *rtp.Packet, arrival time.Time) {
	aus, ts, err := d.dec.Decode(p)
	if err != nil {
		return
	}
	for i, au := range aus {
		t.emitAudio(CodecAAC, au, ts+uint32(i)*1024, -1, t.clock, arrival, t.emit)
	}
}

func (d *latmDepacketizer) lost(*track)             { d.dec.Lost() }
func (d *latmDepacketizer) flush(*track, time.Time) {} // a fragment without its end is no frame
func (d *latmDepacketizer) reset() {
	d.dec.Lost()
	d.dec.ConfigChanged = false
}
func (d *latmDepacketizer) config() []byte { return d.dec.AudioSpecificConfig() }

// dtmfDepacketizer is RFC 4733 telephone-event.
type dtmfDepacketizer struct{ dec rtpdtmf.Decoder }

func (d *dtmfDepacketizer) depacketize(t *track, p *rtp.Packet, _ time.Time) {
	evs, n, err := d.dec.Decode(p)
	if err == nil && t.onDTMF != nil {
		for _, e := range evs[:n] {
			t.onDTMF(e)
		}
	}
}

func (d *dtmfDepacketizer) lost(*track)             {}
func (d *dtmfDepacketizer) flush(*track, time.Time) {}
func (d *dtmfDepacketizer) reset()                  { d.dec = rtpdtmf.Decoder{} }
func (d *dtmfDepacketizer) config() []byte          { return nil }

// rawDepacketizer is one packet, one frame: Opus, G.711, G.722.
type rawDepacketizer struct{}

func (rawDepacketizer) depacketize(t *track, p *rtp.Packet, arrival time.Time) {
	if len(p.Payload) == 0 {
		return
	}
	level := -1
	if id := t.cfg.AudioLevelID; id != 0 && p.Extension {
		if ext := p.GetExtension(id); len(ext) >= 1 {
			level = int(ext[0] & 0x7f) // the V (voice) bit aside
		}
	}
	t.emitAudio(t.codec, p.Payload, p.Timestamp, level, t.clock, arrival, t.emit)
}

func (rawDepacketizer) lost(*track)             {}
func (rawDepacketizer) flush(*track, time.Time) {}
func (rawDepacketizer) reset()                  {}
func (rawDepacketizer) config() []byte          { return nil }

// LossPolicy says what a receiver does with the video between a loss and the next intact
// keyframe, the frames whose reference chain is broken.
type LossPolicy int

// Loss policies.
const (
	// LossAdaptive freezes while the sender answers keyframe requests within
	// KeyframeAnswerBound, and conceals otherwise: it starts by freezing; a request left
	// unanswered past the bound makes it conceal from then on, for this loss and the
	// next ones, until a keyframe comes within the bound again. Before the first picture
	// went out it conceals: a damaged first keyframe starts the stream (there is nothing
	// to freeze on). The default.
	LossAdaptive LossPolicy = iota
	// LossFreeze drops the frames until the keyframe (WebRTC's choice: right when the
	// sender answers PLI quickly).
	LossFreeze
	// LossConceal forwards them, marked Concealed, for the decoder to conceal (right when
	// the sender does not answer: ffmpeg, many SIP endpoints, gateways that drop RTCP).
	LossConceal
)

// KeyframeAnswerBound is how long LossAdaptive waits for a keyframe after a loss before
// it conceals: a round trip on a continental path (up to 200 ms) and an encoder's time to
// make a keyframe (a frame interval or two), with room to spare.
const KeyframeAnswerBound = 400 * time.Millisecond

// conceal says whether a frame with a broken reference chain that arrived at arrival is
// forwarded (marked Concealed) rather than dropped.
func (t *track) conceal(arrival time.Time) bool {
	switch t.policy {
	case LossFreeze:
		return false
	case LossConceal:
		return true
	}
	if !t.shown {
		// Nothing to freeze on yet: a damaged first keyframe starts the picture at once
		// (concealed) rather than leave the stream without one while a request is out.
		return true
	}
	if t.inFlight != nil && !t.inFlight.Load() {
		// No request is out: the rate limit holds it back, and freezing would wait for
		// the limit, not for the sender. Conceal meanwhile.
		return true
	}
	if !t.unresponsive && arrival.Sub(t.askedSince()) > KeyframeAnswerBound {
		t.unresponsive = true // the request went unanswered: conceal from here
	}
	return t.unresponsive
}

// askedSince is when the sender was asked for the keyframe that ends the current loss:
// the loss, or the request's start when the rate limit held it back (the wait is the
// receiver's, not the sender's).
func (t *track) askedSince() time.Time {
	if t.requestedAt != nil {
		if at := time.Unix(0, t.requestedAt.Load()); at.After(t.brokenAt) {
			return at
		}
	}
	return t.brokenAt
}

// emitVideo times an H.264 access unit and emits it through the B-frame reorderer: from
// the stream's first keyframe, with the parameter sets prepended to keyframes that lack
// them, and the track announced when its parameter sets are new. After a loss, frames up
// to the next intact keyframe are forwarded marked Concealed or dropped (the picture
// freezes), as the track's LossPolicy says.
func (t *track) emitVideo(data []byte, ts uint32, keyframe, damaged bool, arrival time.Time) {
	if t.needKey && !keyframe {
		return
	}
	if !h264.HasSlice(data) {
		// Every slice was lost: no picture to forward, only its parameter sets to learn.
		if sps, pps := h264.ParamSets(data); keyframe && sps != nil && pps != nil {
			t.learnParamSets(sps, pps)
		}
		t.emptyFrames.Add(1)
		t.breakChain()
		return
	}
	t.needKey = false
	if keyframe && t.keyframeSeen != nil {
		t.keyframeSeen(arrival, !damaged) // an answer, even one the policy drops
	}
	concealed := false
	if t.broken {
		switch {
		case keyframe && !damaged:
			// Healed. Did the sender answer within the bound? (It may have sent this
			// keyframe on its own schedule; either way the next loss starts from here.)
			t.unresponsive = !t.brokenAt.IsZero() && arrival.Sub(t.askedSince()) > KeyframeAnswerBound
			t.broken, t.partial = false, false
		case keyframe && t.policy == LossAdaptive && !t.unresponsive:
			// The answer came damaged: it refreshes the picture but for the slices it
			// lost, so the picture goes on from it (concealed) rather than stay frozen
			// for another answer. The next loss freezes again.
			t.unresponsive = !t.brokenAt.IsZero() && arrival.Sub(t.askedSince()) > KeyframeAnswerBound
			t.partial, concealed = true, true
		case t.partial:
			concealed = true
		default:
			if t.brokenAt.IsZero() {
				t.brokenAt = arrival
			}
			if !t.conceal(arrival) {
				t.frozen.Add(1)
				return
			}
			concealed = true
		}
	}
	if keyframe {
		if sps, pps := h264.ParamSets(data); sps != nil && pps != nil {
			t.learnParamSets(sps, pps)
		} else if t.sps != nil && t.pps != nil {
			t.withPS = h264.AppendAVCC(h264.AppendAVCC(t.withPS[:0], t.sps), t.pps)
			t.withPS = append(t.withPS, data...)
			data = t.withPS
		}
	}
	pts := t.clock.Map(t.cid, ts, arrival)
	t.frame = Frame{Codec: CodecH264, PTS: pts, Keyframe: keyframe, Concealed: concealed, Data: data}
	if concealed {
		t.concealed.Add(1)
	}
	if keyframe && t.sps != nil && t.pps != nil && (!t.announced || !bytes.Equal(t.sps, t.desc.SPS) || !bytes.Equal(t.pps, t.desc.PPS)) {
		t.announceVideo()
		t.frame.Track = &t.desc
	}
	t.lastVideo = arrival
	t.shown = true
	t.reorder.push(&t.frame, t.emit)
}

func (t *track) emitAudio(c Codec, data []byte, ts uint32, level int, clock *Clock, arrival time.Time, emit func(*Frame)) {
	pts := clock.Map(t.cid, ts, arrival)
	if t.haveDTS && pts < t.lastDTS {
		pts = t.lastDTS // the timeline stepped back once (arrival time to Sender Reports)
	}
	t.lastDTS, t.haveDTS = pts, true
	t.frame = Frame{Codec: c, PTS: pts, DTS: pts, Data: data}
	if level >= 0 {
		t.frame.AudioLevel, t.frame.HasAudioLevel = uint8(level), true
	}
	if t.announceAudio(c) {
		t.frame.Track = &t.desc
	}
	emit(&t.frame)
}

// learnParamSets keeps the stream's current SPS and PPS (copies).
func (t *track) learnParamSets(sps, pps []byte) {
	t.sps, t.pps = append(t.sps[:0], sps...), append(t.pps[:0], pps...)
	t.reorder.setDepth(reorderDepth(t.sps), t.emit)
}

// announceVideo describes the track from its current parameter sets.
func (t *track) announceVideo() {
	t.desc = Track{Codec: CodecH264, ClockRate: t.cfg.ClockRate, SPS: append(t.desc.SPS[:0], t.sps...), PPS: append(t.desc.PPS[:0], t.pps...)}
	if info, err := h264.ParseSPS(t.sps); err == nil {
		t.desc.Width, t.desc.Height = info.Width, info.Height
	}
	t.announced = true
}

// announceAudio describes the track before its first frame, and again when its AAC
// configuration changed; it reports whether the frame carries the description.
func (t *track) announceAudio(c Codec) bool {
	if c != CodecAAC {
		if t.announced {
			return false
		}
		t.desc = Track{Codec: c, ClockRate: t.cfg.ClockRate, Channels: 1}
		if c == CodecOpus {
			t.desc.ClockRate, t.desc.Channels = 48000, 2
		}
		t.announced = true
		return true
	}
	asc := t.audioSpecificConfig()
	if asc == nil || (t.announced && bytes.Equal(asc, t.desc.Config)) {
		return false
	}
	t.desc = Track{Codec: CodecAAC, ClockRate: t.cfg.ClockRate, Channels: 1, Config: append(t.desc.Config[:0], asc...)}
	if cfg, err := aac.ParseConfig(asc); err == nil {
		t.desc.ClockRate, t.desc.Channels = cfg.SampleRate, cfg.Channels
	}
	t.announced = true
	return true
}

// heldUntil returns until when the track's output waits for a first Sender Report
// (zero when it does not wait).
func (t *track) heldUntil(c *Clock) time.Time {
	if t.firstArrival.IsZero() || c.hasReport(t.cid) {
		return time.Time{}
	}
	return t.firstArrival.Add(startupHold)
}

// clockID is the id a track uses in the call's Clock: its kind and its payload type.
// Payload types are scoped per m-line, so audio 96 and video 96 are two tracks on the
// clock that a call's audio and video sessions share.
func (c TrackConfig) clockID() uint32 {
	id := uint32(c.PayloadType)
	if c.Encoding.Codec().IsVideo() {
		id |= 1 << 8
	}
	return id
}

// reorderDepth returns the SPS's max_num_reorder_frames, assuming 2 (x264's pyramid
// default and the common encoder setting) when the SPS does not say.
func reorderDepth(sps []byte) int {
	s, err := h264.ParseSPS(sps)
	if err != nil || s.MaxNumReorderFrames < 0 {
		if err == nil && s.ProfileIdc == 66 {
			return 0
		}
		return 2
	}
	return s.MaxNumReorderFrames
}
