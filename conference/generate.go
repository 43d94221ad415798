package conference

import (
	"slices"
	"sync"
	"time"

	"github.com/sipcast/sipcast/mixer"
)

// generators steps the media the Bridge's calls generate (audio towards callers, black
// pictures towards callees) from one goroutine on one 20 ms ticker, instead of a
// goroutine and a timer per call: at a hundred calls, 50 wake-ups a second instead of
// 5,000. The goroutine runs while some call is registered and exits when none is; Close
// of the Bridge joins it (wait).
type generators struct {
	mu      sync.Mutex
	idle    sync.Cond // L = &mu: signalled when a round ends
	calls   []*call
	rooms   []*room // stepped first in a round: their legs send what they mixed
	round   []*call // the calls of the round in progress (reused)
	rounds  []*room // and its rooms
	running bool    // a round is stepping calls (outside mu)
	alive   bool
	done    chan struct{} // closed when the goroutine exits
}

// add registers a call (its streams made); the goroutine starts if it is not running.
func (g *generators) add(c *call) { register(g, &g.calls, c) }

// remove unregisters a call and returns once no round is stepping it: after it, the
// call's sessions may close.
func (g *generators) remove(c *call) { unregister(g, &g.calls, &g.round, c) }

// addRoom registers a room, as add a call.
func (g *generators) addRoom(r *room) { register(g, &g.rooms, r) }

// removeRoom unregisters a room and returns once no round is stepping it.
func (g *generators) removeRoom(r *room) { unregister(g, &g.rooms, &g.rounds, r) }

// register adds x to list (a call or a room) and starts the goroutine if it is not
// running.
func register[T any](g *generators, list *[]T, x T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idle.L == nil {
		g.idle.L = &g.mu
	}
	*list = append(*list, x)
	if !g.alive {
		g.alive, g.done = true, make(chan struct{})
		go g.loop(g.done)
	}
}

// unregister takes x out of list and waits until the round in progress (round) is not
// stepping it.
func unregister[T comparable](g *generators, list, round *[]T, x T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(*list, x); i >= 0 {
		*list = slices.Delete(*list, i, i+1)
	}
	for g.running && slices.Contains(*round, x) {
		g.idle.Wait()
	}
}

// wait joins the goroutine (every call removed: it exits at its next tick).
func (g *generators) wait() {
	g.mu.Lock()
	alive, done := g.alive, g.done
	g.mu.Unlock()
	if alive {
		<-done
	}
}

func (g *generators) loop(done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(mixer.FramePeriod * time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		g.mu.Lock()
		if len(g.calls) == 0 && len(g.rooms) == 0 {
			g.alive = false
			g.mu.Unlock()
			return
		}
		g.round = append(g.round[:0], g.calls...)
		g.rounds = append(g.rounds[:0], g.rooms...)
		g.running = true
		g.mu.Unlock()
		for _, r := range g.rounds {
			r.step(now)
		}
		for _, c := range g.round { // outside the lock: a call's step writes to its sockets
			c.genStep(now)
		}
		g.mu.Lock()
		g.running = false
		g.idle.Broadcast()
		g.mu.Unlock()
	}
}
