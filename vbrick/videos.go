package vbrick

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

func videoPath(id, rest string) string { return "/api/v2/videos/" + url.PathEscape(id) + rest }

// Status returns a video's processing status (GET /api/v2/videos/{id}/status).
func (c *Client) Status(ctx context.Context, videoID string) (VideoStatus, error) {
	var st VideoStatus
	err := c.do(ctx, request{method: http.MethodGet, path: videoPath(videoID, "/status"), auth: true, retryTransport: true}, &st)
	return st, err
}

// Details returns a video's metadata (GET /api/v2/videos/{id}/details).
func (c *Client) Details(ctx context.Context, videoID string) (VideoDetails, error) {
	var d VideoDetails
	err := c.do(ctx, request{method: http.MethodGet, path: videoPath(videoID, "/details"), auth: true, retryTransport: true}, &d)
	return d, err
}

// PlaybackURL returns the URL a viewer opens (GET /api/v2/videos/{id}/playback-url).
func (c *Client) PlaybackURL(ctx context.Context, videoID string) (string, error) {
	var ans struct {
		Video struct {
			PlaybackURL string `json:"playbackUrl"`
		} `json:"video"`
	}
	r := request{method: http.MethodGet, path: videoPath(videoID, "/playback-url"), auth: true, retryTransport: true}
	if err := c.do(ctx, r, &ans); err != nil {
		return "", err
	}
	if ans.Video.PlaybackURL == "" {
		return "", &Error{Method: r.method, URL: c.url(r.path, nil), Status: http.StatusOK, Detail: "answer holds no playbackUrl"}
	}
	return ans.Video.PlaybackURL, nil
}

// Delete deletes a video (DELETE /api/v2/videos/{id}). A video that is already gone is
// not an error (Rev answers 401 or 404 for it).
func (c *Client) Delete(ctx context.Context, videoID string) error {
	err := c.do(ctx, request{method: http.MethodDelete, path: videoPath(videoID, ""), auth: true, retryTransport: true}, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// FindByTag returns the videos carrying exactly the tag
// (GET /api/v2/videos/search?q=tag&searchField=tags&exactMatch=true), up to count.
// Rev's search index may lag an upload by a few seconds.
func (c *Client) FindByTag(ctx context.Context, tag string, count int) ([]SearchItem, error) {
	q := url.Values{"q": {tag}, "searchField": {"tags"}, "exactMatch": {"true"}, "count": {strconv.Itoa(count)}}
	var ans struct {
		Videos []SearchItem `json:"videos"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v2/videos/search", query: q, auth: true, retryTransport: true}, &ans)
	return ans.Videos, err
}
