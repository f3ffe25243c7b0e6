package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newVaultCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Manage the vaults of a bunker server: create, lock, set retention, maintain",
		Long: `Manage the vaults of a bunker server. A vault holds recovery points and
applies its policy to them: the retention that gives each new point its
expiry, the recycle bin period for deleted and expired points, and an
optional lock.

A governance lock keeps points until they expire, except for a vault-admin
whose binding carries the governance bypass; a compliance lock keeps them
for everyone. A lock can be changed or removed during its changeable-for
grace period; after its lock date it is immutable.

These commands talk to the server last logged in to (or --server); most
need the vault-admin role. Vaults are named by a positional NAME.`,
		Example: `  bunker vault create prod --retention 30d
  bunker vault lock prod --mode compliance --min-retention 7d --changeable-for 3d
  bunker vault show prod`,
	}
	cmd.AddCommand(newVaultCreateCmd(g), newVaultListCmd(g), newVaultShowCmd(g), newVaultSetCmd(g),
		newVaultLockCmd(g), newVaultUnlockCmd(g), newVaultDeleteCmd(g), newVaultMaintainCmd(g))
	return cmd
}

// spanText formats a retention period; zero means what none says.
func spanText(d time.Duration, none string) string {
	if d == 0 {
		return none
	}
	return retention.Format(d)
}

// lockText describes a vault's lock on one line.
func lockText(v api.Vault) string {
	l := v.Policy.Lock
	if l.Mode == retention.None {
		return "none"
	}
	s := fmt.Sprintf("%s (min %s, max %s", l.Mode, spanText(l.MinRetention, "0"), spanText(l.MaxRetention, "unbounded"))
	switch {
	case v.LockDate.IsZero():
		s += ", changeable)"
	case v.Immutable:
		s += ", immutable since " + when(v.LockDate) + ")"
	default:
		s += ", changeable until " + when(v.LockDate) + ")"
	}
	return s
}

func (g *globals) printVault(v api.Vault, verb string) error {
	if g.json {
		return g.printJSON(v)
	}
	scanText := "off"
	if v.Scan {
		scanText = "every new point"
	}
	kind := "vault"
	if v.AirGapped {
		kind = "air-gapped vault"
	}
	guard := "none"
	if v.Approval != nil {
		guard = fmt.Sprintf("team %s (%d operations guarded)", display(v.Approval.Team), len(v.Approval.Guarded))
	}
	g.printf("%s %s %s: retention %s, recycle bin %s, lock %s, scan %s, approval %s\n", verb, kind, display(v.Name),
		spanText(v.Policy.Retention, "none (kept until deleted)"), spanText(v.Policy.BinRetention, "0"), lockText(v), scanText, guard)
	if v.Policy.Lock.Mode != "" && !v.StorageRetention && v.StorageRetentionReason != "" {
		g.notef("note: only the server enforces this vault's lock; its storage cannot retain objects itself: %s\n", display(v.StorageRetentionReason))
	}
	return nil
}

