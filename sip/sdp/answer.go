package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"github.com/sipcast/sipcast/media"
)

// Errors returned by Answer.
var (
	ErrMalformedOffer = errors.New("sdp: malformed offer")
	ErrNoCommonMedia  = errors.New("sdp: no acceptable media in the offer")
)

// MaxOfferSize bounds the offers Answer parses.
const MaxOfferSize = 64 << 10

// Codec is a payload format the endpoint can receive.
type Codec struct {
	// Name is the rtpmap encoding name: H264, MP4A-LATM, mpeg4-generic, opus, PCMU,
	// PCMA, G722 (matched case-insensitively).
	Name      string
	ClockRate int
}

// Resolution limits received video.
type Resolution int

// Resolutions of the CMS streamer setting.
const (
	ResolutionAny       Resolution = 0
	Resolution720p      Resolution = 720
	Resolution1080p     Resolution = 1080
	ResolutionAudioOnly Resolution = -1
)

// maxFS returns the H.264 max-fs (macroblocks per frame) for a resolution.
func (r Resolution) maxFS() int {
	switch r {
	case Resolution720p:
		return 1280 / 16 * (720 / 16) // 3600
	case Resolution1080p:
		return 1920 / 16 * (1088 / 16) // 8160
	}
	return 0
}

// Config is what the answering endpoint can do.
type Config struct {
	// Audio and Video list acceptable codecs by preference (defaults: AAC-LATM,
	// mpeg4-generic, Opus, G.722, PCMU, PCMA; H.264).
	Audio, Video []Codec
	// Resolution limits received video; ResolutionAudioOnly rejects video m-lines.
	Resolution Resolution
	// Direction is what the endpoint wants to do with media (default recvonly: it
	// receives and sends nothing, like a streamer or recorder).
	Direction string
	// AudioDirection, when set, is Direction for audio m-lines (a streamer that sends its
	// callers generated audio but no video: "sendrecv").
	AudioDirection string
	// VideoDirection, when set, is Direction for video m-lines (a relay that sends its
	// callee generated video: "sendrecv").
	VideoDirection string
	// RTCPMux accepts rtcp-mux when offered.
	RTCPMux bool
	// SRTP accepts RTP/SAVP offers (with SDES keys); otherwise they are rejected.
	SRTP bool
	// Address is the connection address of the answer.
	Address net.IP
	// Ports returns the local RTP and RTCP ports for the i-th accepted m-line of a kind
	// ("audio", "video"). Open, when set, is used instead by Answer.
	Ports func(kind string, index int) (rtp, rtcp int)
	// Open is called by Answer for the i-th accepted m-line of a kind with what was
	// negotiated for it (codec, rtcp-mux, SRTP keys), so that its receiver can be built
	// to match, and returns the local ports. An error rejects the m-line (port 0). It may
	// change m.Crypto.LocalKey (a re-INVITE answered with the key the session has).
	Open func(m *Media, index int) (rtp, rtcp int, err error)
	// SessionID is the o= session id (default 1).
	SessionID uint64
}

func (c *Config) defaults() {
	if c.Audio == nil {
		c.Audio = []Codec{{"MP4A-LATM", 0}, {"mpeg4-generic", 0}, {"opus", 48000}, {"G722", 8000}, {"PCMU", 8000}, {"PCMA", 8000}}
	}
	if c.Video == nil {
		c.Video = []Codec{{"H264", 90000}}
	}
	if c.Direction == "" {
		c.Direction = "recvonly"
	}
	if c.SessionID == 0 {
		c.SessionID = 1
	}
}

// Crypto is an agreed SDES suite with both keys.
type Crypto struct {
	Suite string
	// RemoteKey decrypts what the peer sends; LocalKey is ours (in the answer).
	RemoteKey, LocalKey string
}

