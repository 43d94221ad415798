package cmsapi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Failure is a refusal in CMS's words: HTTP 400 (or Status) with
// <failureDetails><Tag/></failureDetails>, or for parameterError
// <failureDetails><parameterError parameter="P" error="R"/></failureDetails>.
// A Backend returns it to refuse a request.
type Failure struct {
	Tag       string
	Parameter string
	Reason    string
	// Status is the HTTP status (0: 400).
	Status int
}

func (f *Failure) Error() string {
	if f.Parameter != "" {
		return fmt.Sprintf("%s: %s: %s", f.Tag, f.Parameter, f.Reason)
	}
	return f.Tag
}

func fail(tag string) *Failure { return &Failure{Tag: tag} }

func paramError(name, reason string) *Failure {
	return &Failure{Tag: "parameterError", Parameter: name, Reason: reason}
}

// object is one stored configuration object.
type object struct {
	id     string
	parent string // the parent's id for nested collections
	values map[string]string
	// bulkSet and bulkIndex tie a space to the parameter set that created it.
	bulkSet   string
	bulkIndex int
}

// Store keeps the configuration objects with CMS's semantics: a POST needs the required
// parameters, a PUT changes only the parameters it carries ("" clears one), URIs are
// stored lower-case, references must exist, lists page with offset/limit and filter on a
// substring. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	objects  map[*objectType][]*object // in creation order
	profiles map[string]string         // /system/profiles
	// journal, when set, is where the objects are kept (NewSharedStore); version is
	// the journal's version last taken in.
	journal    Journal
	version    int64
	syncErrors int64
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{objects: map[*objectType][]*object{}, profiles: map[string]string{}}
}

// NewID returns a random GUID in CMS's form.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomDigits(n int) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := binary.BigEndian.Uint64(b[:])
	s := strconv.FormatUint(v, 10)
	for len(s) < n {
		s += "0"
	}
	return s[:n]
}

// check validates and normalises one value ("" clears the parameter).
func (p *param) check(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if len(v) > maxValue || p.max > 0 && len(v) > p.max {
		return "", paramError(p.name, "invalidValue")
	}
	switch p.kind {
	case kURI:
		if strings.ContainsAny(v, " \t\r\n<>\"") {
			return "", paramError(p.name, "invalidValue")
		}
		return strings.ToLower(v), nil
	case kBool:
		if v != "true" && v != "false" {
			return "", paramError(p.name, "invalidValue")
		}
	case kInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return "", paramError(p.name, "invalidValue")
		}
	case kDigits:
		for _, c := range v {
			if c < '0' || c > '9' {
				return "", paramError(p.name, "invalidValue")
			}
		}
	case kEnum:
		for _, e := range p.enum {
			if v == e {
				return v, nil
			}
		}
		return "", paramError(p.name, "invalidValue")
	case kURL, kStream:
		u, err := url.Parse(v)
		schemes := p.schemes
		if p.kind == kStream {
			schemes = []string{"rtmp", "rtmps"}
		}
		if err != nil || u.Host == "" || !contains(schemes, strings.ToLower(u.Scheme)) {
			return "", paramError(p.name, "invalidValue")
		}
	}
	return v, nil
}

// parse reads the form parameters a type knows (case-insensitively; others are ignored,
// as CMS does) into changes: name -> value ("" clears).
func (s *Store) parse(t *objectType, form url.Values) (map[string]string, error) {
	changes := map[string]string{}
	for k, vs := range form {
		p, ok := t.param(k)
		if !ok || p.ro {
			continue
		}
		v, err := p.check(strings.TrimSpace(vs[len(vs)-1]))
		if err != nil {
			return nil, err
		}
		if v != "" && p.ref != "" && !s.exists(p.ref, v) {
			rt := typeOf(p.ref, nil)
			return nil, fail(rt.notFound)
		}
		changes[p.name] = v
	}
	return changes, nil
}

// exists reports whether an object of a top-level collection exists (call under s.mu).
func (s *Store) exists(collection, id string) bool {
	t := typeOf(collection, nil)
	return t != nil && s.find(t, "", id) != nil
}

func (s *Store) find(t *objectType, parent, id string) *object {
	for _, o := range s.objects[t] {
		if strings.EqualFold(o.id, id) && strings.EqualFold(o.parent, parent) {
			return o
		}
	}
	return nil
}