func newVaultCreateCmd(g *globals) *cobra.Command {
	var ret, bin, storage, mode, minRet, maxRet, grace, team string
	var scanNew, airGapped bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a vault",
		Long: `Create a vault on the server. --retention gives every new point its expiry
(default 0: points are kept until deleted by hand); --bin-retention is how
long deleted and expired points stay in the recycle bin before they are
purged (default 7d). Needs the vault-admin role on all vaults.

--storage puts the vault on an S3 target the server was started with
(bunker server --s3 NAME=…) instead of its data directory. --lock locks it
as it is created, with --min-retention, --max-retention and
--changeable-for as for "bunker vault lock"; a compliance vault on a bucket
without Object Lock is refused. The answer says whether the storage itself
enforces retention (S3 Object Lock; the immutable attribute when the
server runs as root) or only the server does.

--team names the approval team (active) that approves the vault's guarded
operations from the start. --air-gapped makes an air-gapped vault: it needs
--lock compliance and --team; nobody holds read or restore access to it,
and it is opened only by a restore-access grant its team approved
(` + "`bunker access request`" + `).`,
		Example: `  bunker vault create prod --retention 30d
  bunker vault create archive --retention 1y --bin-retention 30d --json
  bunker vault create central --storage minio --retention 90d --lock compliance --min-retention 30d --changeable-for 72h
  bunker vault create vault --retention 90d --lock compliance --changeable-for 72h --team recovery --air-gapped`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			for flag, v := range map[string]string{"retention": ret, "bin-retention": bin, "min-retention": minRet, "max-retention": maxRet, "changeable-for": grace} {
				if v != "" {
					if err := checkSpan(flag, v); err != nil {
						return err
					}
				}
			}
			req := api.VaultRequest{Name: a[0], Retention: ret, BinRetention: bin, Storage: storage, Scan: scanNew, Team: team, AirGapped: airGapped}
			switch mode {
			case "":
				if minRet != "" || maxRet != "" || grace != "" {
					return usageError{fmt.Errorf("--min-retention, --max-retention and --changeable-for go with --lock governance|compliance")}
				}
			case "governance", "compliance":
				req.Lock = &api.LockRequest{Mode: mode, MinRetention: minRet, MaxRetention: maxRet, ChangeableFor: grace}
			default:
				return usageError{fmt.Errorf("--lock %q: want governance or compliance", mode)}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			v, err := c.CreateVault(cmd.Context(), req)
			if err != nil {
				return failed(err, "create vault %s", a[0])
			}
			return g.printVault(v, "created")
		},
	}
	cmd.Flags().StringVar(&ret, "retention", "", "keep each new point for this `duration` (e.g. 30d; default 0: until deleted by hand)")
	cmd.Flags().StringVar(&bin, "bin-retention", "", "keep deleted and expired points in the recycle bin for this `duration` (default 7d)")
	cmd.Flags().StringVar(&storage, "storage", "", "storage `target`: local (default) or an S3 target of the server")
	cmd.Flags().StringVar(&mode, "lock", "", "lock the vault as it is created: governance or compliance")
	cmd.Flags().StringVar(&minRet, "min-retention", "", "with --lock: the shortest retention a point may get")
	cmd.Flags().StringVar(&maxRet, "max-retention", "", "with --lock: the longest retention a point may get (0: no bound)")
	cmd.Flags().StringVar(&grace, "changeable-for", "", "with --lock: the grace period in which the lock can still change (compliance: at least 72h)")
	cmd.Flags().StringVar(&team, "team", "", "the approval `team` that approves the vault's guarded operations")
	cmd.Flags().BoolVar(&airGapped, "air-gapped", false, "make an air-gapped vault (needs --lock compliance and --team)")
	cmd.Flags().BoolVar(&scanNew, "scan", false, "scan every new point for ransomware against the previous point of its source")
	return cmd
}

func newVaultListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the vaults you may see",
		Long:  `List the vaults your roles let you see, with their policy and counts. --json prints an array of vaults.`,
		Example: `  bunker vault list
  bunker vault list --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			vs, err := c.Vaults(cmd.Context())
			if err != nil {
				return failed(err, "list vaults")
			}
			if g.json {
				if vs == nil {
					vs = []api.Vault{}
				}
				return g.printJSON(vs)
			}
			tw := g.newTable("NAME", "LOCK", "RETENTION", "BIN", "POINTS", "BINNED", "HOLDS", "CREATED")
			for _, v := range vs {
				lock := v.Policy.Lock.Mode.String()
				if v.Immutable {
					lock += " (immutable)"
				}
				row(tw, v.Name, lock, spanText(v.Policy.Retention, "none"), spanText(v.Policy.BinRetention, "0"),
					fmt.Sprint(v.Points), fmt.Sprint(v.Binned), fmt.Sprint(v.Holds), when(v.CreatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(vs) == 0 {
				g.notef("no vaults you may see (create one with `bunker vault create NAME`)\n")
			}
			return nil
		},
	}
}

func newVaultShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a vault's policy and counts",
		Long: `Show a vault's policy: the lock's mode, minimum and maximum retention,
