package metrics

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/uploader"
)

// States are the publisher states sipcast_streams counts, every one always present.
var States = []rtmp.State{rtmp.StateConnecting, rtmp.StatePublishing, rtmp.StateRetrying}

// Kinds are the media kinds of the per-kind series.
var Kinds = []string{"video", "audio"}

// guard keeps counters from going back: a part's figures move from the calls in progress
// to the Bridge's totals when it finishes, and a scrape between the two could see them
// in neither.
type guard struct {
	mu   sync.Mutex
	last map[string]float64
}

func (g *guard) counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	key := d.String() + "\x00" + strings.Join(labels, "\x00")
	g.mu.Lock()
	if last, ok := g.last[key]; ok && v < last {
		v = last
	}
	g.last[key] = v
	g.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// BridgeCollector is a prometheus.Collector over a conference.Bridge: its calls, streams,
// recordings and received media. Counters add the calls in progress to the Bridge's
// Totals, so they never go back. Labels are bounded (kind, state, outcome) unless
// WithCallLabels adds per-call series.
type BridgeCollector struct {
	b       *conference.Bridge
	perCall bool
	g       guard

	calls, callsDone, callsMax                         *prometheus.Desc
	streams, streamBytes, streamFrames, streamDropped  *prometheus.Desc
	streamReconnects, streamsStopped                   *prometheus.Desc
	recordings, recordingsDone, recordingBytes         *prometheus.Desc
	framesIn, packetsIn, bytesIn, packetsLost, late    *prometheus.Desc
	concealed, frozen, keyRequests, keyAnswered, nacks *prometheus.Desc
	recovered                                          *prometheus.Desc
	callStreamBytes, callFramesIn                      *prometheus.Desc
}

// Option sets up a BridgeCollector.
type Option func(*BridgeCollector)

// WithCallLabels adds per-call series labelled with the Call-ID: unbounded cardinality,
// and Call-IDs are identifiers an operator may not want on a dashboard. Off by default.
func WithCallLabels() Option { return func(c *BridgeCollector) { c.perCall = true } }

// NewBridgeCollector returns a collector over b.
func NewBridgeCollector(b *conference.Bridge, opts ...Option) *BridgeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sipcast_"+name, help, labels, nil)
	}
	c := &BridgeCollector{b: b, g: guard{last: map[string]float64{}},
		calls:            d("calls", "Calls in progress."),
		callsMax:         d("calls_max", "The most calls in progress at once since the start."),
		callsDone:        d("calls_completed_total", "Calls that ended."),
		streams:          d("streams", "RTMP publishers of the calls in progress, by state.", "state"),
		streamsStopped:   d("streams_stopped_total", "RTMP publishers stopped (the call ended, or its stream moved)."),
		streamBytes:      d("stream_sent_bytes_total", "RTMP bytes sent."),
		streamFrames:     d("stream_frames_sent_total", "Frames sent over RTMP, by kind.", "kind"),
		streamDropped:    d("stream_frames_dropped_total", "Frames the RTMP publishers' queues dropped, by kind.", "kind"),
		streamReconnects: d("stream_reconnects_total", "Successful RTMP publishes after the first of a publisher."),
		recordings:       d("recordings", "Recordings in progress."),
		recordingsDone:   d("recordings_finished_total", "Recordings finalized, by outcome (ok, failed).", "outcome"),
		recordingBytes:   d("recording_bytes_total", "Bytes written to recordings."),
		framesIn:         d("frames_received_total", "Frames received from callers, by kind.", "kind"),
		packetsIn:        d("rtp_packets_received_total", "RTP packets received, by kind.", "kind"),
		bytesIn:          d("rtp_received_bytes_total", "RTP bytes received, by kind.", "kind"),
		packetsLost:      d("rtp_packets_lost_total", "RTP packets never received (the jitter buffers gave up on them), by kind.", "kind"),
		late:             d("rtp_packets_late_total", "RTP packets that came after their place was given up, by kind.", "kind"),
		recovered:        d("rtp_packets_recovered_total", "RTP packets that came after a NACK asked for them, by kind.", "kind"),
		nacks:            d("rtcp_nacks_sent_total", "RTCP NACK packets sent, by kind.", "kind"),
		concealed:        d("video_frames_concealed_total", "Video frames forwarded marked concealed after a loss."),
		frozen:           d("video_frames_frozen_total", "Video frames dropped while the picture froze after a loss."),
		keyRequests:      d("keyframe_requests_total", "Keyframe request steps sent (PLI, FIR, SIP INFO)."),
		keyAnswered:      d("keyframe_requests_answered_total", "Keyframe requests a keyframe answered."),
		callStreamBytes:  d("call_stream_sent_bytes_total", "RTMP bytes sent, per call.", "call"),
		callFramesIn:     d("call_frames_received_total", "Frames received, per call and kind.", "call", "kind"),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Describe sends every series' description.
func (c *BridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.callsMax, c.callsDone, c.streams, c.streamsStopped, c.streamBytes, c.streamFrames,
		c.streamDropped, c.streamReconnects, c.recordings, c.recordingsDone, c.recordingBytes, c.framesIn, c.packetsIn, c.bytesIn,
		c.packetsLost, c.late, c.recovered, c.nacks, c.concealed, c.frozen, c.keyRequests, c.keyAnswered} {
		ch <- d
	}
	if c.perCall {
		ch <- c.callStreamBytes
		ch <- c.callFramesIn
	}
}

