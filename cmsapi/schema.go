package cmsapi

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// kind is how a parameter's value is checked and stored.
type kind int

const (
	kString kind = iota
	kURI         // stored lower-case
	kBool
	kInt
	kEnum
	kDigits // a numeric string (callId)
	kURL    // a URL with one of the schemes in param.schemes
	kStream // an rtmp:// or rtmps:// URL
)

// maxValue caps any parameter value.
const maxValue = 2048

// param is one form parameter / XML element of an object type.
type param struct {
	name      string
	field     int // index in the Go struct
	kind      kind
	enum      []string
	schemes   []string
	ref       string // collection an id must exist in
	required  bool
	ro, wo    bool
	list      bool // shown in list answers
	omitEmpty bool
	max       int
}

// objectType is a configuration collection: its path, XML names and parameters.
type objectType struct {
	collection string // canonical path element ("coSpaces"), used in Location
	element    string // XML element of one object ("coSpace")
	notFound   string // failure tag for an unknown id
	parent     *objectType
	goType     reflect.Type
	params     []param
	// readOnly collections cannot be created, changed or deleted through the API.
	readOnly bool
	// max caps how many objects the collection holds (0: no cap); tooMany is the tag.
	max     int
	tooMany string
}

func (t *objectType) param(name string) (*param, bool) {
	for i := range t.params {
		if strings.EqualFold(t.params[i].name, name) {
			return &t.params[i], true
		}
	}
	return nil, false
}

// listName is the list element: <coSpaces total="N">.
func (t *objectType) listName() string { return t.element + "s" }

var (
	typesOnce sync.Once
	types     []*objectType
)

// schema describes a model type; it panics on a malformed tag (a programming error,
// caught by the package's tests).
func schema(v any, collection, notFound string) *objectType {
	rt := reflect.TypeOf(v)
	t := &objectType{collection: collection, notFound: notFound, goType: rt}
	anyList := false
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := f.Tag.Get("xml")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Name == "XMLName" {
			t.element = name
			continue
		}
		if strings.Contains(opts, "attr") || name == "" || name == "-" {
			continue
		}
		p := param{name: name, field: i, omitEmpty: strings.Contains(opts, "omitempty")}
		switch f.Type {
		case reflect.TypeOf((*bool)(nil)):
			p.kind = kBool
		case reflect.TypeOf((*int)(nil)):
			p.kind = kInt
		}
		for _, o := range strings.Split(f.Tag.Get("cms"), ",") {
			k, val, _ := strings.Cut(o, "=")
			switch k {
			case "":
			case "uri":
				p.kind = kURI
			case "digits":
				p.kind = kDigits
			case "stream":
				p.kind = kStream
			case "enum":
				p.kind, p.enum = kEnum, strings.Split(val, "|")
			case "url":
				p.kind, p.schemes = kURL, strings.Split(val, "|")
			case "ref":
				p.ref = val
			case "req":
				p.required = true
			case "ro":
				p.ro = true
			case "wo":
				p.wo = true
			case "list":
				p.list, anyList = true, true
			case "nolist":
				p.list = false
			case "max":
				p.max, _ = strconv.Atoi(val)
			default:
				panic(fmt.Sprintf("cmsapi: %s.%s: unknown cms tag %q", rt.Name(), f.Name, o))
			}
		}
		if !anyList && !strings.Contains(f.Tag.Get("cms"), "nolist") {
			p.list = true // provisional: all listed unless some field says list
		}
		t.params = append(t.params, p)
	}
	if anyList {
		for i := range t.params {
			t.params[i].list = strings.Contains(rt.Field(t.params[i].field).Tag.Get("cms"), "list") &&
				!strings.Contains(rt.Field(t.params[i].field).Tag.Get("cms"), "nolist")
		}
	}
	return t
}

// configTypes are the configuration collections the Store keeps.
func configTypes() []*objectType {
	typesOnce.Do(func() {
		space := schema(CoSpace{}, "coSpaces", "coSpaceDoesNotExist")
		members := schema(CoSpaceUser{}, "coSpaceUsers", "coSpaceUserDoesNotExist")
		members.parent = space
		access := schema(AccessMethod{}, "accessMethods", "accessMethodDoesNotExist")
		access.parent = space
		cdr := schema(CdrReceiver{}, "system/cdrReceivers", "cdrReceiverDoesNotExist")
		cdr.max, cdr.tooMany = 4, "tooManyCdrReceivers"
		users := schema(User{}, "users", "userDoesNotExist")
		users.readOnly = true
		types = []*objectType{
			space, members, access,
			schema(CallProfile{}, "callProfiles", "callProfileDoesNotExist"),
			schema(CallLegProfile{}, "callLegProfiles", "callLegProfileDoesNotExist"),
			schema(OutboundDialPlanRule{}, "outboundDialPlanRules", "outboundDialPlanRuleDoesNotExist"),
			schema(CallBridge{}, "callBridges", "callBridgeDoesNotExist"),
			schema(CoSpaceBulkParameterSet{}, "cospaceBulkParameterSets", "coSpaceBulkParameterSetDoesNotExist"),
			schema(CoSpaceBulkSync{}, "cospaceBulkSyncs", "coSpaceBulkSyncDoesNotExist"),
			cdr,
			schema(Recorder{}, "recorders", "recorderDoesNotExist"),
			schema(Streamer{}, "streamers", "streamerDoesNotExist"),
			schema(WebBridge{}, "webBridges", "webBridgeDoesNotExist"),
			schema(TurnServer{}, "turnServers", "turnServerDoesNotExist"),
			users,
		}
	})
	return types
}

// typeOf finds a collection by its path element (case-insensitively) under parent.
func typeOf(collection string, parent *objectType) *objectType {
	for _, t := range configTypes() {
		if t.parent == parent && strings.EqualFold(t.collection, collection) {
			return t
		}
	}
	return nil
}

func typeByGo(rt reflect.Type) *objectType {
	for _, t := range configTypes() {
		if t.goType == rt {
			return t
		}
	}
	return nil
}

// Form returns the form parameters of a model object for a POST or PUT: every set field
// that a request may carry (read-only fields and the id are left out). Pass a pointer
// or a value of one of the model types.
func Form(obj any) url.Values {
	rv := reflect.Indirect(reflect.ValueOf(obj))
	t := typeByGo(rv.Type())
	if t == nil {
		if rv.Type() == reflect.TypeOf(SystemProfiles{}) {
			t = profilesType()
		} else {
			panic(fmt.Sprintf("cmsapi: Form of %T, which is not a configuration object", obj))
		}
	}
	out := url.Values{}
	for _, p := range t.params {
		if p.ro {
			continue
		}
		f := rv.Field(p.field)
		switch f.Kind() {
		case reflect.String:
			if f.String() != "" {
				out.Set(p.name, f.String())
			}
		case reflect.Pointer:
			if !f.IsNil() {
				out.Set(p.name, fmt.Sprint(f.Elem().Interface()))
			}
		}
	}
	return out
}

var (
	profilesOnce sync.Once
	profilesT    *objectType
)

func profilesType() *objectType {
	profilesOnce.Do(func() { profilesT = schema(SystemProfiles{}, "system/profiles", "") })
	return profilesT
}

// Bool and Int return pointers for the model's optional fields.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n.
func Int(n int) *int { return &n }
