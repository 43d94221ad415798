// Package resample converts audio between the sample rates a call's audio path meets —
// 8, 16, 32, 44.1 and 48 kHz, any pair — with a polyphase windowed-sinc filter (Kaiser
// window). The output is time-aligned: output sample n is the filtered signal at input
// time n·in/out, so nothing needs compensating but the latency of the future samples
// the filter looks at (Latency).
//
// Quality, measured with tone sweeps for all 20 pairs by TestSweepQuality (which logs
// the figures and holds them to 0.1 dB and 80 dB): with the default configuration the
// passband (to 90 % of the lower rate's Nyquist frequency) is flat within 0.0002 dB;
// images (upsampling) and aliases (downsampling) lie at least 100 dB below the tone; a
// tone beyond the output's Nyquist frequency comes out at least 92.9 dB down. The cost
// is the filter: 116 taps per output sample upsampling, up to 688 taps from 48 to
// 8 kHz. Streaming, interleaved channels, no allocation in steady state.
package resample
