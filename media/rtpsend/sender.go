// Package rtpsend sends media frames as RTP: H.264 (RFC 6184, packetization mode 1:
// single NAL units and FU-A) and AAC (RFC 3640 AAC-hbr, one access unit per packet), with
// RTCP Sender Reports that tie both streams to one wall clock, paced in real time. It is
// the built-in caller of examples/demo and examples/loadgen, and a way to feed a
// media pipeline in tests.
package rtpsend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	psdp "github.com/pion/sdp/v3"

	"github.com/sipcast/sipcast/media"
)

// Payload types the Sender uses.
const (
	VideoPayloadType = 96
	AudioPayloadType = 97
)

// Stream is one RTP stream: where it goes and its clock.
type Stream struct {
	// RTP and RTCP are the destination addresses.
	RTP, RTCP *net.UDPAddr
	// Conn sends the packets (one socket may serve several streams).
	Conn    *net.UDPConn
	ssrc    uint32
	seq     uint16
	tsBase  uint32
	rate    uint32
	packets uint32
	octets  uint32
}

// Sender sends the video and audio frames of a call.
type Sender struct {
	Video, Audio *Stream
	// AudioConfig is the AAC AudioSpecificConfig (for the SDP).
	AudioConfig []byte
	// AudioRate is the audio clock rate.
	AudioRate int
	// SPS and PPS are sent in-band before each keyframe that does not carry them, as
	// most endpoints do.
	SPS, PPS []byte
	// MTU bounds RTP payloads (default 1200).
	MTU int
	// Output, when set, takes each marshalled RTP packet instead of the stream's Conn
	// (to capture, batch or count packets); packet is reused after it returns.
	Output func(st *Stream, packet []byte) error
	// KeyframesSent counts the keyframes sent to answer a request (AnswerKeyframes).
	KeyframesSent  atomic.Uint64
	keyframeWanted atomic.Bool
	start          time.Time
	buf            []byte
	pkt            rtp.Packet
}

// RequestKeyframe has Play answer with a keyframe at its next video frame: it goes on
// from the clip's next keyframe (skipping the rest of the GOP, as an encoder starts a
// new one), with the timeline unbroken.
func (s *Sender) RequestKeyframe() { s.keyframeWanted.Store(true) }

// AnswerKeyframes reads RTCP arriving on the video stream's socket until ctx ends (or
// the socket closes) and answers PLI and FIR with RequestKeyframe: a sender that does
// what a Call Bridge does, for tests of the receiving side's keyframe requests.
func (s *Sender) AnswerKeyframes(ctx context.Context) error {
	if s.Video == nil {
		return errors.New("rtpsend: no video stream")
	}
	conn := s.Video.Conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue // RTP or noise
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.RequestKeyframe()
			}
		}
	}
}

// NewStream returns a stream with a random SSRC, sequence number and timestamp base
// (crypto/rand, RFC 3550 §5.1: unpredictable to an off-path attacker).
func NewStream(conn *net.UDPConn, rtpAddr, rtcpAddr *net.UDPAddr, clockRate int) *Stream {
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on Linux
	return &Stream{Conn: conn, RTP: rtpAddr, RTCP: rtcpAddr, ssrc: binary.BigEndian.Uint32(r[0:]), seq: binary.BigEndian.Uint16(r[4:]),
		tsBase: binary.BigEndian.Uint32(r[6:]), rate: uint32(clockRate)}
}

