package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/atomicfile"
	"github.com/bunkerhq/bunker/internal/scan"
	"github.com/bunkerhq/bunker/internal/userdirs"
)

// scanCache keeps the reports of scans of a local vault's points in the
// user's cache directory, so that scanning a point judges only the points
// of its source not judged before (a local vault keeps no verdicts of its
// own). A report kept by another version of the scanner, or against
// another previous point, is not used. A nil scanCache keeps nothing.
type scanCache struct {
	dir string
}

// cachedScan is what a cache file holds.
type cachedScan struct {
	Version int            `json:"version"`
	Report  api.ScanReport `json:"report"`
}

// newScanCache returns the cache of the vault with the given id, or nil
// when the user has no cache directory.
func newScanCache(vaultID string) *scanCache {
	dir, err := userdirs.Cache("bunker", "scans", vaultID)
	if err != nil || vaultID == "" || filepath.Base(vaultID) != vaultID {
		return nil
	}
	return &scanCache{dir: dir}
}

func (c *scanCache) path(point string) string { return filepath.Join(c.dir, point+".json") }

// load returns the kept report of point made against previous ("" for the
// first point of a source).
func (c *scanCache) load(point, previous string) (*api.ScanReport, bool) {
	if c == nil {
		return nil, false
	}
	data, err := os.ReadFile(c.path(point))
	if err != nil {
		return nil, false
	}
	var cs cachedScan
	if json.Unmarshal(data, &cs) != nil || cs.Version != scan.Version || cs.Report.Point != point || cs.Report.Previous != previous {
		return nil, false
	}
	return &cs.Report, true
}

// store keeps a report.
func (c *scanCache) store(rep *api.ScanReport) error {
	if c == nil {
		return nil
	}
	data, err := json.Marshal(cachedScan{Version: scan.Version, Report: *rep})
	if err != nil {
		return fmt.Errorf("keep the scan of point %s: %w", rep.Point, err)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("keep the scan of point %s: %w", rep.Point, err)
	}
	if err := atomicfile.Write(c.path(rep.Point), data, 0o600); err != nil {
		return fmt.Errorf("keep the scan of point %s: %w", rep.Point, err)
	}
	return nil
}