// Collect sends the current figures.
func (c *BridgeCollector) Collect(ch chan<- prometheus.Metric) {
	tot := c.b.Totals()
	st := c.b.Stats()
	calls := c.b.Calls()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.calls, float64(len(calls)))
	gauge(c.callsMax, float64(st.MaxActive))
	c.g.counter(ch, c.callsDone, float64(tot.Calls))

	pub, rec := tot.Publisher, tot.Recorder
	media := map[string]mediaSums{}
	for k, s := range tot.Media {
		media[k] = media[k].add(s.Packets, s.Bytes, s.PacketsLost, s.Late, s.Recovered, s.NACKs)
	}
	frames := map[string]uint64{"video": tot.VideoFrames, "audio": tot.AudioFrames}
	concealed, frozen, requests, answered := uint64(0), uint64(0), uint64(0), uint64(0)
	for _, s := range tot.Media {
		concealed, frozen, requests, answered = concealed+s.Concealed, frozen+s.Frozen, requests+s.KeyframeRequests, answered+s.KeyframesAnswered
	}
	byState := map[rtmp.State]int{}
	recording := 0
	for _, ci := range calls {
		if ci.URL != "" {
			byState[ci.Streaming]++
		}
		if ci.Recording != "" {
			recording++
		}
		p := ci.Publisher
		pub.BytesSent += p.BytesSent
		pub.VideoFrames += p.VideoFrames
		pub.AudioFrames += p.AudioFrames
		pub.DroppedVideo += p.DroppedVideo
		pub.DroppedAudio += p.DroppedAudio
		pub.Reconnects += p.Reconnects
		rec.Bytes += ci.Recorder.Bytes
		frames["video"] += ci.VideoFrames
		frames["audio"] += ci.AudioFrames
		for k, s := range ci.Media {
			media[k] = media[k].add(s.Packets, s.Bytes, s.PacketsLost, s.Late, s.Recovered, s.NACKs)
			concealed, frozen, requests, answered = concealed+s.Concealed, frozen+s.Frozen, requests+s.KeyframeRequests, answered+s.KeyframesAnswered
		}
	}
	for _, s := range States {
		gauge(c.streams, float64(byState[s]), s.String())
	}
	c.g.counter(ch, c.streamsStopped, float64(tot.Streams))
	c.g.counter(ch, c.streamBytes, float64(pub.BytesSent))
	c.g.counter(ch, c.streamFrames, float64(pub.VideoFrames), "video")
	c.g.counter(ch, c.streamFrames, float64(pub.AudioFrames), "audio")
	c.g.counter(ch, c.streamDropped, float64(pub.DroppedVideo), "video")
	c.g.counter(ch, c.streamDropped, float64(pub.DroppedAudio), "audio")
	c.g.counter(ch, c.streamReconnects, float64(pub.Reconnects))
	gauge(c.recordings, float64(recording))
	c.g.counter(ch, c.recordingsDone, float64(tot.Recordings-tot.RecordingsFailed), "ok")
	c.g.counter(ch, c.recordingsDone, float64(tot.RecordingsFailed), "failed")
	c.g.counter(ch, c.recordingBytes, float64(rec.Bytes))
	for _, k := range Kinds {
		m := media[k]
		c.g.counter(ch, c.framesIn, float64(frames[k]), k)
		c.g.counter(ch, c.packetsIn, float64(m.packets), k)
		c.g.counter(ch, c.bytesIn, float64(m.bytes), k)
		c.g.counter(ch, c.packetsLost, float64(m.lost), k)
		c.g.counter(ch, c.late, float64(m.late), k)
		c.g.counter(ch, c.recovered, float64(m.recovered), k)
		c.g.counter(ch, c.nacks, float64(m.nacks), k)
	}
	c.g.counter(ch, c.concealed, float64(concealed))
	c.g.counter(ch, c.frozen, float64(frozen))
	c.g.counter(ch, c.keyRequests, float64(requests))
	c.g.counter(ch, c.keyAnswered, float64(answered))
	if c.perCall {
		for _, ci := range calls {
			ch <- prometheus.MustNewConstMetric(c.callStreamBytes, prometheus.CounterValue, float64(ci.Publisher.BytesSent), ci.ID)
			ch <- prometheus.MustNewConstMetric(c.callFramesIn, prometheus.CounterValue, float64(ci.VideoFrames), ci.ID, "video")
			ch <- prometheus.MustNewConstMetric(c.callFramesIn, prometheus.CounterValue, float64(ci.AudioFrames), ci.ID, "audio")
		}
	}
}

