package conference

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/mixer/aacenc"
	"github.com/sipcast/sipcast/sip"
)

// A room mixes the legs of one conference (the controlled calls whose Outputs name the
// same Room): each leg's audio is decoded into a mixer.Mixer input, each leg is sent
// its mix-minus in its own codec (in place of the generated silence), and the room's
// outputs — the stream and the recording — carry the full mix as AAC and the dominant
// speaker's H.264 through a mixer.VideoSwitch (no transcoding).
//
// The outputs are a call of their own in the Bridge (out: ID the room's key, no SIP,
// its dialog a roomDialog), so streaming, recording, SetOutputs, the events and Calls
// work for it as for any call. The Bridge's generator goroutine steps the room every
// 20 ms, before the legs' own steps: it owns the mixer, the switch and the members.
// The legs' frames reach it through the inbox (copied, under mu), from the legs'
// owners; joins, leaves and mutes are queued the same way.
type room struct {
	b   *Bridge
	key string
	out *call
	dlg *roomDialog
	// keyframe asks the step to request a keyframe of the speaker shown (the outputs
	// restarted).
	keyframe atomic.Bool

	// infoMu guards what info reports, published by the step.
	infoMu  sync.Mutex
	infoNow RoomInfo

	mu      sync.Mutex
	refs    int // calls attached (joined, or to join)
	closing bool
	inbox   []roomFrame
	joins   []*call
	leaves  []*call
	reqs    []func()
	dropped uint64

	// The generator goroutine's.
	mix     *mixer.Mixer
	vs      *mixer.VideoSwitch
	members map[*call]*member
	shared  map[media.Codec]*sharedEnc // by codec
	byVideo []*member                  // by switch input
	enc     *aacenc.Encoder
	pending []float32
	encoded int64
	steps   int64
	start   time.Time
	batch   []roomFrame
	treqs   []func()
	aout    media.Frame
	track   media.Track
	sent    bool
	videoOn bool // a member with video joined: the outputs wait for the picture
	// switches is the switch's count at switchStep, the step it last changed.
	switches   uint64
	switchStep int64
}

// member is a leg in the room (the generator goroutine's).
type member struct {
	c *call
	// in is its mixer input, made at its first audio frame (nil: none yet, or its
	// codec is not one the room decodes: AAC).
	in          *mixer.MixInput
	dec         *mixer.LegDecoder
	undecodable bool
	// enc makes what it hears in its codec (nil: it is sent silence, Opus).
	enc *mixer.LegEncoder
	// video is its switch input; hasVideo says it has sent some.
	video    int
	hasVideo bool
	// offset moves its timeline (its call's clock) onto the room's.
	offset time.Duration
	// payload is its mix-minus of this round for its generator step (fresh: not sent).
	payload []byte
	step    uint32
	fresh   bool
	// quiet counts the steps it has contributed nothing; sharing says it is sent the
	// shared encode.
	quiet   int
	sharing bool
	rxMute  bool
	txMute  bool
}

// roomFrame is a leg's frame waiting for the step (its data copied).
type roomFrame struct {
	c *call
	f media.Frame
}

// maxRoomInbox bounds the frames waiting for a step, and maxMemberQueued one member's
// share of them: a member's flood fills its own share and no more.
const (
	maxRoomInbox    = 4096
	maxMemberQueued = 256
)

