package revtest

import (
	"strings"
	"testing"
)

// FuzzCheckMetadata: any "Video" part gets an answer, never a panic; a valid answer
// names a known uploader.
func FuzzCheckMetadata(f *testing.F) {
	for _, s := range []string{`{"uploader":"u"}`, `{"uploader":"u","accessControlEntities":[{"type":"user","name":"a"},1,null]}`,
		`{"uploader":"u","videoAccessControl":"Everyone"}`, `{"owner":{"username":"x"},"uploader":"u"}`, `[]`, `null`,
		`{"uploader":"u","postUploadActions":{"metadataGenerationFields":[1]}}`, `{"uploader":"u","legacyViewCount":1.5}`} {
		f.Add([]byte(s))
	}
	s := New(WithUser("u", "p"))
	f.Fuzz(func(t *testing.T, meta []byte) {
		fields, status, code, detail := s.checkMetadata(meta)
		if status == 0 && fields.Uploader != "u" {
			t.Fatalf("accepted uploader %q", fields.Uploader)
		}
		if status != 0 && (code == "" || detail == "") {
			t.Fatalf("status %d without code or detail", status)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 0000000-9999999/32723891", "bytes 5-4/10", "bytes -1-2/3", "bytes 0-9/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, end, total, err := parseContentRange(v)
		if err == nil && !(start >= 0 && start <= end && end < total) {
			t.Fatalf("%q gave %d-%d/%d", v, start, end, total)
		}
		if err == nil && !strings.HasPrefix(strings.TrimSpace(v), "bytes ") {
			t.Fatalf("%q accepted without the unit", v)
		}
	})
}
