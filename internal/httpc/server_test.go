package httpc

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func basicReq(from, user, pass string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = from + ":40000"
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	return r
}

// The throttle, stepped by hand: FreeFailures failures are answered 401, then the source
// is locked out (429, even with the right password) for a time that doubles per further
// failure; other sources are not affected; a success clears the source.
func TestBasicAuthThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	a := NewBasicAuth("test", "admin", "Pa55", func() time.Time { return now }, nil)
	for i := 0; i < FreeFailures; i++ {
		v, _ := a.Check(basicReq("10.0.0.1", "admin", "wrong"))
		require.Equal(t, Denied, v, "failure %d", i+1)
	}
	v, retry := a.Check(basicReq("10.0.0.1", "admin", "Pa55"))
	require.Equal(t, Throttled, v, "the right password during the lockout")
	require.Equal(t, FirstLockout, retry)
	v, _ = a.Check(basicReq("10.0.0.2", "admin", "Pa55"))
	require.Equal(t, Allowed, v, "another source")

	now = now.Add(FirstLockout)
	v, _ = a.Check(basicReq("10.0.0.1", "admin", "wrong"))
	require.Equal(t, Denied, v)
	_, retry = a.Check(basicReq("10.0.0.1", "admin", "Pa55"))
	require.Equal(t, 2*FirstLockout, retry, "the lockout doubles")
	for i := 0; i < 30; i++ {
		now = now.Add(MaxLockout)
		a.Check(basicReq("10.0.0.1", "x", "y"))
	}
	_, retry = a.Check(basicReq("10.0.0.1", "admin", "Pa55"))
	require.Equal(t, MaxLockout, retry, "capped")
	now = now.Add(MaxLockout)
	v, _ = a.Check(basicReq("10.0.0.1", "admin", "Pa55"))
	require.Equal(t, Allowed, v)
	v, _ = a.Check(basicReq("10.0.0.1", "admin", "wrong"))
	require.Equal(t, Denied, v, "a success cleared the failures")
}

// Empty credentials never match, configured or sent; user and password are checked
// together (a right user with a wrong password, or the parts shifted, fail).
func TestBasicAuthCredentials(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { now = now.Add(time.Hour); return now } // no lockout in this test
	empty := NewBasicAuth("test", "", "", clock, nil)
	v, _ := empty.Check(basicReq("10.0.0.1", "", ""))
	require.Equal(t, Denied, v)
	noPass := NewBasicAuth("test", "admin", "", clock, nil)
	v, _ = noPass.Check(basicReq("10.0.0.1", "admin", ""))
	require.Equal(t, Denied, v)
	a := NewBasicAuth("test", "ab", "c", clock, nil)
	for _, c := range [][2]string{{"a", "bc"}, {"ab", ""}, {"", "c"}, {"ab", "C"}, {"AB", "c"}} {
		v, _ := a.Check(basicReq("10.0.0.9", c[0], c[1]))
		require.Equal(t, Denied, v, "%q", c)
	}
	v, _ = a.Check(basicReq("10.0.0.9", "ab", "c"))
	require.Equal(t, Allowed, v)
	v, _ = a.Check(basicReq("10.0.0.9", "", ""))
	require.Equal(t, Denied, v, "no Authorization header")
}

// At most MaxSources sources are remembered.
func TestBasicAuthSourcesBounded(t *testing.T) {
	a := NewBasicAuth("test", "u", "p", nil, nil)
	for i := 0; i < MaxSources+100; i++ {
		a.Check(basicReq(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "u", "x"))
	}
	require.LessOrEqual(t, len(a.sources), MaxSources)
	require.Equal(t, len(a.sources), len(a.order))
}
