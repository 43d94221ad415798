// Package opusdec decodes Opus (RFC 6716) to 48 kHz PCM through libopus (cgo), in the
// build tagged opus (go build -tags opus,nolibopusfile, with Debian's libopus-dev). The
// default build has no C toolchain dependency: Available is false there and New fails,
// and the Bridge then answers calls with another codec (G.722, G.711) when the caller
// offers one.
package opusdec

import "errors"

// ErrNotBuilt is New's error in a build without Opus.
var ErrNotBuilt = errors.New("opusdec: this build does not decode Opus (build with -tags opus and libopus)")