changeable-for grace period and lock date (and whether it has passed, which
makes the lock immutable), the retention of new points, the recycle bin
period, and how many points, binned points and legal holds it has.`,
		Example: `  bunker vault show prod
  bunker vault show prod --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			v, err := c.Vault(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "show vault %s", a[0])
			}
			if g.json {
				return g.printJSON(v)
			}
			l := v.Policy.Lock
			g.printf("vault           %s\n", display(v.Name))
			g.printf("created         %s by %s\n", when(v.CreatedAt), display(v.CreatedBy))
			g.printf("storage         %s %s (id %s)\n", display(v.Backend), display(v.Location), display(v.StorageID))
			g.printf("lock mode       %s\n", l.Mode)
			if l.Mode != retention.None {
				g.printf("min retention   %s\n", spanText(l.MinRetention, "0"))
				g.printf("max retention   %s\n", spanText(l.MaxRetention, "unbounded"))
				g.printf("changeable for  %s\n", spanText(l.ChangeableFor, "always (no lock date)"))
				g.printf("lock set        %s\n", when(l.SetAt))
				switch {
				case v.LockDate.IsZero():
					g.printf("lock date       none: the lock stays changeable\n")
				case v.Immutable:
					g.printf("lock date       %s (passed: the lock is immutable)\n", when(v.LockDate))
				default:
					g.printf("lock date       %s (until then the lock can be changed or removed)\n", when(v.LockDate))
				}
			}
			g.printf("retention       %s\n", spanText(v.Policy.Retention, "none: points are kept until deleted by hand"))
			g.printf("bin retention   %s\n", spanText(v.Policy.BinRetention, "0: purged at the next maintenance"))
			g.printf("points          %d active, %d in the recycle bin\n", v.Points, v.Binned)
			g.printf("legal holds     %d\n", v.Holds)
			if v.Scan {
				g.printf("scan            every new point, against the previous point of its source\n")
			} else {
				g.printf("scan            off (on demand only: `bunker scan`)\n")
			}
			if v.AirGapped {
				g.printf("air-gapped      yes: restored only through a restore-access grant (`bunker access request`)\n")
			}
			if a := v.Approval; a != nil {
				ops := make([]string, len(a.Guarded))
				for i, o := range a.Guarded {
					ops[i] = string(o)
				}
				g.printf("approval        team %s: %s\n", display(a.Team), strings.Join(ops, ", "))
			} else {
				g.printf("approval        none: guarded operations run at once (`bunker approvals guard --vault %s --team TEAM`)\n", display(v.Name))
			}
			return nil
		},
	}
}

func newVaultSetCmd(g *globals) *cobra.Command {
	var ret, bin string
	var scanNew bool
	cmd := &cobra.Command{
		Use:   "set NAME [--retention DURATION] [--bin-retention DURATION] [--scan[=false]]",
		Short: "Change a vault's retention, recycle bin period or scanning",
		Long: `Change the retention given to new points (0: kept until deleted by hand)
or how long the recycle bin keeps deleted and expired points. A locked
vault's retention must stay within the lock's bounds. Existing points keep
their expiry; change one with ` + "`bunker point retain`" + `. --scan makes the
server scan every new point for ransomware, --scan=false stops it.`,
		Example: `  bunker vault set prod --retention 90d
  bunker vault set prod --bin-retention 14d
  bunker vault set prod --scan`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var req api.VaultUpdate
			if cmd.Flags().Changed("retention") {
				if err := checkSpan("retention", ret); err != nil {
					return err
				}
				req.Retention = &ret
			}
			if cmd.Flags().Changed("bin-retention") {
				if err := checkSpan("bin-retention", bin); err != nil {
					return err
				}
				req.BinRetention = &bin
			}
			if cmd.Flags().Changed("scan") {
				req.Scan = &scanNew
			}
			if req.Retention == nil && req.BinRetention == nil && req.Scan == nil {
				return usageError{fmt.Errorf("nothing to change: give --retention, --bin-retention or --scan (see `%s --help`)", cmd.CommandPath())}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			v, err := c.UpdateVault(cmd.Context(), a[0], req)
			if err != nil {
				return failed(err, "change vault %s", a[0])
			}
			return g.printVault(v, "changed")
		},
	}
	cmd.Flags().StringVar(&ret, "retention", "", "keep each new point for this `duration` (0: until deleted by hand)")
	cmd.Flags().StringVar(&bin, "bin-retention", "", "keep deleted and expired points in the recycle bin for this `duration`")
	cmd.Flags().BoolVar(&scanNew, "scan", false, "scan every new point for ransomware (--scan=false: stop)")
	return cmd
}

