package uploader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/internal/durable"
	rec "github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/vbrick"
)

// MemberAccess is what space members may do with the video (cospace_member_access).
type MemberAccess string

// Member access values.
const (
	MemberView MemberAccess = "view"
	MemberEdit MemberAccess = "edit"
	MemberNone MemberAccess = "none"
)

// Policy is the CMS Uploader's options, with its option names.
type Policy struct {
	// ViewAccess (View access): Public, AllUsers or Private; default Private.
	ViewAccess vbrick.AccessControl
	// MemberAccess (cospace_member_access): view, edit or none; default view.
	MemberAccess MemberAccess
	// OwnedByCospaceOwner (recording_owned_by_cospace_owner): the space's owner owns
	// the video; otherwise FallbackOwner does.
	OwnedByCospaceOwner bool
	// FallbackOwner (fallback_owner): the Rev username owning videos whose space has no
	// owner (or whose owner Rev does not know), forwarded calls, and all videos when
	// OwnedByCospaceOwner is false. Empty: the uploading user.
	FallbackOwner string
	// Comments, Ratings, Downloads (comments_enabled, ratings_enabled,
	// downloads_enabled) and Active (active_upon_upload).
	Comments, Ratings, Downloads, Active bool
	// DeleteAfterUpload (delete_after_upload) deletes the local file once Rev reports
	// the video Ready.
	DeleteAfterUpload bool
}

// Directory is what the uploader asks the Call Bridge's API; *cmsapi.Client has it.
type Directory interface {
	CoSpace(ctx context.Context, id string) (*cmsapi.CoSpace, error)
	CoSpaceMembers(ctx context.Context, id string) ([]cmsapi.CoSpaceUser, error)
}

var _ Directory = (*cmsapi.Client)(nil)

// Stage is a point in a recording's upload, reported to Config.Hook.
type Stage string

// Stages, in order.
const (
	StageUploading Stage = "uploading" // the journal holds the key; the upload starts
	StageUploaded  Stage = "uploaded"  // Rev answered with the video id; not renamed yet
	StageRenamed   Stage = "renamed"
	StagePolling   Stage = "polling" // asking Rev for the status
	StageReady     Stage = "ready"
	StageDeleted   Stage = "deleted"
)

// Config configures an Uploader.
type Config struct {
	// Dir is the recording share: spaces/ and forwardedCalls/ at its top (one recorder,
	// as CMS lays it out), and under a directory per node (<node>/spaces/…, as
	// streamers started with -node write them on a shared share); every one is scanned.
	Dir string
	// RecoverAfter, when above 0, has the uploader finish the recordings a crashed
	// recorder left (files ending in recording.TempSuffix) once no live recorder holds
	// them (the lock the recorder takes) and they have not changed for this long: a node
	// that died and does not come back loses nothing. 0: left for the recorder's own
	// crash recovery when it restarts.
	RecoverAfter time.Duration
	// Rev is the Rev client (required); Uploader the Rev username sent as the video's
	// uploader (required, usually the client's user).
	Rev      *vbrick.Client
	Uploader string
	// CMS looks up spaces' owners and members (nil: no lookups; every video gets the
	// fallback owner and no member access).
	CMS    Directory
	Policy Policy
	// UserName maps a CMS user JID to a Rev username; default: the JID's local part.
	UserName func(jid string) string
	// PollInterval is the time between scans (default 30 s); StableFor how long a file
	// must keep its size and time before it is taken (default 10 s; 0 in tests: at the
	// first scan).
	PollInterval time.Duration
	StableFor    time.Duration
	// SearchLag is how long after an interrupted upload the uploader waits before it
	// trusts a search that does not find the upload (default 30 s).
	SearchLag time.Duration
	// ChunkSize is passed to vbrick.UploadOptions (0: vbrick.DefaultChunkSize).
	ChunkSize int64
	// Logger gets one line per step, naming the file, the video id and the outcome
	// (default: discard).
	Logger *slog.Logger
	// Progress reports an upload's bytes, on the scanning goroutine; must not block.
	Progress func(file string, sent, total int64)
	// Hook is called at each Stage with the recording's path (tests stop the process
	// there).
	Hook func(stage Stage, path string)
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Claims shares the recordings among several uploaders on one share
	// (uploader/pgclaim: PostgreSQL). nil: this uploader takes every recording it finds.
	Claims Claimer
}

