package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Strict reports whether missing peers fail tests instead of skipping them.
func Strict() bool { return os.Getenv("CI") != "" || os.Getenv("SIPCAST_INTEROP") != "" }

// Require returns the path of program, or skips (fails when Strict) naming the Debian
// package to install.
func Require(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: install the Debian package %s (apt-get install --no-install-recommends %s) to run this interop test", program, debianPackage, debianPackage)
	if Strict() {
		t.Fatal(msg + " (CI/SIPCAST_INTEROP is set, so a missing peer is a failure)")
	}
	t.Skip(msg)
	return ""
}

// RequireFile is Require for a file a peer needs (a plugin such as baresip's avcodec
// module), from the Debian package debianPackage.
func RequireFile(t testing.TB, path, debianPackage string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not found: install the Debian package %s (apt-get install --no-install-recommends %s) to run this interop test", path, debianPackage, debianPackage)
	if Strict() {
		t.Fatal(msg + " (CI/SIPCAST_INTEROP is set, so a missing peer is a failure)")
	}
	t.Skip(msg)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeUDPPorts returns the first of n consecutive UDP ports on 127.0.0.1 that were all
// free a moment ago: for a program that binds a run of them (sipp's -mp takes the port,
// the next for RTCP and two more for video). A port taken by someone else in between is
// still possible, as with FreePort, but a run that is already partly in use is not.
func FreeUDPPorts(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		base := FreePort(t) &^ 1
		if base+n > 65535 {
			continue
		}
		var held []*net.UDPConn
		ok := true
		for p := base; p < base+n; p++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d free UDP ports in a row", n)
	return 0
}

// WaitListening polls until something accepts TCP connections on addr or the timeout
// passes. It synchronises on an observable condition, not on elapsed time.
func WaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// Process is a running peer program.
type Process struct {
	cmd    *exec.Cmd
	stderr *SyncBuffer
	done   chan struct{}
	err    error
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (logs, process output),
// keeping the first 1 MiB.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

// String returns what was written.
func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs a program until it exits or the test ends.
func Start(t testing.TB, path string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(path, args...), stderr: &SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	// Its own process group, so that Kill ends the children it forks too (Kamailio's
	// workers would hold the output pipe open); and Wait gives up on the pipe soon after.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	return p
}

// Wait waits for the program to exit, killing it after timeout.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v; output:\n%s", p.cmd.Path, timeout, p.Output())
	}
}

