package cli

import (
	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/ui"
)

// vaultStats are the sizes reported by `bunker stats`.
type vaultStats struct {
	Points       int     `json:"points"`
	Files        int64   `json:"files"`
	LogicalSize  int64   `json:"logical_size"`      // sum of file sizes over the points
	UniqueSize   int64   `json:"unique_size"`       // plaintext of the distinct blobs they need
	StoredSize   int64   `json:"stored_size"`       // bytes of all packs in the vault
	DedupRatio   float64 `json:"dedup_ratio"`       // logical / unique
	CompressRate float64 `json:"compression_ratio"` // unique / stored
	Blobs        int     `json:"blobs"`
	Packs        int     `json:"packs"`
}

func newStatsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats [POINT...]",
		Short: "Show logical size, stored size and dedup ratio",
		Long: `Show how much data the points hold (logical size), how much distinct data
that is after deduplication (unique size), and what the vault stores for it
after compression and encryption (stored size). With point ids, only those
points count towards the logical and unique sizes.`,
		RunE: func(cmd *cobra.Command, refs []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockNone, false)
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.loadIndex(ctx); err != nil {
				return err
			}
			all, err := v.repo.Points(ctx)
			if err != nil {
				return err
			}
			points := all
			if len(refs) > 0 {
				points = nil
				for _, ref := range refs {
					p, err := repo.FindPoint(all, ref)
					if err != nil {
						return err
					}
					points = append(points, p)
				}
			}
			st, err := computeStats(cmd, v.repo, points)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(st)
			}
			g.printf("points:            %d\n", st.Points)
			g.printf("files:             %d\n", st.Files)
			g.printf("logical size:      %s\n", ui.Bytes(st.LogicalSize))
			g.printf("unique size:       %s\n", ui.Bytes(st.UniqueSize))
			g.printf("stored size:       %s (%d packs, %d blobs)\n", ui.Bytes(st.StoredSize), st.Packs, st.Blobs)
			g.printf("dedup ratio:       %.2f\n", st.DedupRatio)
			g.printf("compression ratio: %.2f\n", st.CompressRate)
			return nil
		},
	}
	return cmd
}

func computeStats(cmd *cobra.Command, r *repo.Repository, points []*repo.Point) (*vaultStats, error) {
	ctx := cmd.Context()
	st := &vaultStats{Points: len(points), Blobs: r.Index().Len()}
	seen := map[blob.ID]bool{}
	for _, p := range points {
		err := checker.WalkPoint(ctx, r, p, func(_ *repo.Point, _ string, n *tree.Node, err error) error {
			if err != nil {
				return err
			}
			if n.Type != tree.TypeFile {
				return nil
			}
			st.Files++
			st.LogicalSize += int64(n.Size)
			for _, id := range n.Content {
				if seen[id] {
					continue
				}
				seen[id] = true
				if l, ok := r.Index().Lookup(blob.Handle{ID: id, Type: blob.DataBlob}); ok {
					st.UniqueSize += int64(l.RawLen)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := r.Backend().List(ctx, storage.KindPack, func(fi storage.Info) error {
		st.StoredSize += fi.Size
		st.Packs++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if st.UniqueSize > 0 {
		st.DedupRatio = float64(st.LogicalSize) / float64(st.UniqueSize)
	}
	if st.StoredSize > 0 {
		st.CompressRate = float64(st.UniqueSize) / float64(st.StoredSize)
	}
	return st, nil
}
