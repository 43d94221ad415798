// Package peer starts real protocol peers for interop tests: nginx with the RTMP module
// (and the stream module terminating TLS in front of it for RTMPS), ffmpeg and ffprobe. It
// also makes a throwaway test CA.
//
// Every peer runs on loopback on free ports, from files in the test's temporary
// directory, and is stopped by t.Cleanup. When a peer's program is missing the test is
// skipped with a message saying what to install — unless CI or SIPCAST_INTEROP is set, in
// which case it fails, so that CI cannot pass by skipping.
package peer
