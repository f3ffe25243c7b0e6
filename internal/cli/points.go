package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/ui"
)

type pointFilter struct {
	hosts, tags, paths []string
}

func (f *pointFilter) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.hosts, "host", nil, "only points of this `host` (repeatable)")
	fl.StringArrayVar(&f.tags, "tag", nil, "only points with this `tag` (repeatable)")
	fl.StringArrayVar(&f.paths, "path", nil, "only points that include this `path` (repeatable)")
}

func (f *pointFilter) match(p *repo.Point) bool {
	if len(f.hosts) > 0 && !slices.Contains(f.hosts, p.Hostname) {
		return false
	}
	for _, t := range f.tags {
		if !slices.Contains(p.Tags, t) {
			return false
		}
	}
	for _, want := range f.paths {
		if !slices.Contains(p.Paths, want) {
			return false
		}
	}
	return true
}

type pointJSON struct {
	ID       string        `json:"id"`
	Time     time.Time     `json:"time"`
	Hostname string        `json:"hostname"`
	Username string        `json:"username,omitempty"`
	Paths    []string      `json:"paths"`
	Tags     []string      `json:"tags,omitempty"`
	Tree     string        `json:"tree"`
	Parent   string        `json:"parent,omitempty"`
	Summary  *repo.Summary `json:"summary,omitempty"`
}

func toPointJSON(p *repo.Point) pointJSON {
	j := pointJSON{ID: p.ID.String(), Time: p.Time, Hostname: p.Hostname, Username: p.Username,
		Paths: p.Paths, Tags: p.Tags, Tree: p.Tree.String(), Summary: p.Summary}
	if p.Parent != nil {
		j.Parent = p.Parent.String()
	}
	return j
}

func newPointsCmd(g *globals) *cobra.Command {
	var f pointFilter
	var last int
	var source string
	cmd := &cobra.Command{
		Use:   "points",
		Short: "List recovery points",
		Long: `List the recovery points of a local vault, oldest first.

--source HOST[:PATH] shows the timeline of one source (the points of HOST,
or those of HOST that include PATH): each point is scanned for ransomware
against the previous point of its source, now (a local vault records no
verdicts), and the first infected and the last clean point are named at the
end. For a vault on a server, see ` + "`bunker point list --source`" + `.`,
		Example: `  bunker points
  bunker points --host web1 --tag daily --last 5 --json
  bunker points --source web1:/srv`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockNone, false)
			if err != nil {
				return err
			}
			defer v.Close()
			all, err := v.repo.Points(ctx)
			if err != nil {
				return err
			}
			var host, path string
			if source != "" {
				if host, path, err = parseSource(source); err != nil {
					return err
				}
			}
			var points []*repo.Point
			for _, p := range all {
				if f.match(p) && (host == "" || p.Hostname == host) && (path == "" || slices.Contains(p.Paths, path)) {
					points = append(points, p)
				}
			}
			if last > 0 && len(points) > last {
				points = points[len(points)-last:]
			}
			if source != "" {
				if err := v.loadIndex(ctx); err != nil {
					return err
				}
				tl, err := localTimeline(ctx, v.repo, all, points, newScanCache(v.repo.Config().ID))
				if err != nil {
					return err
				}
				list := api.PointList{Points: tl}
				list.FirstInfected, list.LastClean = api.TimelineEnds(tl)
				if g.json {
					return g.printJSON(list)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTIME\tHOST\tPATHS\tVERDICT\tCOMPARED WITH")
				for _, p := range tl {
					prev := "-"
					if p.Verdict.Previous != "" {
						prev = short(p.Verdict.Previous)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", short(p.ID), p.Time.Local().Format("2006-01-02 15:04:05"),
						p.Hostname, strings.Join(p.Paths, " "), verdictText(p.Verdict), prev)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				g.printf("%d points\n", len(tl))
				g.printTimelineEnds(list.FirstInfected, list.LastClean)
				return nil
			}
			if g.json {
				out := make([]pointJSON, 0, len(points))
				for _, p := range points {
					out = append(out, toPointJSON(p))
				}
				return g.printJSON(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tHOST\tTAGS\tSIZE\tPATHS")
			for _, p := range points {
				size := "-"
				if p.Summary != nil {
					size = ui.Bytes(p.Summary.TotalBytes)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID.Short(), p.Time.Local().Format("2006-01-02 15:04:05"),
					p.Hostname, strings.Join(p.Tags, ","), size, strings.Join(p.Paths, " "))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			g.printf("%d points\n", len(points))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&last, "last", 0, "show only the last `n` points")
	cmd.Flags().StringVar(&source, "source", "", "the timeline of one source, `HOST[:PATH]`, each point scanned now")
	return cmd
}
