package cli

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newPostureCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "posture",
		Short: "Show each source's copies and whether they meet 3-2-1-1",
		Long: `Show, for every source (a host and its backed-up paths) in the vaults you may
read, where its copies are: the vaults here and the remote vaults copies were
pulled from, their media, lock, whether they are immutable (compliance-locked
or air-gapped), and the age of their newest data against the RPO of the plan
covering the source. Each source is judged against 3-2-1-1: three copies, two
media, one off-site, one immutable or air-gapped; what is missing is named.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			pos, err := c.Posture(cmd.Context())
			if err != nil {
				return failed(err, "read the posture")
			}
			if g.json {
				return g.printJSON(pos)
			}
			if len(pos.Sources) == 0 {
				g.printf("no sources with points in the vaults you may read\n")
				return nil
			}
			for _, s := range pos.Sources {
				verdict := "meets 3-2-1-1"
				if !s.Meets {
					verdict = "does not meet 3-2-1-1: needs " + strings.Join(s.Missing, "; ")
				}
				rpo := ""
				if s.RPO != "" {
					rpo = " (RPO " + s.RPO + ")"
				}
				g.printf("%s %s%s: %s\n", s.Hostname, strings.Join(s.Paths, " "), rpo, verdict)
				for _, l := range s.Copies {
					flags := []string{l.Media}
					if l.Lock != "" {
						flags = append(flags, l.Lock)
					}
					if l.AirGapped {
						flags = append(flags, "air-gapped")
					}
					if l.Immutable {
						flags = append(flags, "immutable")
					}
					late := ""
					if l.Late {
						late = ", LATE"
					}
					age := time.Duration(l.AgeSeconds * float64(time.Second)).Round(time.Minute)
					g.printf("  %s/%s\t%s\t%d points, newest data %s old%s\n", l.Site, l.Vault, strings.Join(flags, ", "), l.Points, age, late)
				}
			}
			return nil
		},
	}
}
