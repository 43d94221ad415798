package recording

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/sipcast/sipcast/internal/durable"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/h264"
)

// TempSuffix is appended to a recording's name while it is written.
const TempSuffix = ".partial"

// Defaults.
const (
	DefaultFragmentDuration = time.Second
	// MaxFragmentDuration cuts a fragment even without a keyframe (long GOPs), bounding
	// what a crash can lose.
	MaxFragmentDuration = 2 * time.Second
)

// Config describes a recording.
type Config struct {
	// Path is the final file name wanted; the file is Path+TempSuffix until Close. When
	// that name is taken (a recording of the same second, finished or in progress), the
	// recording gets the first free name of Path with "-1", "-2", ... before its
	// extension: no recording ever replaces another. Recorder.Path says which it got.
	Path string
	// Video and Audio are the tracks (nil: none; at least one is required): H.264 with
	// its SPS and PPS, AAC with its AudioSpecificConfig (Config).
	Video *media.Track
	Audio *media.Track
	// FragmentDuration is the target fragment length (default 1 s; at most
	// MaxFragmentDuration).
	FragmentDuration time.Duration
	// NoSync skips the fsync after each fragment (tests, tmpfs).
	NoSync bool
}

// Errors.
var (
	ErrClosed  = errors.New("recording: closed")
	ErrNoTrack = errors.New("recording: no video or audio track configured")
)

type track struct {
	id        uint32
	timescale uint32
	// samples are buffered for the fragment in progress; their DecodeTime holds the
	// DTS in nanoseconds until the fragment is written.
	lastDur uint32
	samples []mp4.FullSample
	frames  uint64
}

// Recorder writes one recording. Its methods are safe for concurrent use.
type Recorder struct {
	cfg  Config
	path string // the final name taken (see Config.Path)
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	seq  uint32
	base time.Duration
	// based says base is set (at the first fragment: the earliest DTS buffered).
	based bool
	video *track
	audio *track
	// sps and pps are the video's parameter sets in force; inband says they changed
	// since the init segment's (a conference's picture switched to another speaker):
	// from then on each keyframe carries them in its sample.
	sps, pps  []byte
	inband    bool
	fragStart time.Duration
	started   bool
	closed    bool
	err       error

	// Fragments are encoded by the caller and written (and fsynced) by the recorder's
	// writer goroutine, so that a slow disk or share never stalls the media path.
	writes    chan write
	free      chan *bytes.Buffer
	wdone     chan struct{}
	wmu       sync.Mutex
	werr      error         // the writer's first error (guarded by wmu)
	stall     chan struct{} // tests: the writer waits on it before each write (guarded by wmu)
	written   atomic.Int64
	fileSyncs atomic.Int64
	dirSyncs  atomic.Int64
}

// writeQueue is how many encoded fragments may wait for the disk (about that many
// seconds) before the recording fails with ErrDiskTooSlow.
const writeQueue = 8

// ErrDiskTooSlow is returned when fragments pile up faster than the disk takes them.
var ErrDiskTooSlow = errors.New("recording: the disk is not keeping up (fragments waiting to be written)")

