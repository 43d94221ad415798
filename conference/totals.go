package conference

import (
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp"
)

// Totals are what the Bridge's finished parts did: the publishers that stopped (a call
// that ended, or a stream that moved), the recordings that were finalized, and the
// calls that ended. With the figures of the calls in progress (Calls), they make
// counters that never go back (package conference/metrics does that).
type Totals struct {
	// Calls ended, and their frames and media packets received.
	Calls                    int
	VideoFrames, AudioFrames uint64
	Media                    map[string]media.SessionStats
	// Streams: publishers stopped, and their figures.
	Streams   int
	Publisher rtmp.Stats
	// Recordings finalized (or failed), and their figures.
	Recordings       int
	RecordingsFailed int
	Recorder         recording.Stats
}

// Totals returns the finished parts' figures.
func (b *Bridge) Totals() Totals {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.totals
	t.Media = make(map[string]media.SessionStats, len(b.totals.Media))
	for k, v := range b.totals.Media {
		t.Media[k] = v
	}
	return t
}

func (b *Bridge) retirePublisher(st rtmp.Stats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := &b.totals
	t.Streams++
	t.Publisher.BytesSent += st.BytesSent
	t.Publisher.VideoFrames += st.VideoFrames
	t.Publisher.KeyFrames += st.KeyFrames
	t.Publisher.AudioFrames += st.AudioFrames
	t.Publisher.DroppedVideo += st.DroppedVideo
	t.Publisher.DroppedAudio += st.DroppedAudio
	t.Publisher.Reconnects += st.Reconnects
	t.Publisher.ClampedTimestamps += st.ClampedTimestamps
}

func (b *Bridge) retireRecorder(st recording.Stats, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := &b.totals
	t.Recordings++
	if failed {
		t.RecordingsFailed++
	}
	t.Recorder.VideoFrames += st.VideoFrames
	t.Recorder.AudioFrames += st.AudioFrames
	t.Recorder.Bytes += st.Bytes
	t.Recorder.Fragments += st.Fragments
	t.Recorder.FileSyncs += st.FileSyncs
	t.Recorder.DirSyncs += st.DirSyncs
}

// retireCallLocked adds an ending call's receive figures (b.mu held).
func (b *Bridge) retireCallLocked(ci CallInfo) {
	t := &b.totals
	t.Calls++
	t.VideoFrames += ci.VideoFrames
	t.AudioFrames += ci.AudioFrames
	if t.Media == nil {
		t.Media = map[string]media.SessionStats{}
	}
	for kind, s := range ci.Media {
		t.Media[kind] = AddSessionStats(t.Media[kind], s)
	}
}

// AddSessionStats adds two sessions' counters (the latency figures take the larger).
func AddSessionStats(a, s media.SessionStats) media.SessionStats {
	a.Packets += s.Packets
	a.Bytes += s.Bytes
	a.Frames += s.Frames
	a.PLIs += s.PLIs
	a.NACKs += s.NACKs
	a.Foreign += s.Foreign
	a.Concealed += s.Concealed
	a.Frozen += s.Frozen
	a.PacketsLost += s.PacketsLost
	a.Late += s.Late
	a.EmptyFrames += s.EmptyFrames
	a.Recovered += s.Recovered
	a.NACKTooLate += s.NACKTooLate
	a.KeyframeRequests += s.KeyframeRequests
	a.KeyframesAnswered += s.KeyframesAnswered
	a.KeyframeLatency = max(a.KeyframeLatency, s.KeyframeLatency)
	a.KeyframeLatencyMax = max(a.KeyframeLatencyMax, s.KeyframeLatencyMax)
	return a
}