// Claimer shares the recordings of one share among uploaders: each recording is worked
// on by one uploader at a time, under a lease it renews, and every step it records is
// fenced by the claim's epoch, so that an uploader that lost its claim (stopped, cut
// off, slow) can do nothing more with the recording.
type Claimer interface {
	// Claim takes the recording named name (its directory under the share and its
	// stem) for this uploader. ok is false when another uploader holds it, or it is done.
	Claim(ctx context.Context, name string) (c Claim, ok bool, err error)
	// RenewEvery is how often a held claim must be renewed (a fraction of the lease).
	RenewEvery() time.Duration
}

// Claim is a recording held by this uploader.
type Claim interface {
	// Renew extends the lease; ErrStale when the claim was lost.
	Renew(ctx context.Context) error
	// Record stores the recording's progress (the journal's state and the video id)
	// beside the claim, fenced: ErrStale when another uploader holds it now.
	Record(ctx context.Context, state, videoID string) error
	// Release gives the recording up; done marks it finished for good.
	Release(ctx context.Context, done bool) error
}

// ErrStale is a claim that another uploader has taken over: the holder must stop.
var ErrStale = errors.New("uploader: the recording was taken over by another uploader (stale claim)")

// Stats counts what the uploader did since it started.
type Stats struct {
	Uploaded, Ready, Deleted, Failed, Errors int
	// Pending is the number of recordings found at the last scan that are not Ready.
	Pending int
	// LastScan is when the last scan ended; LastError the last scan's first error.
	LastScan  time.Time
	LastError string
}

// Uploader scans and uploads. Run it with Run, or call Scan for one pass.
type Uploader struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	stats Stats
	seen  map[string]fileSeen
	// unresolved: when this process first found a recording whose upload was sent but
	// not answered.
	unresolved map[string]time.Time
}

type fileSeen struct {
	size  int64
	mod   time.Time
	since time.Time
}