func newVaultLockCmd(g *globals) *cobra.Command {
	var mode, minRet, maxRet, grace, ret string
	cmd := &cobra.Command{
		Use:   "lock NAME --mode governance|compliance",
		Short: "Lock a vault: keep its points until they expire",
		Long: `Set or replace a vault's lock. Every new point's retention, and every change
of a point's expiry, must then lie between --min-retention and
--max-retention (0: no upper bound).

governance: points are kept until they expire, except for a vault-admin
whose binding carries the governance bypass.
compliance: points are kept until they expire, for everyone; it needs a
--changeable-for grace period of at least 72h.

--changeable-for is the grace period in which the lock can still be changed
or removed; after it (the lock date) the lock is immutable: nobody can
weaken or remove it. 0 on a governance lock keeps it changeable.
--retention sets the vault's retention in the same change.`,
		Example: `  bunker vault lock prod --mode governance --min-retention 7d
  bunker vault lock vault2 --mode compliance --min-retention 30d --max-retention 1y --changeable-for 3d --retention 90d`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			switch mode {
			case "governance", "compliance":
			case "":
				return usageError{fmt.Errorf("give the lock's mode with --mode governance or --mode compliance (see `%s --help`)", cmd.CommandPath())}
			default:
				return usageError{fmt.Errorf("--mode %q: want governance or compliance (to remove a lock, use `bunker vault unlock`)", mode)}
			}
			req := api.LockRequest{Mode: mode, MinRetention: minRet, MaxRetention: maxRet, ChangeableFor: grace}
			for flag, v := range map[string]string{"min-retention": minRet, "max-retention": maxRet, "changeable-for": grace} {
				if v != "" {
					if err := checkSpan(flag, v); err != nil {
						return err
					}
				}
			}
			if cmd.Flags().Changed("retention") {
				if err := checkSpan("retention", ret); err != nil {
					return err
				}
				req.Retention = &ret
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			v, err := c.Lock(cmd.Context(), a[0], req)
			if err != nil {
				return failed(err, "lock vault %s", a[0])
			}
			if err := g.printVault(v, "locked"); err != nil {
				return err
			}
			if !v.LockDate.IsZero() && !g.json {
				g.notef("from %s the lock can no longer be changed or removed\n", when(v.LockDate))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&mode, "mode", "", "lock `mode`: governance or compliance")
	fl.StringVar(&minRet, "min-retention", "", "shortest retention a point may have (`duration`)")
	fl.StringVar(&maxRet, "max-retention", "", "longest retention a point may have (`duration`; default 0: unbounded)")
	fl.StringVar(&grace, "changeable-for", "", "grace period in which the lock can still change (`duration`; compliance: at least 72h)")
	fl.StringVar(&ret, "retention", "", "also set the vault's retention of new points (`duration`)")
	return cmd
}

func newVaultUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock NAME",
		Short: "Remove a vault's lock, before its lock date",
		Long: `Remove a vault's lock. This is possible only until the lock date: after it
the lock is immutable. Points keep their expiry, but can then be deleted.`,
		Example: `  bunker vault unlock prod`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			v, err := c.Unlock(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "unlock vault %s", a[0])
			}
			return g.printVault(v, "unlocked")
		},
	}
}

func newVaultDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an empty vault",
		Long: `Delete a vault and its storage. Only an empty vault can be deleted: one with
no points, active or in the recycle bin. Delete its points first (as far as
its lock allows) and let maintenance purge the bin.`,
		Example: `  bunker vault delete scratch`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			if err := c.DeleteVault(cmd.Context(), a[0]); err != nil {
				return failed(err, "delete vault %s", a[0])
			}
			if g.json {
				return g.printJSON(map[string]string{"status": "deleted", "vault": a[0]})
			}
			g.printf("deleted vault %s\n", display(a[0]))
			return nil
		},
	}
}

func newVaultMaintainCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "maintain NAME",
		Short: "Run maintenance on a vault now: expiry, bin purge, garbage collection",
		Long: `Run a maintenance pass over a vault now instead of waiting for the server's
schedule: points past their expiry move to the recycle bin (unless a legal
hold keeps them), points whose bin period is over are purged, and data no
point needs any more is garbage collected. On storage with retention of its
own (S3 Object Lock, a hardened local vault) it also extends the retention
of every object a point needs and mirrors legal holds. It prints what was
expired, purged and kept, what it did on the storage, what the plans
writing to the vault dropped, kept and moved to a cold tier, and the
garbage collection's figures.`,
		Example: `  bunker vault maintain prod
  bunker vault maintain prod --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			rep, err := c.Maintain(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "maintain vault %s", a[0])
			}
			if g.json {
				return g.printJSON(rep)
			}
			ids := func(list []string) string {
				if len(list) == 0 {
					return ""
				}
				out := make([]string, len(list))
				for i, id := range list {
					out[i] = short(id)
				}
				return ": " + display(strings.Join(out, " "))
			}
			g.printf("maintenance of vault %s (job %d)\n", display(rep.Vault), rep.Job)
			g.printf("  expired  %d points moved to the recycle bin%s\n", len(rep.Expired), ids(rep.Expired))
			g.printf("  purged   %d points removed from the bin and the storage%s\n", len(rep.Purged), ids(rep.Purged))
			g.printf("  kept     %d points due, but held or retained%s\n", len(rep.Kept), ids(rep.Kept))
			g.printf("  storage  retention extended on %d objects, %d legal holds placed, %d lifted\n",
				rep.RetentionExtended, rep.LegalHoldsPlaced, rep.LegalHoldsLifted)
			for _, pr := range rep.Plans {
				what := "plan " + display(pr.Plan)
				if pr.CopiesFrom != "" {
					what = "copies of plan " + display(pr.Plan) + " from vault " + display(pr.CopiesFrom)
				}
				g.printf("  %s: %d points dropped%s, %d kept by the lock or a hold, %d not verified (not counted)\n",
					what, len(pr.Dropped), ids(planPointIDs(pr.Dropped)), len(pr.Kept), pr.Unverified)
				if len(pr.Cold) > 0 || len(pr.ColdFailed) > 0 {
					g.printf("    cold tier: %d points moved%s, %d failed\n", len(pr.Cold), ids(pr.Cold), len(pr.ColdFailed))
				}
				for i, f := range pr.ColdFailed {
					if i == 5 {
						g.printf("    … and %d more (--json lists them)\n", len(pr.ColdFailed)-i)
						break
					}
					g.printf("    %s: %s\n", short(f.Point), display(f.Reason))
				}
				if pr.Note != "" {
					g.printf("    %s\n", display(pr.Note))
				}
			}
			if gc := rep.GC; gc != nil {
				g.printf("  garbage collection: %d points, %d packs kept, %d deleted, %d rewritten (%d blobs), %d left by killed backups deleted, %d unused but still retained by the storage, %s freed\n",
					gc.Points, gc.PacksKept, gc.PacksDeleted, gc.PacksRepacked, gc.BlobsRepacked, gc.PacksUnindexed, gc.PacksRetained, ui.Bytes(gc.BytesFreed))
			} else {
				g.printf("  garbage collection: not run\n")
			}
			return nil
		},
	}
}

// planPointIDs returns the point ids of a plan's maintenance list.
func planPointIDs(ps []api.PlanPoint) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Point
	}
	return out
}
