// Command streamer is the Cisco Meeting Server streamer as a program: it answers SIP calls
// (a Call Bridge dialling its streamer, or any endpoint), streams each call to the RTMP(S)
// URL the call carries (x-cisco-stream) or -stream-url, and records it under -record-dir.
//
//	streamer -sip-udp 0.0.0.0:7000 -sip-tcp 0.0.0.0:7000 -sip-tls 0.0.0.0:7001 \
//	    -cert streamer.crt -key streamer.key -trust callbridge-ca.pem -verify \
//	    -resolution 720p -call-limit 50 -record-dir /recordings -metrics 127.0.0.1:9102
//
// -check validates the configuration, prints SUCCESS:/FAILURE: lines as CMS's
// `streamer enable` does, and exits 0 or 1. A status line goes to stderr on SIGUSR1.
// -metrics ADDR serves operations: Prometheus metrics at /metrics (package
// conference/metrics, with the Go and process collectors) and the live status page at
// /status/ (package conference/status), both behind the API credentials, and /healthz
// and /readyz (503 while draining or at the call limit) for load balancers.
//
// SIGTERM drains: new calls are answered 503 (OPTIONS too), the calls in progress run
// to their end, then the streamer exits; a second SIGTERM, SIGINT or -drain-timeout ends
// the remaining calls cleanly (BYE, recordings finalized). -log-format json logs JSON.
//
// -api ADDR also serves the CMS-compatible REST API (package cmsapi) over HTTPS with
// -cert/-key (or plain HTTP on loopback with -api-insecure), Basic auth with -api-user
// and the password in -api-password-file: spaces with a streamUrl, POST /calls, call
// legs dialled out through outboundDialPlanRules, PUT /calls/{id} streaming=true|false
// and recording=true|false, CDRs to /system/cdrReceivers — so a TMS-driven flow runs
// from this one program.
//
//	streamer -sip-udp 127.0.0.1:5060 -sip-tcp none -record-dir /recordings \
//	    -api 127.0.0.1:8443 -cert api.crt -key api.key -api-password-file api.pw
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/cmsapi/pgstore"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/cms"
	"github.com/sipcast/sipcast/conference/metrics"
	"github.com/sipcast/sipcast/conference/status"
	"github.com/sipcast/sipcast/internal/httpc"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/sdp"
)

