// Package repo is the vault's engine room: it turns blobs into packs and
// index objects on a storage backend, loads them back, and stores the records
// of recovery points. It knows nothing of files, HTTP or the command line.
package repo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/chunker"
	"github.com/bunkerhq/bunker/internal/pack"
)

// FormatVersion is the version of the vault format this code writes.
const FormatVersion = 1

// Config is the plaintext description of a vault, stored once as config/config.
// It holds nothing secret: the chunker seed and all keys come from the master key.
type Config struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	ChunkMin int       `json:"chunk_min"`
	ChunkAvg int       `json:"chunk_avg"`
	ChunkMax int       `json:"chunk_max"`
	PackSize int       `json:"pack_size"`
	Compress string    `json:"compression"` // "zstd" or "none"
}

// Defaults for new vaults; docs/FORMAT.md explains the choices.
const (
	DefaultChunkMin = 512 << 10
	DefaultChunkAvg = 1 << 20
	DefaultChunkMax = 8 << 20
	DefaultPackSize = 16 << 20
)

// NewConfig returns the config of a new vault with a random id.
func NewConfig() (Config, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Config{}, fmt.Errorf("generate vault id: %w", err)
	}
	return Config{
		Version:  FormatVersion,
		ID:       hex.EncodeToString(raw[:]),
		Created:  time.Now().UTC().Truncate(time.Second),
		ChunkMin: DefaultChunkMin,
		ChunkAvg: DefaultChunkAvg,
		ChunkMax: DefaultChunkMax,
		PackSize: DefaultPackSize,
		Compress: "zstd",
	}, nil
}

// ErrConfig reports an unreadable or invalid vault config.
var ErrConfig = errors.New("invalid vault config")

// Validate checks every field.
func (c Config) Validate() error {
	switch {
	case c.Version != FormatVersion:
		return fmt.Errorf("%w: format version %d is not supported (this bunker reads version %d)", ErrConfig, c.Version, FormatVersion)
	case len(c.ID) != 32:
		return fmt.Errorf("%w: id %q", ErrConfig, c.ID)
	case c.ChunkMin < 64<<10 || c.ChunkMax > pack.MaxBlobSize:
		return fmt.Errorf("%w: chunk sizes %d/%d/%d out of range", ErrConfig, c.ChunkMin, c.ChunkAvg, c.ChunkMax)
	case c.PackSize < 1<<20 || c.PackSize > 1<<30:
		return fmt.Errorf("%w: pack size %d", ErrConfig, c.PackSize)
	case c.Compress != "zstd" && c.Compress != "none":
		return fmt.Errorf("%w: compression %q", ErrConfig, c.Compress)
	}
	if _, err := hex.DecodeString(c.ID); err != nil {
		return fmt.Errorf("%w: id %q", ErrConfig, c.ID)
	}
	if err := c.ChunkerParams().Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}

// ChunkerParams returns the vault's chunk sizes.
func (c Config) ChunkerParams() chunker.Params {
	return chunker.Params{Min: c.ChunkMin, Avg: c.ChunkAvg, Max: c.ChunkMax}
}

// DecodeConfig parses and validates a stored config.
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, c.Validate()
}
