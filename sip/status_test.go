package sip

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// A StatusError unwraps to its class, also when wrapped again.
func TestStatusErrorClasses(t *testing.T) {
	for code, class := range map[int]error{486: ErrBusy, 600: ErrBusy, 480: ErrUnavailable, 503: ErrUnavailable, 408: ErrUnavailable,
		403: ErrDeclined, 603: ErrDeclined, 404: ErrNotFound, 604: ErrNotFound, 484: ErrNotFound, 488: ErrNotAcceptable,
		606: ErrNotAcceptable, 500: ErrRejected, 415: ErrRejected} {
		err := fmt.Errorf("dialling: %w", &StatusError{Code: code, Reason: "x"})
		require.ErrorIs(t, err, class, "%d", code)
		var se *StatusError
		require.True(t, errors.As(err, &se))
		require.Equal(t, code, se.Code)
		require.Contains(t, err.Error(), fmt.Sprintf("sip: %d x", code))
	}
}
