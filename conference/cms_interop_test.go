package conference_test

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/cms"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

const (
	tmsUser = "admin"
	tmsPass = "Tms-Api-Pa55"
)

// cmsRig is a Bridge serving the CMS API over HTTPS, with a CDR receiver.
type cmsRig struct {
	srv    *cmsapi.Server
	bridge *conference.Bridge
	api    *httptest.Server
	cdr    *cmsapi.CDRReceiver
	cdrURL string
	events *eventLog
	rec    string
}

func newCMSRig(t *testing.T) *cmsRig { return newCMSRigWith(t, cms.Config{}) }

// newCMSRigWith is newCMSRig with cfg's options (Mix) for the backend.
func newCMSRigWith(t *testing.T, cfg cms.Config) *cmsRig {
	t.Helper()
	r := &cmsRig{cdr: cmsapi.NewCDRReceiver(), events: &eventLog{}, rec: t.TempDir()}
	store := cmsapi.NewStore()
	cdrs := cmsapi.NewStoreCDRSender(store, nil, nil)
	cfg.Store, cfg.CDRs = store, cdrs
	backend := cms.New(cfg)
	r.srv = cmsapi.NewServer(cmsapi.ServerConfig{User: tmsUser, Password: tmsPass, Store: store, CDRs: cdrs, Backend: backend})
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Controller: backend,
		RecordDir: r.rec, Events: r.events.add, MediaTimeout: time.Minute})
	require.NoError(t, err)
	r.bridge = b
	r.api = httptest.NewTLSServer(r.srv)
	cdrSrv := httptest.NewServer(r.cdr)
	r.cdrURL = cdrSrv.URL + "/cdr?site=lab"
	t.Cleanup(func() {
		_ = b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.srv.CDRs().Flush(ctx)
		_ = r.srv.Close()
		r.api.Close()
		cdrSrv.Close()
	})
	return r
}

// exchange is one request of the trace and what the answer must be.
type exchange struct {
	status   int
	location string // a regexp; "" means none
	body     string
	header   http.Header
}

// do sends a request as TMS does (Basic auth unless noAuth, form body as written) and
// checks the parts of the answer CMS's trace shows: status, Location, size, type.
func (r *cmsRig) do(t *testing.T, method, path, form string, noAuth ...bool) exchange {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, r.api.URL+path, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if len(noAuth) == 0 {
		req.SetBasicAuth(tmsUser, tmsPass)
	}
	resp, err := r.api.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	ex := exchange{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(data), header: resp.Header}
	assert.Equal(t, strconv.Itoa(len(data)), resp.Header.Get("Content-Length"), "%s %s: size", method, path)
	switch {
	case len(data) > 0:
		assert.Equal(t, "text/xml", resp.Header.Get("Content-Type"), "%s %s", method, path)
		assert.True(t, strings.HasPrefix(ex.body, `<?xml version="1.0"?>`), "%s %s: %s", method, path, ex.body)
	}
	return ex
}

// created checks a create's answer — 200, no body, Location /api/v1/<collection>/<guid>
// — and returns the id.
func created(t *testing.T, ex exchange, collection string) string {
	t.Helper()
	require.Equal(t, 200, ex.status, ex.body)
	require.Empty(t, ex.body)
	m := regexp.MustCompile(`^/api/v1/` + collection + `/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`).FindStringSubmatch(ex.location)
	require.NotNil(t, m, "Location %q", ex.location)
	return m[1]
}

func modified(t *testing.T, ex exchange) {
	t.Helper()
	require.Equal(t, 200, ex.status, ex.body)
	require.Empty(t, ex.body)
	require.Empty(t, ex.location)
}

var guid = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

// statusDoc is the /system/status TMS polls; the live figures are checked.
func checkStatus(t *testing.T, ex exchange, active int) {
	t.Helper()
	require.Equal(t, 200, ex.status)
	require.Regexp(t, `^<\?xml version="1.0"\?><status><softwareVersion>[^<]+</softwareVersion><uptimeSeconds>\d+</uptimeSeconds><cdrTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</cdrTime><activated>true</activated><clusterEnabled>false</clusterEnabled><callLegsActive>`+strconv.Itoa(active)+`</callLegsActive><callLegsMaxActive>\d+</callLegsMaxActive>`, ex.body)
}

