// Package mixer is sipcast's audio path beyond passthrough: the codecs a caller may send
// (G.711 in mixer/g711, G.722 in mixer/g722), the resampler (mixer/resample), the
// AAC-LC encoder (mixer/aacenc) and, to come, the call's transcoding path and the
// conference mixer (issues 16 and 17). Everything is pure Go and allocates nothing in
// steady state; what reads bytes from the network is fuzzed.
package mixer