type config struct {
	udp, tcp, tls    string
	cert, key, trust string
	verify           bool
	resolution       string
	callLimit        int
	streamURL        string
	recordDir        string
	trace            bool
	metrics          string
	metricsAuth      bool
	metricsCalls     bool
	check            bool
	mediaIP          string
	cpuProfile       string
	memProfile       string
	api              string
	apiInsecure      bool
	apiUser          string
	apiPasswordFile  string
	pollInterval     time.Duration
	logFormat        string
	logLevel         string
	drainTimeout     time.Duration
	cmsDB            string
	mix              bool
	node, apiURL     string
	heartbeat        time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("streamer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.udp, "sip-udp", "0.0.0.0:5060", "SIP UDP listen address, or none")
	fs.StringVar(&c.tcp, "sip-tcp", "0.0.0.0:5060", "SIP TCP listen address, or none")
	fs.StringVar(&c.tls, "sip-tls", "none", "SIP TLS listen address, or none")
	fs.StringVar(&c.cert, "cert", "", "TLS certificate (PEM)")
	fs.StringVar(&c.key, "key", "", "TLS private key (PEM)")
	fs.StringVar(&c.trust, "trust", "", "trust bundle (PEM) for peers")
	fs.BoolVar(&c.verify, "verify", false, "require and verify the peer's TLS certificate (CMS: tls sip verify enable)")
	fs.StringVar(&c.resolution, "resolution", "720p", "largest video received: 720p, 1080p or audio")
	fs.IntVar(&c.callLimit, "call-limit", sip.DefaultCallLimit, "most calls at once (-1: no limit); more are answered 503")
	fs.StringVar(&c.streamURL, "stream-url", "", "RTMP(S) URL for calls that carry none")
	fs.StringVar(&c.recordDir, "record-dir", "", "record calls under this directory (empty: no recording)")
	fs.BoolVar(&c.trace, "trace", false, "log SIP traffic (credentials redacted)")
	fs.StringVar(&c.metrics, "metrics", "", "serve operations on http://ADDR: Prometheus metrics at /metrics, the status page at /status/ (both behind the API credentials, see -metrics-auth), /healthz and /readyz")
	fs.BoolVar(&c.metricsAuth, "metrics-auth", true, "metrics need the API credentials (-api-user, -api-password-file); without them metrics are served on loopback only")
	fs.BoolVar(&c.metricsCalls, "metrics-call-labels", false, "add per-call series labelled with the Call-ID (unbounded cardinality; off: totals only)")
	fs.BoolVar(&c.check, "check", false, "validate the configuration, print SUCCESS/FAILURE lines, exit 0 or 1")
	fs.StringVar(&c.mediaIP, "media-ip", "", "address media is received on and announced in SDP (default: the SIP UDP/TCP host, or 127.0.0.1 for 0.0.0.0)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the streamer stops")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a heap profile (go tool pprof) to this file at each SIGUSR1: where the memory of the calls up goes")
	fs.StringVar(&c.api, "api", "", "serve the CMS-compatible REST API (/api/v1) on ADDR, over HTTPS with -cert and -key")
	fs.BoolVar(&c.apiInsecure, "api-insecure", false, "serve the API over plain HTTP (loopback addresses only; for tests)")
	fs.StringVar(&c.apiUser, "api-user", "admin", "API user (HTTP Basic)")
	fs.StringVar(&c.apiPasswordFile, "api-password-file", "", "file holding the API password (required with -api)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 0, "after SIGTERM, end the calls still in progress after this long (0: wait for them; a second SIGTERM ends them at once)")
	fs.DurationVar(&c.pollInterval, "poll-interval", 0, "how often one goroutine drains every call's RTP sockets (0: 40ms; negative: a goroutine per socket); longer costs less CPU and adds latency")
	fs.StringVar(&c.cmsDB, "cms-db", "", `with -api, keep the API's configuration and the live calls' registry in PostgreSQL, shared with the other nodes of a cluster (package cmsapi/pgstore): a connection string without its password ("host=db.example.com dbname=sipcast user=cms"; the password from PGPASSWORD or ~/.pgpass)`)
	fs.StringVar(&c.node, "node", "", "this node's name in a cluster: its recordings go under -record-dir/NAME/ (a directory of its own on a shared share), and with -cms-db it names the node among the API nodes (default there: host name and API address)")
	fs.BoolVar(&c.mix, "mix", false, "with -api, mix each conference's legs (G.711, G.722, Opus): every leg hears the others, the stream and the recording carry the mix and the active speaker's video (off: the first leg's media goes out untouched, as a Call Bridge's AAC must)")
	fs.StringVar(&c.apiURL, "api-url", "", "with -cms-db, this node's API URL as the other nodes reach it (default: from -api's address)")
	fs.DurationVar(&c.heartbeat, "cluster-heartbeat", 2*time.Second, "with -cms-db, how often this node publishes its calls; a node silent for three is taken as gone")
	return c, fs.Parse(args)
}

// nodeNameRe is a node name: one safe path element.
var nodeNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// trustPool reads a PEM trust bundle.
func trustPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// dsnHasPassword says whether a PostgreSQL connection string carries a password
// (keyword password=, or a URL's user:password@).
func dsnHasPassword(dsn string) bool {
	if strings.Contains(strings.ToLower(dsn), "password") {
		return true
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		_, set := u.User.Password()
		return set
	}
	return false
}

// apiPassword reads the API password file (first line, trimmed).
func (c config) apiPassword() (string, error) {
	if c.apiPasswordFile == "" {
		return "", errors.New("-api needs -api-password-file")
	}
	data, err := os.ReadFile(c.apiPasswordFile)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	pw = strings.TrimSpace(pw)
	if pw == "" {
		return "", fmt.Errorf("%s is empty", c.apiPasswordFile)
	}
	return pw, nil
}

// metricsLines checks the metrics settings: without credentials to require, metrics are
// only served on loopback.
func (c config) metricsLines(add func(bool, string)) {
	if c.metrics == "" {
		return
	}
	host, _, err := net.SplitHostPort(c.metrics)
	if err != nil {
		add(false, fmt.Sprintf("metrics %q is not host:port", c.metrics))
		return
	}
	_, pwErr := c.apiPassword()
	switch {
	case c.metricsAuth && pwErr == nil:
		add(true, "metrics on http://"+c.metrics+"/metrics (API credentials required)")
	case httpc.IsLoopback(host):
		add(true, "metrics on http://"+c.metrics+"/metrics (loopback, no login)")
	default:
		add(false, fmt.Sprintf("metrics on %q need -api-password-file (with -metrics-auth), or a loopback address", host))
	}
}

// apiLines checks the API settings.
func (c config) apiLines(add func(bool, string)) {
	if c.api == "" {
		return
	}
	host, _, err := net.SplitHostPort(c.api)
	if err != nil {
		add(false, fmt.Sprintf("api %q is not host:port", c.api))
		return
	}
	if _, err := c.apiPassword(); err != nil {
		add(false, "API password: "+err.Error())
	}
	if c.cmsDB != "" {
		if dsnHasPassword(c.cmsDB) {
			add(false, "cms-db: give the password in PGPASSWORD or ~/.pgpass, not on the command line")
		} else {
			add(true, "API state shared through PostgreSQL")
		}
	}
	switch {
	case c.apiInsecure:
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			add(false, fmt.Sprintf("api-insecure serves plain HTTP: only on a loopback address, not %q", host))
		} else {
			add(true, "API on http://"+c.api+" (plain HTTP, loopback)")
		}
	case c.cert == "" || c.key == "":
		add(false, "API on "+c.api+" needs -cert and -key for HTTPS (or -api-insecure on loopback)")
	default:
		if _, err := tls.LoadX509KeyPair(c.cert, c.key); err != nil {
			add(false, "API certificate: "+err.Error())
		} else {
			add(true, "API on https://"+c.api)
		}
	}
}

func (c config) tlsConfig() sip.TLSConfig {
	return sip.TLSConfig{Addr: c.tls, CertFile: c.cert, KeyFile: c.key, TrustFile: c.trust, Verify: c.verify}
}

// check returns the SUCCESS:/FAILURE: lines and whether all passed.
func (c config) checkLines() ([]string, bool) {
	var lines []string
	ok := true
	add := func(good bool, s string) {
		if good {
			lines = append(lines, "SUCCESS: "+s)
		} else {
			lines, ok = append(lines, "FAILURE: "+s), false
		}
	}
	if c.udp == "none" && c.tcp == "none" && c.tls == "none" {
		add(false, "no SIP listener (sip-udp, sip-tcp and sip-tls are all none)")
	}
	for _, l := range []struct{ name, addr string }{{"sip-udp", c.udp}, {"sip-tcp", c.tcp}, {"sip-tls", c.tls}} {
		if l.addr == "none" || l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			add(false, fmt.Sprintf("%s %q is not host:port", l.name, l.addr))
		}
	}
	tlsLines, _ := c.tlsConfig().Check()
	for _, l := range tlsLines {
		lines = append(lines, l)
		if len(l) >= 8 && l[:8] == "FAILURE:" {
			ok = false
		}
	}
	if _, err := resolution(c.resolution); err != nil {
		add(false, err.Error())
	} else {
		add(true, "Resolution "+c.resolution)
	}
	if c.streamURL != "" {
		if _, err := rtmp.ParseURL(c.streamURL); err != nil {
			add(false, "stream URL: "+err.Error())
		} else {
			add(true, "Stream URL "+rtmp.Redact(c.streamURL))
		}
	}
	if c.node != "" && !nodeNameRe.MatchString(c.node) || c.node == "spaces" || c.node == "forwardedCalls" {
		add(false, fmt.Sprintf("node name %q: letters, digits, '.', '_' and '-' (it names the node's recording directory), not spaces or forwardedCalls", c.node))
	}
	if c.recordDir != "" {
		if err := writable(c.recordDir); err != nil {
			add(false, "record directory "+c.recordDir+": "+err.Error())
		} else {
			add(true, "Record directory "+c.recordDir+" is writable")
		}
	}
	if c.callLimit == 0 || c.callLimit < -1 {
		add(false, "call-limit must be positive, or -1 for no limit")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		add(false, fmt.Sprintf("log-format %q: use text or json", c.logFormat))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		add(false, fmt.Sprintf("log-level %q: use debug, info, warn or error", c.logLevel))
	}
	c.apiLines(add)
	c.metricsLines(add)
	return lines, ok
}

