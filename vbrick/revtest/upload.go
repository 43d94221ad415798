package revtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/sipcast/sipcast/vbrick"
)

var publishDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// upload answers POST /api/v2/uploads/videos (and its v1 and unversioned paths).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "want multipart/form-data: "+err.Error())
		return
	}
	var (
		meta     []byte
		haveFile bool
		order    []string
		fileName string
		fileType string
		size     int64
		h        = sha256.New()
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "MalformedRequest", "multipart body: "+err.Error())
			return
		}
		name := p.FormName()
		order = append(order, name)
		switch strings.ToLower(name) {
		case "video":
			if meta != nil {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "two Video parts")
				return
			}
			if !isJSONType(p.Header.Get("Content-Type")) {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "the Video part's Content-Type is "+p.Header.Get("Content-Type")+", want application/json or none")
				return
			}
			meta, err = io.ReadAll(io.LimitReader(p, maxMetadata+1))
			if err != nil || len(meta) > maxMetadata {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "the Video part is unreadable or larger than 1 MiB")
				return
			}
		case "videofile":
			if haveFile {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "two VideoFile parts")
				return
			}
			haveFile = true
			fileName = p.FileName()
			fileType = p.Header.Get("Content-Type")
			mt, _, _ := mime.ParseMediaType(fileType)
			if fileName == "" {
				writeError(w, http.StatusInternalServerError, "FileNotSent", "the VideoFile part has no filename")
				return
			}
			if !strings.HasPrefix(mt, "video/") && !strings.HasPrefix(mt, "audio/") {
				writeError(w, http.StatusInternalServerError, "FileNotSupported", "the VideoFile part's Content-Type is "+fileType+", want a video type such as video/mp4")
				return
			}
			size, err = io.Copy(h, p)
			if err != nil {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "VideoFile: "+err.Error())
				return
			}
		default:
			_, _ = io.Copy(io.Discard, p)
		}
	}
	if meta == nil {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "no Video part (the metadata)")
		return
	}
	if !haveFile {
		writeError(w, http.StatusInternalServerError, "FileNotSent", "no VideoFile part")
		return
	}
	fields, status, code, detail := s.checkMetadata(meta)
	if status != 0 {
		writeError(w, status, code, detail)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rng := r.Header.Get("Content-Range"); rng != "" {
		start, end, total, err := parseContentRange(rng)
		if err != nil {
			writeError(w, http.StatusBadRequest, "MalformedRequest", "Content-Range: "+err.Error())
			return
		}
		if end-start+1 != size {
			writeError(w, http.StatusBadRequest, "MalformedRequest", "Content-Range says "+rng+" but the VideoFile part holds a different length")
			return
		}
		if start == 0 {
			if fields.VideoID != "" {
				writeError(w, http.StatusBadRequest, "MalformedRequest", "the first chunk must not carry a videoId")
				return
			}
			v := s.addVideo(r, meta, fields, order, fileName, fileType)
			v.Size, v.total, v.Chunks = size, total, 1
			v.ChunkSHA256 = []string{hex.EncodeToString(h.Sum(nil))}
			v.Status = vbrick.StatusUploading
			s.finishChunked(v)
			writeJSON(w, map[string]string{"videoId": v.ID, "statusUri": "/api/v2/videos/" + v.ID + "/status"})
			return
		}
		v, ok := s.videos[fields.VideoID]
		switch {
		case fields.VideoID == "":
			writeError(w, http.StatusBadRequest, "MalformedRequest", "a chunk after the first must carry the videoId in the Video part")
		case !ok || v.Deleted || v.Status != vbrick.StatusUploading:
			writeError(w, http.StatusBadRequest, "MalformedRequest", "no chunked upload in progress for video "+fields.VideoID)
		case start != v.Size || total != v.total:
			writeError(w, http.StatusBadRequest, "MalformedRequest", "chunk "+rng+" does not continue the upload")
		default:
			v.ChunkSHA256 = append(v.ChunkSHA256, hex.EncodeToString(h.Sum(nil)))
			v.Size += size
			v.Chunks++
			s.finishChunked(v)
			writeJSON(w, map[string]string{"videoId": v.ID, "statusUri": "/api/v2/videos/" + v.ID + "/status"})
		}
		return
	}
	if fields.VideoID != "" {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "videoId is only for chunked uploads (with Content-Range)")
		return
	}
	v := s.addVideo(r, meta, fields, order, fileName, fileType)
	v.Size, v.total, v.Chunks = size, size, 1
	v.ChunkSHA256 = []string{hex.EncodeToString(h.Sum(nil))}
	v.SHA256 = hex.EncodeToString(h.Sum(nil))
	v.Status = vbrick.StatusProcessing
	writeJSON(w, map[string]string{"videoId": v.ID, "statusUri": "/api/v2/videos/" + v.ID + "/status"})
}