// Create starts a recording: it creates the directories and the temporary file and
// writes the init segment.
func Create(cfg Config) (*Recorder, error) {
	if cfg.Video == nil && cfg.Audio == nil {
		return nil, ErrNoTrack
	}
	if cfg.FragmentDuration <= 0 {
		cfg.FragmentDuration = DefaultFragmentDuration
	}
	cfg.FragmentDuration = min(cfg.FragmentDuration, MaxFragmentDuration)
	init := mp4.CreateEmptyInit()
	r := &Recorder{cfg: cfg}
	if v := cfg.Video; v != nil {
		if _, err := h264.ParseSPS(v.SPS); err != nil {
			return nil, fmt.Errorf("recording: video SPS: %w", err)
		}
		trak := init.AddEmptyTrack(90000, "video", "und")
		if err := trak.SetAVCDescriptor("avc1", [][]byte{v.SPS}, [][]byte{v.PPS}, true); err != nil {
			return nil, fmt.Errorf("recording: video track: %w", err)
		}
		r.video = &track{id: trak.Tkhd.TrackID, timescale: 90000}
		r.sps, r.pps = bytes.Clone(v.SPS), bytes.Clone(v.PPS)
	}
	if a := cfg.Audio; a != nil {
		ac, err := aac.ParseConfig(a.Config)
		if err != nil {
			return nil, fmt.Errorf("recording: audio config: %w", err)
		}
		trak := init.AddEmptyTrack(uint32(ac.SampleRate), "audio", "und")
		esds := mp4.CreateEsdsBox(a.Config)
		trak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateAudioSampleEntryBox("mp4a", uint16(ac.Channels), 16, uint16(min(ac.SampleRate, 65535)), esds))
		r.audio = &track{id: trak.Tkhd.TrackID, timescale: uint32(ac.SampleRate)}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	f, path, err := createUnique(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	r.path = path
	// The lock tells Recover, in this process or another streamer on the same share,
	// that the file is being written (flock; NFS carries it as a POSIX lock).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("recording: locking %s: %w", f.Name(), err)
	}
	r.f, r.w = f, bufio.NewWriterSize(f, 256<<10)
	if err := init.Encode(r.w); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("recording: writing the init segment: %w", err)
	}
	err = r.w.Flush()
	if err == nil && !cfg.NoSync {
		err = r.syncFile()
	}
	if err == nil && !cfg.NoSync {
		err = r.syncDir() // the new name survives a crash
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("recording: writing the init segment: %w", err)
	}
	if fi, err := f.Stat(); err == nil {
		r.written.Store(fi.Size())
	}
	r.writes = make(chan write, writeQueue)
	r.free = make(chan *bytes.Buffer, writeQueue+1)
	r.wdone = make(chan struct{})
	go r.writer()
	return r, nil
}

// write is a fragment for the writer goroutine, or (b nil) a marker whose done channel
// it closes when everything before it is on disk.
type write struct {
	b    *bytes.Buffer
	done chan struct{}
}

// writer writes the queued fragments in order, syncing after each.
func (r *Recorder) writer() {
	defer close(r.wdone)
	for w := range r.writes {
		if w.b == nil {
			close(w.done)
			continue
		}
		b := w.b
		r.wmu.Lock()
		failed := r.werr != nil
		r.wmu.Unlock()
		if !failed {
			err := r.writeOut(b.Bytes())
			r.wmu.Lock()
			r.werr = err
			r.wmu.Unlock()
		}
		b.Reset()
		select {
		case r.free <- b:
		default:
		}
	}
}

func (r *Recorder) writeOut(p []byte) error {
	r.wmu.Lock()
	stall := r.stall
	r.wmu.Unlock()
	if stall != nil {
		<-stall
	}
	if _, err := r.f.Write(p); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	r.written.Add(int64(len(p)))
	if !r.cfg.NoSync {
		if err := r.syncFile(); err != nil {
			return fmt.Errorf("recording: sync: %w", err)
		}
	}
	return nil
}

func (r *Recorder) syncFile() error {
	r.fileSyncs.Add(1)
	return r.f.Sync()
}

// syncDir makes a create or rename in the recording's directory durable (fsync(2): the
// file's own sync does not cover its directory entry).
func (r *Recorder) syncDir() error {
	r.dirSyncs.Add(1)
	return durable.SyncDir(filepath.Dir(r.path))
}

// maxSuffix bounds the names tried for one recording.
const maxSuffix = 1000

