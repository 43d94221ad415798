package cmsapi

import (
	"strings"
	"testing"
)

func FuzzParseFailure(f *testing.F) {
	for _, s := range []string{`<?xml version="1.0"?><failureDetails><coSpaceDoesNotExist /></failureDetails>`,
		`<failureDetails><parameterError parameter="streamUrl" error="invalidValue" /></failureDetails>`, `<a>`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tag, param, reason := parseFailure(data)
		if tag == "" && (param != "" || reason != "") {
			t.Fatal("attributes without a tag")
		}
		if strings.ContainsAny(tag, "<> ") {
			t.Fatalf("tag %q", tag)
		}
	})
}
