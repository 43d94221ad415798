// Package metrics exposes a conference.Bridge (calls, RTMP streams, recordings, received
// media, loss handling) and an uploader.Uploader to Prometheus through
// github.com/prometheus/client_golang, with the Go runtime and process collectors. It
// is a package of its own so that applications that do not use Prometheus do not
// import it.
//
// Names follow Prometheus' conventions (sipcast_ prefix, _total counters, _bytes and
// _seconds units); labels are bounded (kind, state, outcome) unless WithCallLabels adds
// per-call series.
package metrics
