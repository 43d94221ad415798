package cmsapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// Records are resent until the receiver answers 200, arrive once each and in order,
// numbered by recordIndex, and per call by correlatorIndex; a receiver URI's password
// stays out of the log.
func TestCDRDelivery(t *testing.T) {
	rcv := NewCDRReceiver()
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	rcv.FailNext(2)
	var logs bytes.Buffer
	uri := strings.Replace(hs.URL, "http://", "http://cdr:Rcv-Secr3t@", 1) + "/cdr?x=1"
	s := NewCDRSender(func() []string { return []string{uri} }, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	defer s.Close()
	s.Send("c1", Record{Type: CDRCallStart, Call: &CDRCall{ID: "c1", Name: "Board"}})
	s.Send("c1", Record{Type: CDRCallLegStart, CallLeg: &CDRCallLeg{ID: "l1", Call: "c1"}})
	s.Send("c2", Record{Type: CDRCallStart, Call: &CDRCall{ID: "c2"}})
	s.Send("c1", Record{Type: CDRCallLegEnd, CallLeg: &CDRCallLeg{ID: "l1", Reason: "remoteTeardown"}})
	s.Send("c1", Record{Type: CDRCallEnd, Call: &CDRCall{ID: "c1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))
	recs := rcv.Records()
	require.Len(t, recs, 5)
	var types []string
	for i, r := range recs {
		types = append(types, r.Type)
		assert.Equal(t, i, r.RecordIndex)
		_, err := time.Parse(time.RFC3339, r.Time)
		assert.NoError(t, err)
	}
	assert.Equal(t, []string{"callStart", "callLegStart", "callStart", "callLegEnd", "callEnd"}, types)
	assert.Equal(t, []int{0, 1, 0, 2, 3}, []int{recs[0].CorrelatorIndex, recs[1].CorrelatorIndex, recs[2].CorrelatorIndex, recs[3].CorrelatorIndex, recs[4].CorrelatorIndex})
	assert.GreaterOrEqual(t, rcv.Posts(), 3, "two failed posts, then delivered")
	assert.Contains(t, logs.String(), "will resend")
	assert.NotContains(t, logs.String(), "Rcv-Secr3t")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")
}

// The receiver de-duplicates a resent post (same session and recordIndex).
func TestCDRReceiverDeduplicates(t *testing.T) {
	rcv := NewCDRReceiver()
	doc := `<?xml version="1.0"?><records session="s1"><record type="callStart" time="2015-07-23T07:32:55Z" recordIndex="4" correlatorIndex="0"><call id="c"><name>x</name></call></record></records>`
	for range 2 {
		w := httptest.NewRecorder()
		rcv.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(doc)))
		assert.Equal(t, 200, w.Code)
	}
	assert.Len(t, rcv.Records(), 1)
	w := httptest.NewRecorder()
	rcv.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("<not")))
	assert.Equal(t, 400, w.Code)
}

// A receiver removed while its records wait (it kept failing): they are dropped with
// it, so Flush returns instead of waiting for a receiver nobody configures any more, and
// the other receiver still gets everything.
func TestCDRRemovedReceiverIsForgotten(t *testing.T) {
	down, up := NewCDRReceiver(), NewCDRReceiver()
	down.FailNext(1 << 30)
	hsDown, hsUp := httptest.NewServer(down), httptest.NewServer(up)
	defer hsDown.Close()
	defer hsUp.Close()
	var mu sync.Mutex
	receivers := []string{hsDown.URL, hsUp.URL}
	var logs peer.SyncBuffer
	s := NewCDRSender(func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), receivers...) }, nil,
		slog.New(slog.NewTextHandler(&logs, nil)))
	defer s.Close()
	s.Send("c1", Record{Type: CDRCallStart, Call: &CDRCall{ID: "c1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	require.Error(t, s.Flush(ctx), "the failing receiver holds the record")
	cancel()
	mu.Lock()
	receivers = receivers[1:]
	mu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))
	require.Len(t, up.Records(), 1)
	require.Contains(t, logs.String(), "CDR receiver removed")
}
