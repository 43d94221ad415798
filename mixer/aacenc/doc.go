// Package aacenc is a pure-Go AAC-LC encoder (ISO/IEC 14496-3): mono or stereo, 44.1 or
// 48 kHz, a target bitrate held constant. Each Encode call takes 1024 samples per
// channel and returns one raw_data_block, the access unit that RTMP (FLV) and MP4 carry
// with the AudioSpecificConfig of Config. With Config.InputRate (8 or 16 kHz at 48) it
// takes a call's samples at their own rate, NextFrameSamples a frame: upsampled with
// no filter, its band limit the interpolation filter.
//
// What it does with each frame, after 3GPP TS 26.403 (the published reference
// encoder's model) where that fits:
//
//   - Block switching. An attack detector (high-passed energy of 128-sample segments,
//     ten times the mean of the eight before) looks one frame ahead, so that a block
//     over an attack is coded with eight short windows (grouped before and after the
//     attack), entered through a long start window and left through a long stop window.
//     The quantization noise then stays within a short window of the attack: on
//     clicks, 20 dB less pre-echo than long windows only (TestInteropShortBlocksCutPreEcho).
//   - A psychoacoustic threshold per scalefactor band: the band's energy 29 dB down,
//     spread 15 dB per Bark upwards and 30 downwards, no lower than the threshold in
//     quiet. Bands wholly under it are not coded, unless the bits sufficed in the last
//     frame to keep the noise under the threshold everywhere (then they are coded too,
//     so a high bitrate is not capped by them; the noise is estimated by 26.403's form
//     factor).
//   - M/S stereo band by band, where mid and side take fewer bits for the same noise
//     (TestInteropMidSide: 4.6 dB better on speech on both channels).
//   - One global gain per frame, chosen by a search from the last frame's, with M/S
//     bands' scalefactors three steps finer; each band's Huffman codebook by its cost.
//   - Constant bitrate within the decoder's buffer: a bit reservoir (6144 bits per
//     channel, less a frame), and fill elements for what it cannot hold.
//   - Bandwidth from the bitrate, or from Config.Bandwidth (or InputRate) for a
//     band-limited source such as G.711: bands above it cost neither bits nor time, so
//     the same bits quantize the band-limited source finer (TestBandLimitedCostsLess),
//     and the MDCT makes only the lines coded.
//
// Quality against ffmpeg's native encoder, and speed, are measured side by side by
// TestInteropAgainstFFmpegAAC (docs/PERFORMANCE.md). The delay is two frames (Delay):
// the MDCT's overlap and the look-ahead.
//
// Not done: temporal noise shaping, intensity stereo, perceptual noise substitution,
// and per-band noise allocation beyond masking (every coded band shares the global
// gain; an encoder that shapes its noise under the threshold gives up signal-to-noise
// ratio, which is what the tests here can measure).
package aacenc