// createUnique creates want+TempSuffix, or the first free suffixed name (see
// Config.Path), exclusively: neither its final name nor its temporary one may exist.
func createUnique(want string) (*os.File, string, error) {
	ext := filepath.Ext(want)
	stem := strings.TrimSuffix(want, ext)
	for i := 0; i < maxSuffix; i++ {
		path := want
		if i > 0 {
			path = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		if _, err := os.Lstat(path); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
		f, err := os.OpenFile(path+TempSuffix, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, path, nil
	}
	return nil, "", fmt.Errorf("no free name for %s after %d tries", want, maxSuffix)
}

// renameNoReplace gives from the name to, failing with fs.ErrExist if to exists: Linux's
// renameat2(RENAME_NOREPLACE), or where the filesystem lacks it, a hard link and an unlink.
func renameNoReplace(from, to string) error {
	err := renameat2NoReplace(from, to)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if lerr := os.Link(from, to); lerr != nil {
		if errors.Is(lerr, fs.ErrExist) {
			return lerr
		}
		return err
	}
	return os.Remove(from)
}

func (r *Recorder) writerErr() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.werr
}

// Wait returns once every fragment cut so far is on disk (written, and synced unless
// NoSync): what a crash after it would leave. Fragments are written by the recorder's
// own goroutine, so WriteFrame never waits for the disk.
func (r *Recorder) Wait() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.err
	}
	done := make(chan struct{})
	r.writes <- write{done: done}
	r.mu.Unlock()
	<-done
	return r.writerErr()
}

// Path returns the final path of the recording: Config.Path, or the suffixed name it got
// when that was taken.
func (r *Recorder) Path() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.path
}

// Stats are a recording's counters.
type Stats struct {
	VideoFrames, AudioFrames uint64
	Bytes                    int64
	Fragments                uint32
	// FileSyncs and DirSyncs count fsyncs of the file (the init segment, each fragment)
	// and of its directory (after create and after the final rename).
	FileSyncs, DirSyncs int64
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Bytes: r.written.Load(), Fragments: r.seq, FileSyncs: r.fileSyncs.Load(), DirSyncs: r.dirSyncs.Load()}
	if r.video != nil {
		s.VideoFrames = r.video.frames
	}
	if r.audio != nil {
		s.AudioFrames = r.audio.frames
	}
	return s
}

// WriteFrame adds a frame (H.264 in AVCC form or an AAC access unit; frames of tracks the
// recording does not have are ignored), as they come: a writer that starts the file
// where a player can (at a keyframe, audio with the picture) goes in front of it
// (media/stage's Gate and Align, as the conference Bridge does). Frames must come in
// decode order per track. An error is sticky: the disk is full or gone.
func (r *Recorder) WriteFrame(fr *media.Frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.err != nil {
		return r.err
	}
	var t *track
	switch {
	case fr.Codec == media.CodecH264 && r.video != nil:
		t = r.video
	case fr.Codec == media.CodecAAC && r.audio != nil:
		t = r.audio
	default:
		return nil
	}
	if !r.started {
		r.started, r.fragStart = true, fr.DTS
	}
	// Cut a fragment at a keyframe once it is long enough, or at the bound.
	age := fr.DTS - r.fragStart
	if (fr.Keyframe && t == r.video && age >= r.cfg.FragmentDuration) ||
		(r.video == nil && age >= r.cfg.FragmentDuration) || age >= MaxFragmentDuration {
		if err := r.writeFragment(fr.DTS, false); err != nil {
			r.err = err
			return err
		}
	}
	if t == r.video && fr.Track != nil && fr.Track.SPS != nil && fr.Track.PPS != nil &&
		(!bytes.Equal(fr.Track.SPS, r.sps) || !bytes.Equal(fr.Track.PPS, r.pps)) {
		r.sps, r.pps, r.inband = bytes.Clone(fr.Track.SPS), bytes.Clone(fr.Track.PPS), true
	}
	var data []byte
	if t == r.video && r.inband && fr.Keyframe {
		if sps, _ := h264.ParamSets(fr.Data); sps == nil {
			// New parameter sets (another size, another encoder) go in-band with each
			// keyframe: the sample description keeps the first ones, and decoders take
			// the ones in the stream.
			data = h264.AppendAVCC(h264.AppendAVCC(make([]byte, 0, len(fr.Data)+len(r.sps)+len(r.pps)+8), r.sps), r.pps)
			data = append(data, fr.Data...)
		}
	}
	if data == nil {
		data = bytes.Clone(fr.Data)
	}
	s := mp4.FullSample{Data: data}
	s.Size = uint32(len(data))
	if t == r.video {
		s.Flags = mp4.NonSyncSampleFlags
		if fr.Keyframe {
			s.Flags = mp4.SyncSampleFlags
		}
		s.CompositionTimeOffset = int32(toScale(fr.PTS-fr.DTS, t.timescale))
	} else {
		s.Flags = mp4.SyncSampleFlags
	}
	t.push(s, fr.DTS)
	t.frames++
	return nil
}

