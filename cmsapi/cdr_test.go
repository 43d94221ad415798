package cmsapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
