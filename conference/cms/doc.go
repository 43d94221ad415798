// Package cms is the Cisco Meeting Server model on a conference.Bridge: the backend of
// a cmsapi.Server (the CMS REST API as Cisco TMS drives it) and the Bridge's Controller.
//
// A conference ("call" in the CMS API) belongs to a space and has legs: calls into the
// space's URI (Route) and calls dialled out through the outbound dial plan rules
// (POST /calls/{id}/callLegs, Bridge.Dial). The conference's outputs (the stream to the
// space's streamUrl, the recording under spaces/<space id>/) are fed by one leg, its
// source: the first leg that connected, then the next when it leaves; streaming and
// recording follow the API and the call profile's modes (Bridge.SetOutputs). Audio is
// not mixed and video is not composed yet. CDRs (callStart, callLegStart/Update/End,
// recordingStart/End, streamingStart/End, callEnd) go to the configured receivers, and
// a leg's end reason (localTeardown, remoteTeardown, unknownDestination...) comes from
// the classes of the errors that ended it, not from their text.
//
// Wiring, from the bottom up:
//
//	store := cmsapi.NewStore()
//	cdrs := cmsapi.NewStoreCDRSender(store, nil, log)
//	backend := cms.New(cms.Config{Store: store, CDRs: cdrs})
//	api := cmsapi.NewServer(cmsapi.ServerConfig{Store: store, CDRs: cdrs, Backend: backend, User: u, Password: p})
//	bridge, err := conference.New(conference.Config{Controller: backend, ...})
package cms