// roomFor returns the room for key, making it (and starting its outputs with o) when
// there is none; the call is attached to it (release or leave detach it). nil when the
// Bridge is closing.
func (b *Bridge) roomFor(key string, o Outputs) *room {
	b.mu.Lock()
	r := b.rooms[key]
	b.mu.Unlock()
	if r != nil && r.attach() {
		return r
	}
	mix, err := mixer.NewMixer(mixer.MixConfig{Delay: mixDelay, HoldOff: roomHoldOff})
	if err != nil {
		return nil
	}
	enc, err := aacenc.New(aacenc.Config{SampleRate: mixer.OutputRate, Channels: 1, Bitrate: 48000, Bandwidth: 7000, InputRate: mix.FrameSamples() * 50})
	if err != nil {
		return nil
	}
	r = &room{b: b, key: key, dlg: &roomDialog{id: key, done: make(chan struct{})}, mix: mix, enc: enc,
		members: map[*call]*member{}, shared: map[media.Codec]*sharedEnc{}, refs: 1}
	r.track = media.Track{Codec: media.CodecAAC, ClockRate: mixer.OutputRate, Channels: 1, Config: enc.AudioSpecificConfig()}
	r.dlg.room = r
	r.vs = mixer.NewVideoSwitch(0, mixer.VideoSwitchConfig{Next: media.FrameWriterFunc(r.video), RequestKeyframe: r.requestKeyframe,
		MinInterval: roomHoldOff})
	r.pending = make([]float32, 0, aacenc.FrameSamples+1)
	out, err := newLeg(b, nil, r.dlg, key, "conference "+key)
	if err != nil {
		return nil
	}
	out.controlled, out.wantURL, out.wantRec, out.spaceID = true, o.URL, o.Record, o.SpaceID
	// Video once a member with video joins (add): an audio-only conference's outputs
	// start with its first AAC frame.
	out.hasAudio, out.roomOut = true, r
	out.runOwns = true // its frames come from the room's step, not from the Poller
	r.out = out
	b.mu.Lock()
	if old := b.rooms[key]; old != nil && old.attach() {
		b.mu.Unlock()
		out.stop()
		return old // made at the same time by another leg
	}
	if b.closed {
		b.mu.Unlock()
		out.stop()
		return nil
	}
	b.rooms[key] = r
	b.calls[out.id] = out
	b.wg.Add(1)
	b.mu.Unlock()
	if out.handedOver != nil {
		select {
		case <-out.handedOver:
		default:
			close(out.handedOver)
		}
	}
	go out.run()
	b.gens.addRoom(r)
	return r
}

// attach counts a call in; false when the room is closing (the last leg left).
func (r *room) attach() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.refs++
	return true
}

// join makes an attached call a member (its media set up: its codecs are known).
func (r *room) join(c *call) {
	r.mu.Lock()
	r.joins = append(r.joins, c)
	r.mu.Unlock()
}

// leave takes a member out (its generator steps over) and detaches it.
func (r *room) leave(c *call) {
	r.mu.Lock()
	r.leaves = append(r.leaves, c)
	r.mu.Unlock()
	r.release()
}

// release detaches a call; the last one closes the room: its outputs finish.
func (r *room) release() {
	r.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last {
		r.closing = true
	}
	r.mu.Unlock()
	if !last {
		return
	}
	r.b.mu.Lock()
	if r.b.rooms[r.key] == r {
		delete(r.b.rooms, r.key)
	}
	r.b.mu.Unlock()
	r.b.gens.removeRoom(r) // no step of it runs after this
	r.dlg.end()
}

// post queues fn for the next step.
func (r *room) post(fn func()) {
	r.mu.Lock()
	r.reqs = append(r.reqs, fn)
	r.mu.Unlock()
}

// setMute mutes a member: rx leaves what it sends out of every mix, tx gives it silence.
func (r *room) setMute(c *call, rx, tx *bool) {
	r.post(func() {
		m := r.members[c]
		if m == nil {
			return
		}
		if rx != nil {
			m.rxMute = *rx
		}
		if tx != nil {
			m.txMute = *tx
		}
		if m.in != nil {
			m.in.SetRxMute(m.rxMute)
			m.in.SetTxMute(m.txMute)
		}
	})
}

// write takes a member's frame on its owner's goroutine: copied into the inbox.
func (r *room) write(c *call, f *media.Frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.inbox)
	if n >= maxRoomInbox || c.roomQueued >= maxMemberQueued {
		r.dropped++ // a flood fills its own share, not the others'
		return
	}
	c.roomQueued++
	if n < cap(r.inbox) {
		r.inbox = r.inbox[:n+1]
	} else {
		r.inbox = append(r.inbox, roomFrame{})
	}
	e := &r.inbox[n]
	buf := e.f.Data[:0]
	e.c, e.f = c, *f
	e.f.Data = append(buf, f.Data...)
	e.f.Track = nil
	if f.Track != nil {
		e.f.Track = f.Track.Clone()
	}
}

