package cmsapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

const (
	apiUser = "admin"
	apiPass = "S3cret-API-pw"
)

type testAPI struct {
	srv    *Server
	http   *httptest.Server
	client *Client
}

func newTestAPI(t *testing.T, be Backend) *testAPI {
	t.Helper()
	srv := NewServer(ServerConfig{User: apiUser, Password: apiPass, Backend: be})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	c, err := NewClient(hs.URL, apiUser, apiPass, WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	return &testAPI{srv: srv, http: hs, client: c}
}

// raw sends a request as TMS does and returns status, headers and body.
func (a *testAPI) raw(t *testing.T, method, path, form string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != "" || method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, a.http.URL+path, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(apiUser, apiPass)
	resp, err := a.http.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(data)
}

func TestUnauthorized(t *testing.T) {
	a := newTestAPI(t, nil)
	for name, set := range map[string]func(*http.Request){
		"none":           func(*http.Request) {},
		"wrong password": func(r *http.Request) { r.SetBasicAuth(apiUser, "nope") },
		"wrong user":     func(r *http.Request) { r.SetBasicAuth("root", apiPass) },
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, a.http.URL+"/api/v1/coSpaces", nil)
			set(req)
			resp, err := a.http.Client().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `Basic realm="acano"`, resp.Header.Get("WWW-Authenticate"))
			assert.Empty(t, body)
		})
	}
	c, err := NewClient(a.http.URL, apiUser, "nope", WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	_, err = c.Status(context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
}

// TestFailures: CMS's answers to bad requests, as the client sees them and on the wire.
func TestFailures(t *testing.T) {
	a := newTestAPI(t, nil)
	ctx := context.Background()
	space, err := a.client.Create(ctx, "coSpaces", url.Values{"name": {"A"}, "uri": {"a.room"}, "callId": {"100"}})
	require.NoError(t, err)
	cases := []struct {
		method, path, form string
		status             int
		body               string
	}{
		{"GET", "/api/v1/noSuchThings", "", 400, `<?xml version="1.0"?><failureDetails><unrecognisedObject /></failureDetails>`},
		{"GET", "/api/v1/coSpaces/" + space + "/bogus", "", 400, `<?xml version="1.0"?><failureDetails><unrecognisedObject /></failureDetails>`},
		{"GET", "/api/v1/coSpaces/00000000-0000-4000-8000-000000000000", "", 400, `<?xml version="1.0"?><failureDetails><coSpaceDoesNotExist /></failureDetails>`},
		{"PUT", "/api/v1/callProfiles/nope", "locked=true", 400, `<?xml version="1.0"?><failureDetails><callProfileDoesNotExist /></failureDetails>`},
		{"DELETE", "/api/v1/outboundDialPlanRules/nope", "", 400, `<?xml version="1.0"?><failureDetails><outboundDialPlanRuleDoesNotExist /></failureDetails>`},
		{"GET", "/api/v1/coSpaces/nope/coSpaceUsers", "", 400, `<?xml version="1.0"?><failureDetails><coSpaceDoesNotExist /></failureDetails>`},
		{"GET", "/api/v1/calls/nope", "", 400, `<?xml version="1.0"?><failureDetails><callDoesNotExist /></failureDetails>`},
		{"GET", "/api/v1/callLegs/nope", "", 400, `<?xml version="1.0"?><failureDetails><callLegDoesNotExist /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=B&streamUrl=http://x/y", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="streamUrl" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/callProfiles", "recordingMode=sometimes", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="recordingMode" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/callProfiles", "participantLimit=lots", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="participantLimit" error="invalidValue" /></failureDetails>`},
		{"PUT", "/api/v1/coSpaces/" + space, "nonMemberAccess=yes", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="nonMemberAccess" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=C&callId=12ab", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="callId" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/outboundDialPlanRules", "priority=1", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="domain" error="missing" /></failureDetails>`},
		{"POST", "/api/v1/webBridges", "url=ftp://wb:9999", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="url" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=D&uri=A.Room", 400, `<?xml version="1.0"?><failureDetails><duplicateCoSpaceUri /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=D&callId=100", 400, `<?xml version="1.0"?><failureDetails><duplicateCoSpaceId /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=E&callProfile=nope", 400, `<?xml version="1.0"?><failureDetails><callProfileDoesNotExist /></failureDetails>`},
		{"POST", "/api/v1/system/profiles", "callProfile=", 400, `<?xml version="1.0"?><failureDetails><invalidOperation /></failureDetails>`},
		{"POST", "/api/v1/users", "userJid=x@y", 400, `<?xml version="1.0"?><failureDetails><invalidOperation /></failureDetails>`},
		{"GET", "/api/v1/coSpaces?limit=ten", "", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="limit" error="invalidValue" /></failureDetails>`},
		{"POST", "/api/v1/calls", "coSpace=nope", 400, `<?xml version="1.0"?><failureDetails><invalidOperation /></failureDetails>`},
		{"POST", "/api/v1/coSpaces", "name=%zz", 400, `<?xml version="1.0"?><failureDetails><parameterError parameter="" error="invalidValue" /></failureDetails>`},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path+" "+c.form, func(t *testing.T) {
			status, h, body := a.raw(t, c.method, c.path, c.form)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.body, body)
			assert.Equal(t, "text/xml", h.Get("Content-Type"))
			assert.Empty(t, h.Get("Location"))
		})
	}
	// Five CDR receivers: the fifth is one too many.
	for i := range 4 {
		_, err := a.client.CreateObject(ctx, "system/cdrReceivers", &CdrReceiver{URI: fmt.Sprintf("http://127.0.0.1:9/%d", i)})
		require.NoError(t, err)
	}
	_, err = a.client.CreateObject(ctx, "system/cdrReceivers", &CdrReceiver{URI: "http://127.0.0.1:9/5"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "tooManyCdrReceivers", e.Failure)
	// The client's view of a parameterError.
	_, err = a.client.Create(ctx, "coSpaces", url.Values{"name": {"F"}, "streamUrl": {"ftp://x"}})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, "parameterError", e.Failure)
	assert.Equal(t, "streamUrl", e.Parameter)
	assert.Equal(t, "invalidValue", e.Reason)
	_, err = GetObject[CoSpace](ctx, a.client, "coSpaces/nope")
	assert.ErrorIs(t, err, ErrDoesNotExist)
}

// TestFormSemantics: created answers, PUT leaves omitted parameters, "" clears one,
// URIs lower-case, paths and parameter names case-insensitive.
func TestFormSemantics(t *testing.T) {
	a := newTestAPI(t, nil)
	status, h, body := a.raw(t, "POST", "/api/v1/coSpaces", "name=API+Test&uri=APITestURI&passcode=1234&defaultLayout=allEqual")
	require.Equal(t, 200, status)
	assert.Empty(t, body)
	assert.Equal(t, "0", h.Get("Content-Length"))
	loc := h.Get("Location")
	require.Regexp(t, `^/api/v1/coSpaces/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, loc)
	id := loc[strings.LastIndexByte(loc, '/')+1:]

	status, _, _ = a.raw(t, "PUT", "/api/v1/cospaces/"+strings.ToUpper(id), "&passcode=&NAME=Renamed")
	require.Equal(t, 200, status)
	status, h, body = a.raw(t, "GET", "/API/V1/COSPACES/"+id, "")
	require.Equal(t, 200, status)
	assert.Equal(t, "text/xml", h.Get("Content-Type"))
	var cs CoSpace
	require.NoError(t, xml.Unmarshal([]byte(body), &cs))
	assert.True(t, strings.HasPrefix(body, `<?xml version="1.0"?><coSpace id="`+id+`">`), body)
	assert.Equal(t, "Renamed", cs.Name)
	assert.Equal(t, "apitesturi", cs.URI)
	assert.Empty(t, cs.Passcode, "passcode= clears it")
	assert.Equal(t, "allEqual", cs.DefaultLayout, "omitted: unchanged")
	assert.NotEmpty(t, cs.Secret, "a secret is generated")
	require.NotNil(t, cs.NumAccessMethods)
	assert.Equal(t, 0, *cs.NumAccessMethods)
	assert.NotContains(t, body, "requireCallId")

	old := cs.Secret
	status, _, _ = a.raw(t, "PUT", "/api/v1/coSpaces/"+id, "regenerateSecret=true")
	require.Equal(t, 200, status)
	cs, err := GetObject[CoSpace](context.Background(), a.client, "coSpaces/"+id)
	require.NoError(t, err)
	assert.NotEqual(t, old, cs.Secret)
	assert.NotContains(t, fmt.Sprint(cs.RegenerateSecret), "true")

	// requireCallId generates a numeric call ID.
	id2, err := a.client.Create(context.Background(), "coSpaces", url.Values{"name": {"G"}, "requireCallId": {"true"}})
	require.NoError(t, err)
	cs, err = GetObject[CoSpace](context.Background(), a.client, "coSpaces/"+id2)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9]{9}$`, cs.CallID)

	// A TURN server's password is accepted and never written back.
	tid, err := a.client.CreateObject(context.Background(), "turnServers", &TurnServer{ServerAddress: "turn.example.com", Username: "u", Password: "turn-Pa55", Type: "standard"})
	require.NoError(t, err)
	_, _, body = a.raw(t, "GET", "/api/v1/turnServers/"+tid, "")
	assert.NotContains(t, body, "turn-Pa55")
	assert.Contains(t, body, "<username>u</username>")

	// DELETE answers 200 and the space is gone, members with it.
	_, err = a.client.Create(context.Background(), "coSpaces/"+id+"/coSpaceUsers", url.Values{"userJid": {"alice@example.com"}})
	require.NoError(t, err)
	status, _, body = a.raw(t, "DELETE", "/api/v1/coSpaces/"+id, "")
	assert.Equal(t, 200, status)
	assert.Empty(t, body)
	status, _, _ = a.raw(t, "GET", "/api/v1/coSpaces/"+id+"/coSpaceUsers", "")
	assert.Equal(t, 400, status)
}

func TestPagingAndFilters(t *testing.T) {
	a := newTestAPI(t, nil)
	ctx := context.Background()
	for i := range 12 {
		tenant := "t1"
		if i%3 == 0 {
			tenant = "t2"
		}
		_, err := a.client.CreateObject(ctx, "coSpaces", &CoSpace{Name: fmt.Sprintf("Room %02d", i), URI: fmt.Sprintf("room.%02d", i), Tenant: tenant})
		require.NoError(t, err)
	}
	_, _, body := a.raw(t, "GET", "/api/v1/coSpaces?offset=10&limit=5", "")
	var page List[CoSpace]
	require.NoError(t, xml.Unmarshal([]byte(body), &page))
	assert.Equal(t, "coSpaces", page.XMLName.Local)
	assert.Equal(t, 12, page.Total)
	require.Len(t, page.Items, 2)
	assert.Equal(t, "Room 10", page.Items[0].Name)
	assert.Contains(t, body, "<autoGenerated>false</autoGenerated>")
	assert.NotContains(t, body, "<secret>", "lists show the summary fields only")

	_, _, body = a.raw(t, "GET", "/api/v1/coSpaces?offset=20", "")
	assert.Equal(t, `<?xml version="1.0"?><coSpaces total="12"></coSpaces>`, body)
	_, _, body = a.raw(t, "GET", "/api/v1/callLegs", "")
	assert.Equal(t, `<?xml version="1.0"?><callLegs total="0"></callLegs>`, body)

	all, err := ListAll[CoSpace](ctx, a.client, "coSpaces", url.Values{"filter": {"ROOM 1"}})
	require.NoError(t, err)
	assert.Len(t, all, 2) // Room 10, Room 11
	all, err = ListAll[CoSpace](ctx, a.client, "coSpaces", url.Values{"tenantFilter": {"t2"}})
	require.NoError(t, err)
	assert.Len(t, all, 4)
	all, err = ListAll[CoSpace](ctx, a.client, "coSpaces", nil)
	require.NoError(t, err)
	assert.Len(t, all, 12)
}

// sample fills every writable field of a model object with a valid value; refs are the
// ids to use for references.
func sample(t *testing.T, typ *objectType, refs map[string]string) reflect.Value {
	v := reflect.New(typ.goType)
	for i, p := range typ.params {
		if p.ro {
			continue
		}
		f := v.Elem().Field(p.field)
		s := fmt.Sprintf("value-%d", i)
		switch {
		case p.ref != "":
			s = refs[p.ref]
			if s == "" {
				continue
			}
		case p.name == "coSpaceCallIdMapping":
			s = "77$index$"
		case p.kind == kURI:
			s = fmt.Sprintf("Sample.URI.%d", i)
		case p.kind == kEnum:
			s = p.enum[len(p.enum)-1]
		case p.kind == kDigits:
			s = fmt.Sprint(4000 + i)
		case p.kind == kURL:
			s = p.schemes[0] + "://host.example.com:9999/p"
		case p.kind == kStream:
			s = "rtmps://user:pw@live.example.com/app/key"
		case p.kind == kBool:
			s = "true"
		case p.kind == kInt:
			s = fmt.Sprint(10 + i)
		}
		setField(f, s)
	}
	return v
}

// TestRoundTripEveryType: every configuration object type is created through the
// client from a model value with every writable field set, read back through the
// client, listed, changed and deleted.
func TestRoundTripEveryType(t *testing.T) {
	a := newTestAPI(t, nil)
	ctx := context.Background()
	refs := map[string]string{}
	userID, err := a.srv.Store().Create(&User{UserJid: "owner@example.com", Name: "Owner"}, "")
	require.NoError(t, err)
	order := []string{"callProfiles", "callLegProfiles", "callBridges", "coSpaces", "coSpaceUsers", "accessMethods",
		"outboundDialPlanRules", "cospaceBulkParameterSets", "cospaceBulkSyncs", "system/cdrReceivers",
		"recorders", "streamers", "webBridges", "turnServers"}
	require.Len(t, order, len(configTypes())-1, "every writable type is covered")
	for _, coll := range order {
		var typ *objectType
		for _, x := range configTypes() {
			if x.collection == coll {
				typ = x
			}
		}
		require.NotNil(t, typ, coll)
		t.Run(coll, func(t *testing.T) {
			path := coll
			if typ.parent != nil {
				path = "coSpaces/" + refs["coSpaces"] + "/" + coll
			}
			obj := sample(t, typ, refs)
			if coll == "coSpaceUsers" {
				obj.Elem().FieldByName("UserJid").SetString("owner@example.com")
			}
			id, err := a.client.CreateObject(ctx, path, obj.Interface())
			require.NoError(t, err)
			refs[coll] = id

			got := reflect.New(typ.goType)
			require.NoError(t, a.client.Get(ctx, path+"/"+id, nil, got.Interface()))
			for _, p := range typ.params {
				want, have := obj.Elem().Field(p.field), got.Elem().Field(p.field)
				switch {
				case p.wo:
					assert.True(t, have.IsZero(), "%s is write-only", p.name)
				case p.ro:
				case p.kind == kURI:
					assert.Equal(t, strings.ToLower(want.String()), have.String(), p.name)
				default:
					assert.Equal(t, want.Interface(), have.Interface(), p.name)
				}
			}
			assert.Equal(t, id, got.Elem().FieldByName("ID").String())
			if coll == "coSpaceUsers" {
				assert.Equal(t, userID, got.Elem().FieldByName("UserID").String())
			}
			if coll == "cospaceBulkSyncs" {
				assert.Equal(t, "complete", got.Elem().FieldByName("Status").String())
			}

			// Listed: the id is there.
			status, _, body := a.raw(t, "GET", "/api/v1/"+path, "")
			require.Equal(t, 200, status)
			assert.Contains(t, body, `id="`+id+`"`)
			assert.True(t, strings.HasPrefix(body, `<?xml version="1.0"?><`+typ.listName()+` total="1">`), body)

			// PUT with nothing changes nothing (bulk syncs refuse PUT).
			status, _, _ = a.raw(t, "PUT", "/api/v1/"+path+"/"+id, "")
			if coll == "cospaceBulkSyncs" {
				assert.Equal(t, 400, status)
			} else {
				assert.Equal(t, 200, status)
				again := reflect.New(typ.goType)
				require.NoError(t, a.client.Get(ctx, path+"/"+id, nil, again.Interface()))
				assert.Equal(t, got.Interface(), again.Interface())
			}
		})
	}
	// Deleting in reverse order works for every type.
	for i := len(order) - 1; i >= 0; i-- {
		coll := order[i]
		path := coll
		if coll == "coSpaceUsers" || coll == "accessMethods" {
			path = "coSpaces/" + refs["coSpaces"] + "/" + coll
		}
		require.NoError(t, a.client.Delete(ctx, path+"/"+refs[coll]), coll)
		err := a.client.Delete(ctx, path+"/"+refs[coll])
		assert.ErrorIs(t, err, ErrDoesNotExist, coll)
	}
	// system/profiles: GET and PUT.
	cp, err := a.client.Create(ctx, "callProfiles", url.Values{"streamingMode": {"automatic"}})
	require.NoError(t, err)
	require.NoError(t, a.client.UpdateObject(ctx, "system/profiles", &SystemProfiles{CallProfile: cp}))
	p, err := GetObject[SystemProfiles](ctx, a.client, "system/profiles")
	require.NoError(t, err)
	assert.Equal(t, cp, p.CallProfile)
	assert.Equal(t, "automatic", a.srv.Store().EffectiveCallProfile(CoSpace{}).StreamingMode)
	err = a.client.Update(ctx, "system/profiles", url.Values{"callProfile": {"nope"}})
	assert.ErrorIs(t, err, ErrDoesNotExist)
}

func TestExpandTemplate(t *testing.T) {
	for _, c := range []struct {
		tmpl string
		want string
	}{
		{"space.$index$", "space.7"},
		{"Space $index$", "Space 7"},
		{"811$index$", "8117"},
		{`cost\$$index$`, "cost$7"},
		{`a\\b$index$`, `a\b7`},
		{"TMS_Scheduled_Meeting_", "TMS_Scheduled_Meeting_7"},
		{"", ""},
		{"$index$-$index$", "7-7"},
	} {
		assert.Equal(t, c.want, ExpandTemplate(c.tmpl, 7), c.tmpl)
	}
}

func TestBulkSync(t *testing.T) {
	a := newTestAPI(t, nil)
	ctx := context.Background()
	set, err := a.client.Create(ctx, "coSpaceBulkParameterSets", url.Values{"startIndex": {"1000"}, "endIndex": {"1099"},
		"coSpaceUriMapping": {"space.$index$"}, "coSpaceNameMapping": {"Space $index$"}, "coSpaceCallIdMapping": {"811$index$"}})
	require.NoError(t, err)
	sync, err := a.client.Create(ctx, "coSpaceBulkSyncs", url.Values{"coSpaceBulkParameterSet": {set}})
	require.NoError(t, err)
	s, err := GetObject[CoSpaceBulkSync](ctx, a.client, "coSpaceBulkSyncs/"+sync)
	require.NoError(t, err)
	assert.Equal(t, "complete", s.Status)
	assert.Equal(t, set, s.CoSpaceBulkParameterSet)
	spaces, err := ListAll[CoSpace](ctx, a.client, "coSpaces", nil)
	require.NoError(t, err)
	require.Len(t, spaces, 100)
	assert.Equal(t, "Space 1042", spaces[42].Name)
	assert.Equal(t, "space.1042", spaces[42].URI)
	assert.Equal(t, "8111042", spaces[42].CallID)

	// Syncing again changes nothing; narrowing the range removes what fell out.
	_, err = a.client.Create(ctx, "coSpaceBulkSyncs", url.Values{"coSpaceBulkParameterSet": {set}})
	require.NoError(t, err)
	require.NoError(t, a.client.Update(ctx, "coSpaceBulkParameterSets/"+set, url.Values{"endIndex": {"1009"}}))
	_, err = a.client.Create(ctx, "coSpaceBulkSyncs", url.Values{"coSpaceBulkParameterSet": {set}})
	require.NoError(t, err)
	spaces, err = ListAll[CoSpace](ctx, a.client, "coSpaces", nil)
	require.NoError(t, err)
	assert.Len(t, spaces, 10)

	// Conflicts and bad ranges end in the documented failure states.
	_, err = a.client.Create(ctx, "coSpaces", url.Values{"name": {"taken"}, "uri": {"other.5"}})
	require.NoError(t, err)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"startIndex": {"1"}, "endIndex": {"9"}, "coSpaceUriMapping": {"other.$index$"}}, "failedCoSpaceUriConflict"},
		{url.Values{"startIndex": {"1000"}, "endIndex": {"1000"}, "coSpaceCallIdMapping": {"811$index$"}}, "failedCallIdConflict"},
		{url.Values{"startIndex": {"9"}, "endIndex": {"1"}}, "failedIndexRangeInvalid"},
		{url.Values{"startIndex": {"1"}, "endIndex": {"1000000"}}, "failedIndexRangeTooGreat"},
	} {
		set, err := a.client.Create(ctx, "coSpaceBulkParameterSets", c.form)
		require.NoError(t, err)
		id, err := a.client.Create(ctx, "coSpaceBulkSyncs", url.Values{"coSpaceBulkParameterSet": {set}})
		require.NoError(t, err)
		s, err := GetObject[CoSpaceBulkSync](ctx, a.client, "coSpaceBulkSyncs/"+id)
		require.NoError(t, err)
		assert.Equal(t, c.want, s.Status, c.form.Encode())
	}
	_, err = a.client.Create(ctx, "coSpaceBulkSyncs", url.Values{"coSpaceBulkParameterSet": {"nope"}})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "coSpaceBulkParameterSetDoesNotExist", e.Failure)
}

// canonical re-encodes XML token by token, dropping whitespace between elements, so that
// two documents compare equal when CMS would consider them the same.
func canonical(t *testing.T, doc string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var b strings.Builder
	e := xml.NewEncoder(&b)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch x := tok.(type) {
		case xml.ProcInst, xml.Comment:
			continue
		case xml.CharData:
			if strings.TrimSpace(string(x)) == "" {
				continue
			}
		}
		require.NoError(t, e.EncodeToken(xml.CopyToken(tok)))
	}
	require.NoError(t, e.Flush())
	return b.String()
}

// TestReferenceSamples: every XML sample of docs/API-REFERENCE.md §2–§3 (and the TMS
// trace of SEEDS source 004) parses into the model and writes back the same document.
func TestReferenceSamples(t *testing.T) {
	samples := []struct {
		name string
		v    any
		doc  string
	}{
		{"coSpace TAC-213552", &CoSpace{}, `<coSpace id="3a2cd9ec-0b29-4e6e-a9a7-55e7f7aa5b0a"><name>Global</name><autoGenerated>false</autoGenerated><uri>global</uri><callId>1234</callId><callLegProfile>0e6a4ef1-bd1a-4f2d-9c9b-58c3d3b3ba4e</callLegProfile><nonMemberAccess>true</nonMemberAccess><ownerId>7c4c4a2f-bb5c-4f5b-a7d0-63d1c1e05c6e</ownerId><ownerJid>user1@x.net</ownerJid><secret>ZxPzVwzGbsHhO8Z.xTLEvg</secret><numAccessMethods>1</numAccessMethods><defaultLayout>allEqual</defaultLayout></coSpace>`},
		{"coSpaceUsers list", &List[CoSpaceUser]{}, `<coSpaceUsers total="1"><coSpaceUser id="b4b8f3e2-8d55-4d1c-9a4e-3c6a8f0e1d2b"><userId>7c4c4a2f-bb5c-4f5b-a7d0-63d1c1e05c6e</userId><userJid>user1@x.net</userJid><autoGenerated>false</autoGenerated></coSpaceUser></coSpaceUsers>`},
		{"callProfile TAC-213552", &CallProfile{}, `<callProfile id="1285fa9c-f221-4af7-8462-51cf1d7542eb"><passcodeMode>timeout</passcodeMode><passcodeTimeout>5</passcodeTimeout></callProfile>`},
		{"recorders mock", &List[Recorder]{}, `<recorders total="1"><recorder id="e3b0c442-98fc-4c14-9afb-f4c8996fb924"><url>https://127.0.0.1:447</url></recorder></recorders>`},
		{"callBridges TMS", &List[CallBridge]{}, `<callBridges total="2"><callBridge id="0e3758db-b9b8-49df-a74c-55fa05e3e21d"><name>CallBridge-Core1</name></callBridge><callBridge id="cfe31846-ca57-4703-9e11-da3e72a13066"><name>CallBridge-Core2</name></callBridge></callBridges>`},
		{"callBridge TMS", &CallBridge{}, `<callBridge id="0e3758db-b9b8-49df-a74c-55fa05e3e21d"><name>CallBridge-Core1</name><address>https://14.80.82.30</address><sipDomain></sipDomain></callBridge>`},
		{"cospaceBulkSync TMS", &CoSpaceBulkSync{}, `<cospaceBulkSync id="071e7bf5-c0d8-4d2a-b321-7b07c799829c"><cospaceBulkParameterSet>beac931c-ae88-4f5f-b6b7-71a1c4bdaf8e</cospaceBulkParameterSet><status>complete</status></cospaceBulkSync>`},
		{"participants TMS", &List[Participant]{}, `<participants total="0"></participants>`},
		{"callLegs TMS", &List[CallLeg]{}, `<callLegs total="0"></callLegs>`},
		{"coSpaces TMS", &List[CoSpace]{}, `<coSpaces total="4"><coSpace id="2be23a10-f400-4436-baef-6058f55ca688"><name>Cool Bridge Space</name><autoGenerated>false</autoGenerated><uri>cool.bridge.space</uri><callId>497540167</callId></coSpace></coSpaces>`},
		{"calls TMS", &List[Call]{}, `<calls total="1"><call id="ce5ee392-7be6-4227-a7ee-b4f16a5fdd16"><name>Tim Kratzke Acano TMSXE Test Meeting</name><coSpace>458075bc-6def-4052-8ed6-b1192d6e6b35</coSpace><callCorrelator>76331036-6887-4d88-87ea-2a24a2f585d4</callCorrelator></call></calls>`},
		{"users mock", &List[User]{}, `<users total="1"><user id="9a1e2c3d-4b5f-4a6e-8d7c-1b2a3c4d5e6f"><userJid>user1@x.net</userJid><name>User One</name><email>user1@x.net</email><cdrTag>t</cdrTag><tenant>5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d</tenant></user></users>`},
		{"status TMS", &SystemStatus{}, `<status><softwareVersion>2.0(RC)</softwareVersion><uptimeSeconds>333717</uptimeSeconds><cdrTime>2016-07-26T14:08:19Z</cdrTime><activated>true</activated><clusterEnabled>true</clusterEnabled><callLegsActive>0</callLegsActive><callLegsMaxActive>3</callLegsMaxActive><callLegsCompleted>0</callLegsCompleted><audioBitRateOutgoing>0</audioBitRateOutgoing><audioBitRateIncoming>0</audioBitRateIncoming><videoBitRateOutgoing>0</videoBitRateOutgoing><videoBitRateIncoming>0</videoBitRateIncoming></status>`},
		{"callLeg HL727 mock", &CallLeg{}, `<callLeg id="9f003b66-0539-4513-b609-ed0d93d09781"><name>desk.ex90</name><remoteParty>desk.ex90@tkratzke.local</remoteParty><originalRemoteParty>desk.ex90@tkratzke.local</originalRemoteParty><call>ce5ee392-7be6-4227-a7ee-b4f16a5fdd16</call><type>sip</type><direction>outgoing</direction><canMove>true</canMove><configuration><defaultLayout>telepresence</defaultLayout></configuration><status><state>connected</state><durationSeconds>42</durationSeconds><encryptedMedia>false</encryptedMedia><rxAudio><codec>aac</codec></rxAudio><rxVideo><codec>h264</codec><width>1280</width><height>720</height></rxVideo></status></callLeg>`},
		{"CDR envelope", &Records{}, `<records session="bd3b1a87-4b8c-4a66-9d44-1f2e3d4c5b6a"><record type="callLegStart" time="2015-07-23T07:32:55Z" recordIndex="4" correlatorIndex="3"><callLeg id="6e5c0a36-2c58-4b2e-8c2f-0e1d2c3b4a59"><displayName>Desk</displayName><remoteParty>desk@example.com</remoteParty><recording>false</recording><streaming>false</streaming><type>sip</type><direction>outgoing</direction><call>ce5ee392-7be6-4227-a7ee-b4f16a5fdd16</call></callLeg></record><record type="streamingStart" time="2015-07-23T07:33:01Z" recordIndex="5" correlatorIndex="4"><streaming id="1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"><streamUrl>rtmp://live.example.com/app/key</streamUrl><call>ce5ee392-7be6-4227-a7ee-b4f16a5fdd16</call></streaming></record><record type="streamingEnd" time="2015-07-23T07:40:01Z" recordIndex="6" correlatorIndex="5"><streaming id="1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"></streaming></record></records>`},
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			require.NoError(t, xml.Unmarshal([]byte(xmlHeader+s.doc), s.v))
			out, err := xml.Marshal(s.v)
			require.NoError(t, err)
			assert.Equal(t, canonical(t, s.doc), canonical(t, string(out)))
		})
	}
	// The failure forms parse into the client's error.
	for doc, want := range map[string][3]string{
		`<?xml version="1.0"?><failureDetails><coSpaceDoesNotExist /></failureDetails>`:                                       {"coSpaceDoesNotExist", "", ""},
		`<?xml version="1.0"?><failureDetails><duplicateCoSpaceUri /></failureDetails>`:                                       {"duplicateCoSpaceUri", "", ""},
		`<?xml version="1.0"?><failureDetails><parameterError parameter="streamUrl" error="invalidValue" /></failureDetails>`: {"parameterError", "streamUrl", "invalidValue"},
	} {
		tag, p, r := parseFailure([]byte(doc))
		assert.Equal(t, want, [3]string{tag, p, r})
		var b strings.Builder
		writeFailure(&b, &Failure{Tag: tag, Parameter: p, Reason: r})
		assert.Equal(t, doc, b.String())
	}
}

