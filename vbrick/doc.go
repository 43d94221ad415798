// Package vbrick is a client for the Vbrick Rev REST API: the calls a recording uploader
// needs, done with the care a long-running service needs.
//
// It covers authentication (user and password through /api/v2/user/login or the legacy
// /api/v1/user/login the Cisco Meeting Server Uploader uses, or an API key through
// /api/v2/authenticate), with the "VBrick <token>" header, session extension before expiry,
// a new login when Rev answers 401, and logoff on Close; the video upload
// (POST /api/v2/uploads/videos, multipart with the "Video" metadata part and the
// "VideoFile" part) streamed from disk with constant memory whatever the file size, with
// progress callbacks and the chunked form (Content-Range) for large files; video status,
// details, playback URL, search and delete.
//
// Failures are *Error values carrying the method, the URL (never credentials), the HTTP
// status and Rev's {code, detail}; they unwrap to sentinels such as ErrUnauthorized and
// ErrRateLimited. 429 and 5xx answers are retried with exponential backoff and jitter,
// honouring Retry-After when Rev sends one (its documentation does not promise it); other
// 4xx answers are not retried. TLS verification is always on; WithTrustPEM adds a trust
// bundle.
//
// An upload is not retried after its connection dropped: Rev may have created the video
// before the answer was lost, and only the caller can tell (package uploader searches for
// the upload's tag before sending again).
//
// Package revtest is an in-process Rev emulator for tests, checked against Vbrick's
// OpenAPI description.
//
// Specification: Vbrick Rev API, OpenAPI 3.0.1 ("rev 8.1 updates"),
// https://revdocs.vbrick.com/reference.
package vbrick
