package sip

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Encryption of a dial plan rule's control connection (CMS sipControlEncryption).
type Encryption string

// Encryption values.
const (
	EncryptionAuto        Encryption = "auto"
	EncryptionEncrypted   Encryption = "encrypted"
	EncryptionUnencrypted Encryption = "unencrypted"
)

// Rule is an outbound dial plan rule, modelled on CMS outboundDialPlanRules.
type Rule struct {
	// Domain matches the target's host: exact ("streamer.com") or wildcard
	// ("*.example.com" matches any subdomain); "" matches everything.
	Domain string
	// Priority orders the rules: higher first.
	Priority int
	// Proxy is host[:port] to send the call to ("" sends it to the target's host).
	Proxy string
	// Encryption: encrypted uses TLS, unencrypted UDP, auto tries TLS and falls back to
	// UDP ("falling back to unencrypted control connection").
	Encryption Encryption
	// LocalContactDomain and LocalFromDomain replace the host of our Contact and From
	// URIs on calls placed through this rule ("" keeps ours).
	LocalContactDomain, LocalFromDomain string
	// Stop makes a failure final (CMS failureAction stop); otherwise the next matching
	// rule is tried (continue).
	Stop bool
}

// Matches reports whether the rule applies to a target host.
func (r Rule) Matches(host string) bool {
	d := strings.ToLower(r.Domain)
	host = strings.ToLower(host)
	switch {
	case d == "":
		return true
	case strings.HasPrefix(d, "*."):
		return strings.HasSuffix(host, d[1:])
	}
	return host == d
}

// Attempt is one way to place a call that a dial plan produced.
type Attempt struct {
	Rule Rule
	// Target is the Request-URI to send (the dialled URI), with the transport parameter set.
	Target string
	// Proxy is where the INVITE goes (host[:port]); "" sends it to the target's host.
	Proxy string
	// Fallback says this is the unencrypted retry of an auto rule.
	Fallback bool
}

// Plan returns the attempts for a target URI, in order: matching rules by priority,
// each auto rule as TLS then UDP, stopping after the first rule with Stop.
func Plan(rules []Rule, target string) ([]Attempt, error) {
	var uri sipmsg.Uri
	if err := sipmsg.ParseUri(target, &uri); err != nil {
		return nil, fmt.Errorf("sip: target %q: %w", target, err)
	}
	sorted := append([]Rule(nil), rules...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Priority > sorted[j].Priority })
	var out []Attempt
	for _, r := range sorted {
		if !r.Matches(uri.Host) {
			continue
		}
		mk := func(transport string, fallback bool) Attempt {
			t := "sip:"
			if uri.User != "" {
				t += uri.User + "@"
			}
			t += uri.Host
			if uri.Port != 0 {
				t += ":" + strconv.Itoa(uri.Port)
			}
			return Attempt{Rule: r, Target: t + ";transport=" + transport, Proxy: r.Proxy, Fallback: fallback}
		}
		switch r.Encryption {
		case EncryptionEncrypted:
			out = append(out, mk("tls", false))
		case EncryptionUnencrypted:
			out = append(out, mk("udp", false))
		default:
			out = append(out, mk("tls", false), mk("udp", true))
		}
		if r.Stop {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoDialPlanRule, uri.Host)
	}
	return out, nil
}

// DialPlan places a call through the first attempt of the plan that connects. A
// rejection by the callee (a final response other than authentication or server errors)
// ends the search: the callee was reached. Errors from every attempt are joined.
func (u *UA) DialPlan(ctx context.Context, rules []Rule, target string, offer []byte, opts DialOptions) (*OutboundCall, Attempt, error) {
	attempts, err := Plan(rules, target)
	if err != nil {
		return nil, Attempt{}, err
	}
	var errs []error
	for _, a := range attempts {
		if a.Fallback {
			u.log.Info("sip: falling back to unencrypted control connection", "target", a.Target)
		}
		o := opts
		o.Proxy = a.Proxy
		if a.Rule.LocalFromDomain != "" {
			o.FromDomain = a.Rule.LocalFromDomain
		}
		if a.Rule.LocalContactDomain != "" {
			o.ContactDomain = a.Rule.LocalContactDomain
		}
		c, err := u.Dial(ctx, a.Target, offer, o)
		if err == nil {
			return c, a, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.Target, err))
		var rej *StatusError
		if errors.As(err, &rej) && rej.Code < 500 && rej.Code != 401 && rej.Code != 407 || ctx.Err() != nil {
			break
		}
	}
	return nil, Attempt{}, errors.Join(errs...)
}
