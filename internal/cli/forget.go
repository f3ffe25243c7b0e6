package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
)

func newForgetCmd(g *globals) *cobra.Command {
	var rules policy.Rules
	var within, groupBy string
	var dryRun, doPrune bool
	var f pointFilter
	cmd := &cobra.Command{
		Use:   "forget [flags] [POINT...]",
		Short: "Remove points by keep rules, or by id",
		Long: `Remove recovery points. With keep rules, points are grouped (by host and
paths unless --group-by says otherwise) and in each group a point is kept when
any rule selects it; the rest are removed. With point ids, exactly those points
are removed. Forget only removes the point records: run prune (or pass
--prune) to free the data no point needs any more.

Without any rule and without ids, forget refuses to run.`,
		Example: `  bunker forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  bunker forget --keep-last 3 --host web1 --prune
  bunker forget 3fa9c1d2`,
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx := cmd.Context()
			if within != "" {
				d, err := policy.ParseDuration(within)
				if err != nil {
					return usageError{err}
				}
				rules.Within = d
			}
			if len(ids) > 0 && !rules.Empty() {
				return usageError{errors.New("give either point ids or keep rules, not both")}
			}
			if len(ids) == 0 {
				if err := rules.Validate(); err != nil {
					return usageError{err}
				}
				if rules.Empty() {
					return usageError{policy.ErrNoRule}
				}
			}
			mode := lockShared
			if doPrune && !dryRun {
				mode = lockExclusive
			}
			v, err := g.openVault(ctx, mode, false)
			if err != nil {
				return err
			}
			defer v.Close()
			all, err := v.repo.Points(ctx)
			if err != nil {
				return err
			}
			var remove []*repo.Point
			if len(ids) > 0 {
				for _, ref := range ids {
					p, err := repo.FindPoint(all, ref)
					if err != nil {
						return err
					}
					remove = append(remove, p)
				}
			} else {
				if remove, err = g.planForget(all, &f, rules, groupBy); err != nil {
					return err
				}
			}
			if dryRun {
				g.printf("would remove %d points (dry run)\n", len(remove))
				return nil
			}
			for _, p := range remove {
				err := v.be.Delete(ctx, storage.Handle{Kind: storage.KindPoint, Name: p.ID.String()})
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("remove point %s: %w", p.ID.Short(), err)
				}
			}
			g.printf("removed %d points\n", len(remove))
			if !doPrune {
				if len(remove) > 0 {
					g.printf("run `bunker prune` to free the data they used\n")
				}
				return nil
			}
			if err := v.loadIndex(ctx); err != nil {
				return err
			}
			st, err := prune.Prune(ctx, v.repo, prune.Options{MaxUnused: 0.05})
			if err != nil {
				return err
			}
			return g.pruneReport(st, false)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&rules.Last, "keep-last", 0, "keep the `n` newest points")
	fl.IntVar(&rules.Hourly, "keep-hourly", 0, "keep the newest point of each of the last `n` hours")
	fl.IntVar(&rules.Daily, "keep-daily", 0, "keep the newest point of each of the last `n` days")
	fl.IntVar(&rules.Weekly, "keep-weekly", 0, "keep the newest point of each of the last `n` weeks")
	fl.IntVar(&rules.Monthly, "keep-monthly", 0, "keep the newest point of each of the last `n` months")
	fl.IntVar(&rules.Yearly, "keep-yearly", 0, "keep the newest point of each of the last `n` years")
	fl.StringVar(&within, "keep-within", "", "keep every point newer than this `duration` (e.g. 7d, 2w, 1y6m)")
	fl.StringArrayVar(&rules.Tags, "keep-tag", nil, "keep every point with this `tag` (repeatable)")
	fl.StringVar(&groupBy, "group-by", "host,paths", "group points by host, paths, or host,paths")
	fl.BoolVarP(&dryRun, "dry-run", "n", false, "show what would be removed, remove nothing")
	fl.BoolVar(&doPrune, "prune", false, "run prune afterwards")
	f.add(cmd)
	return cmd
}

// planForget applies the rules per group and prints the decisions.
func (g *globals) planForget(all []*repo.Point, f *pointFilter, rules policy.Rules, groupBy string) ([]*repo.Point, error) {
	byID := map[string]*repo.Point{}
	var pts []policy.Point
	for _, p := range all {
		if !f.match(p) {
			continue
		}
		byID[p.ID.String()] = p
		pts = append(pts, policy.Point{ID: p.ID.String(), Time: p.Time, Host: p.Hostname, Paths: p.Paths, Tags: p.Tags})
	}
	groups, err := policy.GroupBy(pts, groupBy)
	if err != nil {
		return nil, usageError{err}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var remove []*repo.Point
	now := time.Now()
	for _, k := range keys {
		keep, rm, err := policy.Plan(groups[k], rules, now)
		if err != nil {
			return nil, usageError{err}
		}
		if g.json {
			if err := g.printJSON(forgetGroupJSON(k, keep, rm)); err != nil {
				return nil, err
			}
		} else {
			g.printf("group %s: keep %d, remove %d\n", k, len(keep), len(rm))
			for _, d := range keep {
				g.printf("  keep   %s  %s  %s\n", d.Point.ID[:8], d.Point.Time.Local().Format("2006-01-02 15:04:05"), strings.Join(d.Reasons, ", "))
			}
			for _, d := range rm {
				g.printf("  remove %s  %s\n", d.Point.ID[:8], d.Point.Time.Local().Format("2006-01-02 15:04:05"))
			}
		}
		for _, d := range rm {
			remove = append(remove, byID[d.Point.ID])
		}
	}
	return remove, nil
}

func forgetGroupJSON(key string, keep, rm []policy.Decision) map[string]any {
	type entry struct {
		ID      string    `json:"id"`
		Time    time.Time `json:"time"`
		Reasons []string  `json:"reasons,omitempty"`
	}
	conv := func(ds []policy.Decision) []entry {
		out := []entry{}
		for _, d := range ds {
			out = append(out, entry{d.Point.ID, d.Point.Time, d.Reasons})
		}
		return out
	}
	return map[string]any{"message_type": "forget_group", "group": key, "keep": conv(keep), "remove": conv(rm)}
}