// requestKeyframe asks input i's leg for a keyframe (the switch's hook: the step).
func (r *room) requestKeyframe(i int) {
	if i >= 0 && i < len(r.byVideo) && r.byVideo[i] != nil {
		c := r.byVideo[i].c
		c.requestKeyframe()
		c.kickKeyframe()
	}
}

// video takes the switch's output: the speaker's frames, onto the room's outputs.
func (r *room) video(f *media.Frame) error {
	r.out.onFrame(f)
	return nil
}

// step is the room's 20 ms (the generator goroutine): the queued joins, leaves and
// requests, the frames, the mix, the full mix's AAC and every member's mix-minus.
func (r *room) step(now time.Time) {
	if r.start.IsZero() {
		r.start = now
	}
	r.mu.Lock()
	r.batch, r.inbox = r.inbox, r.batch[:0]
	for i := range r.batch {
		r.batch[i].c.roomQueued = 0
	}
	joins, leaves := r.joins, r.leaves
	r.joins, r.leaves = nil, nil
	r.treqs, r.reqs = r.reqs, r.treqs[:0]
	r.mu.Unlock()
	for _, c := range leaves {
		if m := r.members[c]; m != nil {
			if m.in != nil {
				r.mix.Remove(m.in)
			}
			r.byVideo[m.video] = nil
			delete(r.members, c)
			if m.enc != nil {
				if sh := r.shared[m.enc.Codec()]; sh != nil {
					if sh.users--; sh.users == 0 {
						delete(r.shared, m.enc.Codec())
					}
				}
			}
		}
		c.member = nil
	}
	for _, c := range joins {
		r.add(c)
	}
	for i, fn := range r.treqs {
		fn()
		r.treqs[i] = nil
	}
	for i := range r.batch {
		e := &r.batch[i]
		if m := r.members[e.c]; m != nil {
			r.frame(m, &e.f)
		}
		e.c = nil
	}
	if r.keyframe.Swap(false) {
		r.requestKeyframe(r.vs.Active())
	}
	// The mix runs on the wall clock, not on the ticks: a tick the generator missed (a
	// slow round) is made up, so that the mix's timeline keeps up with the video's.
	due := int64(now.Sub(r.start)/(20*time.Millisecond)) + 1
	for n := 0; r.steps < due && n < maxCatchUp; n++ {
		r.mixStep()
	}
	// The members are sent one packet a tick (their generator's step), so each is
	// encoded exactly once a tick, from the last step's mix: the steps a late tick made
	// up are not encoded for them, and an early tick that made none encodes the last
	// one again. An encoder must code exactly the frames its decoder gets (G.722's
	// adaptive state), and a packet of another encoder's (the generated silence) in
	// between would break it.
	if r.steps > 0 {
		r.encodeMembers()
	}
}

// shareAfter is how many steps a member contributes nothing before it is sent the
// shared encode of the full mix (1 s).
const shareAfter = 50

// sharedEnc is a room's encode of the full mix in one codec, for the members that
// contribute nothing.
type sharedEnc struct {
	enc     *mixer.LegEncoder
	users   int
	payload []byte
	step    uint32
}

// maxCatchUp bounds the mix steps one tick makes up (1 s); a longer stall is made up
// over the next ticks.
const maxCatchUp = 50

// mixStep is one 20 ms step of the mix.
func (r *room) mixStep() {
	r.mix.Step()
	r.follow()
	r.encodeMix()
	// What each member hears: its own encode of its mix-minus while it contributes
	// (and for shareAfter steps after), else the shared encode of the full mix in its
	// codec — in a large conference most members are quiet, and they share a handful
	// of encodes. A member that leaves the shared encode takes over its state first
	// (before this step's), so its stream goes on unbroken; one that joins it has been
	// encoding the very same samples (its mix-minus is the full mix) for shareAfter
	// steps, so the two encoders' adaptive state has converged.
	r.publish()
	r.steps++
}

