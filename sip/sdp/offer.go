package sdp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Offer builds an SDP offer of what the endpoint can receive, for outbound calls and for
// answering a late offer (an INVITE without SDP): an audio m-line with the codecs of
// cfg.Audio among Opus, G.722, PCMU and PCMA, in its order (all four when cfg.Audio is
// nil), and telephone-event, and unless cfg.Resolution is ResolutionAudioOnly a video
// m-line with H.264 in packetization modes 1 and 0, NACK, PLI and FIR. AAC is not
// offered: a receiver cannot name the sender's AudioSpecificConfig. The audio m-line's
// direction is cfg.AudioDirection when set (a caller that sends generated audio), the
// video m-line's cfg.VideoDirection, cfg.Direction otherwise. cfg.Video is not consulted; SRTP offers are not made
// (RTP/AVP only). Negotiate reads the answer.
func Offer(cfg Config) ([]byte, error) {
	audio := cfg.Audio // nil: every codec (defaults fills it)
	cfg.defaults()
	if cfg.Address == nil || cfg.Ports == nil {
		return nil, errors.New("sdp: an offer needs Address and Ports")
	}
	if cfg.SRTP {
		return nil, errors.New("sdp: SRTP offers are not supported (answers to SRTP offers are)")
	}
	sd := cfg.session()
	if audio == nil {
		audio = cfg.Audio
	}
	add := func(kind string, formats []string, attrs []psdp.Attribute) {
		rtp, rtcp := cfg.Ports(kind, 0)
		md := &psdp.MediaDescription{MediaName: psdp.MediaName{Media: kind, Port: psdp.RangedPort{Value: rtp},
			Protos: []string{"RTP", "AVP"}, Formats: formats}}
		if cfg.RTCPMux {
			md.Attributes = append(md.Attributes, psdp.Attribute{Key: "rtcp-mux"})
		} else if rtcp != 0 && rtcp != rtp+1 {
			md.Attributes = append(md.Attributes, psdp.Attribute{Key: "rtcp", Value: strconv.Itoa(rtcp)})
		}
		md.Attributes = append(md.Attributes, attrs...)
		dir := cfg.Direction
		if kind == "audio" && cfg.AudioDirection != "" {
			dir = cfg.AudioDirection
		}
		if kind == "video" && cfg.VideoDirection != "" {
			dir = cfg.VideoDirection
		}
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: dir})
		sd.MediaDescriptions = append(sd.MediaDescriptions, md)
	}
	a := func(k, v string) psdp.Attribute { return psdp.Attribute{Key: k, Value: v} }
	var formats []string
	var attrs []psdp.Attribute
	for _, c := range audio {
		switch {
		case strings.EqualFold(c.Name, "opus"):
			formats, attrs = append(formats, "111"), append(attrs, a("rtpmap", "111 opus/48000/2"), a("fmtp", "111 useinbandfec=1"))
		case strings.EqualFold(c.Name, "G722"):
			formats, attrs = append(formats, "9"), append(attrs, a("rtpmap", "9 G722/8000"))
		case strings.EqualFold(c.Name, "PCMU"):
			formats, attrs = append(formats, "0"), append(attrs, a("rtpmap", "0 PCMU/8000"))
		case strings.EqualFold(c.Name, "PCMA"):
			formats, attrs = append(formats, "8"), append(attrs, a("rtpmap", "8 PCMA/8000"))
		}
	}
	if len(formats) == 0 {
		return nil, errors.New("sdp: no audio codec to offer (Opus, G.722, PCMU, PCMA)")
	}
	// RFC 6464 levels from the callee, where it sends them: a conference mixes by them.
	add("audio", append(formats, "101"), append(attrs, a("rtpmap", "101 telephone-event/8000"), a("fmtp", "101 0-16"),
		a("extmap", "1 "+AudioLevelURI)))
	if cfg.Resolution != ResolutionAudioOnly {
		var attrs []psdp.Attribute
		for _, pt := range []struct{ pt, mode int }{{96, 1}, {97, 0}} {
			fmtp := fmt.Sprintf("%d profile-level-id=42e01f;packetization-mode=%d;level-asymmetry-allowed=1", pt.pt, pt.mode)
			if fs := cfg.Resolution.maxFS(); fs > 0 {
				fmtp += ";max-fs=" + strconv.Itoa(fs)
			}
			attrs = append(attrs, a("rtpmap", fmt.Sprintf("%d H264/90000", pt.pt)), a("fmtp", fmtp),
				a("rtcp-fb", fmt.Sprintf("%d nack", pt.pt)), a("rtcp-fb", fmt.Sprintf("%d nack pli", pt.pt)),
				a("rtcp-fb", fmt.Sprintf("%d ccm fir", pt.pt)))
		}
		add("video", []string{"96", "97"}, attrs)
	}
	return sd.Marshal()
}

// Negotiate reads the answer to an Offer made with the same cfg and returns the agreed
// media, one per m-line, as Answer does for offers.
func Negotiate(answer []byte, cfg Config) ([]Media, error) {
	cfg.SRTP = false
	// What the peer answered is what it will send: choosing from it with our
	// preferences is choosing what was agreed.
	_, media, err := Answer(answer, cfg)
	return media, err
}
