package cmsapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sipcast/sipcast/internal/httpc"
)

// Records is one CDR POST: <records session="…"><record …>…</record></records>.
type Records struct {
	XMLName    xml.Name `xml:"records"`
	Session    string   `xml:"session,attr"`
	CallBridge string   `xml:"callBridge,attr,omitempty"`
	Records    []Record `xml:"record"`
}

// CDR record types.
const (
	CDRCallStart      = "callStart"
	CDRCallEnd        = "callEnd"
	CDRCallLegStart   = "callLegStart"
	CDRCallLegUpdate  = "callLegUpdate"
	CDRCallLegEnd     = "callLegEnd"
	CDRRecordingStart = "recordingStart"
	CDRRecordingEnd   = "recordingEnd"
	CDRStreamingStart = "streamingStart"
	CDRStreamingEnd   = "streamingEnd"
)

// Record is one call detail record; exactly one of its elements is set.
type Record struct {
	Type            string `xml:"type,attr"`
	Time            string `xml:"time,attr"`
	RecordIndex     int    `xml:"recordIndex,attr"`
	CorrelatorIndex int    `xml:"correlatorIndex,attr"`
	// NumPreceedingRecordsMissing (CMS's spelling) says records were dropped before
	// this one.
	NumPreceedingRecordsMissing int `xml:"numPreceedingRecordsMissing,attr,omitempty"`

	Call      *CDRCall      `xml:"call,omitempty"`
	CallLeg   *CDRCallLeg   `xml:"callLeg,omitempty"`
	Recording *CDRRecording `xml:"recording,omitempty"`
	Streaming *CDRStreaming `xml:"streaming,omitempty"`
}

// CDRCall is the <call> of callStart and callEnd.
type CDRCall struct {
	ID                string `xml:"id,attr"`
	Name              string `xml:"name,omitempty"`
	OwnerName         string `xml:"ownerName,omitempty"`
	CallType          string `xml:"callType,omitempty"`
	CoSpace           string `xml:"coSpace,omitempty"`
	CallCorrelator    string `xml:"callCorrelator,omitempty"`
	CdrTag            string `xml:"cdrTag,omitempty"`
	Tenant            string `xml:"tenant,omitempty"`
	CallLegsCompleted *int   `xml:"callLegsCompleted,omitempty"`
	CallLegsMaxActive *int   `xml:"callLegsMaxActive,omitempty"`
	DurationSeconds   *int64 `xml:"durationSeconds,omitempty"`
}

// CDRCallLeg is the <callLeg> of callLegStart, callLegUpdate and callLegEnd.
type CDRCallLeg struct {
	ID              string `xml:"id,attr"`
	DisplayName     string `xml:"displayName,omitempty"`
	LocalAddress    string `xml:"localAddress,omitempty"`
	RemoteAddress   string `xml:"remoteAddress,omitempty"`
	RemoteParty     string `xml:"remoteParty,omitempty"`
	Recording       *bool  `xml:"recording,omitempty"`
	Streaming       *bool  `xml:"streaming,omitempty"`
	Type            string `xml:"type,omitempty"`
	Direction       string `xml:"direction,omitempty"`
	Call            string `xml:"call,omitempty"`
	SipCallID       string `xml:"sipCallId,omitempty"`
	State           string `xml:"state,omitempty"`
	Reason          string `xml:"reason,omitempty"`
	RemoteTeardown  *bool  `xml:"remoteTeardown,omitempty"`
	DurationSeconds *int64 `xml:"durationSeconds,omitempty"`
}

// CDRRecording is the <recording> of recordingStart (recordingEnd carries only the id).
type CDRRecording struct {
	ID          string `xml:"id,attr"`
	Path        string `xml:"path,omitempty"`
	RecorderURL string `xml:"recorderUrl,omitempty"`
	Call        string `xml:"call,omitempty"`
	CallLeg     string `xml:"callLeg,omitempty"`
}

