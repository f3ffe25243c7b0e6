package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newPointCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "point",
		Short: "Manage the recovery points of a vault on a bunker server",
		Long: `List, show, delete and undelete the recovery points of a vault on a bunker
server, change their retention, and place and release legal holds.

The vault is named with --vault NAME (or $BUNKER_VAULT); a point with
"latest" or at least 4 hex digits of its id. Deleted points go to the
vault's recycle bin, from which they can be brought back until maintenance
purges them. A vault's lock keeps its points from deletion until they
expire; a legal hold keeps the points it covers until it is released.

For the points of a local vault, see ` + "`bunker points`" + `.`,
		Example: `  bunker point list --vault prod
  bunker point hold --vault prod --tag db --reason "case 2026-17"
  bunker point delete --vault prod 3fa9c1`,
	}
	cmd.AddCommand(newPointListCmd(g), newPointShowCmd(g), newPointDeleteCmd(g), newPointUndeleteCmd(g), newPointCopyCmd(g), newPointPushCmd(g),
		newPointRetainCmd(g), newPointHoldCmd(g), newPointHoldsCmd(g), newPointReleaseCmd(g))
	return cmd
}

// pointTarget connects and names the vault of a point command.
func (g *globals) pointTarget() (*client.Client, string, error) {
	vault, err := g.vaultName()
	if err != nil {
		return nil, "", err
	}
	c, err := g.dial()
	return c, vault, err
}

// holdList formats hold ids.
func holdList(ids []int64) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(out, ",")
}

// expiresText says until when a point is kept.
func expiresText(p api.Point) string {
	if p.Expires.IsZero() {
		return "never"
	}
	return when(p.Expires)
}

