package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

// hereSite is how the posture names this server.
const hereSite = "here"

// handlePosture reports, for every source with points in a vault the
// caller may read, where its copies are and whether they meet 3-2-1-1.
func (s *Server) handlePosture(c *call) error {
	vaults := rbac.Vaults(c.id.bindings, rbac.PointRead)
	if len(vaults) == 0 {
		return c.require(rbac.PointRead, rbac.AllVaults)
	}
	var vs []store.Vault
	points := map[string][]store.Point{}
	var plans []store.Plan
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		all, err := tx.Vaults(c.ctx)
		if err != nil {
			return err
		}
		for _, v := range all {
			if !c.id.can(rbac.PointRead, v.Name) {
				continue
			}
			vs = append(vs, v)
			if points[v.Name], err = tx.Points(c.ctx, store.PointFilter{Vault: v.Name, State: store.Active}); err != nil {
				return err
			}
		}
		plans, err = tx.Plans(c.ctx)
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, posture(s.cfg.Now().UTC(), vs, points, s.planRPOs(plans)))
}

// sourceKey names a source: its host and paths.
func sourceKey(host string, paths []string) string {
	return host + "\x00" + strings.Join(paths, "\x00")
}

// planRPOs returns, per source of a plan, the plan's interval: the time
// between two of its runs.
func (s *Server) planRPOs(ps []store.Plan) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, r := range ps {
		p, err := s.planCache.Decode(r.Spec)
		if err != nil {
			continue
		}
		spec, err := p.Spec()
		if err != nil {
			continue
		}
		// The longest of a few gaps, so that a cron schedule with
		// uneven gaps (weekdays only) is not held to its shortest.
		var rpo time.Duration
		t := spec.Next(r.UpdatedAt)
		for range 8 {
			n := spec.Next(t)
			if n.IsZero() {
				break
			}
			rpo, t = max(rpo, n.Sub(t)), n
		}
		if rpo == 0 {
			continue
		}
		for _, src := range p.Sources {
			k := sourceKey(src.Host, src.Paths)
			out[k] = max(out[k], rpo)
		}
	}
	return out
}

// posture computes the report from the vaults, their active points and
// the plans' RPOs.
func posture(now time.Time, vs []store.Vault, points map[string][]store.Point, rpos map[string]time.Duration) api.Posture {
	type entry struct {
		src  *api.SourcePosture
		locs map[string]*api.PostureLocation
		home string // the site the source's originals are on
	}
	srcs := map[string]*entry{}
	get := func(p *store.Point) *entry {
		k := sourceKey(p.Hostname, p.Paths)
		e, ok := srcs[k]
		if !ok {
			e = &entry{src: &api.SourcePosture{Hostname: p.Hostname, Paths: p.Paths}, locs: map[string]*api.PostureLocation{}, home: hereSite}
			srcs[k] = e
		}
		return e
	}
	seen := func(e *entry, site, vault string, mk func() *api.PostureLocation, at time.Time, count bool) {
		k := site + "\x00" + vault
		l, ok := e.locs[k]
		if !ok {
			l = mk()
			e.locs[k] = l
		}
		if count {
			l.Points++
		}
		if at.After(l.Newest) {
			l.Newest = at
		}
	}
	for i := range vs {
		v := &vs[i]
		local := func() *api.PostureLocation {
			l := &api.PostureLocation{Site: hereSite, Vault: v.Name, Media: "disk", AirGapped: v.AirGapped}
			if v.Backend == "s3" {
				l.Media = "object-storage"
			}
			l.Lock = string(v.Policy.Lock.Mode)
			l.Immutable = v.AirGapped || l.Lock == string(retention.Compliance)
			return l
		}
		for j := range points[v.Name] {
			p := &points[v.Name][j]
			e := get(p)
			at := p.Time
			if o := p.Origin; o != nil {
				at = o.Time
				if o.Site != "" {
					// The original, on the site it was pulled from.
					e.home = o.Site
					site, vault := o.Site, o.Vault
					seen(e, site, vault, func() *api.PostureLocation {
						return &api.PostureLocation{Site: site, Vault: vault, Media: "unknown"}
					}, o.Time, false)
				}
			}
			seen(e, hereSite, v.Name, local, at, true)
		}
	}
	out := api.Posture{Site: hereSite, Sources: []api.SourcePosture{}}
	for k, e := range srcs {
		rpo := rpos[k]
		if rpo > 0 {
			e.src.RPO = retention.Format(rpo)
		}
		for _, l := range e.locs {
			l.AgeSeconds = now.Sub(l.Newest).Seconds()
			l.Late = rpo > 0 && now.Sub(l.Newest) > rpo
			e.src.Copies = append(e.src.Copies, *l)
		}
		slices.SortFunc(e.src.Copies, func(a, b api.PostureLocation) int {
			return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Vault, b.Vault))
		})
		e.src.Missing = missing321(e.src.Copies, e.home)
		e.src.Meets = len(e.src.Missing) == 0
		out.Sources = append(out.Sources, *e.src)
	}
	slices.SortFunc(out.Sources, func(a, b api.SourcePosture) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), slices.Compare(a.Paths, b.Paths))
	})
	return out
}

// missing321 says what copies lack to meet 3-2-1-1: three copies, on two
// media, one off the home site, one immutable or air-gapped. An origin
// known only through its copies counts as a copy, but its media and lock
// are unknown and count for nothing.
func missing321(ls []api.PostureLocation, home string) []string {
	media := map[string]bool{}
	offsite, immutable := false, false
	for _, l := range ls {
		if l.Media != "unknown" {
			media[l.Media] = true
		}
		offsite = offsite || l.Site != home
		immutable = immutable || l.Immutable
	}
	out := []string{}
	if n := len(ls); n < 3 {
		out = append(out, fmt.Sprintf("3 copies: it has %d", n))
	}
	if len(media) < 2 {
		out = append(out, fmt.Sprintf("2 media: its known copies are on %d (disk, object-storage)", len(media)))
	}
	if !offsite {
		out = append(out, "1 off-site copy: every copy is on its home site")
	}
	if !immutable {
		out = append(out, "1 immutable or air-gapped copy: no copy is in a compliance-locked or air-gapped vault")
	}
	return out
}