func TestServerStatus(t *testing.T) {
	a := newTestAPI(t, nil)
	_, h, body := a.raw(t, "GET", "/api/v1/system/status", "")
	assert.Equal(t, "text/xml", h.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(body, `<?xml version="1.0"?><status><softwareVersion>3.9</softwareVersion><uptimeSeconds>`), body)
	st, err := a.client.Status(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Activated)
	_, err = time.Parse(time.RFC3339, st.CdrTime)
	assert.NoError(t, err)
}

// The API password, a wrong one tried, and write-only secrets never reach the log.
func TestServerLogHasNoSecrets(t *testing.T) {
	var logs peer.SyncBuffer
	srv := NewServer(ServerConfig{User: apiUser, Password: apiPass, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, err := NewClient(hs.URL, apiUser, apiPass)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.CreateObject(ctx, "turnServers", &TurnServer{ServerAddress: "t", Username: "u", Password: "Turn-Secr3t"})
	require.NoError(t, err)
	_, err = c.CreateObject(ctx, "coSpaces", &CoSpace{Name: "x", StreamURL: "rtmp://u:Stream-Secr3t@h/app/s", Passcode: "98765"})
	require.NoError(t, err)
	bad, err := NewClient(hs.URL, apiUser, "Wrong-Secr3t", WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	_, err = bad.Status(ctx)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), "Wrong-Secr3t")
	out := logs.String()
	assert.Contains(t, out, "cmsapi: authentication failed")
	for _, secret := range []string{apiPass, "Wrong-Secr3t", "Turn-Secr3t", "Stream-Secr3t", "98765"} {
		assert.NotContains(t, out, secret)
	}
}
