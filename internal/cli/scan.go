package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/pointdiff"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/scan"
	"github.com/bunkerhq/bunker/internal/server"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newScanCmd(g *globals) *cobra.Command {
	var previous string
	cmd := &cobra.Command{
		Use:   "scan POINT",
		Short: "Scan a point for ransomware against the previous point of its source",
		Long: `Compare a recovery point with the previous point of the same source (the
same host and paths) and examine what changed: files whose structure broke,
whose content turned random, mass renames to a new extension, ransom notes,
spikes of deletion. Prints the verdict (clean, suspicious or infected), its
score, the evidence (file and reason) and what was read.

With --server the server scans its vault's point and records the verdict
(shown by ` + "`bunker point show`" + ` and ` + "`bunker point list`" + `); vaults created or set
with --scan have every new point scanned on their own. On a local vault the
scan is computed and printed, nothing is recorded.

POINT is "latest" or at least 4 hex digits of a point id; --previous names
the point to compare with instead. Exit code 7 means the point is infected;
a suspicious point exits 0 with a warning.`,
		Example: `  bunker scan --server https://backup:8443 --vault prod latest
  bunker scan --vault prod 3fa9c1 --json
  bunker scan --vault /srv/vault latest`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			SetGCPercent(scanGCPercent)
			ctx := cmd.Context()
			var rep api.ScanReport
			if g.remoteMode() {
				if err := checkPointRef(a[0]); err != nil {
					return err
				}
				c, vault, err := g.pointTarget()
				if err != nil {
					return err
				}
				g.notef("scanning point %s of vault %s on the server…\n", display(a[0]), display(vault))
				if rep, err = c.Scan(ctx, vault, a[0], api.ScanRequest{Previous: previous}); err != nil {
					return failed(err, "scan point %s of vault %s", a[0], vault)
				}
			} else {
				v, err := g.openVault(ctx, lockShared, false)
				if err != nil {
					return err
				}
				defer v.Close()
				points, err := v.load(ctx)
				if err != nil {
					return err
				}
				p, err := repo.FindPoint(points, a[0])
				if err != nil {
					return err
				}
				if previous != "" {
					prev, err := repo.FindPoint(points, previous)
					if err != nil {
						return err
					}
					if rep, err = scanLocal(ctx, v.repo, p, prev, nil); err != nil {
						return err
					}
				} else if rep, err = scanSource(ctx, v.repo, points, p, newScanCache(v.repo.Config().ID)); err != nil {
					return err
				}
				rep.Vault = v.repo.Backend().Location()
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				g.printScan(rep)
			}
			switch rep.Level {
			case store.VerdictInfected:
				return withCode(ExitInfected, fmt.Errorf("point %s is infected (score %.1f, %d findings)", short(rep.Point), rep.Score, rep.EvidenceTotal))
			case store.VerdictSuspicious:
				g.warnf("warning: point %s is suspicious (score %.1f): check the evidence before restoring it\n", short(rep.Point), rep.Score)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&previous, "previous", "", "compare with this `point` instead of the previous point of the same source")
	return cmd
}

// warnf prints a warning on stderr, also with --json and --quiet.
func (g *globals) warnf(format string, a ...any) {
	fmt.Fprintf(g.stderr, format, a...)
}

// previousLocal returns the newest point of p's source (host and paths)
// older than p.
func previousLocal(points []*repo.Point, p *repo.Point) *repo.Point {
	var prev *repo.Point
	for _, q := range points {
		if q.ID == p.ID || !q.Time.Before(p.Time) || q.Hostname != p.Hostname || !slices.Equal(q.Paths, p.Paths) {
			continue
		}
		if prev == nil || q.Time.After(prev.Time) {
			prev = q
		}
	}
	return prev
}

// scanSource scans the points of p's source up to p, oldest first, each
// against the one before and carrying what that one was judged for (a local
// vault keeps no verdicts), and returns p's report. Points already judged
// by an earlier scan are taken from cache and not judged again; p always
// is. A report that cannot be kept is not an error: it is judged again
// next time.
func scanSource(ctx context.Context, r *repo.Repository, all []*repo.Point, p *repo.Point, cache *scanCache) (api.ScanReport, error) {
	var chain []*repo.Point
	for q := p; q != nil; q = previousLocal(all, q) {
		chain = append(chain, q)
	}
	slices.Reverse(chain)
	previousOf := func(i int) string {
		if i == 0 {
			return ""
		}
		return chain[i-1].ID.String()
	}
	start := 0
	var prevRep *api.ScanReport
	for i := len(chain) - 2; i >= 0; i-- {
		if rep, ok := cache.load(chain[i].ID.String(), previousOf(i)); ok {
			prevRep, start = rep, i+1
			break
		}
	}
	var rep api.ScanReport
	for i := start; i < len(chain); i++ {
		var prev *repo.Point
		if i > 0 {
			prev = chain[i-1]
		}
		var err error
		if rep, err = scanLocal(ctx, r, chain[i], prev, prevRep); err != nil {
			return rep, err
		}
		_ = cache.store(&rep)
		prevRep = &rep
	}
	return rep, nil
}

// scanLocal judges what changed from prev (nil: nothing before) to p in a
// local vault, carrying the findings of prevRep, prev's report, that still
// hold.
func scanLocal(ctx context.Context, r *repo.Repository, p, prev *repo.Point, prevRep *api.ScanReport) (api.ScanReport, error) {
	rep := api.ScanReport{Point: p.ID.String(), Hostname: p.Hostname, Paths: p.Paths, Started: time.Now().UTC(), Evidence: []store.ScanEvidence{}}
	var prevRoot *blob.ID
	opts := scan.Options{}
	if prev != nil {
		rep.Previous = prev.ID.String()
		prevRoot = &prev.Tree
		opts.PreviousFiles = pointdiff.FileCount(prev.Summary)
	}
	diff, err := pointdiff.Diff(ctx, r, prevRoot, p.Tree)
	if err != nil {
		return rep, fmt.Errorf("compare point %s: %w", p.ID.Short(), err)
	}
	v, err := scan.Judge(ctx, diff.Changes, opts)
	if err != nil {
		return rep, fmt.Errorf("scan point %s: %w", p.ID.Short(), err)
	}
	if prevRep != nil {
		rep.PreviousLevel = prevRep.Level
		v = v.WithCarried(server.CarryVerdict(prevRep.Level, prevRep.Evidence, diff.Changes))
		rep.Changed = prevRep.Level != v.Level.String()
	}
	rep.Finished = time.Now().UTC()
	rep.Level, rep.Score, rep.EvidenceTotal = v.Level.String(), v.Score, len(v.Evidence)
	rep.Stats = server.StatsOf(v.Stats, diff.TreesLoaded)
	for _, e := range v.Evidence {
		rep.Evidence = append(rep.Evidence, store.ScanEvidence{Path: e.Path, Reason: e.Reason, Weight: e.Weight, Strong: e.Strong})
	}
	slices.SortStableFunc(rep.Evidence, func(a, b store.ScanEvidence) int {
		switch {
		case a.Weight > b.Weight:
			return -1
		case a.Weight < b.Weight:
			return 1
		}
		return 0
	})
	return rep, nil
}

func (g *globals) printScan(rep api.ScanReport) {
	against := "the first point of its source: every file is new"
	if rep.Previous != "" {
		against = "against " + short(rep.Previous)
	}
	if rep.Job != 0 {
		g.printf("scanned point %s %s (job %d)\n", short(rep.Point), against, rep.Job)
	} else {
		g.printf("scanned point %s %s\n", short(rep.Point), against)
	}
	g.printf("  source    %s %s\n", display(rep.Hostname), displayAll(rep.Paths, " "))
	line := fmt.Sprintf("%s, score %.1f", strings.ToUpper(rep.Level), rep.Score)
	if rep.Changed {
		line += " (was " + rep.PreviousLevel + ")"
	}
	g.printf("  verdict   %s\n", line)
	st := rep.Stats
	g.printf("  changes   %d: %d added, %d modified, %d deleted, %d renamed\n", st.Changes, st.Added, st.Modified, st.Deleted, st.Renamed)
	g.printf("  examined  %d files of %s (%d strong, %d weak findings, %d unreadable), %s read\n", st.Examined, ui.Bytes(st.BytesChanged), st.Strong, st.Weak, st.Unreadable, ui.Bytes(st.BytesRead))
	if rep.EvidenceTotal > 0 {
		more := ""
		if rep.EvidenceTotal > len(rep.Evidence) {
			more = fmt.Sprintf(", the heaviest %d shown", len(rep.Evidence))
		}
		g.printf("  evidence  %d findings%s\n", rep.EvidenceTotal, more)
		g.printEvidence(rep.Evidence)
	}
}

func (g *globals) printEvidence(ev []store.ScanEvidence) {
	for _, e := range ev {
		mark := " "
		if e.Strong {
			mark = "!"
		}
		g.printf("  %s %s: %s\n", mark, display(e.Path), display(e.Reason))
	}
}

// parseSource reads HOST[:PATH].
func parseSource(s string) (host, path string, err error) {
	host, path, _ = strings.Cut(s, ":")
	if host == "" || (path != "" && !strings.HasPrefix(path, "/")) {
		return "", "", usageError{fmt.Errorf("--source %q: want HOST or HOST:/PATH", s)}
	}
	return host, path, nil
}

// verdictText is a point's verdict in a table.
func verdictText(v *api.PointVerdict) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%s %.1f", v.Level, v.Score)
}

