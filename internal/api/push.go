package api

import "time"

// PushTargetRequest registers or replaces a push target:
// PUT /v1/push-targets/{name}.
type PushTargetRequest struct {
	// URL is the central server's base URL, https://host:port.
	URL string `json:"url"`
	// Fingerprint pins the central server's certificate ("sha256:…", as
	// `bunker server` prints it).
	Fingerprint string `json:"fingerprint"`
	// Token is the push token the central server issued: a principal with
	// backup-operator on Vault there and no other role.
	Token string `json:"token"`
	// Vault is the central server's vault the points are pushed into.
	Vault string `json:"vault"`
	// Vaults are the vaults of this server whose new points are pushed on
	// their own; with none, points are pushed only when asked.
	Vaults []string `json:"vaults,omitempty"`
	// Site is the name this server goes by in the origin of its pushed
	// points; empty means the push principal's name at the central site.
	Site string `json:"site,omitempty"`
}

// PushTarget is a registered push target, without its token.
type PushTarget struct {
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Fingerprint string   `json:"fingerprint"`
	Vault       string   `json:"vault"`
	Vaults      []string `json:"vaults"`
	Site        string   `json:"site"`
	// Principal is who the token acts as at the central site.
	Principal string    `json:"principal"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// PushRequest asks for a point to be pushed to a push target:
// POST /v1/vaults/{vault}/points/{point}/push.
type PushRequest struct {
	Target string `json:"target"`
}

// PushReport is the outcome of a push: the point the central server
// recorded, and what it took.
type PushReport struct {
	Job       int64  `json:"job"`
	Target    string `json:"target"`
	FromVault string `json:"from_vault"`
	FromPoint string `json:"from_point"`
	ToVault   string `json:"to_vault"`
	// ToPoint is the id of the copy in the central vault.
	ToPoint string    `json:"to_point"`
	Expires time.Time `json:"expires,omitzero"` // the copy's expiry, as the central server set it
	Lock    string    `json:"lock,omitempty"`   // the central vault's lock on the copy
	// Existing is true when the point had been pushed to the target
	// already: nothing was sent.
	Existing bool `json:"existing"`
	// BlobsSent and BytesSent are what was uploaded: the blobs the
	// central vault lacked, compressed.
	BlobsSent       int64     `json:"blobs_sent"`
	BytesSent       int64     `json:"bytes_sent"`
	Stats           CopyStats `json:"stats"`
	DurationSeconds float64   `json:"duration_seconds"`
}