func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".sipcast-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func resolution(s string) (sdp.Resolution, error) {
	switch s {
	case "720p":
		return sdp.Resolution720p, nil
	case "1080p":
		return sdp.Resolution1080p, nil
	case "audio", "audio-only":
		return sdp.ResolutionAudioOnly, nil
	}
	return 0, fmt.Errorf("resolution %q: use 720p, 1080p or audio", s)
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	lines, ok := c.checkLines()
	if c.check || !ok {
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
		if ok {
			return 0
		}
		return 1
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel)) // checked above
	var log *slog.Logger
	if c.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "streamer:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "streamer:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, _ := resolution(c.resolution)
	opts := []sip.Option{sip.WithLogger(log), sip.WithUserAgentName("sipcast streamer")}
	if c.udp != "none" {
		opts = append(opts, sip.WithUDP(c.udp))
	}
	if c.tcp != "none" {
		opts = append(opts, sip.WithTCP(c.tcp))
	}
	if c.tls != "none" {
		opts = append(opts, sip.WithTLS(c.tlsConfig()))
	}
	opts = append(opts, sip.WithCallLimit(c.callLimit))
	if c.trace {
		opts = append(opts, sip.WithTrace())
	}
	mediaIP := net.ParseIP(c.mediaIP)
	if mediaIP == nil {
		mediaIP = net.IPv4(127, 0, 0, 1)
		for _, a := range []string{c.udp, c.tcp, c.tls} {
			if h, _, err := net.SplitHostPort(a); err == nil {
				if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
					mediaIP = ip
					break
				}
			}
		}
	}
	if c.recordDir != "" && c.node != "" {
		c.recordDir = filepath.Join(c.recordDir, c.node) // checked: one path element
	}
	if c.recordDir != "" {
		if rec, err := recording.Recover(c.recordDir); err == nil && len(rec) > 0 {
			log.Info("recovered recordings left by a crash", "files", rec)
		}
	}
	var api *cmsapi.Server
	var ctrl conference.Controller
	var apiLn net.Listener
	if c.api != "" {
		pw, _ := c.apiPassword() // checked above
		if apiLn, err = net.Listen("tcp", c.api); err != nil {
			fmt.Fprintln(stderr, "streamer: api:", err)
			return 1
		}
		defer apiLn.Close() // once served, the server closes it
		scheme := "https"
		if c.apiInsecure {
			scheme = "http"
		}
		store := cmsapi.NewStore()
		var cluster *cmsapi.Cluster
		var backend cmsapi.Backend
		if c.cmsDB != "" {
			db, err := pgxpool.New(ctx, c.cmsDB)
			if err != nil {
				fmt.Fprintln(stderr, "streamer: -cms-db:", err)
				return 1
			}
			defer db.Close()
			shared, err := pgstore.New(ctx, db)
			if err == nil {
				store, err = cmsapi.NewSharedStore(ctx, shared)
			}
			if err != nil {
				fmt.Fprintln(stderr, "streamer: -cms-db:", err)
				return 1
			}
			cdrs := cmsapi.NewStoreCDRSender(store, nil, log)
			local := cms.New(cms.Config{Store: store, CDRs: cdrs, Logger: log, Mix: c.mix})
			apiURL, node := c.apiURL, c.node
			if apiURL == "" {
				apiURL = scheme + "://" + apiLn.Addr().String()
			}
			if node == "" {
				host, _ := os.Hostname()
				node = host + "/" + apiLn.Addr().String()
			}
			hc := &http.Client{Timeout: 10 * time.Second}
			if c.trust != "" {
				pool, err := trustPool(c.trust)
				if err != nil {
					fmt.Fprintln(stderr, "streamer: -trust:", err)
					return 1
				}
				hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			}
			cluster, err = cmsapi.NewCluster(ctx, cmsapi.ClusterConfig{Node: node, URL: apiURL, Local: local, Registry: shared,
				User: c.apiUser, Password: pw, HTTPClient: hc, Interval: c.heartbeat, Logger: log})
			if err != nil {
				fmt.Fprintln(stderr, "streamer: -cms-db:", err)
				return 1
			}
			defer cluster.Close() // after the bridge (deferred later, run earlier)
			log.Info("cluster node", "node", node, "api", apiURL)
			backend, ctrl = cluster, local
			api = cmsapi.NewServer(cmsapi.ServerConfig{User: c.apiUser, Password: pw, Logger: log, Store: store, CDRs: cdrs, Backend: backend})
		} else {
			cdrs := cmsapi.NewStoreCDRSender(store, nil, log)
			local := cms.New(cms.Config{Store: store, CDRs: cdrs, Logger: log, Mix: c.mix})
			api = cmsapi.NewServer(cmsapi.ServerConfig{User: c.apiUser, Password: pw, Logger: log, Store: store, CDRs: cdrs, Backend: local})
			ctrl = local
		}
	}
	bridge, err := conference.New(conference.Config{SIP: opts, MediaIP: mediaIP, Resolution: res,
		StreamURL: c.streamURL, RecordDir: c.recordDir, Logger: log, Controller: ctrl, PollInterval: c.pollInterval})
	if err != nil {
		fmt.Fprintln(stderr, "streamer:", err)
		return 1
	}
	defer bridge.Close()
	if api != nil {
		ln := apiLn
		hs := httpc.NewServer(api, log, httpc.Limits{})
		scheme := "https"
		served := make(chan struct{})
		go func() {
			defer close(served)
			if c.apiInsecure {
				_ = hs.Serve(ln)
			} else {
				_ = hs.ServeTLS(ln, c.cert, c.key)
			}
		}()
		if c.apiInsecure {
			scheme = "http"
		}
		log.Info("API listening", "url", scheme+"://"+ln.Addr().String()+"/api/v1", "user", c.apiUser)
		// Runs after bridge.Close (deferred later, run earlier): the calls' last CDRs go out.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = bridge.Close()
			if err := api.CDRs().Flush(ctx); err != nil {
				log.Warn("CDRs not delivered at shutdown", "err", err)
			}
			_ = api.Close()
			_ = hs.Close()
			<-served
		}()
	}
	if c.metrics != "" {
		ln, err := net.Listen("tcp", c.metrics)
		if err != nil {
			fmt.Fprintln(stderr, "streamer: metrics:", err)
			return 1
		}
		srv := httpc.NewServer(c.operations(bridge, log), log, httpc.Limits{})
		log.Info("operations listening", "url", "http://"+ln.Addr().String()+"/", "status", "http://"+ln.Addr().String()+"/status/")
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ln) }()
		defer func() { _ = srv.Close(); <-served }()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	log.Info("streamer ready", "udp", addrString(bridge.UA().UDPAddr()), "tcp", addrString(bridge.UA().TCPAddr()), "tls", addrString(bridge.UA().TLSAddr()))
	var drained <-chan time.Time // ticks while draining
	var deadline <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-deadline:
			log.Info("drain deadline: ending the calls in progress", "calls", bridge.UA().Calls())
			return 0
		case <-drained:
			if bridge.UA().Calls() == 0 {
				log.Info("drained: no call left, stopping")
				return 0
			}
		case s := <-sigs:
			switch {
			case s == syscall.SIGUSR1:
				fmt.Fprintln(stderr, statusLine(bridge))
				if c.memProfile != "" {
					if err := writeHeapProfile(c.memProfile); err != nil {
						log.Warn("heap profile not written", "file", c.memProfile, "err", err)
					}
				}
				continue
			case s == syscall.SIGTERM && drained == nil:
				// Drain: no new call (503, OPTIONS too, /readyz 503), the calls in
				// progress run to their end; a second SIGTERM or -drain-timeout ends them.
				bridge.UA().Drain()
				log.Info("draining: new calls refused, waiting for the calls in progress", "calls", bridge.UA().Calls())
				t := time.NewTicker(200 * time.Millisecond)
				defer t.Stop()
				drained = t.C
				if c.drainTimeout > 0 {
					dt := time.NewTimer(c.drainTimeout)
					defer dt.Stop()
					deadline = dt.C
				}
				continue
			}
			log.Info("shutting down: ending calls and finalizing recordings")
			return 0
		}
	}
}