// Media is the outcome of one m-line.
type Media struct {
	Kind     string // audio, video, application...
	Accepted bool
	// Reason says why an m-line was refused.
	Reason      string
	PayloadType uint8
	Codec       string
	ClockRate   int
	Channels    int
	FMTP        string
	// DTMFPayloadType is the telephone-event payload type (0 when none).
	DTMFPayloadType uint8
	RemoteRTP       *net.UDPAddr
	RemoteRTCP      *net.UDPAddr
	RTCPMux         bool
	NACK, PLI, FIR  bool
	Crypto          *Crypto
	// Direction is the answered direction.
	Direction string
	// BandwidthAS is the offer's b=AS (kbit/s), 0 when absent.
	BandwidthAS int
	// AudioLevelID is the RTP header extension id of the sender's RFC 6464 audio levels
	// (a=extmap with AudioLevelURI, accepted in the answer), 0 when none.
	AudioLevelID uint8
}

// AudioLevelURI names RFC 6464's client-to-mixer audio level header extension.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// audioLevelExt finds the audio level extension among an m-line's a=extmap lines
// ("<id>[/<direction>] <uri> [<attributes>]"): ids 1 to 14 only (one-byte headers,
// RFC 8285), the first one offered.
func audioLevelExt(md *psdp.MediaDescription) (uint8, bool) {
	for _, a := range md.Attributes {
		if a.Key != "extmap" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) < 2 || f[1] != AudioLevelURI {
			continue
		}
		idStr, dir, _ := strings.Cut(f[0], "/")
		id, err := strconv.Atoi(idStr)
		if err != nil || id < 1 || id > 14 || (dir != "" && dir != "sendrecv" && dir != "sendonly") {
			continue
		}
		return uint8(id), true
	}
	return 0, false
}

// Answer answers offer.
func Answer(offer []byte, cfg Config) ([]byte, []Media, error) {
	cfg.defaults()
	if len(offer) > MaxOfferSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedOffer, len(offer), MaxOfferSize)
	}
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformedOffer, err)
	}
	answer := cfg.session()
	var results []Media
	accepted := 0
	count := map[string]int{}
	for _, md := range sd.MediaDescriptions {
		res, ans := answerMedia(&sd, md, &cfg, count)
		results = append(results, res)
		answer.MediaDescriptions = append(answer.MediaDescriptions, ans)
		if res.Accepted {
			accepted++
		}
	}
	if accepted == 0 {
		return nil, results, ErrNoCommonMedia
	}
	b, err := answer.Marshal()
	return b, results, err
}

// session is the session part of our SDP (o=, s=, c=, t=), without media.
func (c *Config) session() *psdp.SessionDescription {
	return &psdp.SessionDescription{
		Origin: psdp.Origin{Username: "sipcast", SessionID: c.SessionID, SessionVersion: c.SessionID,
			NetworkType: "IN", AddressType: addrType(c.Address), UnicastAddress: addrString(c.Address)},
		SessionName: "sipcast",
		ConnectionInformation: &psdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType(c.Address),
			Address: &psdp.Address{Address: addrString(c.Address)}},
		TimeDescriptions: []psdp.TimeDescription{{}},
	}
}

func addrType(ip net.IP) string {
	if ip != nil && ip.To4() == nil {
		return "IP6"
	}
	return "IP4"
}

func addrString(ip net.IP) string {
	if ip == nil {
		return "0.0.0.0"
	}
	return ip.String()
}

type rtpmap struct {
	pt       uint8
	name     string
	rate     int
	channels int
}

