package peer

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileRecorder is an rtmp.WithRecorder target writing into Dir, one file per publish.
type FileRecorder struct {
	Dir   string
	mu    sync.Mutex
	files []string
}

// Open creates the file for the stream key.
func (r *FileRecorder) Open(key string) (io.WriteCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := filepath.Join(r.Dir, filepath.Base(key)+"-"+time.Now().Format("150405.000000")+".flv")
	r.files = append(r.files, name)
	return os.Create(name)
}

// List returns the files made so far.
func (r *FileRecorder) List() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.files...)
}
