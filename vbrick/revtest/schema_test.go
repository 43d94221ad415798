package revtest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

var update = flag.Bool("update", false, "regenerate schemas.json from the OpenAPI description")

// specPath is Vbrick's OpenAPI description, beside the repository.
const specPath = "../../../shared/data/vbrick-openapi.json"

func TestSchemasMatchSpec(t *testing.T) {
	spec, err := os.ReadFile(specPath)
	if err != nil {
		if peer.Strict() {
			t.Fatalf("Vbrick's OpenAPI description is needed at %s: %v", filepath.Clean(specPath), err)
		}
		t.Skipf("Vbrick's OpenAPI description is not at %s (it sits in ../shared/data beside the repository)", specPath)
	}
	want, err := extractSchemas(spec)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile("schemas.json", want, 0o644))
	}
	require.Equal(t, string(want), string(schemasJSON), "schemas.json differs from the spec: run go test -run TestSchemasMatchSpec -update")
	set, err := loadSchemas()
	require.NoError(t, err)
	for _, n := range schemaNames {
		require.Contains(t, set, n)
	}
	// The facts the emulator relies on, read from the spec itself.
	require.Equal(t, []string{"uploader"}, set["videoMetadata"].Required)
	require.Equal(t, []any{"Public", "AllUsers", "Private"}, set.resolve(set["videoMetadata"].Properties["videoAccessControl"]).Enum)
}
