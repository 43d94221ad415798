package vbrick

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

// DefaultChunkSize is the largest file sent in one request, and the chunk size of larger
// files, when UploadOptions.ChunkSize is zero.
const DefaultChunkSize = 100 << 20

// UploadOptions tune UploadVideo. The zero value is ready to use.
type UploadOptions struct {
	// FileName is the name Rev sees; default: the file's base name, with ".mp4" added
	// when it has no extension.
	FileName string
	// ContentType of the file part; default: from the extension, else video/mp4.
	ContentType string
	// Progress is called as the file is sent, with the bytes sent so far and the file
	// size, on the goroutine writing the request; it must not block. Bytes of an attempt
	// that is retried are counted again.
	Progress func(sent, total int64)
	// ChunkSize: files larger than this are sent as several requests of this size with
	// Content-Range (Rev's chunked upload); default DefaultChunkSize; negative: never.
	ChunkSize int64
	// OnVideoID is called with the video id as soon as Rev has given it: after the first
	// chunk of a chunked upload, before the others are sent. A caller that must not
	// upload twice records it here; an error it returns stops the upload (with the id).
	OnVideoID func(videoID string) error
	// Path is the upload path; default /api/v2/uploads/videos.
	Path string
}

// UploadVideo uploads the file at path with its metadata and returns the new video's id.
// The file is streamed from disk: memory use does not depend on its size.
//
// The request that creates the video is never resent blindly: only a 429 (Rev refused it
// unread) is retried (per WithRetry). A 5xx, a timeout or a connection failure may come
// after Rev created the video, so the error then wraps ErrUploadInterrupted and the caller
// must search for the upload (FindByTag on a tag it put in the metadata) before sending
// it again. For a chunked upload that is the first chunk; later chunks carry the video id
// and are resent on 429, 5xx and connection failures.
func (c *Client) UploadVideo(ctx context.Context, path string, meta VideoMetadata, opts UploadOptions) (string, error) {
	if meta.Uploader == "" {
		return "", errors.New("vbrick: upload: metadata has no uploader (a Rev username)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("vbrick: upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("vbrick: upload: %w", err)
	}
	size := st.Size()
	name := opts.FileName
	if name == "" {
		name = filepath.Base(path)
	}
	if filepath.Ext(name) == "" {
		name += ".mp4"
	}
	ctype := opts.ContentType
	if ctype == "" {
		ctype = mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
		if !strings.HasPrefix(ctype, "video/") && !strings.HasPrefix(ctype, "audio/") {
			ctype = "video/mp4"
		}
	}
	upPath := opts.Path
	if upPath == "" {
		upPath = "/api/v2/uploads/videos"
	}
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	progress := func(off int64) func(n int64) {
		return func(n int64) {
			if opts.Progress != nil {
				opts.Progress(min(off+n, size), size)
			}
		}
	}
	if chunk < 0 || size <= chunk {
		id, err := c.uploadPart(ctx, upPath, f, meta, name, ctype, 0, size, size, false, progress(0))
		if err == nil && opts.OnVideoID != nil {
			if herr := opts.OnVideoID(id); herr != nil {
				return id, fmt.Errorf("vbrick: upload of video %s: %w", id, herr)
			}
		}
		return id, err
	}
	var videoID string
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		m := meta
		m.VideoID = videoID
		id, err := c.uploadPart(ctx, upPath, f, m, name, ctype, off, n, size, true, progress(off))
		if err != nil {
			if videoID != "" {
				return videoID, fmt.Errorf("vbrick: chunked upload of video %s failed at byte %d of %d: %w", videoID, off, size, err)
			}
			return "", err
		}
		if videoID == "" {
			if id == "" {
				return "", fmt.Errorf("vbrick: chunked upload: the first chunk's answer has no videoId")
			}
			videoID = id
			if opts.OnVideoID != nil {
				if herr := opts.OnVideoID(id); herr != nil {
					return id, fmt.Errorf("vbrick: chunked upload of video %s stopped: %w", id, herr)
				}
			}
		}
	}
	return videoID, nil
}

// uploadPart sends bytes [off, off+n) of f in one request.
func (c *Client) uploadPart(ctx context.Context, path string, f *os.File, meta VideoMetadata, name, ctype string,
	off, n, size int64, ranged bool, progress func(int64)) (string, error) {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return "", fmt.Errorf("vbrick: encoding metadata: %w", err)
	}
	boundary := newBoundary()
	prefix, suffix, err := multipartFrame(boundary, metaJSON, name, ctype)
	if err != nil {
		return "", err
	}
	header := http.Header{"Content-Type": {"multipart/form-data; boundary=" + boundary}}
	if ranged {
		header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
	}
	creates := !ranged || meta.VideoID == ""
	r := request{method: http.MethodPost, path: path, header: header, auth: true,
		// Resending a later chunk is safe (same bytes at the same offset); resending the
		// request that creates the video is not, unless Rev refused it with 429.
		retryTransport: !creates,
		only429:        creates,
		body: func() (io.Reader, int64, error) {
			file := &countingReader{r: io.NewSectionReader(f, off, n), report: progress}
			return io.MultiReader(bytes.NewReader(prefix), file, bytes.NewReader(suffix)),
				int64(len(prefix)) + n + int64(len(suffix)), nil
		}}
	var ans struct {
		VideoID string `json:"videoId"`
	}
	if err := c.do(ctx, r, &ans); err != nil {
		var e *Error
		isAPI := errors.As(err, &e)
		if creates && (isAPI && e.Status >= 500 || !isAPI && !errors.Is(err, ErrClosed) && ctx.Err() == nil) {
			return "", fmt.Errorf("%w: %w", ErrUploadInterrupted, err)
		}
		return "", err
	}
	if ans.VideoID == "" && !ranged {
		return "", &Error{Method: r.method, URL: c.url(path, nil), Status: http.StatusOK, Detail: "upload answer holds no videoId"}
	}
	return ans.VideoID, nil
}

// multipartFrame returns what goes before and after the file bytes: the "Video" JSON
// part, the "VideoFile" part's header, and the closing boundary.
func multipartFrame(boundary string, meta []byte, name, ctype string) (prefix, suffix []byte, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(boundary); err != nil {
		return nil, nil, err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="Video"`)
	h.Set("Content-Type", "application/json")
	p, err := w.CreatePart(h)
	if err != nil {
		return nil, nil, err
	}
	_, _ = p.Write(meta)
	h = textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "VideoFile", "filename": name}))
	h.Set("Content-Type", ctype)
	if _, err := w.CreatePart(h); err != nil {
		return nil, nil, err
	}
	prefix = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return prefix, bytes.Clone(buf.Bytes()), nil
}

func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "sipcast-" + hex.EncodeToString(b[:])
}

type countingReader struct {
	r      io.Reader
	n      int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.report(c.n)
	}
	return n, err
}
