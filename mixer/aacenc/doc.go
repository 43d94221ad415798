// Package aacenc is a pure-Go AAC-LC encoder (ISO/IEC 14496-3): mono or stereo, 44.1 or
// 48 kHz, a target bitrate. Each Encode call takes 1024 samples per channel and returns
// one raw_data_block, the access unit that RTMP (FLV) and MP4 carry with the
// AudioSpecificConfig of Config.
//
// This first version codes long windows only (sine window), with one quantizer step
// for all bands chosen by a search that fits the frame into its share of the bitrate
// plus a bit reservoir, and each band's Huffman codebook chosen by its cost. A band
// above the bandwidth the bitrate affords, or silent, costs nothing: a band-limited
// source such as G.711 costs less than full-band audio. Still to come (issue 16): block
// switching with short windows, a psychoacoustic threshold shaping the noise per band,
// M/S stereo, and the constant-bitrate buffer model.
package aacenc
