// Package mixer is sipcast's audio path beyond passthrough: the codecs a caller may send
// (G.711 in mixer/g711, G.722 in mixer/g722), the resampler (mixer/resample) and, to
// come, the AAC-LC encoder and the conference mixer (issues 16 and 17). Every codec is
// pure Go, allocates nothing in steady state and is fuzzed.
package mixer