// New checks cfg and returns an Uploader.
func New(cfg Config) (*Uploader, error) {
	if cfg.Dir == "" || cfg.Rev == nil || cfg.Uploader == "" {
		return nil, errors.New("uploader: Dir, Rev and Uploader are required")
	}
	p := &cfg.Policy
	if p.ViewAccess == "" {
		p.ViewAccess = vbrick.AccessPrivate
	}
	if !p.ViewAccess.Valid() {
		return nil, fmt.Errorf("uploader: view access %q: want Public, AllUsers or Private", p.ViewAccess)
	}
	if p.MemberAccess == "" {
		p.MemberAccess = MemberView
	}
	if p.MemberAccess != MemberView && p.MemberAccess != MemberEdit && p.MemberAccess != MemberNone {
		return nil, fmt.Errorf("uploader: cospace_member_access %q: want view, edit or none", p.MemberAccess)
	}
	if cfg.UserName == nil {
		cfg.UserName = func(jid string) string { local, _, _ := strings.Cut(jid, "@"); return local }
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.StableFor < 0 {
		cfg.StableFor = 0
	}
	if cfg.SearchLag == 0 {
		cfg.SearchLag = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Uploader{cfg: cfg, log: l, seen: map[string]fileSeen{}, unresolved: map[string]time.Time{}}, nil
}

// Stats returns the counters.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Run scans every PollInterval until ctx ends; it returns ctx's error.
func (u *Uploader) Run(ctx context.Context) error {
	t := time.NewTicker(u.cfg.PollInterval)
	defer t.Stop()
	for {
		_ = u.Scan(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// recording is one file found by a scan.
type recording struct {
	claim   Claim  // nil without Config.Claims
	path    string // current path
	dir     string
	stem    string
	videoID string // from the name, once renamed
	spaceID string // "" for forwardedCalls
}

// Scan makes one pass over the share: every finished recording is moved one or more
// steps on. It returns the first error (the others are logged); a failed recording does
// not stop the others.
func (u *Uploader) Scan(ctx context.Context) error {
	recs, err := u.find()
	var first error
	if err != nil {
		first = err
		u.log.Error("uploader: scanning the share failed", "dir", u.cfg.Dir, "err", err)
	}
	pending := 0
	for _, r := range recs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		done, err := u.processClaimed(ctx, r)
		if !done {
			pending++
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			u.mu.Lock()
			u.stats.Errors++
			u.mu.Unlock()
			if first == nil {
				first = err
			}
		}
	}
	u.mu.Lock()
	u.stats.Pending, u.stats.LastScan = pending, u.cfg.Now()
	u.stats.LastError = ""
	if first != nil {
		u.stats.LastError = first.Error()
	}
	u.mu.Unlock()
	return first
}

// roots are the directories that hold spaces/ and forwardedCalls/: the share itself and
// each node's directory in it.
func (u *Uploader) roots() []string {
	roots := []string{u.cfg.Dir}
	entries, err := os.ReadDir(u.cfg.Dir)
	if err != nil {
		return roots
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == "spaces" || name == "forwardedCalls" || strings.HasPrefix(name, ".") {
			continue
		}
		for _, top := range []string{"spaces", "forwardedCalls"} {
			if fi, err := os.Stat(filepath.Join(u.cfg.Dir, name, top)); err == nil && fi.IsDir() {
				roots = append(roots, filepath.Join(u.cfg.Dir, name))
				break
			}
		}
	}
	return roots
}

// find lists the recordings under spaces/<id>/ and forwardedCalls/ (any depth below it)
// of every root.
func (u *Uploader) find() ([]recording, error) {
	var out []recording
	var errs []error
	for _, base := range u.roots() {
		recs, err := u.findIn(base)
		out = append(out, recs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, errors.Join(errs...)
}

func (u *Uploader) findIn(base string) ([]recording, error) {
	var out []recording
	var errs []error
	for _, top := range []string{"forwardedCalls", "spaces"} {
		root := filepath.Join(base, top)
		u.log.Debug("uploader: scanning directory", "dir", root)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && path == root {
					return nil
				}
				errs = append(errs, err)
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if strings.HasSuffix(d.Name(), rec.TempSuffix) {
				u.recoverAbandoned(path, d)
				return nil
			}
			stem, id, ok := parseName(d.Name())
			if !ok {
				return nil
			}
			r := recording{path: path, dir: filepath.Dir(path), stem: stem, videoID: id}
			if top == "spaces" {
				rel, _ := filepath.Rel(root, r.dir)
				if rel == "." || strings.Contains(rel, string(filepath.Separator)) {
					return nil // spaces/<id>/<file> only
				}
				r.spaceID = rel
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// recoverAbandoned finishes a recording a crashed recorder left, once RecoverAfter has
// passed since it last changed and no live recorder holds it (recording.RecoverFile
// tries the recorder's lock): it gets its final name, and the next scan takes it.
func (u *Uploader) recoverAbandoned(path string, d fs.DirEntry) {
	if u.cfg.RecoverAfter <= 0 {
		return
	}
	fi, err := d.Info()
	if err != nil || u.cfg.Now().Sub(fi.ModTime()) < u.cfg.RecoverAfter {
		return
	}
	final, ok, err := rec.RecoverFile(path)
	switch {
	case err != nil:
		u.log.Warn("uploader: recovering an abandoned recording failed", "file", path, "err", err)
	case ok:
		u.log.Info("uploader: recovered a recording its recorder left", "file", path, "as", final)
	}
}

// stable reports whether a file kept its size and time for StableFor.
func (u *Uploader) stable(path string) (bool, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return false, 0, err
	}
	now := u.cfg.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	prev, ok := u.seen[path]
	if !ok || prev.size != st.Size() || !prev.mod.Equal(st.ModTime()) {
		u.seen[path] = fileSeen{size: st.Size(), mod: st.ModTime(), since: now}
		return u.cfg.StableFor == 0, st.Size(), nil
	}
	return now.Sub(prev.since) >= u.cfg.StableFor, st.Size(), nil
}

func (u *Uploader) hook(s Stage, path string) {
	if u.cfg.Hook != nil {
		u.cfg.Hook(s, path)
	}
}

// process moves one recording on; done reports that nothing is left to do for it.
// processClaimed is process under a claim when the uploader shares the share
// (Config.Claims): the claim is taken, renewed while the recording is worked on (its
// loss cancels the work), and released, done once the recording is finished.
func (u *Uploader) processClaimed(ctx context.Context, r recording) (bool, error) {
	if u.cfg.Claims == nil {
		return u.process(ctx, r)
	}
	rel, err := filepath.Rel(u.cfg.Dir, filepath.Join(r.dir, r.stem))
	if err != nil {
		return false, err
	}
	c, ok, err := u.cfg.Claims.Claim(ctx, filepath.ToSlash(rel))
	if err != nil || !ok {
		return false, err
	}
	r.claim = c
	work, cancel := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { // the lease, renewed until the work ends (joined below)
		defer close(renewed)
		t := time.NewTicker(u.cfg.Claims.RenewEvery())
		defer t.Stop()
		for {
			select {
			case <-work.Done():
				return
			case <-t.C:
				if err := c.Renew(work); err != nil {
					if work.Err() != nil {
						return // the work ended meanwhile
					}
					u.log.Warn("uploader: the claim was lost; stopping work on the recording", "file", r.path, "err", err)
					cancel()
					return
				}
			}
		}
	}()
	done, err := u.process(work, r)
	cancel()
	<-renewed
	if errors.Is(err, ErrStale) {
		return false, err // not ours to release
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if rerr := c.Release(rctx, done && err == nil); rerr != nil && err == nil {
		err = rerr
	}
	return done, err
}

// record writes the journal, recording its state beside the claim first (fenced): an
// uploader whose claim was taken over writes nothing more.
func (u *Uploader) record(ctx context.Context, r recording, jpath string, j *journal) error {
	if err := u.fence(ctx, r, j); err != nil {
		return err
	}
	return writeJournal(jpath, j)
}

// fence checks, before a step that changes something, that the claim still holds (and
// records the journal's state and video id beside it).
func (u *Uploader) fence(ctx context.Context, r recording, j *journal) error {
	if r.claim == nil {
		return nil
	}
	var state, id string
	if j != nil {
		state, id = string(j.State), j.VideoID
	}
	if err := r.claim.Record(ctx, state, id); err != nil {
		if errors.Is(err, ErrStale) {
			u.log.Warn("uploader: another uploader holds the recording now; stopping", "file", r.path)
		}
		return err
	}
	return nil
}

func (u *Uploader) process(ctx context.Context, r recording) (done bool, err error) {
	jpath := journalPath(r.dir, r.stem)
	j, err := readJournal(jpath)
	if err != nil {
		u.log.Error("uploader: cannot read the journal; the recording is left alone", "file", r.path, "err", err)
		return false, err
	}
	if r.videoID == "" {
		ok, size, err := u.stable(r.path)
		if err != nil || !ok {
			return false, err
		}
		if j == nil || j.VideoID == "" || j.State == stateChunking {
			if j, err = u.upload(ctx, r, j, jpath, size); err != nil {
				return false, err
			}
		}
		// Rev has the file: rename to the CMS Uploader's name.
		if err := u.fence(ctx, r, j); err != nil {
			return false, err
		}
		newPath := filepath.Join(r.dir, uploadedName(r.stem, j.VideoID))
		if err := renameDurably(r.path, newPath); err != nil {
			u.log.Error("uploader: renaming the uploaded recording failed", "file", r.path, "video_id", j.VideoID, "err", err)
			return false, err
		}
		u.log.Info("uploader: renamed", "file", r.path, "to", filepath.Base(newPath), "video_id", j.VideoID)
		r.path, r.videoID = newPath, j.VideoID
		u.hook(StageRenamed, r.path)
	}
	if j != nil && j.VideoID != r.videoID {
		j = nil // a journal of another upload (a file renamed by hand): poll by the name
	}
	switch {
	case j != nil && j.State == stateFailed:
		return true, nil
	case j != nil && j.State == stateReady:
		if u.cfg.Policy.DeleteAfterUpload {
			return u.deleteLocal(r, jpath) // Ready was recorded, the delete did not happen
		}
		return true, nil
	}
	return u.poll(ctx, r, j, jpath)
}

func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Tag is the tag that marks the upload with key.
func Tag(key string) string { return "sipcast-upload-" + key }

// upload sends the recording (or finds that Rev already has it) and returns the journal
// holding the video id.
func (u *Uploader) upload(ctx context.Context, r recording, j *journal, jpath string, size int64) (*journal, error) {
	if j != nil && j.State == stateChunking && j.VideoID != "" {
		// A chunked upload cut short: the partial video goes, the upload starts again.
		if err := u.cfg.Rev.Delete(ctx, j.VideoID); err != nil {
			u.log.Error("uploader: deleting a partial chunked upload failed", "file", r.path, "video_id", j.VideoID, "err", err)
			return nil, err
		}
		u.log.Info("uploader: deleted a partial chunked upload; sending again", "file", r.path, "video_id", j.VideoID)
		j = nil
	}
	if j != nil && j.Key != "" {
		// Sent before, answer unknown: does Rev have it?
		id, err := u.findUpload(ctx, r, j)
		if err != nil {
			return nil, err
		}
		if id != "" {
			j.VideoID, j.State = id, stateUploaded
			if err := u.record(ctx, r, jpath, j); err != nil {
				return nil, err
			}
			u.log.Info("uploader: Rev already has the recording from an interrupted upload", "file", r.path, "video_id", id)
			return j, nil
		}
	}
	meta, err := u.metadata(ctx, r)
	if err != nil {
		return nil, err
	}
	if j == nil {
		j = &journal{File: filepath.Base(r.path), Key: newKey()}
	}
	j.State, j.Size, j.VideoID, j.Started = stateUploading, size, "", u.cfg.Now().UTC()
	u.mu.Lock()
	delete(u.unresolved, r.path)
	u.mu.Unlock()
	if err := u.record(ctx, r, jpath, j); err != nil {
		u.log.Error("uploader: cannot write the journal; not uploading", "file", r.path, "err", err)
		return nil, err
	}
	meta.Tags = append(meta.Tags, Tag(j.Key))
	u.hook(StageUploading, r.path)
	if err := u.fence(ctx, r, j); err != nil {
		return nil, err
	}
	u.log.Info("uploader: uploading", "file", r.path, "bytes", size, "title", meta.Title)
	id, err := u.send(ctx, r, j, jpath, meta)
	if err != nil {
		var e *vbrick.Error
		if errors.As(err, &e) && e.Code == "UserDoesNotExist" && meta.Owner != nil && meta.Owner.Username != u.cfg.Policy.FallbackOwner {
			// The space owner has no Rev account: the fallback owner takes the video.
			u.log.Warn("uploader: Rev does not know the owner; uploading for the fallback owner", "file", r.path,
				"owner", meta.Owner.Username, "fallback_owner", u.cfg.Policy.FallbackOwner)
			meta.Owner = nil
			if u.cfg.Policy.FallbackOwner != "" {
				meta.Owner = &vbrick.UserRef{Username: u.cfg.Policy.FallbackOwner}
			}
			id, err = u.send(ctx, r, j, jpath, meta)
		}
	}
	if err != nil {
		u.log.Error("uploader: upload failed; the recording stays and is tried again", "file", r.path, "err", err)
		return nil, err
	}
	j.VideoID, j.State = id, stateUploaded
	if err := u.record(ctx, r, jpath, j); err != nil {
		u.log.Error("uploader: cannot write the journal after the upload", "file", r.path, "video_id", id, "err", err)
		return nil, err
	}
	u.mu.Lock()
	u.stats.Uploaded++
	u.mu.Unlock()
	u.log.Info("uploader: uploaded", "file", r.path, "video_id", id)
	u.hook(StageUploaded, r.path)
	return j, nil
}

func (u *Uploader) send(ctx context.Context, r recording, j *journal, jpath string, meta vbrick.VideoMetadata) (string, error) {
	opts := vbrick.UploadOptions{ChunkSize: u.cfg.ChunkSize, FileName: r.stem + ".mp4",
		OnVideoID: func(id string) error {
			j.VideoID, j.State = id, stateChunking
			if err := u.record(ctx, r, jpath, j); err != nil {
				// Without the id on disk a crash now would upload the recording twice:
				// the upload stops here and the recording waits for a journal that works.
				u.log.Error("uploader: cannot write the journal; stopping the upload", "file", r.path, "video_id", id, "err", err)
				return err
			}
			return nil
		}}
	if u.cfg.Progress != nil {
		opts.Progress = func(sent, total int64) { u.cfg.Progress(r.path, sent, total) }
	}
	return u.cfg.Rev.UploadVideo(ctx, r.path, meta, opts)
}

// findUpload asks Rev for the video tagged with the journal's key.
func (u *Uploader) findUpload(ctx context.Context, r recording, j *journal) (string, error) {
	found, err := u.cfg.Rev.FindByTag(ctx, Tag(j.Key), 10)
	if err != nil {
		u.log.Error("uploader: cannot ask Rev whether an interrupted upload arrived; trying later", "file", r.path, "err", err)
		return "", err
	}
	for _, v := range found {
		u.mu.Lock()
		delete(u.unresolved, r.path)
		u.mu.Unlock()
		return v.ID, nil
	}
	now := u.cfg.Now()
	u.mu.Lock()
	first, ok := u.unresolved[r.path]
	if !ok {
		first = now
		u.unresolved[r.path] = now
	}
	u.mu.Unlock()
	// The search index may not have the upload yet: wait SearchLag from the attempt's
	// start and from when this process found it unanswered (it may have been answered
	// just before a crash).
	if wait := maxTime(j.Started, first).Add(u.cfg.SearchLag).Sub(now); wait > 0 {
		return "", fmt.Errorf("uploader: %s: an upload was interrupted; waiting %v more for Rev's search index before sending again", r.path, wait.Round(time.Second))
	}
	return "", nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// metadata builds the "Video" part from the policy and the space.
func (u *Uploader) metadata(ctx context.Context, r recording) (vbrick.VideoMetadata, error) {
	p := u.cfg.Policy
	when := r.stem
	if t, err := time.Parse("20060102150405-0700", r.stem); err == nil {
		when = t.UTC().Format("2006-01-02 15:04 UTC")
	}
	m := vbrick.VideoMetadata{
		Uploader:           u.cfg.Uploader,
		Title:              "Forwarded call " + when,
		VideoAccessControl: p.ViewAccess,
		EnableComments:     vbrick.Bool(p.Comments),
		EnableRatings:      vbrick.Bool(p.Ratings),
		EnableDownloads:    vbrick.Bool(p.Downloads),
		IsActive:           vbrick.Bool(p.Active),
		SourceType:         "VIDEO CONFERENCE",
	}
	owner := p.FallbackOwner
	if r.spaceID != "" && u.cfg.CMS != nil {
		space, err := u.cfg.CMS.CoSpace(ctx, r.spaceID)
		if err != nil {
			u.log.Error("uploader: CMS API lookup of the space failed; the recording waits", "file", r.path, "space", r.spaceID, "err", err)
			return m, err
		}
		name := space.Name
		if name == "" {
			name = space.URI
		}
		m.Title = strings.TrimSpace(name + " " + when)
		m.Description = "Recording of space " + name + " (" + space.ID + ")"
		if p.OwnedByCospaceOwner && space.OwnerJid != "" {
			owner = u.cfg.UserName(space.OwnerJid)
		}
		if p.MemberAccess != MemberNone {
			members, err := u.cfg.CMS.CoSpaceMembers(ctx, r.spaceID)
			if err != nil {
				u.log.Error("uploader: CMS API lookup of the space's members failed; the recording waits", "file", r.path, "space", r.spaceID, "err", err)
				return m, err
			}
			for _, mem := range members {
				name := u.cfg.UserName(mem.UserJid)
				if name == "" || mem.UserJid == space.OwnerJid && owner == name {
					continue
				}
				m.AccessControlEntities = append(m.AccessControlEntities,
					vbrick.AccessControlEntity{Name: name, Type: vbrick.EntityUser, CanEdit: p.MemberAccess == MemberEdit})
			}
		}
	} else if r.spaceID != "" {
		m.Title = "Space " + r.spaceID + " " + when
	}
	if owner != "" {
		m.Owner = &vbrick.UserRef{Username: owner}
	}
	return m, nil
}

// poll asks Rev for the status of an uploaded recording; Ready ends it.
func (u *Uploader) poll(ctx context.Context, r recording, j *journal, jpath string) (bool, error) {
	u.hook(StagePolling, r.path)
	u.log.Debug("uploader: checking the status", "file", r.path, "video_id", r.videoID)
	st, err := u.cfg.Rev.Status(ctx, r.videoID)
	if err != nil {
		u.log.Error("uploader: status request failed; trying later", "file", r.path, "video_id", r.videoID, "err", err)
		return false, err
	}
	if j == nil {
		j = &journal{File: r.stem + ".mp4", VideoID: r.videoID, State: stateUploaded}
	}
	switch {
	case st.Status.Failed():
		j.State = stateFailed
		u.log.Error("uploader: Rev could not process the video; the recording is kept", "file", r.path, "video_id", r.videoID, "status", st.Status)
		u.mu.Lock()
		u.stats.Failed++
		u.mu.Unlock()
		return true, u.record(ctx, r, jpath, j)
	case !st.Status.Playable():
		u.log.Debug("uploader: not ready yet", "file", r.path, "video_id", r.videoID, "status", st.Status)
		return false, nil
	}
	playback, err := u.cfg.Rev.PlaybackURL(ctx, r.videoID)
	if err != nil {
		u.log.Error("uploader: playback URL request failed; trying later", "file", r.path, "video_id", r.videoID, "err", err)
		return false, err
	}
	j.State, j.PlaybackURL = stateReady, playback
	if err := u.record(ctx, r, jpath, j); err != nil {
		return false, err
	}
	u.mu.Lock()
	u.stats.Ready++
	u.mu.Unlock()
	u.log.Info("uploader: ready in Rev", "file", r.path, "video_id", r.videoID, "playback_url", playback)
	u.hook(StageReady, r.path)
	if !u.cfg.Policy.DeleteAfterUpload {
		return true, nil
	}
	return u.deleteLocal(r, jpath)
}

// deleteLocal deletes a recording Rev has reported Ready, then its journal.
func (u *Uploader) deleteLocal(r recording, jpath string) (bool, error) {
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.log.Error("uploader: deleting the uploaded recording failed", "file", r.path, "video_id", r.videoID, "err", err)
		return false, err
	}
	_ = os.Remove(jpath)
	_ = durable.SyncDir(r.dir)
	u.mu.Lock()
	u.stats.Deleted++
	u.mu.Unlock()
	u.log.Info("uploader: deleted the local copy", "file", r.path, "video_id", r.videoID)
	u.hook(StageDeleted, r.path)
	return true, nil
}
