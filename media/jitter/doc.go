// Package jitter implements the per-track RTP reorder and jitter buffer: packets go in as
// they arrive, come out in sequence order once they are due, with sequence number wrap,
// duplicates and late packets handled, losses detected (for NACK, RFC 4585) and skipped
// after the target delay, and a target delay that follows the measured interarrival
// jitter (RFC 3550 §6.4.1) between configurable bounds.
//
// Memory is fixed at Init: Capacity slots of MaxPacketSize bytes, whatever arrives. The
// buffer is pure (time is passed in), allocation-free after Init, and fuzzed.
package jitter