// create adds an object from form values and returns it.
func (s *Store) create(t *objectType, parent string, form url.Values) (o *object, err error) {
	err = s.write(func() error {
		o, err = s.createLocked(t, parent, form)
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (s *Store) createLocked(t *objectType, parent string, form url.Values) (*object, error) {
	if t.readOnly {
		return nil, fail("invalidOperation")
	}
	if t.parent != nil && s.find(t.parent, "", parent) == nil {
		return nil, fail(t.parent.notFound)
	}
	if t.max > 0 && len(s.objects[t]) >= t.max {
		return nil, fail(t.tooMany)
	}
	changes, err := s.parse(t, form)
	if err != nil {
		return nil, err
	}
	o := &object{id: NewID(), parent: parent, values: map[string]string{}}
	for _, p := range t.params {
		if v := changes[p.name]; v != "" {
			o.values[p.name] = v
		} else if p.required {
			return nil, paramError(p.name, "missing")
		}
	}
	if err := s.rules(t, o, nil, true); err != nil {
		return nil, err
	}
	s.objects[t] = append(s.objects[t], o)
	return o, nil
}

// update applies a PUT: only the parameters given change, "" clears one.
func (s *Store) update(t *objectType, parent, id string, form url.Values) error {
	return s.write(func() error { return s.updateLocked(t, parent, id, form) })
}

func (s *Store) updateLocked(t *objectType, parent, id string, form url.Values) error {
	if t.readOnly {
		return fail("invalidOperation")
	}
	o := s.find(t, parent, id)
	if o == nil {
		return fail(t.notFound)
	}
	changes, err := s.parse(t, form)
	if err != nil {
		return err
	}
	next := &object{id: o.id, parent: o.parent, values: map[string]string{}, bulkSet: o.bulkSet, bulkIndex: o.bulkIndex}
	for k, v := range o.values {
		next.values[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(next.values, k)
		} else {
			next.values[k] = v
		}
	}
	for _, p := range t.params {
		if p.required && next.values[p.name] == "" {
			return paramError(p.name, "missing")
		}
	}
	if err := s.rules(t, next, o, false); err != nil {
		return err
	}
	o.values = next.values
	return nil
}

// rules applies the per-type semantics to a new or changed object (under s.mu).
func (s *Store) rules(t *objectType, o, old *object, create bool) error {
	switch t.collection {
	case "coSpaces", "accessMethods":
		// Write-only actions.
		if !create && o.values["regenerateSecret"] == "true" || create && o.values["secret"] == "" {
			o.values["secret"] = NewID()
		}
		delete(o.values, "regenerateSecret")
		if o.values["requireCallId"] == "true" && o.values["callId"] == "" {
			o.values["callId"] = randomDigits(9)
		}
		delete(o.values, "requireCallId")
		if t.collection == "coSpaces" {
			return s.spaceConflicts(o)
		}
	case "coSpaceUsers":
		if create {
			o.values["userId"] = s.userID(o.values["userJid"])
		}
	case "cospaceBulkSyncs":
		delete(o.values, "removeAll")
	}
	return nil
}

// spaceConflicts refuses a space whose uri or callId another space (or access method)
// already has.
func (s *Store) spaceConflicts(o *object) error {
	uris := []string{o.values["uri"], o.values["secondaryUri"]}
	for _, other := range s.objects[typeOf("coSpaces", nil)] {
		if other.id == o.id {
			continue
		}
		for _, u := range uris {
			if u != "" && (u == other.values["uri"] || u == other.values["secondaryUri"]) {
				return fail("duplicateCoSpaceUri")
			}
		}
		if id := o.values["callId"]; id != "" && id == other.values["callId"] {
			return fail("duplicateCoSpaceId")
		}
	}
	return nil
}

// userID is the id of the user with a JID, or a stable id derived from it.
func (s *Store) userID(jid string) string {
	for _, u := range s.objects[typeOf("users", nil)] {
		if strings.EqualFold(u.values["userJid"], jid) {
			return u.id
		}
	}
	return ""
}

func (s *Store) delete(t *objectType, parent, id string) error {
	return s.write(func() error { return s.deleteLocked(t, parent, id) })
}

func (s *Store) deleteLocked(t *objectType, parent, id string) error {
	if t.readOnly {
		return fail("invalidOperation")
	}
	list := s.objects[t]
	for i, o := range list {
		if strings.EqualFold(o.id, id) && strings.EqualFold(o.parent, parent) {
			s.objects[t] = append(list[:i:i], list[i+1:]...)
			s.deleteChildren(t, o.id)
			return nil
		}
	}
	return fail(t.notFound)
}

func (s *Store) deleteChildren(parent *objectType, id string) {
	for _, t := range configTypes() {
		if t.parent != parent {
			continue
		}
		kept := s.objects[t][:0]
		for _, o := range s.objects[t] {
			if !strings.EqualFold(o.parent, id) {
				kept = append(kept, o)
			}
		}
		s.objects[t] = kept
	}
}

// derived returns the values the server computes for a single-object answer.
func (s *Store) derived(t *objectType, o *object) map[string]string {
	v := map[string]string{}
	switch t.collection {
	case "coSpaces":
		v["autoGenerated"] = "false"
		n := 0
		for _, am := range s.objects[typeOf("accessMethods", t)] {
			if am.parent == o.id {
				n++
			}
		}
		v["numAccessMethods"] = strconv.Itoa(n)
		if jid := o.values["ownerJid"]; jid != "" {
			v["ownerId"] = s.userID(jid)
		}
	case "coSpaceUsers":
		v["autoGenerated"] = "false"
	}
	return v
}

// writeObject writes one object's XML; list answers carry only the listed parameters.
func (s *Store) writeObject(w io.Writer, t *objectType, o *object, listing bool) {
	d := s.derived(t, o)
	if listing && t.collection == "coSpaces" {
		d = map[string]string{"autoGenerated": "false"}
	}
	fmt.Fprintf(w, `<%s id="%s">`, t.element, o.id)
	for _, p := range t.params {
		if p.wo || listing && !p.list {
			continue
		}
		v, ok := o.values[p.name]
		if !ok && p.ro {
			v, ok = d[p.name]
		}
		if !ok || v == "" {
			if !p.omitEmpty && !listing {
				fmt.Fprintf(w, "<%s></%s>", p.name, p.name)
			}
			continue
		}
		fmt.Fprintf(w, "<%s>", p.name)
		_ = xml.EscapeText(w, []byte(v))
		fmt.Fprintf(w, "</%s>", p.name)
	}
	fmt.Fprintf(w, `</%s>`, t.element)
}

// writeGet writes one object's document.
func (s *Store) writeGet(w io.Writer, t *objectType, parent, id string) error {
	s.lock()
	defer s.mu.Unlock()
	if t.parent != nil && s.find(t.parent, "", parent) == nil {
		return fail(t.parent.notFound)
	}
	o := s.find(t, parent, id)
	if o == nil {
		return fail(t.notFound)
	}
	_, _ = io.WriteString(w, xmlHeader)
	s.writeObject(w, t, o, false)
	return nil
}

const xmlHeader = `<?xml version="1.0"?>`

// listQuery is a list request's paging and filters.
type listQuery struct {
	offset, limit int
	filter        string
	// extra filters: parameter name -> required value (tenantFilter, ...).
	equal map[string]string
}

// writeList writes a page: <coSpaces total="N">…</coSpaces>.
func (s *Store) writeList(w io.Writer, t *objectType, parent string, q listQuery) error {
	s.lock()
	defer s.mu.Unlock()
	if t.parent != nil && s.find(t.parent, "", parent) == nil {
		return fail(t.parent.notFound)
	}
	var match []*object
	for _, o := range s.objects[t] {
		if strings.EqualFold(o.parent, parent) && matches(t, o, q) {
			match = append(match, o)
		}
	}
	fmt.Fprintf(w, `%s<%s total="%d">`, xmlHeader, t.listName(), len(match))
	for _, o := range page(match, q) {
		s.writeObject(w, t, o, true)
	}
	fmt.Fprintf(w, `</%s>`, t.listName())
	return nil
}

func page[T any](all []T, q listQuery) []T {
	if q.offset >= len(all) {
		return nil
	}
	end := len(all)
	if q.limit > 0 && q.offset+q.limit < end {
		end = q.offset + q.limit
	}
	return all[q.offset:end]
}

func matches(t *objectType, o *object, q listQuery) bool {
	for k, want := range q.equal {
		if !strings.EqualFold(o.values[k], want) {
			return false
		}
	}
	if q.filter == "" {
		return true
	}
	f := strings.ToLower(q.filter)
	for _, p := range t.params {
		if p.list && !p.wo && strings.Contains(strings.ToLower(o.values[p.name]), f) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// load fills a model struct from an object (under s.mu).
func (s *Store) load(t *objectType, o *object, out any) {
	rv := reflect.ValueOf(out).Elem()
	rv.FieldByName("ID").SetString(o.id)
	d := s.derived(t, o)
	for _, p := range t.params {
		v, ok := o.values[p.name]
		if !ok {
			v, ok = d[p.name]
		}
		if !ok || p.wo {
			continue
		}
		setField(rv.Field(p.field), v)
	}
}

func setField(f reflect.Value, v string) {
	switch f.Kind() {
	case reflect.String:
		f.SetString(v)
	case reflect.Pointer:
		switch f.Type().Elem().Kind() {
		case reflect.Bool:
			b := v == "true"
			f.Set(reflect.ValueOf(&b))
		case reflect.Int:
			n, _ := strconv.Atoi(v)
			f.Set(reflect.ValueOf(&n))
		case reflect.String:
			f.Set(reflect.ValueOf(&v))
		}
	}
}

// Create adds a configuration object (a *CoSpace, *CallProfile, ... with ID empty) as a
// POST would and returns its id; parent is the space id for members and access
// methods, "" otherwise. Users can be added this way too, as an LDAP sync would.
func (s *Store) Create(obj any, parent string) (string, error) {
	rv := reflect.Indirect(reflect.ValueOf(obj))
	t := typeByGo(rv.Type())
	if t == nil {
		return "", fmt.Errorf("cmsapi: %T is not a configuration object", obj)
	}
	form := Form(obj)
	if t.readOnly { // users: not through the API, but the application may add them
		var id string
		err := s.write(func() error {
			changes, err := s.parse(t, form)
			if err != nil {
				return err
			}
			o := &object{id: NewID(), values: changes}
			s.objects[t] = append(s.objects[t], o)
			id = o.id
			return nil
		})
		return id, err
	}
	o, err := s.create(t, parent, form)
	if err != nil {
		return "", err
	}
	return o.id, nil
}

// Get fills out (a *CoSpace, *CallProfile, ...) with the object id; false if none.
func (s *Store) Get(id string, out any) bool {
	t := typeByGo(reflect.TypeOf(out).Elem())
	if t == nil {
		return false
	}
	s.lock()
	defer s.mu.Unlock()
	for _, o := range s.objects[t] {
		if strings.EqualFold(o.id, id) {
			s.load(t, o, out)
			return true
		}
	}
	return false
}

// All returns every object of a model type, e.g. All[OutboundDialPlanRule](s).
func All[T any](s *Store) []T {
	var zero T
	t := typeByGo(reflect.TypeOf(zero))
	if t == nil {
		return nil
	}
	s.lock()
	defer s.mu.Unlock()
	out := make([]T, 0, len(s.objects[t]))
	for _, o := range s.objects[t] {
		var v T
		s.load(t, o, &v)
		out = append(out, v)
	}
	return out
}

// SpaceFor returns the space a dialled user part (or call ID) reaches: a space's uri,
// secondaryUri or callId, or one of its access methods'.
func (s *Store) SpaceFor(user string) (CoSpace, bool) {
	user = strings.ToLower(user)
	if user == "" {
		return CoSpace{}, false
	}
	s.lock()
	spaces := typeOf("coSpaces", nil)
	var hit *object
	for _, o := range s.objects[spaces] {
		if o.values["uri"] == user || o.values["secondaryUri"] == user || o.values["callId"] == user {
			hit = o
			break
		}
	}
	if hit == nil {
		for _, am := range s.objects[typeOf("accessMethods", spaces)] {
			if am.values["uri"] == user || am.values["callId"] == user {
				hit = s.find(spaces, "", am.parent)
				break
			}
		}
	}
	var cs CoSpace
	if hit != nil {
		s.load(spaces, hit, &cs)
	}
	s.mu.Unlock()
	return cs, hit != nil
}

// Profiles returns /system/profiles.
func (s *Store) Profiles() SystemProfiles {
	s.lock()
	defer s.mu.Unlock()
	var p SystemProfiles
	rv := reflect.ValueOf(&p).Elem()
	for _, prm := range profilesType().params {
		if v := s.profiles[prm.name]; v != "" {
			setField(rv.Field(prm.field), v)
		}
	}
	return p
}

// EffectiveCallProfile resolves a space's call profile as CMS does: the space's, else
// the system's; modes left unset are manual.
func (s *Store) EffectiveCallProfile(space CoSpace) CallProfile {
	var cp CallProfile
	id := space.CallProfile
	if id == "" {
		id = s.Profiles().CallProfile
	}
	if id != "" {
		s.Get(id, &cp)
	}
	if cp.RecordingMode == "" {
		cp.RecordingMode = "manual"
	}
	if cp.StreamingMode == "" {
		cp.StreamingMode = "manual"
	}
	return cp
}
