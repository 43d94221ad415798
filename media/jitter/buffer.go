package jitter

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// Errors returned by Push. None of them is fatal: the packet is dropped and counted.
var (
	ErrDuplicate = errors.New("jitter: duplicate packet")
	ErrLate      = errors.New("jitter: packet arrived after its slot was released")
	ErrTooLarge  = errors.New("jitter: packet exceeds MaxPacketSize")
	ErrMalformed = errors.New("jitter: malformed RTP packet")
)

// Defaults.
const (
	DefaultCapacity      = 1024
	DefaultMaxPacketSize = 1500
	DefaultMinDelay      = 20 * time.Millisecond
	DefaultMaxDelay      = 500 * time.Millisecond
)

// Stats are the buffer's counters.
type Stats struct {
	Received   uint64
	Duplicates uint64
	Late       uint64
	Lost       uint64 // skipped sequence numbers
	Reordered  uint64 // arrived after a higher sequence number
	Resyncs    uint64 // jumps too large to buffer
	Dropped    uint64 // too large or malformed
	// Jitter is the RFC 3550 interarrival jitter estimate.
	Jitter time.Duration
	// Delay is the current target delay.
	Delay time.Duration
}

type slot struct {
	used    bool
	ext     uint64
	arrival time.Time
	n       int
	buf     []byte
}

// Buffer reorders the RTP packets of one stream. Fill the exported fields, then call Init.
// It is not safe for concurrent use.
type Buffer struct {
	// ClockRate is the RTP clock rate of the stream (required).
	ClockRate int
	// Capacity is the number of packets held (default 1024, rounded up to a power of two).
	Capacity int
	// MaxPacketSize bounds packets (default 1500).
	MaxPacketSize int
	// MinDelay and MaxDelay bound the adaptive target delay (defaults 20 ms and 500 ms).
	MinDelay, MaxDelay time.Duration

	slots   []slot
	free    [][]byte // packet buffers not in use, reused last-in first-out
	outBuf  []byte   // the buffer of the packet Pop returned last
	mask    uint64
	started bool
	next    uint64 // extended sequence number of the next packet to release
	// released says a packet was released since the start (or a resync): until then the
	// first packet waits the target delay too, and packets before it that arrive in that
	// time are taken (the stream's first packets, reordered, would otherwise be late).
	released bool
	startAt  time.Time // the first packet's arrival
	highest  uint64    // highest extended sequence number received
	count    int       // packets buffered

	jitter      float64 // RFC 3550 J, in seconds
	lastTransit float64
	haveTransit bool
	base        time.Time

	out        rtp.Packet
	outArrival time.Time
	stats      Stats
}

// Init validates the configuration and allocates the slots.
func (b *Buffer) Init() error {
	if b.ClockRate <= 0 {
		return fmt.Errorf("jitter: invalid clock rate %d", b.ClockRate)
	}
	if b.Capacity <= 0 {
		b.Capacity = DefaultCapacity
	}
	if b.Capacity > 1<<15 {
		return fmt.Errorf("jitter: capacity %d exceeds half the sequence space", b.Capacity)
	}
	c := 1
	for c < b.Capacity {
		c <<= 1
	}
	b.Capacity = c
	if b.MaxPacketSize <= 0 {
		b.MaxPacketSize = DefaultMaxPacketSize
	}
	if b.MinDelay <= 0 {
		b.MinDelay = DefaultMinDelay
	}
	if b.MaxDelay <= 0 {
		b.MaxDelay = DefaultMaxDelay
	}
	if b.MaxDelay < b.MinDelay {
		return fmt.Errorf("jitter: MaxDelay %v below MinDelay %v", b.MaxDelay, b.MinDelay)
	}
	// Packet buffers are made as needed and reused last-in first-out, so that a stream
	// circulates the few buffers its delay needs (hot in the CPU's cache) rather than one
	// per slot.
	b.slots = make([]slot, c)
	b.free = nil // grows to the most packets the stream held at once, no more
	b.mask = uint64(c - 1)
	b.stats.Delay = b.MinDelay
	return nil
}

// extend maps a 16-bit sequence number to the extended space near the highest seen.
func (b *Buffer) extend(seq uint16) uint64 {
	delta := int64(int16(seq - uint16(b.highest)))
	ext := int64(b.highest) + delta
	if ext < 0 {
		ext += 1 << 16
	}
	return uint64(ext)
}

// Push copies a packet into the buffer. arrival is when it was received.
func (b *Buffer) Push(raw []byte, arrival time.Time) error {
	if len(raw) > b.MaxPacketSize {
		b.stats.Dropped++
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw))
	}
	if len(raw) < 12 || raw[0]>>6 != 2 {
		b.stats.Dropped++
		return ErrMalformed
	}
	seq := uint16(raw[2])<<8 | uint16(raw[3])
	ts := uint32(raw[4])<<24 | uint32(raw[5])<<16 | uint32(raw[6])<<8 | uint32(raw[7])
	b.stats.Received++
	if !b.started {
		b.started = true
		b.next, b.highest = uint64(seq)+1<<16, uint64(seq)+1<<16 // room below for reordering
		b.base, b.startAt = arrival, arrival
	}
	ext := b.extend(seq)
	switch {
	case ext < b.next && !b.released && b.highest-ext < uint64(len(b.slots)):
		b.next = ext // before the first packet, which still waits: the stream starts here
	case ext < b.next:
		b.stats.Late++
		return ErrLate
	case ext >= b.next+uint64(len(b.slots)):
		// Too far ahead to hold: the sender jumped (restart, new source). Start over there.
		b.stats.Resyncs++
		b.reset()
		b.next, b.highest, b.released, b.startAt = ext, ext, false, arrival
	}
	s := &b.slots[ext&b.mask]
	if s.used {
		if s.ext == ext {
			b.stats.Duplicates++
			return ErrDuplicate
		}
		// Cannot happen: ext is within [next, next+capacity) and slots below next are free.
		b.count--
	}
	if ext < b.highest {
		b.stats.Reordered++
	} else {
		b.highest = ext
	}
	if s.buf == nil {
		s.buf = b.take()
	}
	s.used, s.ext, s.arrival, s.n = true, ext, arrival, copy(s.buf, raw)
	b.count++
	b.updateJitter(ts, arrival)
	return nil
}

