// Package netem is the tests' network impairment: a UDP relay on loopback that loses,
// duplicates, reorders and delays datagrams by a seeded plan, in the manner of Linux
// netem, between a sender nobody here wrote (ffmpeg) and the receivers under test.
//
// The plan is a function of the seed and of the order in which datagrams arrive, never
// of their timing: the same sender sending the same stream loses the same packets in
// every run. Each datagram that survives goes to every destination (the streamer, and
// ffmpeg -c copy for comparison), so all of them see the same impaired stream.
package netem

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Config is an impairment plan. Percentages are of the datagrams relayed.
type Config struct {
	// Loss, Duplicate and Reorder are the shares (0..1) of datagrams dropped, sent twice
	// and held back by a reordering delay.
	Loss, Duplicate, Reorder float64
	// ReorderMin and ReorderMax bound the extra delay of a reordered datagram.
	ReorderMin, ReorderMax time.Duration
	// Jitter is the largest random delay added to every datagram (uniform from 0).
	Jitter time.Duration
	// Delay is added to every datagram (a constant path delay).
	Delay time.Duration
	// Seed makes the plan.
	Seed uint64
}

// Decision is what happens to one datagram.
type Decision struct {
	Lost      bool
	Duplicate bool
	Reordered bool
	// Delay is the datagram's time in the relay.
	Delay time.Duration
}

// Plan draws the decisions of a Config, datagram by datagram.
type Plan struct {
	cfg Config
	rng *rand.Rand
}

// NewPlan returns the plan of cfg.
func NewPlan(cfg Config) *Plan {
	return &Plan{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6e6574656d))}
}

// Next decides the next datagram. Every call draws the same numbers, whatever it
// decides, so that one decision never shifts the plan of the others.
func (p *Plan) Next() Decision {
	c := &p.cfg
	loss, dup, reorder, jitter, extra := p.rng.Float64(), p.rng.Float64(), p.rng.Float64(), p.rng.Float64(), p.rng.Float64()
	d := Decision{Lost: loss < c.Loss, Duplicate: dup < c.Duplicate, Reordered: reorder < c.Reorder}
	d.Delay = c.Delay + time.Duration(jitter*float64(c.Jitter))
	if d.Reordered {
		d.Delay += c.ReorderMin + time.Duration(extra*float64(c.ReorderMax-c.ReorderMin))
	}
	return d
}

// Record is one RTP packet's fate, with the fields of its header that tests count by.
type Record struct {
	Decision
	Seq       uint16
	Timestamp uint32
	Marker    bool
}

// Stats count a relay's RTP packets (In, Out, Lost, Duplicated, Reordered), the
// sender's RTCP packets (RTCP: relayed as they are) and the datagrams the destinations
// sent back (Back: passed to the sender).
type Stats struct {
	In, Out, Lost, Duplicated, Reordered int
	RTCP, Back                           int
}

// Dest is a receiver: its RTP port and its RTCP port (the same one with rtcp-mux).
type Dest struct {
	RTP, RTCP *net.UDPAddr
}

