// Package resample converts audio between the sample rates a call's audio path meets —
// 8, 16, 32, 44.1 and 48 kHz, any pair — with a polyphase windowed-sinc filter (Kaiser
// window). The output is time-aligned: output sample n is the filtered signal at input
// time n·in/out, so nothing needs compensating but the latency of the future samples
// the filter looks at (Latency).
//
// Quality, measured with tone sweeps for all 20 pairs by TestSweepQuality (which logs
// the figures and holds them to 0.1 dB and 80 dB): with the default configuration the
// passband (to 90 % of the lower rate's Nyquist frequency) is flat within 0.0005 dB;
// images (upsampling) and aliases (downsampling) lie at least 89 dB below the tone (87
// relaxed); a tone beyond the output's Nyquist frequency comes out at least 92.9 dB
// down.
//
// The cost is the filter. Upsampling by more than two takes two stages: the sharp
// filter doubles the rate, and a short one makes the rest (8 to 48 kHz: 51 multiply-adds
// per output sample, not the 116 of one stage). Config.Relaxed centres the transition
// band on the Nyquist frequency, for a consumer that discards what lies above it (the
// Transcoder's encoder codes nothing there): the doubling is then a half-band filter,
// every other output a copy, and 8 to 48 kHz costs 18 multiply-adds per sample, with
// the passband as flat and images of passband tones as low. Downsampling is one stage
// (48 to 8 kHz: 688 taps; relaxed, 344). Streaming, interleaved channels, no allocation
// in steady state.
package resample
