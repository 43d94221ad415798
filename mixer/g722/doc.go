// Package g722 is ITU-T G.722 at 64 kb/s: 16 kHz audio as sub-band ADPCM, a 24-tap
// quadrature mirror filter splitting it into a lower band coded with 6 bits and a
// higher band with 2, one byte per two samples. Encoder and Decoder follow the ITU
// algorithm in fixed point and are bit-exact with ffmpeg's g722 encoder and decoder
// (tested). Each keeps a call's state; neither allocates beyond the caller's slices.
//
// In RTP, G.722 is payload type 9 with an RTP clock rate of 8000 (RFC 3551 §4.5.2: a
// historical error kept for compatibility), though it samples at 16 kHz.
package g722
