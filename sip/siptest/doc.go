// Package siptest places SIP calls from this process that send media: the bundled clip
// (media/testclip), or any frames, as RTP to whatever answered, paced in real time. It
// is how sipcast's Examples, tests and demo call a Bridge, and how an application
// unit-tests its own streamer with only Go: no sipp, no ffmpeg.
package siptest