// push queues a sample.
func (t *track) push(s mp4.FullSample, dts time.Duration) {
	s.DecodeTime = uint64(dts)
	t.samples = append(t.samples, s)
}

func toScale(d time.Duration, timescale uint32) int64 {
	return int64(d) * int64(timescale) / int64(time.Second)
}

// writeFragment writes the buffered samples as a fragment, except (unless final) each
// track's last, whose duration the next sample gives; the next fragment starts at end.
func (r *Recorder) writeFragment(end time.Duration, final bool) error {
	tracks := []*track{}
	for _, t := range []*track{r.video, r.audio} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	if !r.based {
		var first time.Duration // DTS may be negative: a flag, not a sentinel value
		found := false
		for _, t := range tracks {
			for _, s := range t.samples {
				if d := time.Duration(s.DecodeTime); !found || d < first {
					first, found = d, true
				}
			}
		}
		if !found {
			return nil
		}
		r.base, r.based = first, true
	}
	var ids []uint32
	for _, t := range tracks {
		ids = append(ids, t.id)
	}
	frag, err := mp4.CreateMultiTrackFragment(r.seq+1, ids)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	wrote := false
	for _, t := range tracks {
		n := len(t.samples)
		if !final && n > 0 {
			n-- // the last waits for the next sample's DTS
		}
		for i := 0; i < n; i++ {
			s := t.samples[i]
			dts := time.Duration(s.DecodeTime)
			var next time.Duration
			if i+1 < len(t.samples) {
				next = time.Duration(t.samples[i+1].DecodeTime)
			}
			var dur uint32
			if i+1 < len(t.samples) && next > dts {
				dur = uint32(toScale(next-r.base, t.timescale) - toScale(dts-r.base, t.timescale))
			} else {
				dur = t.lastDur
			}
			if dur == 0 {
				dur = 1
			}
			t.lastDur = dur
			s.Dur = dur
			s.DecodeTime = uint64(max(toScale(dts-r.base, t.timescale), 0))
			if err := frag.AddFullSampleToTrack(s, t.id); err != nil {
				return fmt.Errorf("recording: %w", err)
			}
			wrote = true
		}
		t.samples = append(t.samples[:0], t.samples[n:]...)
	}
	r.fragStart = end
	if !wrote {
		return nil
	}
	if err := r.writerErr(); err != nil {
		return err
	}
	var b *bytes.Buffer
	select {
	case b = <-r.free:
	default:
		b = new(bytes.Buffer)
	}
	r.seq++
	if err := frag.Encode(b); err != nil {
		return fmt.Errorf("recording: writing fragment %d: %w", r.seq, err)
	}
	if final {
		r.writes <- write{b: b} // Close waits for the disk
		return nil
	}
	select {
	case r.writes <- write{b: b}:
		return nil
	default:
		return ErrDiskTooSlow
	}
}

// Close writes what is buffered, syncs, closes the file and gives it its final name.
// Idempotent. A recording that never got a frame is removed.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.err
	}
	r.closed = true
	err := r.err
	if err == nil {
		err = r.writeFragment(0, true)
	}
	close(r.writes)
	<-r.wdone
	if werr := r.writerErr(); err == nil {
		err = werr
	}
	if r.seq == 0 {
		r.f.Close()
		os.Remove(r.f.Name())
		if err == nil {
			err = errors.New("recording: no media was recorded")
		}
		r.err = err
		return err
	}
	// The final name is given while the lock is still held, so that Recover never
	// sees this file unlocked under its temporary name.
	if rerr := r.finalName(); err == nil && rerr != nil {
		err = fmt.Errorf("recording: %w", rerr)
	}
	if cerr := r.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("recording: %w", cerr)
	}
	r.err = err
	return err
}