// The TMS flow of SEEDS source 004, request by request with TMS's paths (mixed case
// included), against a Bridge serving the API: discovery, profiles, the bulk reservation
// of TMS_Scheduled_Meeting_1..5, starting a meeting, dialling an endpoint (a sipp callee
// reached through an outbound dial plan rule), extending and ending it. Each answer is
// checked as CMS's trace shows it: status, Location, body.
func TestInteropTMSFlow(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	sipp := peer.Require(t, "sipp", "sip-tester")
	r := newCMSRig(t)
	st := r.srv.Store()
	// What the administrator configured before TMS came: the cluster, a space, a CDR
	// receiver and the dial plan rule for the endpoints' domain.
	var core1 string
	for i, addr := range []string{"https://14.80.82.30", "https://14.80.82.31"} {
		id, err := st.Create(&cmsapi.CallBridge{Name: fmt.Sprintf("CallBridge-Core%d", i+1), Address: addr, SipDomain: new(string)}, "")
		require.NoError(t, err)
		if i == 0 {
			core1 = id
		}
	}
	_, err := st.Create(&cmsapi.CoSpace{Name: "Cool Bridge Space", URI: "cool.bridge.space", CallID: "497540167"}, "")
	require.NoError(t, err)
	_, err = st.Create(&cmsapi.CdrReceiver{URI: r.cdrURL}, "")
	require.NoError(t, err)
	sippPort := peer.FreePort(t)
	_, err = st.Create(&cmsapi.OutboundDialPlanRule{Domain: "tkratzke.local", Priority: cmsapi.Int(10),
		SipProxy: fmt.Sprintf("127.0.0.1:%d", sippPort), SipControlEncryption: "auto", FailureAction: "stop"}, "")
	require.NoError(t, err)
	callee := peer.Start(t, sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(sippPort),
		"-mp", strconv.Itoa(peer.FreeUDPPorts(t, 4)), "-m", "1", "-timeout", "120s", "-timeout_error", "-nostdin")

	// Discovery.
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 0)
	ex := r.do(t, "GET", "/api/v1/callBridges", "")
	require.Equal(t, 200, ex.status)
	require.Regexp(t, `^<\?xml version="1.0"\?><callBridges total="2"><callBridge id="`+core1+`"><name>CallBridge-Core1</name></callBridge><callBridge id="`+guid+`"><name>CallBridge-Core2</name></callBridge></callBridges>$`, ex.body)
	ex = r.do(t, "GET", "/api/v1/callBridges/"+core1, "")
	require.Equal(t, `<?xml version="1.0"?><callBridge id="`+core1+`"><name>CallBridge-Core1</name><address>https://14.80.82.30</address><sipDomain></sipDomain></callBridge>`, ex.body)

	// Profiles.
	cp := created(t, r.do(t, "POST", "/api/v1/callProfiles", "participantLimit=1000&messageBoardEnabled=false"), "callProfiles")
	clp := created(t, r.do(t, "POST", "/api/v1/callLegProfiles", "defaultLayout=telepresence&changeLayoutAllowed=true&presentationContributionAllowed=true&presentationViewingAllowed=true&muteSelfAllowed=true&videoMuteSelfAllowed=true"), "callLegProfiles")

	// Reserve spaces.
	set := created(t, r.do(t, "POST", "/api/v1/cospaceBulkParameterSets",
		"startIndex=1&endIndex=5&coSpaceUriMapping=&coSpaceNameMapping=TMS_Scheduled_Meeting_&coSpaceCallIdMapping=&callProfile="+cp+"&callLegProfile="+clp+"&nonMemberAccess=false"), "cospaceBulkParameterSets")
	sync := created(t, r.do(t, "POST", "/api/v1/cospaceBulkSyncs", "cospaceBulkParameterSet="+set), "cospaceBulkSyncs")
	ex = r.do(t, "GET", "/api/v1/cospaceBulkSyncs/"+sync, "")
	require.Equal(t, `<?xml version="1.0"?><cospaceBulkSync id="`+sync+`"><cospaceBulkParameterSet>`+set+`</cospaceBulkParameterSet><status>complete</status></cospaceBulkSync>`, ex.body)
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 0)

	// Start the meeting: participants, spaces (the first try without credentials, as in
	// the trace), the lowest unused TMS_Scheduled_Meeting_N, PUT it open, POST /calls.
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 0)
	ex = r.do(t, "GET", "/api/v1/participants", "")
	require.Equal(t, `<?xml version="1.0"?><participants total="0"></participants>`, ex.body)
	ex = r.do(t, "GET", "/api/v1/coSpaces", "", true)
	require.Equal(t, 401, ex.status)
	require.Equal(t, `Basic realm="acano"`, ex.header.Get("WWW-Authenticate"))
	require.Empty(t, ex.body)
	ex = r.do(t, "GET", "/api/v1/coSpaces", "")
	var spaces cmsapi.List[cmsapi.CoSpace]
	require.NoError(t, xml.Unmarshal([]byte(ex.body), &spaces))
	require.Equal(t, 6, spaces.Total)
	require.Regexp(t, `^<\?xml version="1.0"\?><coSpaces total="6"><coSpace id="`+guid+`"><name>Cool Bridge Space</name><autoGenerated>false</autoGenerated><uri>cool.bridge.space</uri><callId>497540167</callId></coSpace><coSpace id="`+guid+`"><name>TMS_Scheduled_Meeting_1</name><autoGenerated>false</autoGenerated></coSpace>`, ex.body)
	space := ""
	for n := 1; n <= 5 && space == ""; n++ {
		for _, s := range spaces.Items {
			if s.Name == fmt.Sprintf("TMS_Scheduled_Meeting_%d", n) {
				space = s.ID
			}
		}
	}
	require.NotEmpty(t, space)
	var before cmsapi.CoSpace
	require.True(t, st.Get(space, &before))
	assert.Equal(t, cmsapi.Bool(false), before.NonMemberAccess)
	assert.Equal(t, cp, before.CallProfile)
	assert.Equal(t, clp, before.CallLegProfile)
	open := "&nonMemberAccess=true&passcode=4711&name=Tim Kratzke Acano TMSXE Test Meeting&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a"
	modified(t, r.do(t, "PUT", "/api/v1/cospaces/"+space, open))
	call := created(t, r.do(t, "POST", "/api/v1/calls", "coSpace="+space), "calls")
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 0)
	ex = r.do(t, "GET", "/api/v1/coSpaces", "")
	require.Contains(t, ex.body, `<coSpace id="`+space+`"><name>Tim Kratzke Acano TMSXE Test Meeting</name><autoGenerated>false</autoGenerated></coSpace>`)
	ex = r.do(t, "GET", "/api/v1/calls", "")
	require.Regexp(t, `^<\?xml version="1.0"\?><calls total="1"><call id="`+call+`"><name>Tim Kratzke Acano TMSXE Test Meeting</name><coSpace>`+space+`</coSpace><callCorrelator>`+guid+`</callCorrelator></call></calls>$`, ex.body)
	ex = r.do(t, "GET", "/api/v1/calllegs", "")
	require.Equal(t, `<?xml version="1.0"?><callLegs total="0"></callLegs>`, ex.body)
	leg := created(t, r.do(t, "POST", "/api/v1/calls/"+call+"/calllegs", "remoteParty=desk.ex90@tkratzke.local"), "callLegs")

	// The bridge dials the endpoint over SIP through the dial plan rule (auto: TLS
	// first, then "falling back to unencrypted control connection"); sipp answers.
	require.Eventually(t, func() bool {
		ex := r.do(t, "GET", "/api/v1/callLegs/"+leg, "")
		return strings.Contains(ex.body, "<state>connected</state>")
	}, 20*time.Second, 20*time.Millisecond, "the leg did not connect: %s", callee.Output())
	ex = r.do(t, "GET", "/api/v1/callLegs/"+leg, "")
	require.Regexp(t, `^<\?xml version="1.0"\?><callLeg id="`+leg+`"><name>desk.ex90@tkratzke.local</name><remoteParty>desk.ex90@tkratzke.local</remoteParty><originalRemoteParty>desk.ex90@tkratzke.local</originalRemoteParty><call>`+call+`</call><type>sip</type><direction>outgoing</direction><canMove>false</canMove><status><state>connected</state><durationSeconds>\d+</durationSeconds><encryptedMedia>false</encryptedMedia><rxAudio><codec>`, ex.body)
	ex = r.do(t, "GET", "/api/v1/participants", "")
	require.Regexp(t, `^<\?xml version="1.0"\?><participants total="1"><participant id="`+guid+`"><name>desk.ex90@tkratzke.local</name><call>`+call+`</call></participant></participants>$`, ex.body)
	ex = r.do(t, "GET", "/api/v1/calls/"+call+"/callLegs", "")
	require.Equal(t, `<?xml version="1.0"?><callLegs total="1"><callLeg id="`+leg+`"><name>desk.ex90@tkratzke.local</name><remoteParty>desk.ex90@tkratzke.local</remoteParty><call>`+call+`</call></callLeg></callLegs>`, ex.body)
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 1)

	// Extend: the same PUT again.
	modified(t, r.do(t, "PUT", "/api/v1/cospaces/"+space, open))

	// End: status checks, the space back to its placeholder, DELETE the call.
	checkStatus(t, r.do(t, "GET", "/api/v1/system/status", ""), 1)
	r.do(t, "GET", "/api/v1/coSpaces", "")
	ex = r.do(t, "GET", "/api/v1/calls", "")
	require.Contains(t, ex.body, `<calls total="1"><call id="`+call+`">`)
	r.do(t, "GET", "/api/v1/coSpaces", "")
	modified(t, r.do(t, "PUT", "/api/v1/cospaces/"+space, "&nonMemberAccess=false&passcode=4711&name=TMS_Scheduled_Meeting_1&regenerateSecret=true"))
	ex = r.do(t, "DELETE", "/api/v1/calls/"+call, "")
	modified(t, ex)
	require.NoError(t, callee.Wait(30*time.Second), "sipp got its BYE and ended: %s", callee.Output())

	var after cmsapi.CoSpace
	require.True(t, st.Get(space, &after))
	assert.Equal(t, "TMS_Scheduled_Meeting_1", after.Name)
	assert.Equal(t, cmsapi.Bool(false), after.NonMemberAccess)
	assert.NotEqual(t, "86db1bdd-5cf7-4ea8-b88d-479195f4701a", after.Secret, "regenerateSecret")
	require.Eventually(t, func() bool {
		return r.do(t, "GET", "/api/v1/calls", "").body == `<?xml version="1.0"?><calls total="0"></calls>`
	}, 10*time.Second, 20*time.Millisecond)

	// The CDRs of the meeting, in order.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = r.cdr.WaitFor(ctx, cmsapi.CDRCallEnd, nil)
	require.NoError(t, err)
	var types []string
	for _, rec := range r.cdr.Records() {
		types = append(types, rec.Type)
	}
	require.Equal(t, []string{"callStart", "callLegStart", "callLegUpdate", "callLegEnd", "callEnd"}, types)
	recs := r.cdr.Records()
	assert.Equal(t, call, recs[0].Call.ID)
	assert.Equal(t, space, recs[0].Call.CoSpace)
	assert.Equal(t, "coSpace", recs[0].Call.CallType)
	assert.Equal(t, "desk.ex90@tkratzke.local", recs[1].CallLeg.RemoteParty)
	assert.Equal(t, "outgoing", recs[1].CallLeg.Direction)
	assert.Equal(t, "localTeardown", recs[3].CallLeg.Reason)
	for i, rec := range recs {
		assert.Equal(t, i, rec.CorrelatorIndex, "correlatorIndex of %s", rec.Type)
	}
}

