package status

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/media"
)

//go:embed status.html
var page []byte

// Status is the JSON the page shows (GET status.json).
type Status struct {
	Time     time.Time `json:"time"`
	Calls    []Call    `json:"calls"`
	Active   int       `json:"active"`
	Complete int       `json:"completed"`
	Draining bool      `json:"draining,omitempty"`
}

// Call is one call in progress.
type Call struct {
	ID        string     `json:"id"`
	Remote    string     `json:"remote"`
	Started   time.Time  `json:"started"`
	Duration  float64    `json:"durationSeconds"`
	State     string     `json:"state"`
	Media     []Track    `json:"media"`
	Stream    *Stream    `json:"stream,omitempty"`
	Recording *Recording `json:"recording,omitempty"`
}

// Track is one kind of incoming media.
type Track struct {
	Kind        string  `json:"kind"`
	Codec       string  `json:"codec"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FrameRate   float64 `json:"frameRate"`
	Bitrate     float64 `json:"bitrate"` // bits per second, over the last sample interval
	Packets     uint64  `json:"packets"`
	PacketsLost uint64  `json:"packetsLost"`
	JitterMs    float64 `json:"jitterMs"`
	Concealed   uint64  `json:"concealed"`
	Frozen      uint64  `json:"frozen"`
}

// Stream is a call's RTMP output.
type Stream struct {
	URL        string  `json:"url"` // credentials removed, key redacted
	State      string  `json:"state"`
	Bitrate    float64 `json:"bitrate"`
	BytesSent  uint64  `json:"bytesSent"`
	Reconnects uint64  `json:"reconnects"`
	Dropped    uint64  `json:"dropped"`
}

// Recording is a call's recording.
type Recording struct {
	File  string `json:"file"` // the file's name, not its path
	Bytes int64  `json:"bytes"`
}

// Handler serves the page at "/", its data at "/status.json" and ending a call at
// "/end" (POST, JSON {"id": ...}, header X-Sipcast-Request). Mount it under a prefix
// with http.StripPrefix.
type Handler struct {
	b   *conference.Bridge
	now func() time.Time
	mux *http.ServeMux

	mu      sync.Mutex
	samples map[string]sample // by call and kind ("stream" for RTMP)
}

type sample struct {
	at            time.Time
	bytes, frames uint64
	bitrate, fps  float64
}

// minSample is the shortest interval a rate is measured over: polls closer together
// (several viewers) reuse the last rate.
const minSample = 900 * time.Millisecond

// New returns a Handler for b.
func New(b *conference.Bridge) *Handler {
	h := &Handler{b: b, now: time.Now, mux: http.NewServeMux(), samples: map[string]sample{}}
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Header().Set("X-Frame-Options", "DENY")
		_, _ = w.Write(page)
	})
	h.mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(h.Status())
	})
	h.mux.HandleFunc("POST /end", h.end)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) end(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Sipcast-Request") == "" {
		http.Error(w, "missing X-Sipcast-Request header", http.StatusForbidden)
		return
	}
	var req struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "body must be {\"id\": \"<call id>\"}", http.StatusBadRequest)
		return
	}
	if _, ok := h.b.Call(req.ID); !ok {
		http.Error(w, "no such call", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := h.b.EndCall(ctx, req.ID); err != nil {
		http.Error(w, "ending the call failed", http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Status returns what the page shows.
func (h *Handler) Status() Status {
	now := h.now()
	calls := h.b.Calls()
	sort.Slice(calls, func(i, j int) bool { return calls[i].Started.Before(calls[j].Started) })
	st := h.b.Stats()
	out := Status{Time: now, Active: st.Active, Complete: st.Completed, Draining: h.b.UA().Draining(), Calls: []Call{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, ci := range calls {
		c := Call{ID: ci.ID, Remote: ci.Remote, Started: ci.Started, Duration: now.Sub(ci.Started).Seconds(), State: "connected", Media: []Track{}}
		for _, kind := range []string{"video", "audio"} {
			ms, ok := ci.Media[kind]
			if !ok {
				continue
			}
			t := Track{Kind: kind, Packets: ms.Packets, PacketsLost: ms.PacketsLost, JitterMs: float64(ms.Jitter) / 1e6,
				Concealed: ms.Concealed, Frozen: ms.Frozen}
			for _, tr := range ci.Tracks {
				if (kind == "video") == tr.Codec.IsVideo() {
					t.Codec, t.Width, t.Height = codecName(tr.Codec), tr.Width, tr.Height
				}
			}
			key := ci.ID + "\x00" + kind
			seen[key] = true
			t.Bitrate, t.FrameRate = h.rate(key, now, ms.Bytes, ms.Frames)
			c.Media = append(c.Media, t)
		}
		if ci.URL != "" {
			key := ci.ID + "\x00stream"
			seen[key] = true
			br, _ := h.rate(key, now, ci.Publisher.BytesSent, 0)
			c.Stream = &Stream{URL: ci.URL, State: ci.Streaming.String(), Bitrate: br, BytesSent: ci.Publisher.BytesSent,
				Reconnects: ci.Publisher.Reconnects, Dropped: ci.Publisher.DroppedVideo + ci.Publisher.DroppedAudio}
		}
		if ci.Recording != "" {
			c.Recording = &Recording{File: filepath.Base(ci.Recording), Bytes: ci.Recorder.Bytes}
		}
		out.Calls = append(out.Calls, c)
	}
	for k := range h.samples {
		if !seen[k] {
			delete(h.samples, k) // the call ended
		}
	}
	return out
}

// rate gives the bitrate and frame rate since the last sample of key (h.mu held).
func (h *Handler) rate(key string, now time.Time, bytes, frames uint64) (bitrate, fps float64) {
	s, ok := h.samples[key]
	if !ok {
		h.samples[key] = sample{at: now, bytes: bytes, frames: frames}
		return 0, 0
	}
	if d := now.Sub(s.at); d >= minSample {
		sec := d.Seconds()
		s = sample{at: now, bytes: bytes, frames: frames,
			bitrate: float64(bytes-s.bytes) * 8 / sec, fps: float64(frames-s.frames) / sec}
		h.samples[key] = s
	}
	return s.bitrate, s.fps
}

func codecName(c media.Codec) string {
	switch c {
	case media.CodecH264:
		return "H.264"
	case media.CodecAAC:
		return "AAC"
	}
	return c.String()
}
