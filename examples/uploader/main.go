// Command uploader is the Cisco Meeting Server Uploader as a program: it watches the
// recording share, looks up each recording's space owner and members through the Call
// Bridge's API, uploads the recording to Vbrick Rev exactly once, renames it
// <name>_vid-id=<video id>@vbrick.mp4, and waits for Rev to report it Ready.
//
// This example shows how to:
//
//  1. build a vbrick.Client and a cmsapi.Client with trust bundles and password files;
//
//  2. run an uploader.Uploader with the CMS Uploader's options;
//
//  3. report progress and status like the CMS `uploader` command.
//
//     uploader -nfs /mnt/recordings \
//     -cms-host cms.example.com -cms-port 445 -cms-user api -cms-password-file cms.pw -cms-trust cms-ca.pem \
//     -rev-host rev.example.com -rev-user recorder -rev-password-file rev.pw \
//     -view-access AllUsers -cospace-member-access edit -recording-owned-by-cospace-owner \
//     -fallback-owner admin -delete-after-upload
//
// -db shares the share with other uploaders through PostgreSQL (uploader/pgclaim): each
// recording is worked on by one of them at a time, and one that lost its claim stops.
// The share may hold a directory per node (<node>/spaces/…, streamer -node); every one
// is scanned. -recover-after finishes and uploads the recordings of a node that died
// mid-call and did not come back (those no live recorder holds, unchanged that long).
//
// -once scans once and exits (0 when nothing failed). SIGINT/SIGTERM stop it after the
// current step; SIGUSR1 prints the status block again.
//
// For tests, SIPCAST_UPLOADER_PAUSE_AT=<stage> (uploading, uploaded, renamed, polling,
// ready, deleted) stops the program at that stage, printing "paused at <stage>", so a
// test can kill it exactly there. SIPCAST_UPLOADER_HOLD_AT=<stage> holds there once
// (printing "holding at <stage>") until the process gets SIGCONT: a test stops it
// (SIGSTOP) meanwhile, then lets it go on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference/metrics"
	"github.com/sipcast/sipcast/internal/httpc"
	"github.com/sipcast/sipcast/uploader"
	"github.com/sipcast/sipcast/uploader/pgclaim"
	"github.com/sipcast/sipcast/vbrick"
)

