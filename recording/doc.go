// Package recording writes calls to MP4 (H.264 + AAC, or audio only) through
// github.com/Eyevinn/mp4ff, as the CMS recorder does.
//
// A Recorder writes a fragmented MP4: the init segment (ftyp, moov) first, then a
// fragment (moof, mdat) about every second, cut at video keyframes, each synced to disk.
// A crash therefore loses at most the fragment in progress (FragmentDuration, at most
// MaxFragmentDuration), and what is on disk is a file ffmpeg and players open. While it
// is written the file has a temporary name (Path + TempSuffix), so watchers such as the
// uploader never take a recording in progress; Close renames it. Recover renames what a
// crash left behind.
//
// Paths follow the CMS recorder's layout: SpacePath gives
// spaces/<space id>/<YYYYmmddHHMMSS+0000>.mp4 and ForwardedCallPath
// forwardedCalls/<YYYYmmddHHMMSS+0000>.mp4 under a recording directory.
package recording
