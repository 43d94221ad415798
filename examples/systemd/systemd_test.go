package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// systemd-analyze verify (Debian systemd) accepts both units, with the programs they
// start built from this tree, and prints nothing: an unknown or misspelt setting, which
// it only warns about, fails the test too.
func TestUnitsVerify(t *testing.T) {
	analyze := peer.Require(t, "systemd-analyze", "systemd")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is needed to build the programs")
	}
	dir := t.TempDir()
	for _, u := range []struct{ unit, program, pkg string }{
		{"sipcast-streamer.service", "sipcast-streamer", "../streamer"},
		{"sipcast-uploader.service", "sipcast-uploader", "../uploader"},
	} {
		bin := filepath.Join(dir, u.program)
		out, err := exec.Command(goTool, "build", "-o", bin, u.pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		text, err := os.ReadFile(u.unit)
		require.NoError(t, err)
		require.Contains(t, string(text), "/usr/local/bin/"+u.program)
		unit := filepath.Join(dir, u.unit)
		require.NoError(t, os.WriteFile(unit, []byte(strings.ReplaceAll(string(text), "/usr/local/bin/"+u.program, bin)), 0o644))
		out, err = exec.Command(analyze, "verify", unit).CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify %s: %s", u.unit, out)
		require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify %s", u.unit)
		for _, must := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/srv/recordings", "CapabilityBoundingSet=\n"} {
			require.Contains(t, string(text), must, u.unit)
		}
	}
}