// printTimelineEnds prints the first infected and the last clean point.
func (g *globals) printTimelineEnds(firstInfected, lastClean string) {
	if firstInfected != "" {
		g.printf("first infected point  %s\n", short(firstInfected))
	} else {
		g.printf("first infected point  none\n")
	}
	if lastClean != "" {
		g.printf("last clean point      %s\n", short(lastClean))
	} else {
		g.printf("last clean point      none\n")
	}
}

// localTimeline scans each point of points (oldest first) against the
// previous point of its source among all, and returns them as the API
// shows a server's. Reports kept in cache are used as they are.
func localTimeline(ctx context.Context, r *repo.Repository, all, points []*repo.Point, cache *scanCache) ([]api.Point, error) {
	out := make([]api.Point, 0, len(points))
	reps := map[blob.ID]*api.ScanReport{}
	for _, p := range points {
		prev := previousLocal(all, p)
		var prevRep *api.ScanReport
		prevID := ""
		if prev != nil {
			prevRep, prevID = reps[prev.ID], prev.ID.String()
		}
		rep, ok := cache.load(p.ID.String(), prevID)
		if !ok {
			fresh, err := scanLocal(ctx, r, p, prev, prevRep)
			if err != nil {
				return nil, err
			}
			_ = cache.store(&fresh)
			rep = &fresh
		}
		reps[p.ID] = rep
		sp := &store.Point{ID: p.ID.String(), Time: p.Time, Hostname: p.Hostname, Username: p.Username, Paths: p.Paths, Tags: p.Tags,
			Tree: p.Tree.String(), Summary: p.Summary, State: store.Active}
		if p.Parent != nil {
			sp.Parent = p.Parent.String()
		}
		out = append(out, api.Point{Point: sp, Verdict: &api.PointVerdict{Level: rep.Level, Score: rep.Score, ScannedAt: rep.Finished,
			Previous: rep.Previous, EvidenceCount: rep.EvidenceTotal}})
	}
	return out, nil
}

// restoreVerdict refuses or warns about a point's verdict before a restore.
func (g *globals) restoreVerdict(v *api.PointVerdict, id string) {
	if v == nil {
		return
	}
	switch v.Level {
	case store.VerdictSuspicious:
		g.warnf("warning: point %s is suspicious (score %.1f, %d findings, scanned %s): check `bunker point show %s` before trusting what it restores\n",
			short(id), v.Score, v.EvidenceCount, when(v.ScannedAt), short(id))
	case store.VerdictInfected:
		g.warnf("warning: restoring point %s although it is infected (score %.1f, %d findings): --allow-infected\n", short(id), v.Score, v.EvidenceCount)
	}
}

// infectedError maps the server's refusal of an infected point to its
// exit code.
func infectedError(err error) error {
	var e *client.Error
	if errors.As(err, &e) && e.Code == "point_infected" {
		return withCode(ExitInfected, err)
	}
	return serverError(err)
}
