package peer

import (
	"io"
	"math"
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

// Goertzel is the power of frequency f (Hz) in x (sampled at rate), per sample squared:
// the tone checks of the tests that decode audio.
func Goertzel(x []float32, rate int, f float64) float64 {
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(x)*len(x))
}