// encodeMembers encodes what each member hears of this step.
func (r *room) encodeMembers() {
	for _, m := range r.members {
		if m.enc == nil {
			continue
		}
		full := (m.in == nil && !m.txMute) || (m.in != nil && m.in.HearsFullMix())
		if full {
			m.quiet++
		} else {
			m.quiet = 0
		}
		if full && m.enc.Shareable() && (m.in == nil || m.quiet >= shareAfter) {
			m.sharing = true
			continue
		}
		if m.sharing {
			m.sharing = false
			m.enc.CopyState(r.shared[m.enc.Codec()].enc)
		}
		pcm := r.mix.Mix()
		if m.in != nil {
			pcm = m.in.MixMinus()
		} else if m.txMute {
			pcm = nil
		}
		if pcm == nil {
			m.fresh = false
			continue
		}
		m.payload, m.step = m.enc.Encode(pcm)
		m.fresh = true
	}
	for _, sh := range r.shared {
		sh.payload, sh.step = sh.enc.Encode(r.mix.Mix())
	}
	for _, m := range r.members {
		if m.sharing {
			sh := r.shared[m.enc.Codec()]
			m.payload, m.step, m.fresh = sh.payload, sh.step, true
		}
	}
}

// publish makes the step's state what info reports (when it changed).
func (r *room) publish() {
	var speaker, showing string
	if d := r.mix.Dominant(); d != nil {
		speaker = d.ID()
	}
	if a := r.vs.Active(); a >= 0 && r.byVideo[a] != nil {
		showing = r.byVideo[a].c.id
	}
	st := r.vs.Stats()
	r.infoMu.Lock()
	defer r.infoMu.Unlock()
	ri := &r.infoNow
	if ri.Speaker == speaker && ri.Showing == showing && ri.Switches == st.Switches && len(ri.Members) == len(r.members) {
		return
	}
	ri.Speaker, ri.Showing, ri.Switches = speaker, showing, st.Switches
	ri.Members = ri.Members[:0]
	for _, m := range r.byVideo {
		if m != nil {
			ri.Members = append(ri.Members, m.c.id)
		}
	}
}

// info is the room's state of the last step (a copy).
func (r *room) info() *RoomInfo {
	r.infoMu.Lock()
	defer r.infoMu.Unlock()
	ri := r.infoNow
	ri.Members = append([]string(nil), ri.Members...)
	return &ri
}

// add makes c a member.
func (r *room) add(c *call) {
	if r.members[c] != nil {
		return
	}
	m := &member{c: c, offset: c.started.Sub(r.start)}
	if c.gen != nil {
		if enc, err := mixer.NewLegEncoder(c.gen.Codec(), r.mix.FrameSamples()*50); err == nil {
			m.enc = enc
			if enc.Shareable() {
				sh := r.shared[enc.Codec()]
				if sh == nil {
					shared, _ := mixer.NewLegEncoder(enc.Codec(), r.mix.FrameSamples()*50)
					sh = &sharedEnc{enc: shared}
					r.shared[enc.Codec()] = sh
				}
				sh.users++
			}
		}
	}
	if c.hasVideo && !r.videoOn {
		r.videoOn = true
		out := r.out
		out.post(func() { out.hasVideo = true }) // before the frames of this step
	}
	m.video = r.vs.AddInput()
	r.byVideo = append(r.byVideo, m)
	r.members[c] = m
	c.member = m
}

// frame takes one of a member's frames.
func (r *room) frame(m *member, f *media.Frame) {
	if f.Codec.IsVideo() {
		f.PTS += m.offset
		f.DTS += m.offset
		if f.Codec == media.CodecH264 && !m.hasVideo {
			m.hasVideo = true
			if r.vs.Active() < 0 && r.vs.Wanted() < 0 {
				r.vs.Select(m.video) // the first with video: a picture from the start, until someone speaks
			}
		}
		_ = r.vs.Input(m.video).WriteFrame(f)
		return
	}
	if m.in == nil {
		if m.undecodable {
			return
		}
		dec, err := mixer.NewLegDecoder(f.Codec)
		if err == nil {
			m.in, err = r.mix.Add(m.c.id, dec.Rate())
		}
		if err != nil {
			m.undecodable = true
			r.b.log.Warn("conference: a leg's audio is not mixed", "call", m.c.id, "room", r.key, "err", err)
			return
		}
		m.dec = dec
		m.in.SetRxMute(m.rxMute)
		m.in.SetTxMute(m.txMute)
	}
	level := -1 // the frame's energy decides
	if f.HasAudioLevel {
		level = int(f.AudioLevel) // RFC 6464: what the sender measured
	}
	m.in.Write(f.PTS, m.dec.Decode(f.Data), level)
}

