package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/store"
)

// forever is the storage retention of points a locked vault keeps until
// they are deleted by hand: the maintenance pass extends it long before it
// runs out.
const forever = 100 * 366 * 24 * time.Hour

// protector keeps a vault's storage retention in step with its policy, on
// backends that enforce retention themselves (S3 with Object Lock, a
// hardened local vault):
//
//   - every object a locked vault writes gets a retention (mode of the
//     lock, until now + the vault's retention + its bin period + slack);
//   - before a point is recorded, every pack it needs is extended to the
//     point's expiry plus the bin period, so that deduplication against an
//     older pack never leaves a new point relying on data that could go
//     first (the slack spares regular backups from extending every time);
//   - the maintenance pass does the same for every point, and for the
//     vault's config and key slots, so an interrupted extension is
//     finished the next time;
//   - objects that legal holds need carry an S3 legal hold;
//   - garbage collection deletes only objects whose retention has passed.
//
// What it set is kept in the catalog (object_retention), so that it does
// not ask the storage about every object.
type protector struct {
	s        *Server
	vault    string
	retainer storage.Retainer // nil when the storage has no retention
	why      string           // why not, then

	mu     sync.Mutex
	policy retention.Policy
	known  map[string]store.ObjectRetention
	dirty  map[string]bool
}

func (s *Server) newProtector(ctx context.Context, v *store.Vault, be storage.Backend) (*protector, error) {
	p := &protector{s: s, vault: v.Name, policy: v.Policy, known: map[string]store.ObjectRetention{}, dirty: map[string]bool{}}
	if ok, why := retentionSupport(ctx, be); ok {
		p.retainer = be.(storage.Retainer)
	} else {
		p.why = why
		return p, nil
	}
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		p.known, err = tx.ObjectRetentions(ctx, v.Name)
		return err
	})
	return p, err
}

// active reports whether the storage enforces retention for this vault now.
func (p *protector) active() bool {
	if p.retainer == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.policy.Lock.Mode != retention.None
}

// setPolicy follows a change of the vault's policy.
func (p *protector) setPolicy(pol retention.Policy) {
	p.mu.Lock()
	p.policy = pol
	p.mu.Unlock()
}

func storageMode(m retention.Mode) storage.RetentionMode {
	if m == retention.Compliance {
		return storage.RetentionCompliance
	}
	return storage.RetentionGovernance
}

// horizon is how long a point made now is kept, with its bin period.
func horizon(pol retention.Policy) time.Duration {
	r := pol.Retention
	if r == 0 {
		r = forever
	}
	return r + pol.BinRetention
}

