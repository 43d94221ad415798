// Command relay is the Flashphoner WCS "SIP as RTMP" service (package conference/relay):
// a REST API that registers with a SIP server, calls someone and relays the callee's
// audio (transcoded to AAC) and video (H.264) to an RTMP server, and a web page that
// drives it.
//
//	SIPCAST_RELAY_KEY=$(openssl rand -hex 16) go run ./examples/relay \
//	    -http 127.0.0.1:8081 -sip-udp 0.0.0.0:5070 -media-ip 192.0.2.10 \
//	    -rtmp-hosts a.rtmp.youtube.com,live.example.com -sip-domains pbx.example.com
//
// then open http://127.0.0.1:8081/ (the page asks for the key), or:
//
//	curl -H "X-Api-Key: $SIPCAST_RELAY_KEY" -d '{"callId":"c1","callee":"1001",
//	    "sipDomain":"pbx.example.com","rtmpUrl":"rtmp://live.example.com/live",
//	    "rtmpStream":"KEY"}' http://127.0.0.1:8081/rest-api/call/startup
//
// The API key comes from the environment (SIPCAST_RELAY_KEY), not from a flag, so that
// it is not in the process list. The allow-lists are empty by default: a call can
// stream or dial nowhere until -rtmp-hosts and -sip-domains say where ("*" for any).
// SIGTERM or SIGINT hangs every call up (BYE, unregistering) and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/relay"
	"github.com/sipcast/sipcast/sip"
)

func main() {
	if err := run(os.Args[1:], os.Getenv("SIPCAST_RELAY_KEY")); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func run(args []string, key string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	httpAddr := fs.String("http", "127.0.0.1:8081", "address of the REST API and the page")
	sipUDP := fs.String("sip-udp", "0.0.0.0:5070", "SIP over UDP")
	mediaIP := fs.String("media-ip", "", "the address the SDP gives for our media (default: the SIP address)")
	rtmpHosts := fs.String("rtmp-hosts", "", `RTMP servers calls may stream to, comma-separated (host or host:port; "*" any)`)
	sipDomains := fs.String("sip-domains", "", `SIP domains and outbound proxies calls may use, comma-separated ("*" any)`)
	hook := fs.String("hook", "", "URL REST hooks are POSTed to (the event's name appended)")
	player := fs.String("player-url", "", `where a stream can be watched, shown on the page ("{toStream}", "{callId}" replaced)`)
	maxCalls := fs.Int("max-calls", 100, "calls at once")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(key) < 16 {
		return errors.New("set SIPCAST_RELAY_KEY to an API key of at least 16 characters")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	bcfg := conference.Config{SIP: []sip.Option{sip.WithUDP(*sipUDP), sip.WithLogger(log), sip.WithUserAgentName("sipcast relay")}, Logger: log}
	if *mediaIP != "" {
		if bcfg.MediaIP = net.ParseIP(*mediaIP); bcfg.MediaIP == nil {
			return fmt.Errorf("-media-ip %q: not an IP address", *mediaIP)
		}
	}
	svc, err := relay.New(relay.Config{Bridge: bcfg, Keys: []string{key}, RTMPHosts: list(*rtmpHosts), SIPDomains: list(*sipDomains),
		Hook: *hook, PlayerURL: *player, MaxCalls: *maxCalls, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		_ = svc.Close()
		return err
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("relay: serving", "http", ln.Addr().String(), "sip", svc.Bridge().UA().UDPAddr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if cerr := svc.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