// Relay receives a sender's RTP and RTCP on one loopback port and sends each RTP packet,
// as its plan decides, to every destination's RTP port. RTCP (told apart by its packet
// type, RFC 5761) is never impaired and goes to the RTCP ports with the longest delay
// the plan can give RTP, so that a sender's BYE does not overtake its last packets.
// The receivers see every datagram come from the relay's one address; what they send
// to it (their RTCP feedback, with rtcp-mux or symmetric RTCP) goes back to the sender,
// unimpaired. Close stops it and joins its goroutines.
type Relay struct {
	conn *net.UDPConn
	plan *Plan
	cfg  Config
	dsts []Dest

	mu      sync.Mutex
	log     []Record
	stats   Stats
	pending int
	idle    *sync.Cond

	queue     chan item
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type item struct {
	due  time.Time
	data []byte
	n    int // sends it stands for (a duplicate: 2)
	seq  int // arrival order: equal due times keep it
	rtcp bool
}

// MaxDatagram bounds what a relay forwards.
const MaxDatagram = 2048

// NewRelay listens on 127.0.0.1 (a port from :0) and relays to dsts by cfg.
func NewRelay(cfg Config, dsts ...Dest) (*Relay, error) {
	if len(dsts) == 0 {
		return nil, errors.New("netem: no destination")
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20) // a keyframe's burst, as large as the kernel allows
	r := &Relay{conn: conn, plan: NewPlan(cfg), cfg: cfg, dsts: dsts, queue: make(chan item, 4096), done: make(chan struct{})}
	r.idle = sync.NewCond(&r.mu)
	r.wg.Add(2)
	go r.read()
	go r.send()
	return r, nil
}

// Addr is where senders send.
func (r *Relay) Addr() *net.UDPAddr { return r.conn.LocalAddr().(*net.UDPAddr) }

// Port is Addr's port.
func (r *Relay) Port() int { return r.Addr().Port }

func (r *Relay) read() {
	defer r.wg.Done()
	defer close(r.queue)
	buf := make([]byte, MaxDatagram)
	var sender *net.UDPAddr // where feedback goes: the last source that is no destination
	for seq := 0; ; seq++ {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if r.isDest(from) {
			// Feedback (RTCP receiver reports, NACK, PLI) goes back to the sender as it is.
			if sender != nil {
				_, _ = r.conn.WriteToUDP(buf[:n], sender)
				r.mu.Lock()
				r.stats.Back++
				r.mu.Unlock()
			}
			continue
		}
		if sender == nil || !sameAddr(sender, from) {
			sender = &net.UDPAddr{IP: append(net.IP(nil), from.IP...), Port: from.Port}
		}
		now := time.Now()
		if n < 12 || buf[1] >= 192 && buf[1] <= 223 { // RTCP (or too short for RTP)
			r.mu.Lock()
			r.stats.RTCP++
			r.pending++
			r.mu.Unlock()
			c := &r.cfg
			it := item{due: now.Add(c.Delay + c.Jitter + c.ReorderMax), data: append([]byte(nil), buf[:n]...), n: 1, seq: seq, rtcp: true}
			select {
			case r.queue <- it:
			case <-r.done:
				return
			}
			continue
		}
		d := r.plan.Next()
		rec := Record{Decision: d, Marker: buf[1]&0x80 != 0, Seq: uint16(buf[2])<<8 | uint16(buf[3]),
			Timestamp: uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])}
		r.mu.Lock()
		r.log = append(r.log, rec)
		r.stats.In++
		switch {
		case d.Lost:
			r.stats.Lost++
		default:
			if d.Duplicate {
				r.stats.Duplicated++
			}
			if d.Reordered {
				r.stats.Reordered++
			}
			r.pending++
		}
		r.mu.Unlock()
		if d.Lost {
			continue
		}
		it := item{due: now.Add(d.Delay), data: append([]byte(nil), buf[:n]...), n: 1, seq: seq}
		if d.Duplicate {
			it.n = 2
		}
		select {
		case r.queue <- it:
		case <-r.done:
			return
		}
	}
}

// send writes the queued datagrams when they are due.
func (r *Relay) send() {
	defer r.wg.Done()
	var h itemHeap
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	queue := r.queue
	for queue != nil || h.Len() > 0 {
		if h.Len() > 0 {
			timer.Reset(time.Until(h[0].due))
		}
		select {
		case it, ok := <-queue:
			if !ok {
				queue = nil
				if r.isClosed() {
					return
				}
				continue
			}
			heap.Push(&h, it)
		case <-timer.C:
			now := time.Now()
			for h.Len() > 0 && !h[0].due.After(now) {
				it := heap.Pop(&h).(item)
				for range it.n {
					for _, d := range r.dsts {
						to := d.RTP
						if it.rtcp {
							to = d.RTCP
						}
						_, _ = r.conn.WriteToUDP(it.data, to)
					}
				}
				r.mu.Lock()
				if !it.rtcp {
					r.stats.Out += it.n
				}
				r.pending--
				r.idle.Broadcast()
				r.mu.Unlock()
			}
		case <-r.done:
			return
		}
	}
}

func (r *Relay) isDest(a *net.UDPAddr) bool {
	for _, d := range r.dsts {
		if sameAddr(d.RTP, a) || sameAddr(d.RTCP, a) {
			return true
		}
	}
	return false
}

func sameAddr(a, b *net.UDPAddr) bool { return a.Port == b.Port && a.IP.Equal(b.IP) }

func (r *Relay) isClosed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Flush waits until every datagram received so far was sent (or the relay closed).
func (r *Relay) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.pending > 0 && !r.isClosed() {
		r.idle.Wait()
	}
}

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Log returns every RTP packet's fate, in arrival order.
func (r *Relay) Log() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.log...)
}

// Close stops the relay (what is still queued is not sent) and joins its goroutines.
// It is idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		_ = r.conn.Close()
		r.mu.Lock()
		r.idle.Broadcast()
		r.mu.Unlock()
	})
	r.wg.Wait()
	return nil
}

type itemHeap []item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