// CDRStreaming is the <streaming> of streamingStart (streamingEnd carries only the id).
// StreamURL must have its credentials removed.
type CDRStreaming struct {
	ID          string `xml:"id,attr"`
	StreamURL   string `xml:"streamUrl,omitempty"`
	StreamerURL string `xml:"streamerUrl,omitempty"`
	Call        string `xml:"call,omitempty"`
	CallLeg     string `xml:"callLeg,omitempty"`
}

func (r *Record) correlator() string {
	switch {
	case r.Call != nil:
		return r.Call.ID
	case r.CallLeg != nil && r.CallLeg.Call != "":
		return r.CallLeg.Call
	case r.CallLeg != nil:
		return r.CallLeg.ID
	case r.Recording != nil:
		return r.Recording.Call
	case r.Streaming != nil:
		return r.Streaming.Call
	}
	return ""
}

// maxPendingCDRs caps the records kept for a receiver that does not answer; older ones
// are dropped and the next record sent says how many (numPreceedingRecordsMissing).
const maxPendingCDRs = 10000

// CDRSender posts records to the CDR receivers as CMS does: in order, several per POST,
// resent until the receiver answers 200 OK. Each record carries the session and a
// recordIndex, by which receivers de-duplicate.
type CDRSender struct {
	receivers func() []string
	hc        *http.Client
	log       *slog.Logger
	session   string
	now       func() time.Time

	mu          sync.Mutex
	index       int
	correlators map[string]int
	pending     map[string]*cdrQueue // by receiver URI
	wake        chan struct{}
	closed      bool
	ctx         context.Context
	cancel      context.CancelFunc
	done        chan struct{}
	once        sync.Once
}

type cdrQueue struct {
	records []Record
	missing int
	attempt int
	next    time.Time
}

// NewCDRSender starts a sender; receivers is asked for the receiver URIs before each
// delivery (the server's /system/cdrReceivers). hc may be nil.
func NewCDRSender(receivers func() []string, hc *http.Client, log *slog.Logger) *CDRSender {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &CDRSender{receivers: receivers, hc: hc, log: log, session: NewID(), now: time.Now,
		correlators: map[string]int{}, pending: map[string]*cdrQueue{}, wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.run()
	return s
}

// Session is the id of this sender's records (new per start, as per Call Bridge restart).
func (s *CDRSender) Session() string { return s.session }

// Send queues a record for every receiver; Type and one element must be set. Time,
// recordIndex and correlatorIndex are filled in: call is the id of the call (conference)
// the record belongs to, whose records are numbered by correlatorIndex ("": taken from
// the record; callLegEnd carries no call, so pass it).
func (s *CDRSender) Send(call string, r Record) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	r.Time = s.now().UTC().Format(time.RFC3339)
	r.RecordIndex = s.index
	s.index++
	c := call
	if c == "" {
		c = r.correlator()
	}
	if c != "" {
		r.CorrelatorIndex = s.correlators[c]
		s.correlators[c]++
		if r.Type == CDRCallEnd {
			delete(s.correlators, c)
		}
	}
	for _, uri := range s.receivers() {
		q := s.pending[uri]
		if q == nil {
			q = &cdrQueue{}
			s.pending[uri] = q
		}
		if len(q.records) >= maxPendingCDRs {
			q.records = q.records[1:]
			q.missing++
		}
		q.records = append(q.records, r)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run delivers pending records until Close.
func (s *CDRSender) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := s.deliver()
		timer.Reset(wait)
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// deliver posts each receiver's pending records that are due and returns how long
// until the next retry.
func (s *CDRSender) deliver() time.Duration {
	wait := time.Hour
	current := map[string]bool{}
	for _, uri := range s.receivers() {
		current[uri] = true
	}
	s.mu.Lock()
	uris := make([]string, 0, len(s.pending))
	for uri, q := range s.pending {
		if !current[uri] {
			// The receiver was removed (DELETE /system/cdrReceivers/...): its records
			// have nobody to go to, and would be retried for ever.
			if len(q.records) > 0 {
				s.log.Warn("cmsapi: CDR receiver removed; its undelivered records are dropped", "receiver", redactURL(uri), "records", len(q.records))
			}
			delete(s.pending, uri)
			continue
		}
		if len(q.records) > 0 {
			uris = append(uris, uri)
		}
	}
	s.mu.Unlock()
	for _, uri := range uris {
		s.mu.Lock()
		q := s.pending[uri]
		if d := time.Until(q.next); d > 0 {
			wait = min(wait, d)
			s.mu.Unlock()
			continue
		}
		batch := append([]Record(nil), q.records[:min(len(q.records), 100)]...)
		if q.missing > 0 {
			batch[0].NumPreceedingRecordsMissing = q.missing
		}
		s.mu.Unlock()
		err := s.post(uri, batch)
		s.mu.Lock()
		if err == nil {
			q.records = q.records[len(batch):]
			q.missing, q.attempt = 0, 0
			if len(q.records) > 0 {
				wait = 0
			}
		} else {
			q.attempt++
			d := httpc.Backoff(q.attempt, 200*time.Millisecond, 30*time.Second)
			q.next = time.Now().Add(d)
			wait = min(wait, d)
			s.log.Warn("cmsapi: CDR receiver did not take the records, will resend", "receiver", redactURL(uri), "err", err, "next_in", d)
		}
		s.mu.Unlock()
	}
	return wait
}

func (s *CDRSender) post(uri string, batch []Record) error {
	var body bytes.Buffer
	body.WriteString(xmlHeader)
	if err := xml.NewEncoder(&body).Encode(Records{Session: s.session, Records: batch}); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, uri, &body)
	if err != nil {
		return fmt.Errorf("receiver URI: %w", errors.Unwrap(err))
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := s.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// Flush waits until every queued record was delivered (or dropped with its receiver,
// when the receiver was removed) or ctx ends.
func (s *CDRSender) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := 0
		for _, q := range s.pending {
			n += len(q.records)
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
		if err := httpc.Sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("cmsapi: %d CDRs not delivered: %w", n, err)
		}
	}
}

// Close stops the sender; records not yet delivered are dropped (call Flush first to
// wait for them). Idempotent.
func (s *CDRSender) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		<-s.done
	})
	return nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// CDRReceiver is a CDR receiver for tests and small deployments: an http.Handler that