type config struct {
	nfs                                     string
	cmsHost, cmsUser, cmsPassFile, cmsTrust string
	cmsPort                                 int
	revHost, revUser, revPassFile, revTrust string
	revPort                                 int
	legacyLogin                             bool
	policy                                  uploader.Policy
	viewAccess, memberAccess                string
	pollInterval, stableFor, searchLag      time.Duration
	once                                    bool
	verbose                                 bool
	metrics                                 string
	db, holder                              string
	lease                                   time.Duration
	recoverAfter                            time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("uploader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.nfs, "nfs", "", "the recording share (holding spaces/ and forwardedCalls/), mounted")
	fs.StringVar(&c.cmsHost, "cms-host", "", "Call Bridge API host (empty: no owner lookups; videos get the fallback owner)")
	fs.IntVar(&c.cmsPort, "cms-port", 445, "Call Bridge API (webadmin) port")
	fs.StringVar(&c.cmsUser, "cms-user", "", "Call Bridge API user")
	fs.StringVar(&c.cmsPassFile, "cms-password-file", "", "file holding the API user's password")
	fs.StringVar(&c.cmsTrust, "cms-trust", "", "trust bundle (PEM) for the Call Bridge's certificate (default: system roots)")
	fs.StringVar(&c.revHost, "rev-host", "", "Vbrick Rev host")
	fs.IntVar(&c.revPort, "rev-port", 443, "Vbrick Rev port")
	fs.StringVar(&c.revUser, "rev-user", "", "Rev user with upload rights (the videos' uploader)")
	fs.StringVar(&c.revPassFile, "rev-password-file", "", "file holding the Rev user's password")
	fs.StringVar(&c.revTrust, "rev-trust", "", "trust bundle (PEM) for Rev's certificate (default: system roots)")
	fs.BoolVar(&c.legacyLogin, "rev-legacy-login", false, "log in through /api/v1/user/login as the CMS Uploader does")
	fs.StringVar(&c.viewAccess, "view-access", "Private", "View access: Public, AllUsers or Private")
	fs.StringVar(&c.memberAccess, "cospace-member-access", "view", "space members' access: view, edit or none")
	fs.BoolVar(&c.policy.OwnedByCospaceOwner, "recording-owned-by-cospace-owner", false, "the space's owner owns the video")
	fs.StringVar(&c.policy.FallbackOwner, "fallback-owner", "", "Rev username owning videos without a space owner")
	fs.BoolVar(&c.policy.Comments, "comments-enabled", true, "enable comments")
	fs.BoolVar(&c.policy.Ratings, "ratings-enabled", true, "enable ratings")
	fs.BoolVar(&c.policy.Downloads, "downloads-enabled", false, "enable downloads")
	fs.BoolVar(&c.policy.Active, "active-upon-upload", true, "make the video active once uploaded")
	fs.BoolVar(&c.policy.DeleteAfterUpload, "delete-after-upload", false, "delete the local file once Rev reports it Ready")
	fs.DurationVar(&c.pollInterval, "poll-interval", 30*time.Second, "time between scans of the share")
	fs.DurationVar(&c.stableFor, "stable-for", 10*time.Second, "how long a file must keep its size before it is taken")
	fs.DurationVar(&c.searchLag, "search-lag", 30*time.Second, "after an interrupted upload, how long to trust Rev's search index to be behind")
	fs.BoolVar(&c.once, "once", false, "scan once and exit")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics and /healthz (a loopback address: no login)")
	fs.BoolVar(&c.verbose, "v", false, "debug logging")
	fs.StringVar(&c.db, "db", "", `share the share with other uploaders through PostgreSQL: a connection string without its password ("host=db.example.com dbname=sipcast user=uploader"; the password from PGPASSWORD or ~/.pgpass)`)
	fs.StringVar(&c.holder, "holder", "", "with -db, this uploader's name among them (default: host name and process id)")
	fs.DurationVar(&c.lease, "lease", 30*time.Second, "with -db, how long a claim on a recording holds without renewal")
	fs.DurationVar(&c.recoverAfter, "recover-after", 0, "finish the recordings a crashed recorder left (no live recorder holding them) once unchanged this long, and upload them: a node that died and does not come back loses nothing (0: leave them for the recorder's restart)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.policy.ViewAccess = vbrick.AccessControl(c.viewAccess)
	c.policy.MemberAccess = uploader.MemberAccess(c.memberAccess)
	switch {
	case c.nfs == "":
		return c, errors.New("-nfs is required")
	case c.revHost == "" || c.revUser == "" || c.revPassFile == "":
		return c, errors.New("-rev-host, -rev-user and -rev-password-file are required")
	case c.cmsHost != "" && (c.cmsUser == "" || c.cmsPassFile == ""):
		return c, errors.New("-cms-user and -cms-password-file are required with -cms-host")
	}
	return c, nil
}

// readSecret reads a password file (one line; surrounding space trimmed).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

func hostURL(host string, port int) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}

func onOff(b bool) string { return strconv.FormatBool(b) }

// statusBlock is what the CMS `uploader` command prints.
func statusBlock(c config, st uploader.Stats) string {
	var b strings.Builder
	cms := "none"
	if c.cmsHost != "" {
		cms = net.JoinHostPort(c.cmsHost, strconv.Itoa(c.cmsPort)) + " (user " + c.cmsUser + ")"
	}
	fmt.Fprintf(&b, "Uploader\n")
	fmt.Fprintf(&b, "NFS                              : %s\n", c.nfs)
	fmt.Fprintf(&b, "CMS                              : %s\n", cms)
	fmt.Fprintf(&b, "Rev                              : %s (user %s)\n", net.JoinHostPort(c.revHost, strconv.Itoa(c.revPort)), c.revUser)
	fmt.Fprintf(&b, "View access                      : %s\n", c.policy.ViewAccess)
	fmt.Fprintf(&b, "cospace_member_access            : %s\n", c.policy.MemberAccess)
	fmt.Fprintf(&b, "recording_owned_by_cospace_owner : %s\n", onOff(c.policy.OwnedByCospaceOwner))
	fmt.Fprintf(&b, "fallback_owner                   : %s\n", c.policy.FallbackOwner)
	fmt.Fprintf(&b, "comments_enabled                 : %s\n", onOff(c.policy.Comments))
	fmt.Fprintf(&b, "ratings_enabled                  : %s\n", onOff(c.policy.Ratings))
	fmt.Fprintf(&b, "downloads_enabled                : %s\n", onOff(c.policy.Downloads))
	fmt.Fprintf(&b, "active_upon_upload               : %s\n", onOff(c.policy.Active))
	fmt.Fprintf(&b, "delete_after_upload              : %s\n", onOff(c.policy.DeleteAfterUpload))
	fmt.Fprintf(&b, "uploaded %d, ready %d, deleted %d, failed %d, pending %d, errors %d\n",
		st.Uploaded, st.Ready, st.Deleted, st.Failed, st.Pending, st.Errors)
	if st.LastError != "" {
		fmt.Fprintf(&b, "last error                       : %s\n", st.LastError)
	}
	return b.String()
}

// progressBar draws one upload's progress on a terminal.
type progressBar struct {
	mu   sync.Mutex
	w    io.Writer
	last int
}

func (p *progressBar) update(file string, sent, total int64) {
	pct := 100
	if total > 0 {
		pct = int(sent * 100 / total)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pct == p.last && sent != total {
		return
	}
	p.last = pct
	bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
	fmt.Fprintf(p.w, "\r[%s] %3d%% %s", bar, pct, filepath.Base(file))
	if sent == total {
		fmt.Fprintln(p.w)
		p.last = -1
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "uploader:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	revPass, err := readSecret(c.revPassFile)
	if err != nil {
		fmt.Fprintln(stderr, "uploader: Rev password:", err)
		return 2
	}
	revOpts := []vbrick.Option{vbrick.WithUserPassword(c.revUser, revPass), vbrick.WithLogger(log)}
	if c.legacyLogin {
		revOpts = append(revOpts, vbrick.WithLegacyLogin())
	}
	if c.revTrust != "" {
		pem, err := os.ReadFile(c.revTrust)
		if err != nil {
			fmt.Fprintln(stderr, "uploader: -rev-trust:", err)
			return 2
		}
		revOpts = append(revOpts, vbrick.WithTrustPEM(pem))
	}
	rev, err := vbrick.New(hostURL(c.revHost, c.revPort), revOpts...)
	if err != nil {
		fmt.Fprintln(stderr, "uploader:", err)
		return 2
	}
	cfg := uploader.Config{Dir: c.nfs, Rev: rev, Uploader: c.revUser, Policy: c.policy, Logger: log,
		PollInterval: c.pollInterval, StableFor: c.stableFor, SearchLag: c.searchLag, RecoverAfter: c.recoverAfter}
	if c.searchLag == 0 {
		cfg.SearchLag = -1 // trust the search at once
	}
	if c.cmsHost != "" {
		cmsPass, err := readSecret(c.cmsPassFile)
		if err != nil {
			fmt.Fprintln(stderr, "uploader: CMS password:", err)
			return 2
		}
		cmsOpts := []cmsapi.ClientOption{cmsapi.WithLogger(log)}
		if c.cmsTrust != "" {
			pem, err := os.ReadFile(c.cmsTrust)
			if err != nil {
				fmt.Fprintln(stderr, "uploader: -cms-trust:", err)
				return 2
			}
			cmsOpts = append(cmsOpts, cmsapi.WithTrustPEM(pem))
		}
		cms, err := cmsapi.NewClient(hostURL(c.cmsHost, c.cmsPort), c.cmsUser, cmsPass, cmsOpts...)
		if err != nil {
			fmt.Fprintln(stderr, "uploader:", err)
			return 2
		}
		cfg.CMS = cms
	}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		cfg.Progress = (&progressBar{w: stderr, last: -1}).update
	}
	if stage := os.Getenv("SIPCAST_UPLOADER_HOLD_AT"); stage != "" {
		var once sync.Once
		cfg.Hook = func(s uploader.Stage, path string) {
			if string(s) == stage {
				once.Do(func() {
					cont := make(chan os.Signal, 1)
					signal.Notify(cont, syscall.SIGCONT)
					defer signal.Stop(cont)
					fmt.Fprintf(stderr, "holding at %s until SIGCONT: %s\n", s, path)
					<-cont
				})
			}
		}
	}
	if stage := os.Getenv("SIPCAST_UPLOADER_PAUSE_AT"); stage != "" {
		cfg.Hook = func(s uploader.Stage, path string) {
			if string(s) == stage {
				fmt.Fprintf(stderr, "paused at %s: %s\n", s, path)
				select {} // until killed
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if c.db != "" {
		if strings.Contains(strings.ToLower(c.db), "password") {
			fmt.Fprintln(stderr, "uploader: -db: give the password in PGPASSWORD or ~/.pgpass, not on the command line")
			return 2
		}
		db, err := pgxpool.New(ctx, c.db)
		if err != nil {
			fmt.Fprintln(stderr, "uploader: -db:", err)
			return 2
		}
		defer db.Close()
		holder := c.holder
		if holder == "" {
			host, _ := os.Hostname()
			holder = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		if cfg.Claims, err = pgclaim.New(ctx, db, pgclaim.Config{Holder: holder, Lease: c.lease}); err != nil {
			fmt.Fprintln(stderr, "uploader:", err)
			return 2
		}
		log.Info("uploader: sharing the share through PostgreSQL", "holder", holder, "lease", c.lease)
	}
	u, err := uploader.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "uploader:", err)
		return 2
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	fmt.Fprint(stdout, statusBlock(c, u.Stats()))
	if c.metrics != "" {
		host, _, err := net.SplitHostPort(c.metrics)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(stderr, "uploader: -metrics %q: a loopback host:port (the uploader has no login to protect it)\n", c.metrics)
			return 2
		}
		ln, err := net.Listen("tcp", c.metrics)
		if err != nil {
			fmt.Fprintln(stderr, "uploader: metrics:", err)
			return 2
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler(metrics.NewRegistry(metrics.NewUploaderCollector(u))))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		srv := httpc.NewServer(mux, log, httpc.Limits{})
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ln) }()
		defer func() { _ = srv.Close(); <-served }()
		log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	}

	code := 0
	if c.once {
		if err := u.Scan(ctx); err != nil {
			code = 1
		}
	} else {
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-usr1:
					fmt.Fprint(stdout, statusBlock(c, u.Stats()))
				case <-done:
					return
				}
			}
		}()
		_ = u.Run(ctx)
		close(done)
		wg.Wait()
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rev.Close(closeCtx); err != nil {
		log.Warn("uploader: Rev logoff failed", "err", err)
	}
	st := u.Stats()
	fmt.Fprintf(stdout, "uploader: uploaded=%d ready=%d deleted=%d failed=%d pending=%d errors=%d\n",
		st.Uploaded, st.Ready, st.Deleted, st.Failed, st.Pending, st.Errors)
	return code
}
