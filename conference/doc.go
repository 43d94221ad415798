// Package conference wires the pieces into what a CMS streamer and recorder do: a
// Bridge answers SIP calls, receives their media, streams each call over RTMP(S) and
// records it to MP4, and reports what happens as typed events that read like the CMS log.
//
// Per call the Bridge builds one media.Session per accepted m-line on one media.Clock,
// finds the stream URL (the Call Bridge's x-cisco-stream Contact parameter, from the
// INVITE or a later UPDATE/re-INVITE; then an rtmp:// or rtmps:// URL in an RTCP APP
// packet; then Config.ResolveStreamURL, asked on the call's goroutine; then
// Config.StreamURL), and starts the outputs once it knows the codec configurations: the
// first keyframe's parameter sets for H.264, the SDP's or in-band AudioSpecificConfig for
// AAC. An output that (re)starts asks the caller for a keyframe (RTCP PLI/FIR and SIP INFO
// picture_fast_update). The RTMP publisher reconnects on its own; a flapping server never
// ends the call. An audio-only call makes an audio-only stream and recording.
//
// Sessions are made from the negotiated answer: encrypted calls (RTP/SAVP with SDES keys,
// AES_CM_128_HMAC_SHA1_80/32 or AEAD_AES_128_GCM, as a Call Bridge sends behind an
// "encrypted" dial plan rule) and rtcp-mux are received as they were offered. Besides
// RTMP and MP4, Config.Outputs adds the application's own media.FrameWriters per call
// (see the custom streamer Example).
//
// Each call has one owner at a time for its outputs: the goroutine of the media.Poller
// that delivers its frames (or, without one, the call's own goroutine); URL changes,
// output changes (Bridge.SetStream, Bridge.SetRecording) and hang-ups are requests
// posted to it, served after each round. The frames go through the
// stages of package media/stage (DTS kept monotonic, video gated at the first keyframe
// with parameter sets, audio aligned with the picture and filled with silence) to the
// publisher, the recorder and the application's outputs. Config.Events is called from
// the Bridge's own goroutine with no lock held: it may call the Bridge. The limits and
// the hostile-input behaviour are in docs/SECURITY.md.
//
// Media is received by one media.Poller for all calls (Config.PollInterval); nothing on
// the media path waits for the network or the disk — publishers have their own
// goroutines, recordings their writer, and closing them runs on goroutines each call
// joins.
//
// Controlled calls given the same Outputs.Room are mixed in a room: each hears the
// others (its mix-minus in its own codec, sent in place of the generated silence), and
// the room's own outputs — a call of its own in Calls, its ID the room's key, with
// CallInfo.Room — stream and record the full mix as AAC and the dominant speaker's H.264
// (mixer.Mixer and mixer.VideoSwitch, stepped by the Bridge's generator goroutine).
// Bridge.SetMute mutes a member. conference/cms mixes its conferences this way with
// cms.Config.Mix.
//
// Close ends every call with BYE, finalizes the recordings and waits for everything.
package conference
