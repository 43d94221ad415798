// Package g711 is ITU-T G.711: µ-law (PCMU) and A-law (PCMA), 8-bit codes for 16-bit
// linear samples, encode and decode. The encoder takes, for each sample, the code whose
// decoded level is nearest (the decision levels halfway between the reconstruction
// levels), which is what ffmpeg's pcm_mulaw and pcm_alaw do: both are bit-exact with it
// (tested). Stateless, no allocation beyond the caller's slices.
package g711
