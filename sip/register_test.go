package sip

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInteropRegisterRefreshUnregister(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "registrar.xml"))
	registrar := strings.Replace(target, "sip:service@", "sip:", 1)
	u := caller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r *Registration
	var err error
	// sipp may not be listening yet: the first REGISTER is retransmitted until it is.
	r, err = u.Register(ctx, RegisterOptions{Registrar: registrar, AOR: "sip:alice@sipcast.test", Username: "alice", Password: "reg-pw-7", Expires: time.Minute})
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, r.Expires(), "the registrar's Expires wins")
	require.Eventually(t, func() bool { return r.Registrations() >= 2 }, 10*time.Second, 20*time.Millisecond, "refreshed before expiry")
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	require.NoError(t, p.Wait(time.Minute), "sipp saw challenge, refresh and unregister:\n%s", p.Output())
}

func TestRegisterWrongPassword(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "registrar.xml"))
	registrar := strings.Replace(target, "sip:service@", "sip:", 1)
	u := caller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := u.Register(ctx, RegisterOptions{Registrar: registrar, AOR: "sip:alice@sipcast.test", Username: "alice", Password: "wrong-reg-pw"})
	require.ErrorIs(t, err, ErrRegister)
	require.NotContains(t, err.Error(), "wrong-reg-pw")
	_ = p.Wait(time.Minute)
}
