package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var maxAge string
	var full bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify that every point's data is present, intact and signed",
		Long: `Verify a vault: every blob each point needs exists, decrypts, and hashes to
its id, and (on a server) each point's record carries the server's valid
signature. Damage is reported naming the object and the files and points it
affects; each point is listed sound or damaged.

With --server, the server verifies its vault and records the result of every
point with the time (shown by ` + "`bunker point show`" + `). It is incremental: packs
verified sound within --max-age (the server's --verify-max-age, 7 days by
default) are not read again, so a daily verify reads only what is new;
--full reads everything. The server also runs it on its own schedule
(` + "`bunker server --verify-every`" + `).

On a local vault it is ` + "`bunker check --read-data`" + `: every pack is read each time
and nothing is recorded. Exit code 4 means damage was found.`,
		Example: `  bunker verify --server https://backup:8443 --vault prod
  bunker verify --vault prod --full --json
  bunker verify --vault /srv/vault`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep api.VerifyReport
			if g.remoteMode() {
				vault, err := g.vaultName()
				if err != nil {
					return err
				}
				if full && maxAge != "" {
					return usageError{fmt.Errorf("give --max-age or --full, not both")}
				}
				c, err := g.dial()
				if err != nil {
					return err
				}
				g.notef("verifying vault %s on the server…\n", display(vault))
				if rep, err = c.Verify(cmd.Context(), vault, api.VerifyRequest{MaxAge: maxAge, Full: full}); err != nil {
					return failed(err, "verify vault %s", vault)
				}
			} else {
				if maxAge != "" {
					return usageError{fmt.Errorf("--max-age needs --server: a local vault keeps no record of what was verified, and every verify reads it all")}
				}
				var err error
				if rep, err = g.verifyLocal(cmd); err != nil {
					return err
				}
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				g.printVaultVerify(rep)
			}
			if !rep.OK {
				return withCode(ExitDamaged, fmt.Errorf("the vault is damaged: %d problems, %d points affected (listed above)", len(rep.Problems), len(rep.PointsDamaged)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&maxAge, "max-age", "", "with --server, skip packs verified sound within this `span` (default: the server's, 7d)")
	cmd.Flags().BoolVar(&full, "full", false, "read every pack, however recently verified")
	return cmd
}

// verifyLocal runs check --read-data on a local vault and reports it as a
// server's verification would be.
func (g *globals) verifyLocal(cmd *cobra.Command) (api.VerifyReport, error) {
	ctx := cmd.Context()
	v, err := g.openVault(ctx, lockShared, false)
	if err != nil {
		return api.VerifyReport{}, err
	}
	defer v.Close()
	opts := checker.Options{ReadData: true}
	started := time.Now().UTC()
	var crep *checker.Report
	if g.json {
		// One JSON document, as from a server: no progress lines.
		crep, err = checker.Check(ctx, v.repo, opts)
	} else {
		r := g.renderer()
		prog := r.Progress()
		prog.FinishScan()
		var last int
		opts.Progress = func(done, total int) {
			if last == 0 {
				prog.AddTotal(int64(total), 0)
			}
			prog.AddDone(int64(done-last), 0)
			last = done
		}
		r.Start(ctx)
		crep, err = checker.Check(ctx, v.repo, opts)
		r.Stop()
	}
	if err != nil {
		return api.VerifyReport{}, err
	}
	points, err := v.repo.Points(ctx)
	if err != nil {
		return api.VerifyReport{}, err
	}
	rep := api.VerifyReport{Vault: v.repo.Backend().Location(), Started: started, Finished: time.Now().UTC(), MaxAge: "0", Full: true, OK: crep.OK(),
		Points: len(points), PointsOK: []string{}, PointsDamaged: []string{}, Packs: crep.Packs,
		PacksRead: crep.PacksRead, BytesRead: crep.BytesRead, Problems: []api.VerifyProblem{}}
	damaged := map[string]bool{}
	for _, pr := range crep.Problems {
		vp := api.VerifyProblem{Kind: pr.Kind, Object: pr.Object, Detail: pr.Detail}
		for _, a := range pr.Affected {
			vp.Affected = append(vp.Affected, api.VerifyAffected{Point: a.Point.String(), Path: a.Path})
			if !slices.Contains(vp.Points, a.Point.String()) {
				vp.Points = append(vp.Points, a.Point.String())
			}
			damaged[a.Point.String()] = true
		}
		if id, ok := strings.CutPrefix(pr.Object, "points/"); ok {
			vp.Points = append(vp.Points, id)
			damaged[id] = true
		}
		slices.Sort(vp.Points)
		rep.Problems = append(rep.Problems, vp)
	}
	for _, p := range points {
		if damaged[p.ID.String()] {
			rep.PointsDamaged = append(rep.PointsDamaged, p.ID.String())
		} else {
			rep.PointsOK = append(rep.PointsOK, p.ID.String())
		}
	}
	for id := range damaged {
		if !slices.Contains(rep.PointsDamaged, id) {
			rep.PointsDamaged = append(rep.PointsDamaged, id) // its record is unreadable
		}
	}
	slices.Sort(rep.PointsDamaged)
	return rep, nil
}

func (g *globals) printVaultVerify(rep api.VerifyReport) {
	how := "incremental: packs verified sound within " + rep.MaxAge + " skipped"
	if rep.MaxAge == "0" {
		how = "full"
	}
	if rep.Job != 0 {
		g.printf("verified vault %s (job %d, %s)\n", display(rep.Vault), rep.Job, how)
	} else {
		g.printf("verified vault %s (%s)\n", display(rep.Vault), how)
	}
	g.printf("  points  %d ok, %d damaged\n", len(rep.PointsOK), len(rep.PointsDamaged))
	g.printf("  packs   %d read, %d skipped, of %d\n", rep.PacksRead, rep.PacksSkipped, rep.Packs)
	g.printf("  read    %s\n", ui.Bytes(rep.BytesRead))
	for _, p := range rep.Problems {
		g.printf("%s %s: %s\n", strings.ToUpper(p.Kind), display(p.Object), display(p.Detail))
		for _, a := range p.Affected {
			g.printf("  affects %s in point %s\n", display(a.Path), short(a.Point))
		}
		named := map[string]bool{}
		for _, a := range p.Affected {
			named[a.Point] = true
		}
		for _, id := range p.Points {
			if !named[id] {
				g.printf("  affects point %s\n", short(id))
			}
		}
	}
	for _, n := range rep.Notes {
		g.printf("note: %s\n", display(n))
	}
	if len(rep.PointsDamaged) > 0 {
		ids := make([]string, len(rep.PointsDamaged))
		for i, id := range rep.PointsDamaged {
			ids[i] = short(id)
		}
		g.printf("damaged points: %s\n", strings.Join(ids, " "))
	}
	if rep.OK {
		g.printf("no problems found\n")
	}
}