// follow shows the dominant speaker (when it sends video), asking for its keyframe no
// sooner than the hold-off after the last switch: the switch itself waits for a
// keyframe, and the picture would otherwise change sooner than the speaker may.
func (r *room) follow() {
	if st := r.vs.Stats().Switches; st != r.switches {
		r.switches, r.switchStep = st, r.steps
	}
	d := r.mix.Dominant()
	if d == nil {
		return
	}
	for _, m := range r.members {
		if m.in != d {
			continue
		}
		if m.hasVideo && m.video != r.vs.Active() && (r.switches <= 1 || r.steps-r.switchStep >= int64(roomHoldOff/(20*time.Millisecond))) {
			r.vs.Select(m.video)
		}
		return
	}
}

// encodeMix encodes the full mix into AAC for the outputs. The mix of step k holds
// what the legs sent Delay steps before (the mixer's playout delay): its time on the
// room's timeline is (k - Delay) steps.
func (r *room) encodeMix() {
	if r.steps < int64(mixDelay) {
		return
	}
	for _, v := range r.mix.Mix() {
		r.pending = append(r.pending, v)
		if len(r.pending) < r.enc.NextFrameSamples() {
			continue
		}
		data, err := r.enc.Encode(r.pending)
		r.pending = r.pending[:0]
		if err != nil {
			continue
		}
		r.encoded++
		priming := int64(r.enc.Delay() / aacenc.FrameSamples)
		if r.encoded <= priming {
			continue
		}
		pts := time.Duration(r.encoded-1-priming) * aacenc.FrameSamples * time.Second / mixer.OutputRate
		r.aout = media.Frame{Codec: media.CodecAAC, PTS: pts, DTS: pts, Keyframe: true, Data: data}
		if !r.sent {
			r.sent = true
			r.aout.Track = &r.track
		}
		r.out.onFrame(&r.aout)
	}
}

// mixDelay is the mixer's playout delay in steps (MixConfig's default).
const mixDelay = 3

// roomHoldOff is the least time between two changes of the dominant speaker, and
// between two changes of the picture.
const roomHoldOff = 1500 * time.Millisecond

// roomDialog is the dialog of a room's outputs: no SIP; it ends when the room closes.
type roomDialog struct {
	id   string
	room *room
	once sync.Once
	done chan struct{}
}

var errRoomClosed = &sip.EndError{Class: sip.ErrHangupLocal, Reason: "the conference's last leg left"}

func (d *roomDialog) end() { d.once.Do(func() { close(d.done) }) }

func (d *roomDialog) CallID() string { return d.id }

func (d *roomDialog) State() sip.DialogState {
	select {
	case <-d.done:
		return sip.DialogEnded
	default:
		return sip.DialogEstablished
	}
}

func (d *roomDialog) Done() <-chan struct{} { return d.done }

func (d *roomDialog) Err() error {
	select {
	case <-d.done:
		return errRoomClosed
	default:
		return nil
	}
}

// Hangup ends the room's outputs (the Bridge closing); the legs go on alone.
func (d *roomDialog) Hangup(context.Context) error { d.end(); return nil }

// RequestKeyframe asks the speaker shown for a keyframe.
func (d *roomDialog) RequestKeyframe(context.Context) error {
	d.room.keyframe.Store(true)
	return nil
}

func (d *roomDialog) SendDTMF(context.Context, byte, time.Duration) error {
	return errors.New("conference: a conference's outputs send no keys")
}

func (d *roomDialog) ContactParam(string) (string, bool) { return "", false }

var _ sip.Dialog = (*roomDialog)(nil)
