// Package revtest is an in-process Vbrick Rev emulator for tests of Rev clients and
// uploaders.
//
// It serves the calls a recording uploader makes — logins (/api/v2/user/login, the legacy
// /api/v1/user/login, /api/v2/authenticate), session extension and logoff, the upload
// (/api/v2/uploads/videos, also /api/v1/… and the unversioned /api/uploads/videos, whole or
// in Content-Range chunks), status (v1 and v2), details, playback URL, search by tag and
// delete — and it is strict where the OpenAPI description is: the "Video" metadata is
// checked against the spec's videoMetadata schema (schemas.json, extracted from
// ../shared/data/vbrick-openapi.json and kept equal to it by a test), an unknown
// videoAccessControl gets 400, a missing or unknown uploader 500, a publishDate not in
// YYYY-MM-DD 500. Where real clients differ it accepts all of them: part names in either
// case and order, a JSON part with or without a content type, the Authorization scheme in
// any case, access control entity types in any case (invalid entities are dropped, as Rev
// does). It is stricter than Rev in one place: a metadata field the spec does not define
// is rejected (400), to catch misspelt fields; AllowUnknownFields turns that off.
//
// Uploads are not kept, only counted and hashed (SHA-256), so multi-gigabyte files cost
// no memory. A finished upload is Processing and becomes Ready after ProcessingPolls
// status requests (SetStatus forces a status). Faults — an error status with or without
// Retry-After, a slow answer, a connection dropped before answering or after part of the
// request body — are injected with Inject; a Fault's Hook lets a test stop a request at
// an exact point (for example to kill the client process there).
package revtest
