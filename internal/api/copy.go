package api

import (
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

// CopyRequest asks for a point to be copied into another vault of the
// same server: POST /v1/vaults/{vault}/points/{point}/copy.
type CopyRequest struct {
	ToVault string `json:"to_vault"`
}

// CopyStats count what a copy transferred. Blobs and bytes are plaintext,
// as the source holds them.
type CopyStats struct {
	TreesRead    int   `json:"trees_read"`    // listings read from the source
	TreesSkipped int   `json:"trees_skipped"` // listings an earlier copy copied whole, with all below them
	BlobsRead    int   `json:"blobs_read"`    // data blobs read from the source
	BlobsKnown   int   `json:"blobs_known"`   // data blobs an earlier copy stored, not read again
	BlobsNew     int   `json:"blobs_new"`     // blobs the destination did not hold before
	BytesRead    int64 `json:"bytes_read"`    // bytes of the data blobs read
	BytesNew     int64 `json:"bytes_new"`     // bytes of the new blobs
}

// CopyReport is the outcome of a copy: the copy's point in the
// destination vault, and what it took.
type CopyReport struct {
	Job             int64     `json:"job"`
	FromSite        string    `json:"from_site,omitempty"` // the remote the original is on; empty for this server
	FromVault       string    `json:"from_vault"`
	FromPoint       string    `json:"from_point"`
	Point           Point     `json:"point"`
	Existing        bool      `json:"existing"` // the vault held a copy of the point already; nothing was copied
	Stats           CopyStats `json:"stats"`
	DurationSeconds float64   `json:"duration_seconds"`
}

// RemoteRequest registers or replaces a remote: PUT /v1/remotes/{name}.
type RemoteRequest struct {
	// URL is the remote server's base URL, https://host:port.
	URL string `json:"url"`
	// Fingerprint pins the remote's certificate ("sha256:…", as
	// `bunker server` prints it).
	Fingerprint string `json:"fingerprint"`
	// Token is the replication token the remote issued: a principal with
	// restore-operator on the followed vaults and no other role.
	Token string `json:"token"`
	// Follow lists the remote vaults whose new points are pulled, and
	// where to.
	Follow []store.Follow `json:"follow,omitempty"`
}

// Remote is a registered remote, without its token.
type Remote struct {
	Name        string         `json:"name"`
	URL         string         `json:"url"`
	Fingerprint string         `json:"fingerprint"`
	Follow      []store.Follow `json:"follow"`
	CreatedAt   time.Time      `json:"created_at"`
	CreatedBy   string         `json:"created_by"`
	UpdatedAt   time.Time      `json:"updated_at"`
	UpdatedBy   string         `json:"updated_by"`
}

// PullRequest asks for one point of a remote to be pulled:
// POST /v1/remotes/{name}/pull.
type PullRequest struct {
	Vault   string `json:"vault"`    // the remote's vault
	Point   string `json:"point"`    // an id prefix there, or "latest"
	ToVault string `json:"to_vault"` // the vault of this server it is copied into
}

// SyncReport is what one look at a remote's followed vaults copied:
// POST /v1/remotes/{name}/sync.
type SyncReport struct {
	Remote string       `json:"remote"`
	Copies []CopyReport `json:"copies"` // new copies, oldest original first
	Errors []string     `json:"errors"` // what failed; the next look tries again
}