// operations is the operations listener's handler: /metrics and /status/ behind the API
// credentials (when -metrics-auth and a password are set; otherwise the listener is on
// loopback, -check enforces it), /healthz and /readyz open, for load balancers.
func (c config) operations(bridge *conference.Bridge, log *slog.Logger) http.Handler {
	var opts []metrics.Option
	if c.metricsCalls {
		opts = append(opts, metrics.WithCallLabels())
	}
	reg := metrics.NewRegistry(metrics.NewBridgeCollector(bridge, opts...))
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(reg))
	mux.Handle("/status/", http.StripPrefix("/status", status.New(bridge)))
	var private http.Handler = mux
	if pw, err := c.apiPassword(); c.metricsAuth && err == nil {
		private = httpc.NewBasicAuth("operations", c.apiUser, pw, nil, log).Wrap("sipcast", mux)
	}
	open := http.NewServeMux()
	open.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	open.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if why := notReady(bridge); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	open.Handle("/", private)
	return open
}

// notReady says why the streamer takes no new call now ("" when it does): draining, at
// its call limit, or no SIP listener.
func notReady(b *conference.Bridge) string {
	ua := b.UA()
	switch {
	case ua.Draining():
		return "draining"
	case ua.Full():
		return "at the call limit"
	case ua.UDPAddr() == nil && ua.TCPAddr() == nil && ua.TLSAddr() == nil:
		return "no SIP listener"
	}
	return ""
}

// addrString is a listener's address, "none" when there is none.
func addrString(a net.Addr) string {
	if a == nil {
		return "none"
	}
	return a.String()
}

// writeHeapProfile writes the heap profile (after a collection: what is live) to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// statusLine is the one-line status (SIGUSR1).
func statusLine(b *conference.Bridge) string {
	calls := b.Calls()
	var streams int
	var bytes, dropped uint64
	for _, c := range calls {
		if c.Streaming == rtmp.StatePublishing {
			streams++
		}
		bytes += c.Publisher.BytesSent
		dropped += (c.Publisher.DroppedVideo + c.Publisher.DroppedAudio)
	}
	return fmt.Sprintf("status: calls=%d streams=%d bytes_sent=%d frames_dropped=%d", len(calls), streams, bytes, dropped)
}