// A space whose streamUrl points at nginx-rtmp (with credentials): an endpoint (sipp,
// media from ffmpeg) dials the space's URI, PUT /calls/{id} streaming=true makes a live
// stream that ffprobe reads from nginx while it runs, streaming=false stops it, and the
// CDR receiver gets streamingStart with the URL redacted of its password, then
// streamingEnd. The call profile's mode is enforced: recording under a profile with
// recordingMode=disabled answers callRecordingCannotBeModified; once the profile says
// manual, recording=true|false records an MP4 under spaces/<space id>/ (recordingStart
// with its path, recordingEnd).
func TestInteropStreamingThroughTheAPI(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	sipp := peer.Require(t, "sipp", "sip-tester")
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	r := newCMSRig(t)
	ctx := context.Background()
	client, err := cmsapi.NewClient(r.api.URL, tmsUser, tmsPass, cmsapi.WithHTTPClient(r.api.Client()))
	require.NoError(t, err)
	_, err = client.CreateObject(ctx, "system/cdrReceivers", &cmsapi.CdrReceiver{URI: r.cdrURL})
	require.NoError(t, err)
	cp, err := client.CreateObject(ctx, "callProfiles", &cmsapi.CallProfile{StreamingMode: "manual", RecordingMode: "disabled"})
	require.NoError(t, err)
	const password = "Str3am-Secr3t"
	streamURL := strings.Replace(ng.URL("board"), "rtmp://", "rtmp://broadcast:"+password+"@", 1)
	space, err := client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board Room", URI: "Board.Room", StreamURL: streamURL, CallProfile: cp})
	require.NoError(t, err)

	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	ac, err := aac.ParseConfig(clip.AudioConfig)
	require.NoError(t, err)
	p := peer.Start(t, sipp, r.bridge.UA().UDPAddr().String(), "-sf", filepath.Join("testdata", "endpoint_call.xml"),
		"-key", "space", "board.room", "-key", "config", hex.EncodeToString(clip.AudioConfig),
		"-key", "channels", strconv.Itoa(ac.Channels),
		"-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)), "-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)),
		"-m", "1", "-timeout", "120s", "-timeout_error", "-nostdin")
	var calls []cmsapi.Call
	require.Eventually(t, func() bool {
		calls, err = cmsapi.ListAll[cmsapi.Call](ctx, client, "calls", nil)
		return err == nil && len(calls) == 1 && len(r.bridge.Calls()) == 1 && r.bridge.Calls()[0].MediaPorts["video"] > 0
	}, 20*time.Second, 20*time.Millisecond, "sipp's call did not reach the space: %s", p.Output())
	call := calls[0]
	assert.Equal(t, space, call.CoSpace)
	assert.Equal(t, "Board Room", call.Name)
	info := r.bridge.Calls()[0]
	assert.Empty(t, info.URL, "no streaming before the API asks for it")

	// ffmpeg sends the clip twice over (about 8 s) to the answered ports.
	looped := filepath.Join(t.TempDir(), "looped.flv")
	mk := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-stream_loop", "1", "-i", filepath.Join(testmedia.Dir(), "av720p.flv"), "-c", "copy", "-f", "flv", looped)
	require.NoError(t, mk.Wait(time.Minute), mk.Output())
	vp, ap := info.MediaPorts["video"], info.MediaPorts["audio"]
	ff := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", looped,
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96", fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", vp, vp+1),
		"-map", "0:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97", fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", ap, ap+1))

	// Recording is not the API's to change under this profile; once the profile says
	// manual, it is.
	err = client.Update(ctx, "calls/"+call.ID, url.Values{"recording": {"true"}})
	var apiErr *cmsapi.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "callRecordingCannotBeModified", apiErr.Failure)
	require.NoError(t, client.Update(ctx, "callProfiles/"+cp, url.Values{"recordingMode": {"manual"}}))

	// nginx keeps a player connected after its publisher left, so ffprobe reads two
	// seconds of the live stream.
	live := peer.FFprobeAsync(t, time.Minute, ng.URL("board"), "-read_intervals", "%+2")
	require.NoError(t, client.Update(ctx, "calls/"+call.ID, url.Values{"streaming": {"true"}, "recording": {"true"}}))
	got, err := cmsapi.GetObject[cmsapi.Call](ctx, client, "calls/"+call.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Streaming)
	assert.True(t, *got.Streaming)
	require.Eventually(t, func() bool {
		c := r.bridge.Calls()
		return len(c) == 1 && c[0].Publisher.VideoFrames >= 100
	}, 20*time.Second, 20*time.Millisecond, "the stream did not run: %v", r.events.all())
	require.NoError(t, client.Update(ctx, "calls/"+call.ID, url.Values{"streaming": {"false"}, "recording": {"false"}}))
	res := <-live
	require.NoError(t, res.Err)
	v, a := res.Probe.Stream("video"), res.Probe.Stream("audio")
	require.NotNil(t, v, "ffprobe found no video in the live stream")
	require.NotNil(t, a, "ffprobe found no audio in the live stream")
	assert.Equal(t, "h264", v.CodecName)
	assert.Equal(t, "aac", a.CodecName)
	assert.Equal(t, 1280, v.Width)
	// How many frames ffprobe gets depends on when nginx handed it the first keyframe:
	// that it decodes the live stream at all is the point.
	assert.Positive(t, v.Frames(), "video frames ffprobe decoded live")
	assert.Positive(t, a.Frames(), "audio frames ffprobe decoded live")
	require.Eventually(t, func() bool {
		return r.events.has(conference.EventStreamingStopped) && r.events.has(conference.EventRecordingFinished)
	}, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, r.bridge.Calls()[0].URL, "streaming stopped")
	assert.Empty(t, r.bridge.Calls()[0].Recording, "recording stopped")
	mp4s, err := filepath.Glob(filepath.Join(r.rec, "spaces", space, "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1, "the recording is under spaces/<space id>/")
	probe, err := peer.FFprobe(t, time.Minute, mp4s[0])
	require.NoError(t, err)
	require.NotNil(t, probe.Stream("video"))
	require.NotNil(t, probe.Stream("audio"))
	assert.GreaterOrEqual(t, probe.Stream("video").Frames(), 50, "frames recorded while recording was on")
	require.NoError(t, ff.Wait(time.Minute), ff.Output())

	// End the meeting.
	require.NoError(t, client.Delete(ctx, "calls/"+call.ID))
	require.NoError(t, p.Wait(time.Minute), "sipp: %s", p.Output())
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start, err := r.cdr.WaitFor(cctx, cmsapi.CDRStreamingStart, nil)
	require.NoError(t, err)
	end, err := r.cdr.WaitFor(cctx, cmsapi.CDRStreamingEnd, nil)
	require.NoError(t, err)
	_, err = r.cdr.WaitFor(cctx, cmsapi.CDRCallEnd, nil)
	require.NoError(t, err)
	assert.Equal(t, rtmp.Redact(ng.URL("board")), start.Streaming.StreamURL, "redacted of its credentials and stream key")
	assert.NotContains(t, start.Streaming.StreamURL, "board")
	assert.Equal(t, call.ID, start.Streaming.Call)
	assert.NotEmpty(t, start.Streaming.CallLeg)
	assert.Equal(t, start.Streaming.ID, end.Streaming.ID)
	rs, err := r.cdr.WaitFor(cctx, cmsapi.CDRRecordingStart, nil)
	require.NoError(t, err)
	re, err := r.cdr.WaitFor(cctx, cmsapi.CDRRecordingEnd, nil)
	require.NoError(t, err)
	assert.Equal(t, rs.Recording.ID, re.Recording.ID)
	assert.Equal(t, strings.TrimSuffix(filepath.ToSlash(strings.TrimPrefix(mp4s[0], r.rec+"/")), ".mp4"), rs.Recording.Path)
	assert.Equal(t, call.ID, rs.Recording.Call)
	for _, rec := range r.cdr.Records() {
		out, err := xml.Marshal(rec)
		require.NoError(t, err)
		assert.NotContains(t, string(out), password)
	}
	for _, e := range r.events.all() {
		assert.NotContains(t, e.String(), password)
	}
}