// finalName renames the temporary file to r.path without replacing anything; if that
// name was taken meanwhile (by a file another program put there), it takes the next free
// suffixed one. The directory is synced after.
func (r *Recorder) finalName() error {
	tmp := r.f.Name()
	err := renameNoReplace(tmp, r.path)
	for i := 1; errors.Is(err, fs.ErrExist) && i < maxSuffix; i++ {
		ext := filepath.Ext(r.cfg.Path)
		r.path = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(r.cfg.Path, ext), i, ext)
		if _, serr := os.Lstat(r.path + TempSuffix); serr == nil {
			continue // another recording's temporary name
		}
		err = renameNoReplace(tmp, r.path)
	}
	if err != nil {
		return err
	}
	if !r.cfg.NoSync {
		return r.syncDir()
	}
	return nil
}

// SpacePath is the CMS recorder's name for a recording of a space started at t:
// dir/spaces/<space id>/<YYYYmmddHHMMSS+0000>.mp4 (UTC). The space id is kept to safe
// characters.
func SpacePath(dir, spaceID string, t time.Time) string {
	return filepath.Join(dir, "spaces", safeName(spaceID), stamp(t)+".mp4")
}

// ForwardedCallPath is the name for a recording of a call that is not in a space:
// dir/forwardedCalls/<YYYYmmddHHMMSS+0000>.mp4.
func ForwardedCallPath(dir string, t time.Time) string {
	return filepath.Join(dir, "forwardedCalls", stamp(t)+".mp4")
}

func stamp(t time.Time) string { return t.UTC().Format("20060102150405") + "+0000" }

func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if s == "" {
		s = "_"
	}
	return s
}

// Recover gives the recordings a crash left under dir (files ending in TempSuffix with
// at least the init segment and one fragment) their final names, and returns them.
// Files too short to hold a fragment are left alone, and so are files a live Recorder
// holds (its lock, in this process or another on the same share): only abandoned files
// are touched. A final name already taken gets a suffix, as in Create; nothing is
// replaced.
func Recover(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, TempSuffix) {
			return err
		}
		final, ok, err := recoverOne(p)
		if err != nil || !ok {
			return err
		}
		out = append(out, final)
		return nil
	})
	return out, err
}

// RecoverFile recovers one file as Recover does (p ends in TempSuffix): ok false, and
// nothing done, when a live Recorder holds it, it holds no fragment, or it is gone.
func RecoverFile(p string) (final string, ok bool, err error) {
	if !strings.HasSuffix(p, TempSuffix) {
		return "", false, fmt.Errorf("recording: %s is not a recording in progress (%s)", p, TempSuffix)
	}
	final, ok, err = recoverOne(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	return final, ok, err
}

func recoverOne(p string) (string, bool, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return "", false, nil // a live recording
		}
		return "", false, err
	}
	if _, err := os.Stat(p); err != nil {
		return "", false, nil // finished (renamed) between the walk and the lock
	}
	ok, err := hasFragment(p)
	if err != nil || !ok {
		return "", false, err
	}
	want := strings.TrimSuffix(p, TempSuffix)
	final := want
	err = renameNoReplace(p, final)
	ext := filepath.Ext(want)
	for i := 1; errors.Is(err, fs.ErrExist) && i < maxSuffix; i++ {
		final = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(want, ext), i, ext)
		if _, serr := os.Lstat(final + TempSuffix); serr == nil {
			continue
		}
		err = renameNoReplace(p, final)
	}
	if err != nil {
		return "", false, err
	}
	if err := durable.SyncDir(filepath.Dir(final)); err != nil {
		return "", false, err
	}
	return final, true, nil
}

// hasFragment reports whether a file holds a moof box after its init segment.
func hasFragment(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [8]byte
	var off int64
	for {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return false, nil
		}
		size := int64(hdr[0])<<24 | int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3])
		if string(hdr[4:]) == "moof" {
			return true, nil
		}
		if size < 8 {
			return false, nil
		}
		off += size
	}
}
