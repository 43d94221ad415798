// Package cmsapi speaks the Cisco Meeting Server REST API (/api/v1): the model, a client,
// and (issue 7) a server.
//
// The API is HTTPS with Basic authentication; requests are form-encoded, answers are
// XML (`<coSpaces total="N">…`), a create answers 200 with the new object's path in
// Location, and a failure is HTTP 400 with `<failureDetails><coSpaceDoesNotExist/>…`.
//
// So far the package holds what the recording uploader needs: Client (Basic auth, TLS
// with a trust bundle and verification on, list paging, creates returning the id from
// Location, typed errors carrying the failure tag, 503 retried) and the coSpace, coSpace
// member and user objects.
//
// Specification: Cisco Meeting Server API Reference Guide (2.x/3.x), §4 (transport),
// coSpaces, users.
package cmsapi
