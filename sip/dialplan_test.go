package sip

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The CMS streamer rules of the source documents: streamer.com to 10.106.81.58:7000
// unencrypted (Continue, priority 20), and :7001 encrypted (Stop, priority 10).
func TestPlanCMSRules(t *testing.T) {
	rules := []Rule{
		{Domain: "streamer.com", Priority: 10, Proxy: "10.106.81.58:7001", Encryption: EncryptionEncrypted, Stop: true},
		{Domain: "streamer.com", Priority: 20, Proxy: "10.106.81.58:7000", Encryption: EncryptionUnencrypted},
		{Domain: "*.example.com", Priority: 30, Encryption: EncryptionAuto},
	}
	a, err := Plan(rules, "sip:demo@streamer.com")
	require.NoError(t, err)
	require.Equal(t, []string{"sip:demo@streamer.com;transport=udp via 10.106.81.58:7000", "sip:demo@streamer.com;transport=tls via 10.106.81.58:7001"}, targets(a))

	a, err = Plan(rules, "sip:bob@video.example.com:5070")
	require.NoError(t, err)
	require.Equal(t, []string{"sip:bob@video.example.com:5070;transport=tls", "sip:bob@video.example.com:5070;transport=udp"}, targets(a))
	require.True(t, a[1].Fallback, "auto falls back to unencrypted")

	_, err = Plan(rules, "sip:x@other.org")
	require.ErrorContains(t, err, "no dial plan rule matches other.org")
	require.False(t, Rule{Domain: "*.example.com"}.Matches("example.com.evil"))
}

func targets(a []Attempt) []string {
	var out []string
	for _, x := range a {
		s := x.Target
		if x.Proxy != "" {
			s += " via " + x.Proxy
		}
		out = append(out, s)
	}
	return out
}

// The first rule leads nowhere (nothing answers); failureAction continue moves on to the
// next rule, whose auto encryption fails over TLS and falls back to UDP, where sipp
// answers.
func TestInteropDialPlanContinueAndFallback(t *testing.T) {
	target, p := callee(t, "-sn", "uas")
	sippAddr := strings.TrimPrefix(target, "sip:service@")
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hole.Close()
	rules := []Rule{
		{Domain: "streamer.test", Priority: 20, Proxy: hole.LocalAddr().String(), Encryption: EncryptionUnencrypted},
		{Domain: "streamer.test", Priority: 10, Proxy: sippAddr, Encryption: EncryptionAuto},
	}
	u := caller(t)
	c, a, err := u.DialPlan(context.Background(), rules, "sip:service@streamer.test", []byte(offer), DialOptions{Timeout: 2 * time.Second})
	require.NoError(t, err)
	require.True(t, a.Fallback)
	require.Equal(t, 10, a.Rule.Priority)
	require.NoError(t, c.Hangup(context.Background()))
	require.NoError(t, p.Wait(time.Minute), p.Output())
}

// failureAction stop: a failing rule ends the search.
func TestDialPlanStop(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hole.Close()
	rules := []Rule{
		{Domain: "streamer.test", Priority: 20, Proxy: hole.LocalAddr().String(), Encryption: EncryptionUnencrypted, Stop: true},
		{Domain: "streamer.test", Priority: 10, Proxy: "127.0.0.1:9", Encryption: EncryptionUnencrypted},
	}
	u := caller(t)
	_, _, err = u.DialPlan(context.Background(), rules, "sip:service@streamer.test", []byte(offer), DialOptions{Timeout: time.Second})
	require.ErrorIs(t, err, ErrNoProvisional)
	require.NotContains(t, err.Error(), "127.0.0.1:9", "the second rule was not tried")
}
