package revtest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// schemas.json holds the request schemas the emulator checks, extracted from Vbrick's
// OpenAPI description (components/schemas, references resolved, descriptions dropped).
// TestSchemasMatchSpec keeps it equal to the spec; `go test -run TestSchemasMatchSpec
// -update` regenerates it.
//
//go:embed schemas.json
var schemasJSON []byte

// schemaNames are the schemas extracted: the upload's metadata and the login bodies.
var schemaNames = []string{"videoMetadata", "loginUserRequest", "loginApiKeyRequest", "userIdPayload"}

// schema is the subset of OpenAPI 3.0 Schema Objects the request bodies use.
type schema struct {
	Type       string             `json:"type,omitempty"`
	Format     string             `json:"format,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties map[string]*schema `json:"properties,omitempty"`
	Items      *schema            `json:"items,omitempty"`
	Enum       []any              `json:"enum,omitempty"`
	Ref        string             `json:"$ref,omitempty"`
	AllOf      []*schema          `json:"allOf,omitempty"`
	Nullable   bool               `json:"nullable,omitempty"`
	Default    any                `json:"default,omitempty"`
}

type schemaSet map[string]*schema

func loadSchemas() (schemaSet, error) {
	var set schemaSet
	if err := json.Unmarshal(schemasJSON, &set); err != nil {
		return nil, fmt.Errorf("revtest: embedded schemas: %w", err)
	}
	return set, nil
}

func (set schemaSet) resolve(s *schema) *schema {
	for i := 0; s != nil && s.Ref != "" && i < 10; i++ {
		s = set[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// problem is one way a value breaks its schema.
type problem struct {
	Path string
	Msg  string
	// Enum: the value is outside an enum (Rev answers 400 for videoAccessControl).
	Enum bool
}

func (p problem) String() string { return p.Path + ": " + p.Msg }

// validate checks v (decoded with UseNumber) against s; strict also rejects properties
// the schema does not define.
func (set schemaSet) validate(s *schema, v any, path string, strict bool) []problem {
	s = set.resolve(s)
	if s == nil {
		return nil
	}
	var out []problem
	for _, sub := range s.AllOf {
		out = append(out, set.validate(sub, v, path, false)...)
	}
	if v == nil {
		if s.Nullable || s.Type == "" {
			return out
		}
		return append(out, problem{path, "null where " + s.Type + " is required", false})
	}
	if len(s.Enum) > 0 {
		ok := false
		for _, e := range s.Enum {
			if e == v {
				ok = true
			}
		}
		if !ok {
			return append(out, problem{path, fmt.Sprintf("%v is not one of %v", v, s.Enum), true})
		}
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return append(out, problem{path, "want a JSON object", false})
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				out = append(out, problem{join(path, r), "required", false})
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub, ok := s.Properties[k]
			if !ok {
				if strict && len(s.AllOf) == 0 {
					out = append(out, problem{join(path, k), "not a field of the schema (revtest is stricter than Rev here)", false})
				}
				continue
			}
			out = append(out, set.validate(sub, obj[k], join(path, k), strict)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return append(out, problem{path, "want a JSON array", false})
		}
		for i, e := range arr {
			out = append(out, set.validate(s.Items, e, fmt.Sprintf("%s[%d]", path, i), strict)...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			out = append(out, problem{path, "want a string", false})
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			out = append(out, problem{path, "want true or false", false})
		}
	case "integer":
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			out = append(out, problem{path, "want an integer", false})
		}
	case "number":
		n, ok := v.(json.Number)
		if _, err := n.Float64(); !ok || err != nil {
			out = append(out, problem{path, "want a number", false})
		}
	}
	return out
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// extractSchemas builds schemas.json from the full OpenAPI document: the named schemas
// and everything they reference, without descriptions and examples.
func extractSchemas(openapi []byte) ([]byte, error) {
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return nil, err
	}
	out := schemaSet{}
	var visit func(name string) error
	var walk func(s *schema) error
	walk = func(s *schema) error {
		if s == nil {
			return nil
		}
		if s.Ref != "" {
			if err := visit(strings.TrimPrefix(s.Ref, "#/components/schemas/")); err != nil {
				return err
			}
		}
		for _, p := range s.Properties {
			if err := walk(p); err != nil {
				return err
			}
		}
		for _, p := range s.AllOf {
			if err := walk(p); err != nil {
				return err
			}
		}
		return walk(s.Items)
	}
	visit = func(name string) error {
		if _, done := out[name]; done {
			return nil
		}
		raw, ok := doc.Components.Schemas[name]
		if !ok {
			return fmt.Errorf("schema %q not in the document", name)
		}
		var s schema
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("schema %q: %w", name, err)
		}
		out[name] = &s
		return walk(&s)
	}
	for _, n := range schemaNames {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