// takes CMS record posts, de-duplicates them on session and recordIndex, and keeps them.
type CDRReceiver struct {
	mu      sync.Mutex
	records []Record
	seen    map[string]bool
	posts   int
	fail    int
	changed chan struct{}
}

// NewCDRReceiver returns an empty receiver.
func NewCDRReceiver() *CDRReceiver {
	return &CDRReceiver{seen: map[string]bool{}, changed: make(chan struct{})}
}

// FailNext makes the next n posts answer 500 (to exercise resending).
func (c *CDRReceiver) FailNext(n int) {
	c.mu.Lock()
	c.fail = n
	c.mu.Unlock()
}

// ServeHTTP takes one post.
func (c *CDRReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	if c.fail > 0 {
		c.fail--
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	var recs Records
	if err := xml.Unmarshal(data, &recs); err != nil {
		http.Error(w, "not a CDR document", http.StatusBadRequest)
		return
	}
	for _, rec := range recs.Records {
		key := fmt.Sprintf("%s/%d", recs.Session, rec.RecordIndex)
		if !c.seen[key] {
			c.seen[key] = true
			c.records = append(c.records, rec)
		}
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// Records returns the records received, in order, without duplicates.
func (c *CDRReceiver) Records() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record(nil), c.records...)
}

// Posts counts the posts answered, failed ones included.
func (c *CDRReceiver) Posts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts
}

// WaitFor waits until a record of the type for which match (nil: any) is true has
// arrived, and returns it.
func (c *CDRReceiver) WaitFor(ctx context.Context, typ string, match func(Record) bool) (Record, error) {
	for {
		c.mu.Lock()
		for _, r := range c.records {
			if r.Type == typ && (match == nil || match(r)) {
				c.mu.Unlock()
				return r, nil
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Record{}, fmt.Errorf("cmsapi: no %s record arrived: %w", typ, ctx.Err())
		}
	}
}
