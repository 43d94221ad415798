package revtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/vbrick"
	"github.com/sipcast/sipcast/vbrick/revtest"
)

func start(t *testing.T) (*revtest.Server, *httptest.Server, string) {
	t.Helper()
	rs := revtest.New(revtest.WithUser("u", "p"), revtest.ProcessingPolls(0))
	hs := httptest.NewServer(rs)
	t.Cleanup(hs.Close)
	resp, err := http.Post(hs.URL+"/api/v2/user/login", "application/json", strings.NewReader(`{"username":"u","password":"p"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var ans struct{ Token, Expiration, ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.NotEmpty(t, ans.Token)
	require.NotEmpty(t, ans.ID)
	return rs, hs, ans.Token
}

type part struct {
	name, filename, ctype, body string
}

func post(t *testing.T, hs *httptest.Server, token string, parts []part) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, err := w.CreatePart(h)
		require.NoError(t, err)
		_, _ = io.WriteString(pw, p.body)
	}
	require.NoError(t, w.Close())
	req, _ := http.NewRequest("POST", hs.URL+"/api/v2/uploads/videos", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "vbrick "+token) // the Pexip client's lower case
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The part shapes of the official clients are all accepted; what the spec forbids is not.
func TestUploadShapes(t *testing.T) {
	file := part{"VideoFile", "a.mp4", "video/mp4", "0123456789"}
	for _, tc := range []struct {
		name   string
		parts  []part
		status int
		detail string
	}{
		{"rev-client-js: lower-case video, no content type, first", []part{{"video", "", "", `{"uploader":"u"}`}, file}, 200, ""},
		{"PowerShell: file first, Video with JSON type", []part{file, {"Video", "", "application/json", `{"uploader":"u"}`}}, 200, ""},
		{"Python: lower-case video, VideoFile", []part{{"video", "", "", `{"uploader":"u","title":"t"}`}, file}, 200, ""},
		{"no uploader", []part{{"Video", "", "", `{"title":"t"}`}, file}, 500, "UserNotProvided"},
		{"unknown uploader", []part{{"Video", "", "", `{"uploader":"nobody"}`}, file}, 500, "UserDoesNotExist"},
		{"bad videoAccessControl", []part{{"Video", "", "", `{"uploader":"u","videoAccessControl":"Everyone"}`}, file}, 400, "videoAccessControl"},
		{"bad publishDate", []part{{"Video", "", "", `{"uploader":"u","publishDate":"1/2/2026"}`}, file}, 500, "YYYY-MM-DD"},
		{"wrong type", []part{{"Video", "", "", `{"uploader":"u","isActive":"yes"}`}, file}, 400, "isActive: want true or false"},
		{"misspelt field", []part{{"Video", "", "", `{"uploader":"u","enableComment":true}`}, file}, 400, "enableComment: not a field"},
		{"no file", []part{{"Video", "", "", `{"uploader":"u"}`}}, 500, "FileNotSent"},
		{"file without content type", []part{{"Video", "", "", `{"uploader":"u"}`}, {"VideoFile", "a.mp4", "application/octet-stream", "x"}}, 500, "FileNotSupported"},
		{"no metadata", []part{file}, 400, "no Video part"},
		{"metadata not JSON", []part{{"Video", "", "", `uploader=u`}, file}, 400, "not a JSON object"},
		{"videoId without Content-Range", []part{{"Video", "", "", `{"uploader":"u","videoId":"x"}`}, file}, 400, "chunked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, hs, token := start(t)
			status, body := post(t, hs, token, tc.parts)
			assert.Equal(t, tc.status, status, body)
			assert.Contains(t, body, tc.detail)
			if status == 200 {
				require.Len(t, rs.Videos(), 1)
				assert.Equal(t, int64(10), rs.Videos()[0].Size)
			} else {
				assert.Empty(t, rs.Videos())
			}
		})
	}
}

// Access control entities: types in any case, invalid entries dropped (as Rev does).
func TestAccessControlEntities(t *testing.T) {
	rs, hs, token := start(t)
	status, body := post(t, hs, token, []part{{"Video", "", "", `{"uploader":"u","accessControlEntities":[
		{"name":"a","type":"user","canEdit":true},{"name":"b","type":"Robot"},{"type":"Group"},{"id":"g1","type":"Group"}]}`},
		{"VideoFile", "a.mp4", "video/mp4", "x"}})
	require.Equal(t, 200, status, body)
	assert.Equal(t, []vbrick.AccessControlEntity{{Name: "a", Type: "User", CanEdit: true}, {ID: "g1", Type: "Group"}},
		rs.Videos()[0].Fields.AccessControlEntities)
}

func TestAuthRequired(t *testing.T) {
	_, hs, _ := start(t)
	for _, auth := range []string{"", "VBrick nope", "Bearer x"} {
		req, _ := http.NewRequest("GET", hs.URL+"/api/v2/videos/search?q=x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, auth)
	}
}

// curl, a multipart encoder nobody here wrote, uploads to the emulator as a user would
// with Vbrick's documented curl example.
func TestInteropCurlUpload(t *testing.T) {
	curl := peer.Require(t, "curl", "curl")
	rs, hs, token := start(t)
	file := filepath.Join(t.TempDir(), "clip.mp4")
	require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("sipcast"), 10000), 0o644))
	out, err := exec.Command(curl, "-sS", "-X", "POST", hs.URL+"/api/v2/uploads/videos",
		"-H", "Authorization: VBrick "+token,
		"-F", `Video={"uploader":"u","title":"from curl","videoAccessControl":"Public"};type=application/json`,
		"-F", "VideoFile=@"+file+";type=video/mp4").CombinedOutput()
	require.NoError(t, err, string(out))
	var ans struct{ VideoID string }
	require.NoError(t, json.Unmarshal(out, &ans), string(out))
	v := rs.Videos()
	require.Len(t, v, 1)
	assert.Equal(t, ans.VideoID, v[0].ID)
	assert.Equal(t, int64(70000), v[0].Size)
	assert.Equal(t, "from curl", v[0].Fields.Title)
	assert.Equal(t, vbrick.AccessPublic, v[0].Fields.VideoAccessControl)
	out, err = exec.Command(curl, "-sS", hs.URL+"/api/v1/videos/"+ans.VideoID+"/status", "-H", "Authorization: VBrick "+token).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"Status":"Ready"`, "the v1 status the CMS Uploader reads")
}
