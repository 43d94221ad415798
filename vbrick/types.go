package vbrick

import "time"

// AccessControl is a video's view access (videoAccessControl).
type AccessControl string

// View access values the upload accepts.
const (
	AccessPublic   AccessControl = "Public"
	AccessAllUsers AccessControl = "AllUsers"
	AccessPrivate  AccessControl = "Private"
)

// Valid reports whether a is one of the values the upload accepts.
func (a AccessControl) Valid() bool {
	return a == AccessPublic || a == AccessAllUsers || a == AccessPrivate
}

// EntityType is the kind of an access control entity.
type EntityType string

// Access control entity types.
const (
	EntityUser    EntityType = "User"
	EntityGroup   EntityType = "Group"
	EntityChannel EntityType = "Channel"
)

// AccessControlEntity grants a user, group or channel access to a video. Rev matches it
// by ID or by name.
type AccessControlEntity struct {
	ID      string     `json:"id,omitempty"`
	Name    string     `json:"name,omitempty"`
	Type    EntityType `json:"type"`
	CanEdit bool       `json:"canEdit"`
}

// UserRef names a Rev user by id, username or email.
type UserRef struct {
	UserID   string `json:"userId,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
}

// CustomField sets a Rev custom field by id or name.
type CustomField struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// VideoMetadata is the "Video" part of an upload (videoMetadata in the spec). Zero
// values are left out, so Rev's defaults apply; the booleans are pointers because Rev's
// defaults differ (ratings and comments on, the rest off). Bool makes one.
type VideoMetadata struct {
	// Uploader is the Rev username the video is attached to (required).
	Uploader    string `json:"uploader"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Owner defaults to the uploader.
	Owner       *UserRef `json:"owner,omitempty"`
	Categories  []string `json:"categories,omitempty"`
	CategoryIDs []string `json:"categoryIds,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// IsActive defaults to false.
	IsActive *bool `json:"isActive,omitempty"`
	// EnableRatings defaults to true.
	EnableRatings *bool `json:"enableRatings,omitempty"`
	// EnableDownloads defaults to false.
	EnableDownloads *bool `json:"enableDownloads,omitempty"`
	// EnableComments defaults to true.
	EnableComments *bool `json:"enableComments,omitempty"`
	// VideoAccessControl defaults to Private.
	VideoAccessControl    AccessControl         `json:"videoAccessControl,omitempty"`
	AccessControlEntities []AccessControlEntity `json:"accessControlEntities,omitempty"`
	// Password protects a Public video. It is never logged.
	Password     string        `json:"password,omitempty"`
	CustomFields []CustomField `json:"customFields,omitempty"`
	// SourceType says where the video came from ("VIDEO CONFERENCE", "API", ...).
	SourceType string `json:"sourceType,omitempty"`
	Unlisted   *bool  `json:"unlisted,omitempty"`
	// PublishDate is YYYY-MM-DD.
	PublishDate string `json:"publishDate,omitempty"`
	// VideoID is set by the Client on the second and later chunks of a chunked upload.
	VideoID string `json:"videoId,omitempty"`
}

// Bool returns a pointer to b, for VideoMetadata's optional booleans.
func Bool(b bool) *bool { return &b }

// Status is a video's processing status.
type Status string

// Video statuses (the spec's videoStatus has more, for live recordings).
const (
	StatusNotUploaded              Status = "NotUploaded"
	StatusUploading                Status = "Uploading"
	StatusUploadingFinished        Status = "UploadingFinished"
	StatusIngesting                Status = "Ingesting"
	StatusProcessing               Status = "Processing"
	StatusCanceled                 Status = "Canceled"
	StatusUploadFailed             Status = "UploadFailed"
	StatusProcessingFailed         Status = "ProcessingFailed"
	StatusReady                    Status = "Ready"
	StatusReadyButProcessingFailed Status = "ReadyButProcessingFailed"
)

// Playable reports whether the video can be watched (Ready, or Ready with a failed
// transcode).
func (s Status) Playable() bool { return s == StatusReady || s == StatusReadyButProcessingFailed }

// Failed reports whether processing ended without a playable video.
func (s Status) Failed() bool {
	return s == StatusCanceled || s == StatusUploadFailed || s == StatusProcessingFailed
}

// VideoStatus is the answer of GET /api/v2/videos/{id}/status.
type VideoStatus struct {
	VideoID         string    `json:"videoId"`
	Title           string    `json:"title"`
	Status          Status    `json:"status"`
	IsProcessing    bool      `json:"isProcessing"`
	OverallProgress float64   `json:"overallProgress"`
	IsActive        bool      `json:"isActive"`
	UploadedBy      string    `json:"uploadedBy"`
	WhenUploaded    time.Time `json:"whenUploaded"`
}

// VideoDetails is the part of GET /api/v2/videos/{id}/details this package reads.
type VideoDetails struct {
	ID                    string                `json:"id"`
	Title                 string                `json:"title"`
	Description           string                `json:"description"`
	Tags                  []string              `json:"tags"`
	IsActive              bool                  `json:"isActive"`
	EnableRatings         bool                  `json:"enableRatings"`
	EnableDownloads       bool                  `json:"enableDownloads"`
	EnableComments        bool                  `json:"enableComments"`
	VideoAccessControl    AccessControl         `json:"videoAccessControl"`
	AccessControlEntities []AccessControlEntity `json:"accessControlEntities"`
	Status                Status                `json:"status"`
	UploadedBy            string                `json:"uploadedBy"`
	Owner                 *UserRef              `json:"owner"`
	Duration              string                `json:"duration"`
}

// SearchItem is one video of a search answer.
type SearchItem struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Tags   []string `json:"tags"`
	Status Status   `json:"status"`
}
