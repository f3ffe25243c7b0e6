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
	// WebhookPath is where the remote's event rules send its events, so
	// that a new point there is pulled at once rather than at the next
	// look: a webhook target with this server's URL and this path,
	// signed with WebhookSecret.
	WebhookPath string `json:"webhook_path"`
	// WebhookSecret is the webhook's signing secret. Only the answer that
	// registers the remote (or registers it again, which changes it)
	// carries it; it is stored sealed and shown nowhere else.
	WebhookSecret string    `json:"webhook_secret,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	CreatedBy     string    `json:"created_by"`
	UpdatedAt     time.Time `json:"updated_at"`
	UpdatedBy     string    `json:"updated_by"`
}

// RemoteEventAnswer answers a remote's event: POST /v1/remotes/{name}/events.
type RemoteEventAnswer struct {
	// Pull says a pull from the remote is under way or due, because the
	// event is of a vault this server follows there.
	Pull bool `json:"pull"`
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

// Posture is each source's copies and whether they meet the 3-2-1-1
// rule: GET /v1/posture.
type Posture struct {
	// Site is this server, as its copies name it ("here").
	Site    string          `json:"site"`
	Sources []SourcePosture `json:"sources"`
}

// SourcePosture is one source (a host and its backed-up paths): where its
// copies are, and what the 3-2-1-1 rule still misses.
type SourcePosture struct {
	Hostname string            `json:"hostname"`
	Paths    []string          `json:"paths"`
	Copies   []PostureLocation `json:"copies"`
	// RPO is the plan's interval for the source, when a plan covers it;
	// a copy whose newest data is older is late.
	RPO string `json:"rpo,omitempty"`
	// Meets is true when the source has three copies or more, on two
	// media or more, one off its home site, and one immutable or
	// air-gapped; Missing names what it lacks.
	Meets   bool     `json:"meets_3_2_1_1"`
	Missing []string `json:"missing"`
}

// PostureLocation is one vault that holds points of a source.
type PostureLocation struct {
	Site  string `json:"site"` // "here", or the remote it was pulled from
	Vault string `json:"vault"`
	// Media is "disk" (a vault on the server's disk), "object-storage"
	// (S3), or "unknown" (a remote vault known only as an origin).
	Media     string `json:"media"`
	Lock      string `json:"lock,omitempty"` // governance, compliance; empty when none or unknown
	AirGapped bool   `json:"air_gapped"`
	// Immutable is true for a compliance lock or an air-gapped vault:
	// nobody deletes its points early.
	Immutable bool `json:"immutable"`
	Points    int  `json:"points"` // active points there; 0 for an origin known only through its copies
	// Newest is the time of the newest data there (a copy's origin
	// time), and AgeSeconds its age now.
	Newest     time.Time `json:"newest"`
	AgeSeconds float64   `json:"age_seconds"`
	// Late is true when a plan's RPO covers the source and the newest
	// data here is older.
	Late bool `json:"late,omitempty"`
}
