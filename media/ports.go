package media

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrNoPorts is returned when every port of the range is in use or in quarantine.
var ErrNoPorts = errors.New("media: no free RTP port in the range")

// PortAllocator hands out even RTP ports (RTCP on the next, odd, port) from a range, and
// keeps a released port out of use for a quarantine period, so that stale packets of the
// last call on a port never enter the next one. Share one allocator between the sessions
// of an application. It is safe for concurrent use.
type PortAllocator struct {
	// Min and Max bound the range (inclusive); Min is rounded up to even.
	Min, Max int
	// Quarantine is how long a released port rests (default 30 s).
	Quarantine time.Duration
	// Now returns the current time (default time.Now); tests inject a clock.
	Now func() time.Time

	mu       sync.Mutex
	inUse    map[int]bool
	released map[int]time.Time
	next     int
}

func (a *PortAllocator) init() {
	if a.inUse == nil {
		a.inUse = make(map[int]bool)
		a.released = make(map[int]time.Time)
		if a.Quarantine == 0 {
			a.Quarantine = 30 * time.Second
		}
		if a.Now == nil {
			a.Now = time.Now
		}
		a.Min += a.Min & 1
		a.next = a.Min
	}
}

// listen binds an RTP socket (and, unless mux, the RTCP socket on the next port) on ip.
func (a *PortAllocator) listen(ip net.IP, mux bool) (rtpConn, rtcpConn *net.UDPConn, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if a.Min <= 0 || a.Max < a.Min+1 || a.Max > 65535 {
		return nil, nil, fmt.Errorf("media: invalid port range %d-%d", a.Min, a.Max)
	}
	now := a.Now()
	span := (a.Max - a.Min + 1) / 2
	for i := 0; i < span; i++ {
		p := a.next
		a.next += 2
		if a.next+1 > a.Max {
			a.next = a.Min
		}
		if a.inUse[p] {
			continue
		}
		if t, ok := a.released[p]; ok && now.Sub(t) < a.Quarantine {
			continue
		}
		rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p})
		if err != nil {
			continue // taken by someone else
		}
		var cc *net.UDPConn
		if !mux {
			if cc, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1}); err != nil {
				rc.Close()
				continue
			}
		}
		a.inUse[p] = true
		delete(a.released, p)
		return rc, cc, nil
	}
	return nil, nil, fmt.Errorf("%w %d-%d", ErrNoPorts, a.Min, a.Max)
}

// release returns a port; it rests for the quarantine period.
func (a *PortAllocator) release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	delete(a.inUse, port)
	a.released[port] = a.Now()
}