type mediaSums struct{ packets, bytes, lost, late, recovered, nacks uint64 }

func (m mediaSums) add(packets, bytes, lost, late, recovered, nacks uint64) mediaSums {
	return mediaSums{m.packets + packets, m.bytes + bytes, m.lost + lost, m.late + late, m.recovered + recovered, m.nacks + nacks}
}

// UploaderCollector is a prometheus.Collector over an uploader.Uploader.
type UploaderCollector struct {
	u                      *uploader.Uploader
	uploads, pending, scan *prometheus.Desc
}

// NewUploaderCollector returns a collector over u.
func NewUploaderCollector(u *uploader.Uploader) *UploaderCollector {
	return &UploaderCollector{u: u,
		uploads: prometheus.NewDesc("sipcast_uploads_total", "Recordings handled by the uploader, by outcome (uploaded, ready, deleted, failed, error).", []string{"outcome"}, nil),
		pending: prometheus.NewDesc("sipcast_uploads_pending", "Recordings found at the last scan that are not ready.", nil, nil),
		scan:    prometheus.NewDesc("sipcast_uploader_last_scan_timestamp_seconds", "When the uploader's last scan ended (Unix time).", nil, nil),
	}
}

// Describe sends every series' description.
func (c *UploaderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.uploads
	ch <- c.pending
	ch <- c.scan
}

// Collect sends the current figures.
func (c *UploaderCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.u.Stats()
	for _, o := range []struct {
		name string
		n    int
	}{{"uploaded", st.Uploaded}, {"ready", st.Ready}, {"deleted", st.Deleted}, {"failed", st.Failed}, {"error", st.Errors}} {
		ch <- prometheus.MustNewConstMetric(c.uploads, prometheus.CounterValue, float64(o.n), o.name)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	var at float64
	if !st.LastScan.IsZero() {
		at = float64(st.LastScan.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.scan, prometheus.GaugeValue, at)
}

// NewRegistry returns a registry with the Go runtime and process collectors and cs.
func NewRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(cs...)
	return reg
}

// Handler serves reg in the Prometheus exposition format (at whatever path it is
// mounted on).
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