// putOptions gives a new object its retention (repo.Options.Retain).
func (p *protector) putOptions(h storage.Handle) storage.PutOptions {
	if p.retainer == nil {
		return storage.PutOptions{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.policy.Lock.Mode == retention.None {
		return storage.PutOptions{}
	}
	until := p.s.cfg.Now().UTC().Add(horizon(p.policy) + p.s.cfg.RetentionSlack).Truncate(time.Second)
	mode := storageMode(p.policy.Lock.Mode)
	p.record(h.String(), until, string(mode))
	return storage.PutOptions{RetainUntil: until, Mode: mode}
}

// record notes what an object carries now; p.mu is held.
func (p *protector) record(obj string, until time.Time, mode string) {
	r := p.known[obj]
	r.Object, r.Mode = obj, mode
	if until.After(r.Until) {
		r.Until = until
	}
	p.known[obj] = r
	p.dirty[obj] = true
}

// need returns how long a point must stay on the storage: its expiry (or,
// binned, its purge) plus the bin period.
func (p *protector) need(pt *store.Point, pol retention.Policy, now time.Time) time.Time {
	switch {
	case pt.State == store.Binned:
		return pt.PurgeAfter
	case pt.Expires.IsZero():
		return now.Add(forever)
	}
	return pt.Expires.Add(pol.BinRetention)
}

// ensure extends the objects to at least until (plus slack where it has to
// extend), and persists what it set. It is a no-op without retention.
func (p *protector) ensure(ctx context.Context, objects []storage.Handle, until time.Time) (int, error) {
	if !p.active() {
		return 0, nil
	}
	p.mu.Lock()
	mode := storageMode(p.policy.Lock.Mode)
	slack := p.s.cfg.RetentionSlack
	var todo []storage.Handle
	for _, h := range objects {
		if k, ok := p.known[h.String()]; !ok || k.Until.Before(until) {
			todo = append(todo, h)
		}
	}
	p.mu.Unlock()
	target := until.Add(slack).Truncate(time.Second)
	extended := 0
	for _, h := range todo {
		if err := p.retainer.Extend(ctx, h, target, mode); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			// Keep what was done: the next pass starts from it.
			p.s.metrics.retentionExtensions.Add(float64(extended))
			if perr := p.persist(context.WithoutCancel(ctx)); perr != nil {
				return extended, errors.Join(fmt.Errorf("extend the retention of %s: %w", h, err), perr)
			}
			return extended, fmt.Errorf("extend the retention of %s: %w", h, err)
		}
		extended++
		p.mu.Lock()
		p.record(h.String(), target, string(mode))
		p.mu.Unlock()
	}
	p.s.metrics.retentionExtensions.Add(float64(extended))
	return extended, p.persist(ctx)
}

// persist writes what changed to the catalog.
func (p *protector) persist(ctx context.Context) error {
	p.mu.Lock()
	var rs []store.ObjectRetention
	for obj := range p.dirty {
		rs = append(rs, p.known[obj])
	}
	p.dirty = map[string]bool{}
	p.mu.Unlock()
	if len(rs) == 0 {
		return nil
	}
	return p.s.st.Update(ctx, func(tx store.Tx) error {
		for _, r := range rs {
			if err := tx.SetObjectRetention(ctx, p.vault, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// deletable reports whether garbage collection may delete obj now: no
// legal hold is on it and its retention has passed (or, with bypass, it is
// only governance retention), as far as the server set them.
func (p *protector) deletable(obj string, now time.Time, bypass bool) bool {
	if p.retainer == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.known[obj]
	if !ok {
		return true
	}
	if k.Held {
		return false
	}
	return !now.Before(k.Until) || (bypass && k.Mode == string(storage.RetentionGovernance))
}

// forget drops a deleted object from what the server tracks.
func (p *protector) forget(ctx context.Context, objs []string) error {
	if p.retainer == nil || len(objs) == 0 {
		return nil
	}
	p.mu.Lock()
	for _, o := range objs {
		delete(p.known, o)
		delete(p.dirty, o)
	}
	p.mu.Unlock()
	return p.s.st.Update(ctx, func(tx store.Tx) error {
		for _, o := range objs {
			if err := tx.DeleteObjectRetention(ctx, p.vault, o); err != nil {
				return err
			}
		}
		return nil
	})
}

// setHolds places legal holds on exactly the objects in want and lifts
// them from every other object the server held.
func (p *protector) setHolds(ctx context.Context, want map[string]storage.Handle) (placed, lifted int, err error) {
	if p.retainer == nil {
		return 0, 0, nil
	}
	p.mu.Lock()
	var on, off []storage.Handle
	for obj, h := range want {
		if !p.known[obj].Held {
			on = append(on, h)
		}
	}
	for obj, k := range p.known {
		if _, ok := want[obj]; k.Held && !ok {
			h, perr := parseHandle(obj)
			if perr == nil {
				off = append(off, h)
			}
		}
	}
	p.mu.Unlock()
	set := func(hs []storage.Handle, held bool) (int, error) {
		n := 0
		for _, h := range hs {
			if err := p.retainer.SetLegalHold(ctx, h, held); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				return n, fmt.Errorf("legal hold on %s: %w", h, err)
			}
			n++
			p.mu.Lock()
			r := p.known[h.String()]
			r.Object, r.Held = h.String(), held
			if r.Mode == "" {
				r.Mode = string(storage.RetentionGovernance)
			}
			p.known[h.String()] = r
			p.dirty[h.String()] = true
			p.mu.Unlock()
		}
		return n, nil
	}
	if placed, err = set(on, true); err == nil {
		lifted, err = set(off, false)
	}
	if perr := p.persist(ctx); err == nil {
		err = perr
	}
	return placed, lifted, err
}

func parseHandle(s string) (storage.Handle, error) {
	k, n, ok := strings.Cut(s, "/")
	if !ok {
		return storage.Handle{}, fmt.Errorf("object %q: want kind/name", s)
	}
	return storage.Handle{Kind: storage.Kind(k), Name: n}, nil
}

// pointObjects lists the stored objects a point needs: its record (unless
// pointID is empty) and every pack holding a blob it names (all copies).
func pointObjects(r *repo.Repository, pointID string, blobs map[blob.Handle]struct{}) []storage.Handle {
	seen := map[blob.ID]bool{}
	var out []storage.Handle
	if pointID != "" {
		out = append(out, storage.Handle{Kind: storage.KindPoint, Name: pointID})
	}
	for h := range blobs {
		for _, l := range r.Index().LookupAll(h) {
			if !seen[l.Pack] {
				seen[l.Pack] = true
				out = append(out, storage.Handle{Kind: storage.KindPack, Name: l.Pack.String()})
			}
		}
	}
	return out
}

// vaultObjects lists the objects that hold a vault together whatever its
// points: the config and the key slots.
func vaultObjects(ctx context.Context, be storage.Backend) ([]storage.Handle, error) {
	out := []storage.Handle{{Kind: storage.KindConfig, Name: "config"}}
	err := be.List(ctx, storage.KindKey, func(fi storage.Info) error {
		out = append(out, fi.Handle)
		return nil
	})
	return out, err
}

// walkBlobs collects the blobs the tree at root needs that seen does not
// hold yet, adding them to seen; a shared seen lets many points be walked
// in the time of their distinct listings.
func walkBlobs(ctx context.Context, r *repo.Repository, root blob.ID, seen map[blob.Handle]struct{}) (map[blob.Handle]struct{}, error) {
	fresh := map[blob.Handle]struct{}{}
	queue := []blob.ID{root}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		th := blob.Handle{ID: id, Type: blob.TreeBlob}
		if _, ok := seen[th]; ok {
			continue
		}
		seen[th], fresh[th] = struct{}{}, struct{}{}
		t, err := r.LoadTree(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", id.Short(), err)
		}
		for _, n := range t.Nodes {
			if n.Subtree != nil {
				queue = append(queue, *n.Subtree)
			}
			for _, cid := range n.Content {
				h := blob.Handle{ID: cid, Type: blob.DataBlob}
				if _, ok := seen[h]; !ok {
					seen[h], fresh[h] = struct{}{}, struct{}{}
				}
			}
		}
	}
	return fresh, nil
}

// pointsNeeds maps every object the points need to the latest time one of
// them needs it, walking the points from the one needed longest.
func (s *Server) pointsNeeds(ctx context.Context, ov *openVault, pol retention.Policy, points []store.Point, now time.Time) (map[storage.Handle]time.Time, error) {
	sort.Slice(points, func(i, j int) bool {
		return ov.prot.need(&points[i], pol, now).After(ov.prot.need(&points[j], pol, now))
	})
	needs := map[storage.Handle]time.Time{}
	seen := map[blob.Handle]struct{}{}
	for i := range points {
		pt := &points[i]
		root, err := blob.ParseID(pt.Tree)
		if err != nil {
			return nil, err
		}
		fresh, err := walkBlobs(ctx, ov.repo, root, seen)
		if err != nil {
			return nil, fmt.Errorf("point %s: %w", pt.ID[:8], err)
		}
		until := ov.prot.need(pt, pol, now)
		for _, h := range pointObjects(ov.repo, pt.ID, fresh) {
			if until.After(needs[h]) {
				needs[h] = until
			}
		}
	}
	return needs, nil
}

// protectVault brings the storage retention of everything a vault needs up
// to date: every point's record and packs to the point's need, the config
// and key slots to the vault's horizon. An interrupted pass is finished by
// the next. It returns how many objects it extended.
func (s *Server) protectVault(ctx context.Context, v *store.Vault, ov *openVault) (int, error) {
	if !ov.prot.active() {
		return 0, nil
	}
	now := s.cfg.Now().UTC()
	var points []store.Point
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		points, err = tx.Points(ctx, store.PointFilter{Vault: v.Name})
		return err
	})
	if err != nil {
		return 0, err
	}
	ov.gc.RLock()
	needs, err := s.pointsNeeds(ctx, ov, v.Policy, points, now)
	ov.gc.RUnlock()
	if err != nil {
		return 0, err
	}
	vobjs, err := vaultObjects(ctx, ov.be)
	if err != nil {
		return 0, err
	}
	for _, h := range vobjs {
		needs[h] = now.Add(horizon(v.Policy))
	}
	byUntil := map[time.Time][]storage.Handle{}
	for h, until := range needs {
		if !until.After(now) {
			continue // needed no longer: what is due goes, not extended
		}
		byUntil[until] = append(byUntil[until], h)
	}
	total := 0
	for until, hs := range byUntil {
		n, err := ov.prot.ensure(ctx, hs, until)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// syncHolds places storage legal holds on every object the points under
// active legal holds need, and lifts them from objects no hold needs any
// more.
func (s *Server) syncHolds(ctx context.Context, vault string, ov *openVault) (placed, lifted int, err error) {
	if ov.prot.retainer == nil {
		return 0, 0, nil
	}
	var points []store.Point
	var holds []store.Hold
	err = s.st.View(ctx, func(tx store.Tx) error {
		if points, err = tx.Points(ctx, store.PointFilter{Vault: vault}); err != nil {
			return err
		}
		holds, err = tx.Holds(ctx, vault, false)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	hs := activeHolds(holds)
	want := map[string]storage.Handle{}
	seen := map[blob.Handle]struct{}{}
	ov.gc.RLock()
	for i := range points {
		if len(retention.HeldBy(points[i].RetentionView(), hs)) == 0 {
			continue
		}
		root, perr := blob.ParseID(points[i].Tree)
		if perr != nil {
			continue
		}
		fresh, werr := walkBlobs(ctx, ov.repo, root, seen)
		if werr != nil {
			ov.gc.RUnlock()
			return 0, 0, werr
		}
		for _, h := range pointObjects(ov.repo, points[i].ID, fresh) {
			want[h.String()] = h
		}
	}
	ov.gc.RUnlock()
	placed, lifted, err = ov.prot.setHolds(ctx, want)
	s.metrics.legalHoldChanges.Add(float64(placed + lifted))
	return placed, lifted, err
}

// deleteObject deletes a stored object that bunker's policy lets go: with
// the governance bypass in a governance vault when the storage still
// retains it, plainly otherwise.
func (s *Server) deleteObject(ctx context.Context, ov *openVault, pol retention.Policy, h storage.Handle) error {
	err := ov.be.Delete(ctx, h)
	if errors.Is(err, storage.ErrRetained) && pol.Lock.Mode == retention.Governance && ov.prot.retainer != nil {
		err = ov.prot.retainer.DeleteBypass(ctx, h)
	}
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		return ov.prot.forget(ctx, []string{h.String()})
	}
	return err
}
