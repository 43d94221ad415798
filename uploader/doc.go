// Package uploader moves finished recordings into Vbrick Rev exactly once, as the Cisco
// Meeting Server Uploader does.
//
// It polls a recording directory tree (spaces/<space id>/ and forwardedCalls/, as the
// recorder writes it; NFS gives no inotify), takes only finished files (the recorder's
// temporary names are ignored and a file must keep its size and time for StableFor),
// asks the CMS API who owns each recording's space and who its members are, and uploads
// with metadata derived from the CMS Uploader's options (Policy). After the upload the
// file is renamed <name>_vid-id=<video id>@vbrick.mp4; the uploader then polls Rev until
// the video is Ready, fetches its playback URL, and with DeleteAfterUpload deletes the
// local file — only then.
//
// Exactly once. Progress is durable in the file name plus a small journal beside each
// recording (.<name>.upload, written with fsync and rename before each step):
//
//  1. before the upload: a random key, sent as a video tag ("sipcast-upload-<key>");
//  2. after Rev answered (or, for a chunked upload, gave the id after the first chunk):
//     the video id;
//  3. the rename; 4. Ready (and the playback URL); 5. the delete.
//
// A restart after a crash at any point resumes from the journal: with a video id it
// renames and polls; with only a key it asks Rev for videos with that tag before sending
// the file again, so an upload whose answer was lost is not repeated; a chunked upload
// cut short is deleted in Rev and sent again. Rev's search index can lag an upload by
// seconds; the uploader therefore trusts an empty search only SearchLag after the
// attempt started and after it first found the attempt unanswered.
//
// Several uploaders can share one share (Config.Claims; uploader/pgclaim keeps the
// claims in PostgreSQL): each recording is worked on by one of them at a time, under a
// lease it renews, and every journal step is first recorded beside the claim, fenced by
// its epoch. An uploader whose claim was taken over (it was stopped past its lease, or
// cut off) gets ErrStale at its next step and does nothing more with the recording; the
// one that took it over resumes from the journal, searching Rev by the upload's tag
// before any resend, so the recording still lands once.
//
// A CMS API that is down, a Rev that answers 5xx or 429, a dropped connection: the
// recording stays where it is and the next scan tries again; nothing is deleted that Rev
// has not reported Ready.
package uploader