func newPointListCmd(g *globals) *cobra.Command {
	var state, host, tag, source string
	cmd := &cobra.Command{
		Use:   "list --vault NAME",
		Short: "List a vault's points, oldest first, with their verdicts",
		Long: `List a vault's points, oldest first: id, the server's time stamp, host,
paths, tags, expiry, whether the vault's lock retains the point now, the
legal holds that cover it, its state and its latest scan verdict. --state
binned lists the recycle bin, --state all both. --json prints an array of
points.

--source HOST[:PATH] lists the timeline of one source (the points of HOST,
or those of HOST that include PATH) and names, at the end, the first
infected point and the last clean point: the newest clean point before the
first infected one, the one to restore. With --json it prints an object
with "points", "first_infected" and "last_clean".`,
		Example: `  bunker point list --vault prod
  bunker point list --vault prod --state binned
  bunker point list --vault prod --host web1 --tag daily --json
  bunker point list --vault prod --source web1:/srv`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch state {
			case "active", "binned", "all":
			default:
				return usageError{fmt.Errorf("--state %q: want active, binned or all", state)}
			}
			f := client.PointFilter{State: state, Host: host, Tag: tag}
			if source != "" {
				if host != "" {
					return usageError{fmt.Errorf("give --host or --source, not both")}
				}
				var err error
				if f.Host, f.Path, err = parseSource(source); err != nil {
					return err
				}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			list, err := c.PointList(cmd.Context(), vault, f)
			if err != nil {
				return failed(err, "list the points of vault %s", vault)
			}
			ps := list.Points
			if ps == nil {
				ps = []api.Point{}
			}
			if g.json {
				if source != "" {
					list.Points = ps
					return g.printJSON(list)
				}
				return g.printJSON(ps)
			}
			tw := g.newTable("ID", "TIME", "HOST", "PATHS", "TAGS", "EXPIRES", "RETAINED", "HOLDS", "STATE", "VERDICT")
			for _, p := range ps {
				row(tw, short(p.ID), when(p.Time), p.Hostname, displayAll(p.Paths, " "), displayAll(p.Tags, ","),
					expiresText(p), yesNo(p.Retained), holdList(p.Holds), string(p.State), verdictText(p.Verdict))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			g.printf("%d points\n", len(ps))
			if source != "" {
				g.printTimelineEnds(list.FirstInfected, list.LastClean)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "active", "which points: `active`, binned (in the recycle bin) or all")
	fl.StringVar(&host, "host", "", "only points of this `host`")
	fl.StringVar(&tag, "tag", "", "only points with this `tag`")
	fl.StringVar(&source, "source", "", "the timeline of one source, `HOST[:PATH]`, with its first infected and last clean point")
	return cmd
}

func newPointShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show --vault NAME POINT",
		Short: "Show one point: its record, expiry, lock and holds",
		Long: `Show one point of a vault, active or in the recycle bin. POINT is "latest"
(the newest active point) or at least 4 hex digits of its id.`,
		Example: `  bunker point show --vault prod latest
  bunker point show --vault prod 3fa9c1 --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			p, err := c.Point(cmd.Context(), vault, a[0])
			if err != nil {
				return failed(err, "show point %s of vault %s", a[0], vault)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printPoint(p)
			return nil
		},
	}
}

func (g *globals) printPoint(p api.Point) {
	g.printf("point        %s\n", p.ID)
	g.printf("vault        %s\n", display(p.Vault))
	g.printf("time         %s (the server's clock)\n", when(p.Time))
	if !p.ClientTime.IsZero() {
		g.printf("client time  %s (as the client claimed)\n", when(p.ClientTime))
	}
	g.printf("host         %s\n", display(p.Hostname))
	if p.Username != "" {
		g.printf("user         %s\n", display(p.Username))
	}
	g.printf("paths        %s\n", displayAll(p.Paths, " "))
	if len(p.Tags) > 0 {
		g.printf("tags         %s\n", displayAll(p.Tags, ","))
	}
	if p.Parent != "" {
		g.printf("parent       %s\n", short(p.Parent))
	}
	g.printf("created by   %s\n", display(p.CreatedBy))
	if p.Summary != nil {
		files := p.Summary.FilesNew + p.Summary.FilesChanged + p.Summary.FilesUnchanged
		g.printf("size         %s in %d files\n", ui.Bytes(p.Summary.TotalBytes), files)
	}
	switch {
	case p.Expires.IsZero():
		g.printf("expires      never: kept until deleted by hand\n")
	default:
		g.printf("expires      %s\n", when(p.Expires))
	}
	lock := p.Lock.String()
	if p.Retained {
		lock += ": retained, cannot be deleted before it expires"
	}
	g.printf("lock         %s\n", lock)
	if len(p.Holds) > 0 {
		g.printf("legal holds  %s (see `bunker point holds --vault %s`)\n", holdList(p.Holds), display(p.Vault))
	}
	if p.State == store.Binned {
		g.printf("state        in the recycle bin (%s by %s at %s), purged after %s\n", display(p.BinReason), display(p.BinnedBy), when(p.BinnedAt), when(p.PurgeAfter))
	} else {
		g.printf("state        %s\n", p.State)
	}
	g.printf("signed by    %s\n", display(p.KeyID))
	switch v := p.Verified; {
	case v == nil:
		g.printf("verified     never (see `bunker verify`)\n")
	case v.OK:
		g.printf("verified     %s: ok (job %d)\n", when(v.At), v.Job)
	case !v.SignatureOK:
		g.printf("verified     %s: DAMAGED, the signature is invalid; %d problems (job %d)\n", when(v.At), v.Problems, v.Job)
	default:
		g.printf("verified     %s: DAMAGED, %d problems (job %d)\n", when(v.At), v.Problems, v.Job)
	}
	switch v := p.Verdict; {
	case v == nil:
		g.printf("verdict      not scanned (see `bunker scan`)\n")
	default:
		against := "the first point of its source"
		if v.Previous != "" {
			against = "against " + short(v.Previous)
		}
		g.printf("verdict      %s, score %.1f, %d findings (scanned %s %s, job %d)\n", v.Level, v.Score, v.EvidenceCount, when(v.ScannedAt), against, v.Job)
		g.printEvidence(v.Evidence)
		if v.EvidenceCount > len(v.Evidence) && len(v.Evidence) > 0 {
			g.printf("  … %d more findings\n", v.EvidenceCount-len(v.Evidence))
		}
	}
}

func newPointDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete --vault NAME POINT",
		Short: "Move a point to the recycle bin",
		Long: `Delete a point: it moves to the vault's recycle bin, where it stays for the
vault's bin retention and can be brought back with ` + "`bunker point undelete`" + `.
Refused while a legal hold covers the point or the vault's lock retains it
(a governance lock gives way to a vault-admin with the governance bypass;
a compliance lock to nobody).`,
		Example: `  bunker point delete --vault prod 3fa9c1`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			p, err := c.DeletePoint(cmd.Context(), vault, a[0])
			if err != nil {
				return failed(err, "delete point %s of vault %s", a[0], vault)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("moved point %s to the recycle bin of vault %s; it is purged after %s (bring it back with `bunker point undelete --vault %s %s`)\n",
				short(p.ID), display(vault), when(p.PurgeAfter), display(vault), short(p.ID))
			return nil
		},
	}
}

func newPointUndeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undelete --vault NAME POINT",
		Short: "Bring a point back from the recycle bin",
		Long: `Bring a point back from the recycle bin. A point that had already expired
is then kept until deleted by hand.`,
		Example: `  bunker point list --vault prod --state binned
  bunker point undelete --vault prod 3fa9c1`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			p, err := c.Undelete(cmd.Context(), vault, a[0])
			if err != nil {
				return failed(err, "undelete point %s of vault %s", a[0], vault)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("point %s of vault %s is back from the recycle bin; expires %s\n", short(p.ID), display(vault), expiresText(p))
			return nil
		},
	}
}

func newPointRetainCmd(g *globals) *cobra.Command {
	var until, extend string
	var forever bool
	cmd := &cobra.Command{
		Use:   "retain --vault NAME POINT (--until TIME | --extend DURATION | --forever)",
		Short: "Change when a point expires",
		Long: `Change a point's expiry: to a time (--until, RFC 3339), by a duration past
its current expiry (--extend), or to never (--forever: kept until deleted by
hand). On a locked vault the new retention must lie within the lock's
bounds, and shortening is refused (a governance lock gives way to a
vault-admin with the governance bypass).`,
		Example: `  bunker point retain --vault prod 3fa9c1 --extend 30d
  bunker point retain --vault prod latest --until 2027-01-31T00:00:00Z
  bunker point retain --vault prod 3fa9c1 --forever`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			var req api.RetentionRequest
			ways := 0
			if until != "" {
				t, err := parseTime("until", until)
				if err != nil {
					return err
				}
				req.Expires = &t
				ways++
			}
			if extend != "" {
				if err := checkSpan("extend", extend); err != nil {
					return err
				}
				req.ExtendBy = extend
				ways++
			}
			if forever {
				req.Forever = true
				ways++
			}
			if ways != 1 {
				return usageError{fmt.Errorf("give exactly one of --until, --extend and --forever (see `%s --help`)", cmd.CommandPath())}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			p, err := c.Retain(cmd.Context(), vault, a[0], req)
			if err != nil {
				return failed(err, "change the retention of point %s of vault %s", a[0], vault)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("point %s of vault %s now expires %s\n", short(p.ID), display(vault), expiresText(p))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&until, "until", "", "keep the point until this `time` (RFC 3339, e.g. 2027-01-31T00:00:00Z)")
	fl.StringVar(&extend, "extend", "", "keep the point this `duration` longer (e.g. 30d)")
	fl.BoolVar(&forever, "forever", false, "keep the point until it is deleted by hand")
	return cmd
}

func newPointHoldCmd(g *globals) *cobra.Command {
	var tag, from, to, reason string
	cmd := &cobra.Command{
		Use:   "hold --vault NAME [POINT | --tag TAG | --from TIME --to TIME] --reason TEXT",
		Short: "Place a legal hold: keep points until it is released",
		Long: `Place a legal hold on one point, on every point with a tag (present and
future), or on every point stamped within a time range (--from and --to,
RFC 3339, both included). While the hold is in place the points it covers
cannot be deleted, by hand or by expiry, whatever the vault's lock. Give
exactly one of the three, and say why with --reason.`,
		Example: `  bunker point hold --vault prod 3fa9c1 --reason "incident 2026-04"
  bunker point hold --vault prod --tag db --reason "audit of Q1"
  bunker point hold --vault prod --from 2026-03-01T00:00:00Z --to 2026-03-31T23:59:59Z --reason "case 17"`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			req := api.HoldRequest{Tag: tag, Reason: reason}
			ways := 0
			if len(a) == 1 {
				if err := checkPointRef(a[0]); err != nil {
					return err
				}
				req.Point = a[0]
				ways++
			}
			if tag != "" {
				ways++
			}
			if from != "" || to != "" {
				if from == "" || to == "" {
					return usageError{fmt.Errorf("a time range needs both --from and --to")}
				}
				f, err := parseTime("from", from)
				if err != nil {
					return err
				}
				t, err := parseTime("to", to)
				if err != nil {
					return err
				}
				if t.Before(f) {
					return usageError{fmt.Errorf("--to %s is before --from %s", to, from)}
				}
				req.From, req.To = &f, &t
				ways++
			}
			if ways != 1 {
				return usageError{fmt.Errorf("give exactly one of POINT, --tag and --from/--to (see `%s --help`)", cmd.CommandPath())}
			}
			if strings.TrimSpace(reason) == "" {
				return usageError{fmt.Errorf("say why with --reason TEXT: a legal hold needs a reason")}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			h, err := c.Hold(cmd.Context(), vault, req)
			if err != nil {
				return failed(err, "place a legal hold in vault %s", vault)
			}
			if g.json {
				return g.printJSON(h)
			}
			g.printf("placed legal hold %d on %s in vault %s (release it with `bunker point release --vault %s %d`)\n",
				h.ID, display(h.Describe()), display(vault), display(vault), h.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&tag, "tag", "", "hold every point with this `tag`")
	fl.StringVar(&from, "from", "", "hold points stamped from this `time` (RFC 3339)")
	fl.StringVar(&to, "to", "", "hold points stamped until this `time` (RFC 3339)")
	fl.StringVar(&reason, "reason", "", "why the points are held (`text`, required)")
	return cmd
}

func newPointHoldsCmd(g *globals) *cobra.Command {
	var released bool
	cmd := &cobra.Command{
		Use:   "holds --vault NAME",
		Short: "List a vault's legal holds",
		Long:  `List the legal holds in place in a vault; --released includes the released ones. --json prints an array of holds.`,
		Example: `  bunker point holds --vault prod
  bunker point holds --vault prod --released --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			hs, err := c.Holds(cmd.Context(), vault, released)
			if err != nil {
				return failed(err, "list the legal holds of vault %s", vault)
			}
			if g.json {
				if hs == nil {
					hs = []store.Hold{}
				}
				return g.printJSON(hs)
			}
			tw := g.newTable("ID", "COVERS", "REASON", "PLACED", "BY", "RELEASED", "RELEASED BY")
			for _, h := range hs {
				row(tw, strconv.FormatInt(h.ID, 10), h.Describe(), h.Reason, when(h.CreatedAt), h.CreatedBy, when(h.ReleasedAt), h.ReleasedBy)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			g.printf("%d legal holds\n", len(hs))
			return nil
		},
	}
	cmd.Flags().BoolVar(&released, "released", false, "include released holds")
	return cmd
}

func newPointReleaseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "release --vault NAME HOLD_ID",
		Short: "Release a legal hold",
		Long: `Release a legal hold by its id (see ` + "`bunker point holds`" + `). The points it
covered are then deletable again as far as the vault's lock allows; those
past their expiry move to the recycle bin at the next maintenance.`,
		Example: `  bunker point release --vault prod 3`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("hold id %q: give the number `bunker point holds` shows", a[0])}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			h, err := c.Release(cmd.Context(), vault, id)
			if err != nil {
				return failed(err, "release legal hold %d of vault %s", id, vault)
			}
			if g.json {
				return g.printJSON(h)
			}
			g.printf("released legal hold %d on %s in vault %s\n", h.ID, display(h.Describe()), display(vault))
			return nil
		},
	}
}
