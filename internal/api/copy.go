package api

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
	FromVault       string    `json:"from_vault"`
	FromPoint       string    `json:"from_point"`
	Point           Point     `json:"point"`
	Existing        bool      `json:"existing"` // the vault held a copy of the point already; nothing was copied
	Stats           CopyStats `json:"stats"`
	DurationSeconds float64   `json:"duration_seconds"`
}
