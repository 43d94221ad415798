// Package cmsapi speaks the Cisco Meeting Server REST API (/api/v1): the model, a client,
// and a server that tools such as Cisco TMS, the CMS Uploader and admin scripts can drive
// unchanged.
//
// The API is HTTPS with Basic authentication; requests are form-encoded, answers are
// XML (`<coSpaces total="N">…`), a create answers 200 with the new object's path in
// Location, and a failure is HTTP 400 with `<failureDetails><coSpaceDoesNotExist />…`.
//
// Model: one Go type per object — CoSpace (members, access methods), CallProfile
// (sipStreamerUri, sipRecorderUri, streamingMode, recordingMode), CallLegProfile,
// SystemProfiles, SystemStatus, OutboundDialPlanRule (failureAction,
// sipControlEncryption), Call, CallLeg, Participant, CallBridge, CoSpaceBulkParameterSet,
// CoSpaceBulkSync, CdrReceiver, Recorder, Streamer, WebBridge (c2w:// URLs), TurnServer,
// User — and List[T] for a page. Field tags carry both the XML and the server's rules for
// each parameter (lower-cased URIs, enumerations, references, read- and write-only), so
// model, client and server cannot disagree. Form turns a model value into a request.
//
// Client: Basic auth, TLS with a trust bundle and verification on, CreateObject/Create
// returning the id from Location, GetObject, ListAll over offset/limit pages, typed
// errors (*Error, unwrapping to ErrUnauthorized, ErrDoesNotExist, ErrBusy) carrying the
// failure tag and parameterError's parameter, 503 retried with backoff.
//
// Server: an http.Handler answering as CMS does — 401 with WWW-Authenticate: Basic
// realm="acano", paths matched case-insensitively, omitted parameters unchanged on PUT
// and `param=` clearing one, URIs stored lower-case, duplicate URIs and call IDs refused,
// references checked (callProfileDoesNotExist), unknown paths unrecognisedObject, bad
// values parameterError naming the parameter, POST on /system/profiles invalidOperation,
// offset/limit/filter (and tenantFilter, callLegProfileFilter, coSpaceFilter) on lists,
// bulk syncs expanding $index$ templates. Configuration lives in a Store (in memory; the
// application may seed it, e.g. users as an LDAP sync would); live objects — calls,
// call legs, participants, system status — come from the Backend given to NewServer,
// which package conference/cms implements on a conference.Bridge.
//
// Clusters: several API nodes can share one configuration and one view of the live
// calls. NewSharedStore keeps a Store in a Journal (each write one transaction on the
// latest state, each read taking in the other nodes' writes first); Cluster is a
// Backend over the node's own that lists every node's calls from a Registry (a
// heartbeat per node) and sends a change to another node's call to that node's API.
// Package cmsapi/pgstore implements both on PostgreSQL; NewMemoryJournal and
// NewMemoryRegistry in one process, for tests.
//
// CDRs: CDRSender posts CMS-format records (callStart, callLegStart/Update/End,
// callEnd, recordingStart/End, streamingStart/End) to the /system/cdrReceivers, several
// per POST, resent until answered 200, numbered per session (recordIndex) and per call
// (correlatorIndex); CDRReceiver is a de-duplicating receiver for tests.
//
// Not modelled: tenants, branding, DTMF and IVR profiles (their ids are stored as given),
// LDAP, layout templates (JSON), messages and diagnostics. Where CMS's behaviour is not
// documented the choice is written at the code: a bulk name mapping without $index$ gets
// the index appended (what the TMS trace implies), a missing required parameter is
// parameterError with error="missing", streaming under a profile that does not allow
// manual changes answers callStreamingCannotBeModified (by analogy with
// callRecordingCannotBeModified; not in the documented list), unset modes are manual, at
// most 4 CDR receivers.
//
// Specification: Cisco Meeting Server API Reference Guide (2.x/3.x), CDR Guide; the
// facts used are collected in docs/API-REFERENCE.md §2–§4 of the project.
package cmsapi