func parseRTPMaps(md *psdp.MediaDescription) (map[uint8]rtpmap, map[uint8]string) {
	maps := map[uint8]rtpmap{}
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		pt, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(pt)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, params, _ := strings.Cut(strings.TrimSpace(rest), "/")
			rateS, chS, _ := strings.Cut(params, "/")
			rate, _ := strconv.Atoi(rateS)
			ch, _ := strconv.Atoi(chS)
			maps[uint8(n)] = rtpmap{uint8(n), name, rate, ch}
		case "fmtp":
			fmtps[uint8(n)] = strings.TrimSpace(rest)
		}
	}
	// Static payload types (RFC 3551) need no rtpmap.
	for _, f := range md.MediaName.Formats {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		if _, ok := maps[uint8(n)]; ok {
			continue
		}
		switch n {
		case 0:
			maps[0] = rtpmap{0, "PCMU", 8000, 1}
		case 8:
			maps[8] = rtpmap{8, "PCMA", 8000, 1}
		case 9:
			maps[9] = rtpmap{9, "G722", 8000, 1}
		}
	}
	return maps, fmtps
}

func fmtpParam(fmtp, key string) (string, bool) {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// acceptable reports whether an offered format of a codec can be received, and the fmtp
// to answer with.
func acceptable(c rtpmap, fmtp string, cfg *Config) (string, bool) {
	switch strings.ToLower(c.name) {
	case "h264":
		if pm, ok := fmtpParam(fmtp, "packetization-mode"); ok && pm != "0" && pm != "1" {
			return "", false // interleaved mode 2 is not supported
		}
		if fs := cfg.Resolution.maxFS(); fs > 0 {
			if fmtp != "" {
				fmtp += ";"
			}
			fmtp += "max-fs=" + strconv.Itoa(fs)
		}
		return fmtp, true
	case "mpeg4-generic":
		if _, ok := fmtpParam(fmtp, "config"); !ok {
			return "", false
		}
		if _, ok := fmtpParam(fmtp, "sizelength"); !ok {
			return "", false
		}
		return fmtp, true
	case "mp4a-latm":
		if cp, ok := fmtpParam(fmtp, "cpresent"); ok && cp == "0" {
			if _, ok := fmtpParam(fmtp, "config"); !ok {
				return "", false
			}
		}
		return fmtp, true
	}
	return fmtp, true
}

func answerDirection(offered, want string) string {
	canSend := want == "sendrecv" || want == "sendonly"
	canRecv := want == "sendrecv" || want == "recvonly"
	peerSends := offered == "sendrecv" || offered == "sendonly" || offered == ""
	peerRecvs := offered == "sendrecv" || offered == "recvonly" || offered == ""
	send, recv := canSend && peerRecvs, canRecv && peerSends
	switch {
	case send && recv:
		return "sendrecv"
	case send:
		return "sendonly"
	case recv:
		return "recvonly"
	}
	return "inactive"
}

func rejected(md *psdp.MediaDescription, reason string) (Media, *psdp.MediaDescription) {
	ans := &psdp.MediaDescription{MediaName: psdp.MediaName{
		Media: md.MediaName.Media, Port: psdp.RangedPort{Value: 0}, Protos: md.MediaName.Protos, Formats: md.MediaName.Formats}}
	if len(ans.MediaName.Formats) == 0 {
		ans.MediaName.Formats = []string{"0"}
	}
	return Media{Kind: md.MediaName.Media, Reason: reason}, ans
}

func answerMedia(sd *psdp.SessionDescription, md *psdp.MediaDescription, cfg *Config, count map[string]int) (Media, *psdp.MediaDescription) {
	kind := md.MediaName.Media
	proto := strings.Join(md.MediaName.Protos, "/")
	if md.MediaName.Port.Value == 0 {
		return rejected(md, "disabled in the offer")
	}
	var prefs []Codec
	switch kind {
	case "audio":
		prefs = cfg.Audio
	case "video":
		if cfg.Resolution == ResolutionAudioOnly {
			return rejected(md, "audio-only")
		}
		if count["video"] > 0 {
			return rejected(md, "one video stream (the composed meeting) is received; more are not")
		}
		prefs = cfg.Video
	default:
		return rejected(md, "media "+kind+" ("+proto+") is not handled")
	}
	secure := false
	switch proto {
	case "RTP/AVP", "RTP/AVPF":
	case "RTP/SAVP", "RTP/SAVPF":
		if !cfg.SRTP {
			return rejected(md, "SRTP offered and not enabled")
		}
		secure = true
	default:
		return rejected(md, "transport "+proto+" is not handled")
	}
	maps, fmtps := parseRTPMaps(md)
	res := Media{Kind: kind}
	var chosen *rtpmap
	var answerFMTP string
	for _, pref := range prefs {
		for _, f := range md.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			m, ok := maps[uint8(n)]
			if !ok || !strings.EqualFold(m.name, pref.Name) || (pref.ClockRate != 0 && pref.ClockRate != m.rate) {
				continue
			}
			if af, ok := acceptable(m, fmtps[m.pt], cfg); ok {
				mm := m
				chosen, answerFMTP = &mm, af
				break
			}
		}
		if chosen != nil {
			break
		}
	}
	if chosen == nil {
		return rejected(md, "no acceptable codec")
	}
	res.PayloadType, res.Codec, res.ClockRate, res.Channels, res.FMTP = chosen.pt, chosen.name, chosen.rate, chosen.channels, fmtps[chosen.pt]
	formats := []string{strconv.Itoa(int(chosen.pt))}
	attrs := []psdp.Attribute{{Key: "rtpmap", Value: rtpmapValue(*chosen)}}
	if answerFMTP != "" {
		attrs = append(attrs, psdp.Attribute{Key: "fmtp", Value: fmt.Sprintf("%d %s", chosen.pt, answerFMTP)})
	}
	if kind == "audio" {
		for _, m := range maps {
			if strings.EqualFold(m.name, "telephone-event") && m.rate == chosen.rate {
				res.DTMFPayloadType = m.pt
				formats = append(formats, strconv.Itoa(int(m.pt)))
				attrs = append(attrs, psdp.Attribute{Key: "rtpmap", Value: rtpmapValue(m)})
				if f := fmtps[m.pt]; f != "" {
					attrs = append(attrs, psdp.Attribute{Key: "fmtp", Value: fmt.Sprintf("%d %s", m.pt, f)})
				}
				break
			}
		}
	}
	for _, a := range md.Attributes {
		if a.Key != "rtcp-fb" {
			continue
		}
		pt, fb, _ := strings.Cut(a.Value, " ")
		if pt != "*" && pt != strconv.Itoa(int(chosen.pt)) {
			continue
		}
		switch strings.TrimSpace(fb) {
		case "nack":
			res.NACK = true
		case "nack pli":
			res.PLI = true
		case "ccm fir":
			res.FIR = true
		default:
			continue
		}
		attrs = append(attrs, psdp.Attribute{Key: "rtcp-fb", Value: strconv.Itoa(int(chosen.pt)) + " " + strings.TrimSpace(fb)})
	}
	if md.MediaName.Media == "audio" {
		if id, ok := audioLevelExt(md); ok {
			res.AudioLevelID = id
			attrs = append(attrs, psdp.Attribute{Key: "extmap", Value: strconv.Itoa(int(id)) + " " + AudioLevelURI})
		}
	}
	cryptoTag := ""
	if secure {
		c, tag, ok := chooseCrypto(md)
		if !ok {
			return rejected(md, "no supported SRTP crypto suite")
		}
		res.Crypto, cryptoTag = c, tag
	}
	if _, ok := md.Attribute("rtcp-mux"); ok && cfg.RTCPMux {
		res.RTCPMux = true
		attrs = append(attrs, psdp.Attribute{Key: "rtcp-mux"})
	}
	offeredDir := ""
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			offeredDir = d
		} else if _, ok := sd.Attribute(d); ok && offeredDir == "" {
			offeredDir = d
		}
	}
	want := cfg.Direction
	if res.Kind == "audio" && cfg.AudioDirection != "" {
		want = cfg.AudioDirection
	}
	if res.Kind == "video" && cfg.VideoDirection != "" {
		want = cfg.VideoDirection
	}
	res.Direction = answerDirection(offeredDir, want)
	attrs = append(attrs, psdp.Attribute{Key: res.Direction})
	for _, b := range md.Bandwidth {
		if b.Type == "AS" {
			res.BandwidthAS = int(b.Bandwidth)
		}
	}
	res.RemoteRTP, res.RemoteRTCP = remoteAddrs(sd, md, res.RTCPMux)
	index := count[kind]
	count[kind]++
	rtpPort, rtcpPort := 0, 0
	switch {
	case cfg.Open != nil:
		var err error
		if rtpPort, rtcpPort, err = cfg.Open(&res, index); err != nil {
			return rejected(md, err.Error())
		}
	case cfg.Ports != nil:
		rtpPort, rtcpPort = cfg.Ports(kind, index)
	}
	if res.Crypto != nil { // after Open, which may keep the key of a session it reuses
		attrs = append(attrs, psdp.Attribute{Key: "crypto", Value: cryptoTag + " " + res.Crypto.Suite + " " + res.Crypto.LocalKey})
	}
	if !res.RTCPMux && rtcpPort != 0 && rtcpPort != rtpPort+1 {
		attrs = append(attrs, psdp.Attribute{Key: "rtcp", Value: strconv.Itoa(rtcpPort)})
	}
	res.Accepted = true
	return res, &psdp.MediaDescription{
		MediaName:  psdp.MediaName{Media: kind, Port: psdp.RangedPort{Value: rtpPort}, Protos: md.MediaName.Protos, Formats: formats},
		Attributes: attrs,
	}
}