func (b *Buffer) reset() {
	for i := range b.slots {
		s := &b.slots[i]
		s.used = false
		if s.buf != nil {
			b.give(s.buf)
			s.buf = nil
		}
	}
	b.count = 0
}

func (b *Buffer) take() []byte {
	if n := len(b.free); n > 0 {
		buf := b.free[n-1]
		b.free = b.free[:n-1]
		return buf
	}
	return make([]byte, b.MaxPacketSize)
}

func (b *Buffer) give(buf []byte) {
	if len(b.free) <= len(b.slots) {
		b.free = append(b.free, buf)
	}
}

// updateJitter runs the RFC 3550 §6.4.1 estimator and adapts the target delay.
func (b *Buffer) updateJitter(ts uint32, arrival time.Time) {
	transit := arrival.Sub(b.base).Seconds() - float64(ts)/float64(b.ClockRate)
	if b.haveTransit {
		d := transit - b.lastTransit
		if d < 0 {
			d = -d
		}
		if d < 10 { // ignore timestamp jumps
			b.jitter += (d - b.jitter) / 16
		}
	}
	b.lastTransit, b.haveTransit = transit, true
	b.stats.Jitter = time.Duration(b.jitter * float64(time.Second))
	delay := b.MinDelay + 3*b.stats.Jitter
	if delay > b.MaxDelay {
		delay = b.MaxDelay
	}
	b.stats.Delay = delay
}

// Pop returns the next packet in sequence order when it is there, or — when the next one
// is missing — the first buffered packet after the gap once that packet has waited the
// target delay; lost is then the number of packets skipped. The packet is valid until the
// next call to Pop or Push.
func (b *Buffer) Pop(now time.Time) (p *rtp.Packet, lost int, ok bool) {
	if b.count == 0 {
		return nil, 0, false
	}
	for gap := 0; gap < len(b.slots); gap++ {
		s := &b.slots[(b.next+uint64(gap))&b.mask]
		if !s.used || s.ext != b.next+uint64(gap) {
			continue
		}
		if gap > 0 && now.Sub(s.arrival) < b.stats.Delay || !b.released && now.Sub(b.startAt) < b.stats.Delay {
			return nil, 0, false
		}
		b.released = true
		b.next += uint64(gap) + 1
		b.stats.Lost += uint64(gap)
		b.outArrival = s.arrival
		s.used = false
		b.count--
		if b.outBuf != nil {
			b.give(b.outBuf)
		}
		b.outBuf, s.buf = s.buf, nil
		if err := b.out.Unmarshal(b.outBuf[:s.n]); err != nil {
			b.stats.Dropped++
			return b.Pop(now)
		}
		return &b.out, gap, true
	}
	return nil, 0, false
}

// Arrival returns when the packet last returned by Pop arrived.
func (b *Buffer) Arrival() time.Time { return b.outArrival }

// NextDeadline returns when a packet waiting behind a gap becomes due, if one is.
func (b *Buffer) NextDeadline() (time.Time, bool) {
	if b.count == 0 {
		return time.Time{}, false
	}
	for gap := uint64(0); gap < uint64(len(b.slots)); gap++ {
		s := &b.slots[(b.next+gap)&b.mask]
		if s.used && s.ext == b.next+gap {
			if gap == 0 && b.released {
				return s.arrival, true
			}
			if !b.released {
				start := b.startAt.Add(b.stats.Delay)
				if gap == 0 || start.After(s.arrival.Add(b.stats.Delay)) {
					return start, true
				}
			}
			return s.arrival.Add(b.stats.Delay), true
		}
	}
	return time.Time{}, false
}

// Missing appends to dst the sequence numbers not yet received between the next packet
// to release and the highest received: the candidates for a NACK.
func (b *Buffer) Missing(dst []uint16) []uint16 {
	if b.count == 0 {
		return dst
	}
	for ext := b.next; ext < b.highest; ext++ {
		s := &b.slots[ext&b.mask]
		if !s.used || s.ext != ext {
			dst = append(dst, uint16(ext))
		}
	}
	return dst
}

// Deadline returns when the buffer gives up waiting for a missing packet: when the
// first packet buffered after it has waited the target delay. It reports false when seq
// is not missing (received, released, or beyond the highest received).
func (b *Buffer) Deadline(seq uint16) (time.Time, bool) {
	if b.count == 0 {
		return time.Time{}, false
	}
	ext := b.extend(seq)
	if ext < b.next || ext >= b.highest {
		return time.Time{}, false
	}
	if s := &b.slots[ext&b.mask]; s.used && s.ext == ext {
		return time.Time{}, false
	}
	for e := ext + 1; e <= b.highest; e++ {
		if s := &b.slots[e&b.mask]; s.used && s.ext == e {
			return s.arrival.Add(b.stats.Delay), true
		}
	}
	return time.Time{}, false
}

// Stats returns the counters.
func (b *Buffer) Stats() Stats { return b.stats }

// Highest returns the highest extended sequence number received (RFC 3550 §6.4.1
// "extended highest sequence number", cycles in the upper 16 bits), and whether any
// packet arrived.
func (b *Buffer) Highest() (uint32, bool) {
	if !b.started {
		return 0, false
	}
	return uint32(b.highest - 1<<16), true
}