// SDP returns an offer (sendonly) describing what a Sender sends from address with the
// given ports (0 leaves the m-line out); sps and pps go in sprop-parameter-sets.
func SDP(address net.IP, videoPort, audioPort int, sps, pps, audioConfig []byte, audioRate, channels int) []byte {
	s := fmt.Sprintf("v=0\r\no=sipcast-sender 1 1 IN IP4 %s\r\ns=sipcast\r\nc=IN IP4 %s\r\nt=0 0\r\n", address, address)
	if videoPort > 0 {
		sprop := ""
		if sps != nil && pps != nil {
			sprop = ";sprop-parameter-sets=" + base64.StdEncoding.EncodeToString(sps) + "," + base64.StdEncoding.EncodeToString(pps)
		}
		s += fmt.Sprintf("m=video %d RTP/AVP %d\r\na=rtpmap:%d H264/90000\r\na=fmtp:%d packetization-mode=1;profile-level-id=4d401f%s\r\na=sendonly\r\n",
			videoPort, VideoPayloadType, VideoPayloadType, VideoPayloadType, sprop)
	}
	if audioPort > 0 {
		s += fmt.Sprintf("m=audio %d RTP/AVP %d\r\na=rtpmap:%d mpeg4-generic/%d/%d\r\na=fmtp:%d streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=%s\r\na=sendonly\r\n",
			audioPort, AudioPayloadType, AudioPayloadType, audioRate, channels, AudioPayloadType, hex.EncodeToString(audioConfig))
	}
	return []byte(s)
}

// Send sends one frame now (its PTS on the sender's clock gives the RTP timestamp).
func (s *Sender) Send(f *media.Frame) error {
	if s.start.IsZero() {
		s.start = time.Now()
	}
	if s.MTU == 0 {
		s.MTU = 1200
	}
	switch {
	case f.Codec == media.CodecH264 && s.Video != nil:
		return s.sendH264(s.Video, f)
	case f.Codec == media.CodecAAC && s.Audio != nil:
		return s.sendAAC(s.Audio, f)
	}
	return nil
}

func (st *Stream) ts(d time.Duration) uint32 {
	return st.tsBase + uint32(int64(d)*int64(st.rate)/int64(time.Second))
}

func (s *Sender) write(st *Stream, ts uint32, marker bool, payload []byte) error {
	s.pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: st.seq, Timestamp: ts, SSRC: st.ssrc}
	if st == s.Video {
		s.pkt.PayloadType = VideoPayloadType
	} else {
		s.pkt.PayloadType = AudioPayloadType
	}
	s.pkt.Payload = payload
	n := s.pkt.MarshalSize()
	if cap(s.buf) < n {
		s.buf = make([]byte, n+256)
	}
	b := s.buf[:n]
	if _, err := s.pkt.MarshalTo(b); err != nil {
		return err
	}
	st.seq++
	st.packets++
	st.octets += uint32(len(payload))
	if s.Output != nil {
		return s.Output(st, b)
	}
	_, err := st.Conn.WriteToUDP(b, st.RTP)
	return err
}

