// Package mixer is sipcast's audio path beyond passthrough: the codecs a caller may send
// (G.711 in mixer/g711, G.722 in mixer/g722), the resampler (mixer/resample), the
// AAC-LC encoder (mixer/aacenc), the call's transcoding path (Transcoder: decode, AAC
// at 48 kHz, the encoder taking 8 and 16 kHz input as it is), the generated media sent
// to callers (SilenceSource, BlackVideo) and the conference audio mixer (Mixer: a 20 ms
// clock its owner steps, per-input jitter handling, gain and mutes, mix-minus for each
// participant and a full mix through limiters, levels and the dominant speaker with a
// hold-off) with the active speaker's video switch (VideoSwitch: H.264 forwarded from
// one input at a time, switched on a keyframe it requests, the new parameter sets
// announced), and what a conference leg sends and hears (LegDecoder, LegEncoder). The
// conference package's rooms put them together.
// Everything is pure Go and allocates nothing in steady state; what reads bytes from the
// network is fuzzed.
package mixer