func rtpmapValue(m rtpmap) string {
	v := fmt.Sprintf("%d %s/%d", m.pt, m.name, m.rate)
	if m.channels > 1 {
		v += "/" + strconv.Itoa(m.channels)
	}
	return v
}

func remoteAddrs(sd *psdp.SessionDescription, md *psdp.MediaDescription, mux bool) (rtp, rtcp *net.UDPAddr) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return nil, nil
	}
	ip := net.ParseIP(ci.Address.Address)
	if ip == nil {
		return nil, nil
	}
	port := md.MediaName.Port.Value
	rtp = &net.UDPAddr{IP: ip, Port: port}
	rtcpPort := port + 1
	if mux {
		rtcpPort = port
	}
	if v, ok := md.Attribute("rtcp"); ok {
		if p, err := strconv.Atoi(strings.Fields(v + " x")[0]); err == nil && p > 0 && p < 65536 {
			rtcpPort = p
		}
	}
	return rtp, &net.UDPAddr{IP: ip, Port: rtcpPort}
}

var supportedSuites = []string{"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"}

// chooseCrypto picks the first offered SDES line with a supported suite and answers it
// with a fresh key of ours (RFC 4568 §7.1.2: same tag and suite); it returns the tag.
func chooseCrypto(md *psdp.MediaDescription) (*Crypto, string, bool) {
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) < 3 {
			continue
		}
		for _, s := range supportedSuites {
			if !strings.EqualFold(f[1], s) {
				continue
			}
			keyLen := 30
			if s == "AEAD_AES_128_GCM" {
				keyLen = 28
			}
			key := make([]byte, keyLen)
			if _, err := rand.Read(key); err != nil {
				return nil, "", false
			}
			local := "inline:" + base64.StdEncoding.EncodeToString(key)
			return &Crypto{Suite: s, RemoteKey: f[2], LocalKey: local}, f[0], true
		}
	}
	return nil, "", false
}

// TrackConfig returns the media track that receives an accepted m-line.
func (m Media) TrackConfig() media.TrackConfig {
	return media.TrackConfig{
		PayloadType: m.PayloadType, Encoding: media.Encoding(m.Codec), ClockRate: m.ClockRate,
		FMTP: m.FMTP, NACK: m.NACK, PLI: m.PLI, FIR: m.FIR, AudioLevelID: m.AudioLevelID,
	}
}