// sendH264 sends an AVCC access unit: NAL units that fit as single NAL unit packets,
// larger ones as FU-A; the marker is set on the last packet.
func (s *Sender) sendH264(st *Stream, f *media.Frame) error {
	ts := st.ts(f.PTS)
	var nalus [][]byte
	for b := f.Data; len(b) >= 4; {
		n := int(binary.BigEndian.Uint32(b))
		if n <= 0 || n > len(b)-4 {
			return fmt.Errorf("rtpsend: bad AVCC length %d", n)
		}
		nalus, b = append(nalus, b[4:4+n]), b[4+n:]
	}
	if f.Keyframe && s.SPS != nil && s.PPS != nil {
		hasSPS := false
		for _, n := range nalus {
			if len(n) > 0 && n[0]&0x1f == 7 {
				hasSPS = true
			}
		}
		if !hasSPS {
			nalus = append([][]byte{s.SPS, s.PPS}, nalus...)
		}
	}
	var frag []byte
	for i, nalu := range nalus {
		last := i == len(nalus)-1
		if len(nalu) <= s.MTU {
			if err := s.write(st, ts, last, nalu); err != nil {
				return err
			}
			continue
		}
		hdr, body := nalu[0], nalu[1:]
		for first := true; len(body) > 0; first = false {
			k := min(len(body), s.MTU-2)
			fu := hdr & 0x1f // FU header: S, E and R bits, then the NAL unit type
			if first {
				fu |= 0x80
			}
			if k == len(body) {
				fu |= 0x40
			}
			frag = append(frag[:0], hdr&0xe0|28, fu)
			frag = append(frag, body[:k]...)
			body = body[k:]
			if err := s.write(st, ts, last && len(body) == 0, frag); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendAAC sends one access unit with its RFC 3640 AU header (13-bit size, 3-bit index).
func (s *Sender) sendAAC(st *Stream, f *media.Frame) error {
	if len(f.Data) >= 1<<13 {
		return fmt.Errorf("rtpsend: AAC access unit of %d bytes", len(f.Data))
	}
	p := make([]byte, 4, 4+len(f.Data))
	binary.BigEndian.PutUint16(p, 16)
	binary.BigEndian.PutUint16(p[2:], uint16(len(f.Data))<<3)
	return s.write(st, st.ts(f.PTS), true, append(p, f.Data...))
}

// SenderReports sends an RTCP Sender Report per stream, mapping its last RTP timestamp to
// the wall clock on the sender's timeline (the same for every stream, so a receiver can
// line them up).
func (s *Sender) SenderReports() error {
	for _, st := range []*Stream{s.Video, s.Audio} {
		if st == nil || st.packets == 0 || st.RTCP == nil {
			continue
		}
		now := time.Now()
		// Media time t is presented at start+t: that is the mapping to report, the same
		// for every stream (not the send time of the last packet: video is sent in decode
		// order and stamped with presentation time).
		ts := st.ts(now.Sub(s.start))
		sr := rtcp.SenderReport{SSRC: st.ssrc, NTPTime: NTP(now), RTPTime: ts, PacketCount: st.packets, OctetCount: st.octets}
		b, err := sr.Marshal()
		if err != nil {
			return err
		}
		if _, err := st.Conn.WriteToUDP(b, st.RTCP); err != nil {
			return err
		}
	}
	return nil
}

// NTP returns t as a 64-bit NTP timestamp (RFC 3550 §4), as Sender Reports carry it.
func NTP(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) * (1 << 32) / uint64(time.Second)
	return secs<<32 | frac
}

// Scheduled is when a frame goes out, from the start of its loop.
type Scheduled struct {
	At    time.Duration
	Index int // into the frames given to Schedule
}

// Schedule orders frames (in decode order, DTS from 0) by when a live encoder sends
// them: audio at its DTS; video its first frame's reorder delay (PTS - DTS) after its
// DTS, so that the first video frame leaves at its presentation time. Play paces by it.
func Schedule(frames []media.Frame) []Scheduled {
	var delay time.Duration
	for i := range frames {
		if f := &frames[i]; f.Codec.IsVideo() {
			delay = f.PTS - f.DTS
			break
		}
	}
	out := make([]Scheduled, len(frames))
	for i := range frames {
		out[i] = Scheduled{At: frames[i].DTS, Index: i}
		if frames[i].Codec.IsVideo() {
			out[i].At += delay
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].At < out[b].At })
	return out
}

// Play sends frames (in decode order, DTS from 0) paced in real time from now, looping
// them (with timestamps carried on) until ctx ends or duration has been sent (0: once),
// with a Sender Report per stream every second. onFrame, when set, sees each frame sent.
//
// Frames go out as Schedule orders them, like a live encoder's, so that a receiver that
// anchors a stream at its first packet's arrival and the Sender Reports (which map every
// stream to the presentation timeline) agree.
func (s *Sender) Play(ctx context.Context, frames []media.Frame, length, duration time.Duration, onFrame func(*media.Frame)) error {
	if len(frames) == 0 {
		return nil
	}
	sched := Schedule(frames)
	start := time.Now()
	s.start = start
	nextSR := start
	timer := time.NewTimer(0)
	defer timer.Stop()
	var shift time.Duration // time skipped forward by keyframe answers (AnswerKeyframes)
	for loop := time.Duration(0); ; loop += length {
		for i := 0; i < len(sched); i++ {
			sf := sched[i]
			if frames[sf.Index].Codec.IsVideo() && s.keyframeWanted.CompareAndSwap(true, false) {
				// Answer with a keyframe as an encoder would, starting a new GOP now: the
				// clip goes on from its next keyframe, the timeline unbroken.
				found := false
				for j := i; j < len(sched) && !found; j++ {
					if g := frames[sched[j].Index]; g.Codec.IsVideo() && g.Keyframe {
						shift += sched[j].At - sf.At
						i, sf, found = j, sched[j], true
						s.KeyframesSent.Add(1)
					}
				}
				if !found {
					// None left in this loop: go on at once from the next loop's first
					// keyframe (the rest of this loop is skipped, as the rest of a GOP is).
					for j := 0; j < len(sched) && !found; j++ {
						if g := frames[sched[j].Index]; g.Codec.IsVideo() && g.Keyframe {
							loop += length
							shift += length + sched[j].At - sf.At
							i, sf, found = j, sched[j], true
							s.KeyframesSent.Add(1)
						}
					}
				}
			}
			f := frames[sf.Index]
			f.DTS += loop - shift
			f.PTS += loop - shift
			if duration > 0 && f.DTS >= duration {
				return nil
			}
			if wait := time.Until(start.Add(loop + sf.At - shift)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
			if err := s.Send(&f); err != nil {
				return err
			}
			if onFrame != nil {
				onFrame(&f)
			}
			if now := time.Now(); !now.Before(nextSR) {
				if err := s.SenderReports(); err != nil {
					return err
				}
				nextSR = now.Add(time.Second)
			}
		}
		if duration <= 0 {
			return nil
		}
	}
}

// ForAnswer returns a Sender for the media an SDP answer accepted (RTCP to a=rtcp, or
// the RTP port with rtcp-mux, or else the port above the RTP port), sending from conn: H.264 with sps and pps, AAC at audioRate.
// Either stream is nil when the answer refused it (port 0 or absent).
func ForAnswer(conn *net.UDPConn, answer []byte, sps, pps []byte, audioRate int) (*Sender, error) {
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(answer); err != nil {
		return nil, fmt.Errorf("rtpsend: the answer: %w", err)
	}
	host := ""
	if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		host = sd.ConnectionInformation.Address.Address
	}
	s := &Sender{SPS: sps, PPS: pps, AudioRate: audioRate}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			continue
		}
		h := host
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			h = md.ConnectionInformation.Address.Address
		}
		a, err := net.ResolveUDPAddr("udp", net.JoinHostPort(h, strconv.Itoa(md.MediaName.Port.Value)))
		if err != nil {
			return nil, fmt.Errorf("rtpsend: the answer's %s address: %w", md.MediaName.Media, err)
		}
		rtcpAddr := &net.UDPAddr{IP: a.IP, Port: a.Port + 1}
		if v, ok := md.Attribute("rtcp"); ok { // RFC 3605: "port [IN IP4 address]"
			f := strings.Fields(v)
			if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p < 65536 {
				rtcpAddr.Port = p
			}
			if len(f) == 4 {
				if ip := net.ParseIP(f[3]); ip != nil {
					rtcpAddr.IP = ip
				}
			}
		}
		if _, ok := md.Attribute("rtcp-mux"); ok {
			rtcpAddr = a
		}
		switch md.MediaName.Media {
		case "video":
			s.Video = NewStream(conn, a, rtcpAddr, 90000)
		case "audio":
			s.Audio = NewStream(conn, a, rtcpAddr, audioRate)
		}
	}
	if s.Video == nil && s.Audio == nil {
		return nil, errors.New("rtpsend: the answer accepted no media")
	}
	return s, nil
}
