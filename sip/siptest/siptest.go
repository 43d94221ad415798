package siptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
)

// Options shape a call.
type Options struct {
	// NoVideo and NoAudio leave a track out of the offer.
	NoVideo, NoAudio bool
	// User is the Request-URI's user part (default "stream").
	User string
	// EditOffer changes the SDP offer before it is sent (SRTP lines, rtcp-mux...).
	EditOffer func(offer string) string
	// Dial are the options of the INVITE (Contact parameters such as x-cisco-stream,
	// credentials, headers).
	Dial sip.DialOptions
}

// Call is an answered call that sends the clip.
type Call struct {
	*sip.OutboundCall
	// Sender sends the media (Play); Conn is its socket.
	Sender *rtpsend.Sender
	Conn   *net.UDPConn
	clip   *testclip.Clip
	ua     *sip.UA
}

// Dial calls the SIP UA at addr (host:port, over UDP) from a UA of its own, offering the
// clip's H.264 and AAC from one local socket, and returns the call once answered.
func Dial(ctx context.Context, addr string, clip *testclip.Clip, o Options) (*Call, error) {
	ua, err := sip.New(sip.WithUDP("127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		ua.Close()
		return nil, err
	}
	c, err := dial(ctx, ua, conn, addr, clip, o)
	if err != nil {
		conn.Close()
		ua.Close()
		return nil, err
	}
	return c, nil
}

func dial(ctx context.Context, ua *sip.UA, conn *net.UDPConn, addr string, clip *testclip.Clip, o Options) (*Call, error) {
	local := conn.LocalAddr().(*net.UDPAddr)
	ac, err := aac.ParseConfig(clip.AudioConfig)
	if err != nil {
		return nil, fmt.Errorf("siptest: the clip's audio: %w", err)
	}
	videoPort, audioPort := local.Port, local.Port
	if o.NoVideo {
		videoPort = 0
	}
	if o.NoAudio {
		audioPort = 0
	}
	if o.NoVideo && o.NoAudio {
		return nil, errors.New("siptest: a call needs a track")
	}
	offer := string(rtpsend.SDP(local.IP, videoPort, audioPort, clip.SPS, clip.PPS, clip.AudioConfig, ac.SampleRate, ac.Channels))
	if o.EditOffer != nil {
		offer = o.EditOffer(offer)
	}
	user := o.User
	if user == "" {
		user = "stream"
	}
	oc, err := ua.Dial(ctx, "sip:"+user+"@"+addr, []byte(offer), o.Dial)
	if err != nil {
		return nil, err
	}
	sender, err := rtpsend.ForAnswer(conn, oc.Answer, clip.SPS, clip.PPS, ac.SampleRate)
	if err != nil {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = oc.Hangup(hctx)
		cancel()
		return nil, err
	}
	return &Call{OutboundCall: oc, Sender: sender, Conn: conn, clip: clip, ua: ua}, nil
}

// Play sends the clip once, in real time.
func (c *Call) Play(ctx context.Context) error {
	return c.Sender.Play(ctx, c.clip.Interleaved(), 0, 0, nil)
}

// Loop sends the clip over and over (timestamps carried on) until ctx ends or d has
// been sent.
func (c *Call) Loop(ctx context.Context, d time.Duration) error {
	return c.Sender.Play(ctx, c.clip.Interleaved(), c.clip.Duration, d, nil)
}

// Close hangs up (when the call is still up) and closes the socket and the UA.
func (c *Call) Close() error {
	var err error
	select {
	case <-c.Done():
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.Hangup(ctx)
		cancel()
	}
	c.Conn.Close()
	c.ua.Close()
	return err
}
