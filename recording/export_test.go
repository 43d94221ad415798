package recording

// StallWrites makes the recorder's writer wait before each write until release is
// called: a disk or share that stops taking data.
func StallWrites(r *Recorder) (release func()) {
	ch := make(chan struct{})
	r.wmu.Lock()
	r.stall = ch
	r.wmu.Unlock()
	return func() { close(ch) }
}
