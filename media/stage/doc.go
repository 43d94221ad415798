// Package stage holds the policies that make a received call watchable, each written
// once as a decorator of a media.FrameWriter, for the outputs of a Bridge or of any
// application that assembles its own pipeline:
//
//   - Gate starts the stream where a decoder can: video at the first keyframe whose
//     parameter sets are known, asking the source for one while it waits.
//   - Align starts the audio with the picture (audio is held until the first keyframe
//     and trimmed to it) and, for AAC, fills gaps in the audio with silence so that
//     players never stall; for a stream with video and no audio it makes the whole
//     track (players and services such as YouTube expect one).
//   - Monotonic keeps each kind's decode times from going back when the source changes
//     (a new SSRC restarts a track's timeline).
//   - Tee gives every frame to several writers, isolating a writer that fails.
//
// A pipeline is built inside out, from the outputs to the source:
//
//	w := stage.NewGate(stage.NewAlign(stage.NewTee(pub, rec), cfg), requestKeyframe)
//
// The stages are not safe for concurrent use: one goroutine writes (a call's owner).
// In steady state they allocate nothing.
package stage