func (s *Server) addVideo(r *http.Request, meta []byte, fields vbrick.VideoMetadata, order []string, name, ctype string) *Video {
	v := &Video{ID: newID(), Metadata: json.RawMessage(meta), Fields: fields, PartOrder: order,
		FileName: name, ContentType: ctype, Path: r.URL.Path}
	s.videos[v.ID] = v
	s.order = append(s.order, v.ID)
	return v
}

func (s *Server) finishChunked(v *Video) {
	if v.Size == v.total {
		v.Status = vbrick.StatusProcessing
	}
}

// checkMetadata validates the "Video" part as Rev does; status 0 means valid.
func (s *Server) checkMetadata(meta []byte) (f vbrick.VideoMetadata, status int, code, detail string) {
	var raw map[string]any
	if err := json.Unmarshal(meta, &raw); err != nil {
		return f, http.StatusBadRequest, "MalformedRequest", "the Video part is not a JSON object: " + err.Error()
	}
	// Access control entities: types in any case; invalid entries are dropped.
	if list, ok := raw["accessControlEntities"].([]any); ok {
		kept := []any{}
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			t, _ := m["type"].(string)
			id, _ := m["id"].(string)
			name, _ := m["name"].(string)
			norm := ""
			for _, want := range []string{"User", "Group", "Channel", "Role"} {
				if strings.EqualFold(t, want) {
					norm = want
				}
			}
			if norm == "" || (id == "" && name == "") || norm == "Role" {
				continue
			}
			m["type"] = norm
			kept = append(kept, m)
		}
		raw["accessControlEntities"] = kept
	}
	clean, _ := json.Marshal(raw)
	if probs := s.check("videoMetadata", clean); probs != "" {
		var vac problem
		for _, p := range s.schemas.validate(s.schemas["videoMetadata"], mustDecode(clean), "", false) {
			if p.Path == "videoAccessControl" && p.Enum {
				vac = p
			}
		}
		if vac.Path != "" {
			return f, http.StatusBadRequest, "InvalidVideoAccessControl", vac.String()
		}
		if strings.Contains(probs, "uploader: required") {
			return f, http.StatusInternalServerError, "UserNotProvided", "uploader not specified"
		}
		return f, http.StatusBadRequest, "MalformedRequest", probs
	}
	_ = json.Unmarshal(clean, &f)
	s.mu.Lock()
	_, uploaderOK := s.users[f.Uploader]
	ownerOK := true
	if f.Owner != nil && f.Owner.Username != "" {
		_, ownerOK = s.users[f.Owner.Username]
	}
	s.mu.Unlock()
	switch {
	case f.Uploader == "":
		return f, http.StatusInternalServerError, "UserNotProvided", "uploader not specified"
	case !uploaderOK:
		return f, http.StatusInternalServerError, "UserDoesNotExist", "uploader " + f.Uploader + " does not exist in Rev"
	case !ownerOK:
		return f, http.StatusInternalServerError, "UserDoesNotExist", "owner " + f.Owner.Username + " does not exist in Rev"
	case f.PublishDate != "" && !publishDate.MatchString(f.PublishDate):
		return f, http.StatusInternalServerError, "InvalidPublishDate", "publishDate format incorrect. Must be YYYY-MM-DD"
	case len(f.Categories) > 0 && len(f.CategoryIDs) > 0:
		return f, http.StatusBadRequest, "MalformedRequest", "use categories or categoryIds, not both"
	}
	return f, 0, "", ""
}

func mustDecode(data []byte) any {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	_ = dec.Decode(&v)
	return v
}