// Kill stops the program and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // the group
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig and waits for the program to exit.
func (p *Process) Signal(sig os.Signal) {
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

// Send sends sig to the program and returns at once (Signal waits for it to exit).
func (p *Process) Send(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Done is closed when the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output returns what the program printed so far (up to 1 MiB).
func (p *Process) Output() string { return p.stderr.String() }

// Stream is one stream of an ffprobe report.
type Stream struct {
	Index        int    `json:"index"`
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
	Duration     string `json:"duration"`
}

// Frames returns nb_read_frames as a number.
func (s Stream) Frames() int { n, _ := strconv.Atoi(s.NbReadFrames); return n }

// Packet is one packet of an ffprobe report.
type Packet struct {
	StreamIndex  int    `json:"stream_index"`
	PTSTime      string `json:"pts_time"`
	DurationTime string `json:"duration_time"`
	// Flags are ffprobe's packet flags: "K" first for a keyframe.
	Flags string `json:"flags"`
}

// FirstPacket returns a stream's first packet in file (decode) order.
func (p *Probe) FirstPacket(index int) (Packet, bool) {
	for _, pk := range p.Packets {
		if pk.StreamIndex == index {
			return pk, true
		}
	}
	return Packet{}, false
}

// Probe is an ffprobe report.
type Probe struct {
	Streams []Stream `json:"streams"`
	Packets []Packet `json:"packets"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Stream returns the first stream of a type ("video", "audio").
func (p *Probe) Stream(codecType string) *Stream {
	for i := range p.Streams {
		if p.Streams[i].CodecType == codecType {
			return &p.Streams[i]
		}
	}
	return nil
}

// StartTime returns the earliest presentation time (seconds) of a stream's packets
// (+Inf when it has none).
func (p *Probe) StartTime(index int) float64 {
	first := math.Inf(1)
	for _, pk := range p.Packets {
		if v, err := strconv.ParseFloat(pk.PTSTime, 64); err == nil && pk.StreamIndex == index {
			first = math.Min(first, v)
		}
	}
	return first
}

// Duration returns the media duration measured on the packets: from the earliest
// presentation time to the end of the latest packet, over all streams. (Live inputs have
// no container duration.)
func (p *Probe) Duration() time.Duration {
	first, end := math.Inf(1), math.Inf(-1)
	for _, pk := range p.Packets {
		pts, err := strconv.ParseFloat(pk.PTSTime, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(pk.DurationTime, 64)
		first = math.Min(first, pts)
		end = math.Max(end, pts+d)
	}
	if end < first {
		return 0
	}
	return time.Duration((end - first) * float64(time.Second))
}

// FFprobe decodes input completely (-count_frames) and reports its streams.
func FFprobe(t testing.TB, timeout time.Duration, input string, extra ...string) (*Probe, error) {
	t.Helper()
	return runFFprobe(Require(t, "ffprobe", "ffmpeg"), timeout, input, extra...)
}

// ProbeResult is what FFprobeAsync reports.
type ProbeResult struct {
	Probe *Probe
	Err   error
}

// FFprobeAsync starts ffprobe on input (typically a live URL, so that the caller can
// start the stream after it) and returns a channel with its report. The program is
// looked up on the calling goroutine; the probe ends by itself after timeout at the
// latest.
func FFprobeAsync(t testing.TB, timeout time.Duration, input string, extra ...string) <-chan ProbeResult {
	t.Helper()
	path := Require(t, "ffprobe", "ffmpeg")
	ch := make(chan ProbeResult, 1)
	go func() {
		pr, err := runFFprobe(path, timeout, input, extra...)
		ch <- ProbeResult{pr, err}
	}()
	return ch
}

func runFFprobe(path string, timeout time.Duration, input string, extra ...string) (*Probe, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"-v", "error", "-count_frames", "-show_entries",
		"stream=index,codec_type,codec_name,width,height,nb_read_frames,duration:format=duration:packet=stream_index,pts_time,duration_time,flags",
		"-of", "json"}, extra...)
	args = append(args, input)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffprobe %s: %v: %s", input, err, strings.TrimSpace(stderr.String()))
	}
	var p Probe
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		return nil, fmt.Errorf("ffprobe output: %v", err)
	}
	return &p, nil
}

// PacketTimes returns the decode timestamps (in ms) of the packets of one stream type of
// a file, in file order, as ffprobe reads them.
func PacketTimes(t testing.TB, input, codecType string) ([]int64, error) {
	t.Helper()
	path := Require(t, "ffprobe", "ffmpeg")
	sel := "v:0"
	if codecType == "audio" {
		sel = "a:0"
	}
	out, err := exec.Command(path, "-v", "error", "-select_streams", sel, "-show_entries", "packet=dts",
		"-of", "csv=p=0", input).Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe packets of %s: %v", input, err)
	}
	var ts []int64
	for _, line := range strings.Fields(string(out)) {
		line = strings.TrimSuffix(line, ",")
		if v, err := strconv.ParseInt(line, 10, 64); err == nil {
			ts = append(ts, v)
		}
	}
	return ts, nil
}

// Silences decodes a file's first audio stream with ffmpeg's silencedetect (below -50 dB
// for at least 100 ms) and returns the silent spans, in seconds on the file's own
// timeline (-copyts: comparable to ffprobe's packet times). A span still open at the end
// has End +Inf.
func Silences(t testing.TB, input string) ([]Span, error) {
	t.Helper()
	path := Require(t, "ffmpeg", "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-hide_banner", "-nostdin", "-copyts", "-i", input, "-map", "0:a:0",
		"-af", "silencedetect=n=-50dB:d=0.1", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg silencedetect %s: %v: %s", input, err, out)
	}
	var spans []Span
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "silence_start: "); i >= 0 {
			v, _ := strconv.ParseFloat(strings.Fields(line[i+len("silence_start: "):])[0], 64)
			spans = append(spans, Span{Start: v, End: math.Inf(1)})
		}
		if i := strings.Index(line, "silence_end: "); i >= 0 && len(spans) > 0 {
			v, _ := strconv.ParseFloat(strings.Fields(line[i+len("silence_end: "):])[0], 64)
			spans[len(spans)-1].End = v
		}
	}
	return spans, nil
}

// Span is a stretch of time in seconds.
type Span struct{ Start, End float64 }

// DecodeAudio has ffmpeg decode a file's first audio stream to float samples at rate Hz
// with channels channels (interleaved), from its first sample on.
func DecodeAudio(t testing.TB, input string, rate, channels int) ([]float32, error) {
	t.Helper()
	path := Require(t, "ffmpeg", "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-hide_banner", "-nostdin", "-v", "error", "-i", input, "-map", "0:a:0",
		"-ac", strconv.Itoa(channels), "-ar", strconv.Itoa(rate), "-f", "f32le", "-c:a", "pcm_f32le", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg decoding %s: %v", input, err)
	}
	x := make([]float32, len(out)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return x, nil
}

// Postgres is a PostgreSQL server of the test's own: initdb'd into a temporary
// directory as the postgres user (initdb refuses root), listening on a Unix socket in
// that directory only (no TCP).
type Postgres struct {
	// Dir is the data directory and the socket's.
	Dir string
	// URL is a connection string for pgx (user postgres, database postgres).
	URL         string
	pgctl, data string
}

// Stop stops the server at once (pg_ctl -m immediate), as a database host that went
// away; Start starts it again on the same data.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("runuser", "-u", "postgres", "--", p.pgctl, "-D", p.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Start starts a stopped server again.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("runuser", "-u", "postgres", "--", p.pgctl, "-D", p.data, "-l", filepath.Join(p.Dir, "log"), "-w",
		"-o", "-c listen_addresses='' -k "+p.Dir+" -c fsync=off", "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// StartPostgres starts one, stopped when the test ends. It needs Debian's postgresql
// (initdb and pg_ctl on PATH) and root, to run them as postgres.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	// Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH.
	if _, err := exec.LookPath("initdb"); err != nil {
		if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(found) > 0 {
			t.Setenv("PATH", filepath.Dir(found[len(found)-1])+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	initdb := Require(t, "initdb", "postgresql")
	pgctl := Require(t, "pg_ctl", "postgresql")
	if os.Geteuid() != 0 {
		if Strict() {
			t.Fatal("PostgreSQL tests run initdb as the postgres user: they need root")
		}
		t.Skip("PostgreSQL tests run initdb as the postgres user: they need root")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user (Debian's postgresql package makes it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "sipcast-pg") // under /tmp, which postgres can reach
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	run(initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	run(pgctl, "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o", "-c listen_addresses='' -k "+dir+" -c fsync=off", "start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", pgctl, "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return &Postgres{Dir: dir, URL: "host=" + dir + " user=postgres dbname=postgres sslmode=disable", pgctl: pgctl, data: data}
}

// Pid is the program's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Clock is a time a test steps by hand (Config.Now of what it tests), safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add steps the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// schedCPU is a process's CPU time from /proc (Linux: the sum of its threads'
// schedstat, in nanoseconds; threads that ended are not counted).
func schedCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// procStat returns a process's parent and process group (/proc/PID/stat).
func procStat(pid int) (ppid, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return ppid, pgrp, true
}

// processes calls fn for every process running.
func processes(fn func(pid int)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			fn(pid)
		}
	}
}

// GroupCPU is the CPU time used so far by the processes still running in the program's
// process group (Start puts each program in one of its own: Kamailio's workers are
// counted with it). Linux only; 0 elsewhere.
func (p *Process) GroupCPU() time.Duration {
	pgid := p.cmd.Process.Pid
	var total time.Duration
	processes(func(pid int) {
		if _, pgrp, ok := procStat(pid); ok && pgrp == pgid {
			total += schedCPU(pid)
		}
	})
	return total
}

// CPU is the CPU time used so far by the server's processes still running (the
// postmaster and its children: backends, checkpointer, WAL writer...). Linux only.
func (p *Postgres) CPU() time.Duration {
	b, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	master, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	total := schedCPU(master)
	processes(func(pid int) {
		if ppid, _, ok := procStat(pid); ok && ppid == master {
			total += schedCPU(pid)
		}
	})
	return total
}
