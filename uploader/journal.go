package uploader

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sipcast/sipcast/internal/durable"
)

// state is how far a recording has got.
type state string

const (
	// stateUploading: the key is recorded, the upload may have been sent.
	stateUploading state = "uploading"
	// stateChunking: a chunked upload has a video id but not all chunks were sent.
	stateChunking state = "chunking"
	// stateUploaded: Rev has the whole file under VideoID.
	stateUploaded state = "uploaded"
	// stateReady: Rev reported the video playable.
	stateReady state = "ready"
	// stateFailed: Rev reported processing failed; the file is kept.
	stateFailed state = "failed"
)

// journal is the durable progress of one recording.
type journal struct {
	File        string `json:"file"` // the recording's name before the rename
	Key         string `json:"key"`
	VideoID     string `json:"videoId,omitempty"`
	State       state  `json:"state"`
	Size        int64  `json:"size"`
	PlaybackURL string `json:"playbackUrl,omitempty"`
	// Started is when the last upload attempt began.
	Started time.Time `json:"started"`
}

// maxJournal caps a journal file (it is a few hundred bytes).
const maxJournal = 64 << 10

// journalPath is the journal of the recording <dir>/<stem>.mp4 (or its renamed form).
func journalPath(dir, stem string) string { return filepath.Join(dir, "."+stem+".upload") }

func readJournal(path string) (*journal, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var j journal
	dec := json.NewDecoder(&limited{f, maxJournal})
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("uploader: journal %s is damaged: %w", path, err)
	}
	return &j, nil
}

type limited struct {
	f *os.File
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("journal larger than 64 KiB")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// writeJournal replaces the journal atomically and durably: a temporary file, fsync,
// rename, fsync of the directory.
func writeJournal(path string, j *journal) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(path))
}

// renameDurably renames a file and syncs the directory.
func renameDurably(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(to))
}

// uploadedName is the CMS Uploader's name for an uploaded recording.
func uploadedName(stem, videoID string) string { return stem + "_vid-id=" + videoID + "@vbrick.mp4" }

// parseName splits a recording's file name: its stem and, once uploaded, the video id.
// ok is false for names that are not recordings (temporary names, journals, other files).
func parseName(name string) (stem, videoID string, ok bool) {
	if strings.HasPrefix(name, ".") {
		return "", "", false
	}
	base, isMP4 := strings.CutSuffix(name, ".mp4")
	if !isMP4 || base == "" {
		return "", "", false
	}
	if s, rest, found := strings.Cut(base, "_vid-id="); found {
		id, ok := strings.CutSuffix(rest, "@vbrick")
		if !ok || id == "" || s == "" {
			return "", "", false
		}
		return s, id, true
	}
	return base, "", true
}
