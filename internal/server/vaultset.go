package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/storage/s3"
	"github.com/bunkerhq/bunker/internal/store"
)

// treeCacheBytes is how much of each open vault's listings the server keeps
// in memory: the listings of new points, walked at commit, and of parents,
// handed to the next backup of a source. On object storage a listing not
// at hand costs a request.
const treeCacheBytes = 32 << 20

// readAheadBytes is how far the server reads a pack ahead of what a
// restoring client asks for, so that the next requests of a restore, which
// ask for the blobs that follow, are answered from memory (see
// repo.Options.ReadAhead): on object storage, a request each would cost
// more than the bytes.
const readAheadBytes = 4 << 20

// openVault is a vault whose storage the server has open.
type openVault struct {
	name   string
	be     storage.Backend
	repo   *repo.Repository
	master crypto.MasterKey // opens fresh views of the vault for verification
	lock   storage.Unlocker // shared process lock: no other process prunes the vault meanwhile
	// gc is held shared by every request that reads or adds blobs, and
	// exclusively by garbage collection.
	gc sync.RWMutex
	// prot keeps the storage's own retention in step with the vault's
	// policy, where the storage has retention of its own.
	prot *protector
	// recover is set when a write to the storage failed: packs stored
	// before the failure are indexed when the next backup starts.
	recover atomic.Bool
	// verifying counts verifications reading the vault under a shared hold
	// of gc, for hours on a large vault: garbage collection waits for none
	// of them (a waiting writer would hold off every backup) but skips its
	// pass.
	verifying atomic.Int32
	// cold holds the points whose packs a plan's lifecycle moved to a
	// storage class, by point id: later passes skip them.
	coldMu sync.Mutex
	cold   map[string]string
}

// isCold reports whether the packs of point id were moved to class.
func (v *openVault) isCold(id, class string) bool {
	v.coldMu.Lock()
	defer v.coldMu.Unlock()
	return v.cold[id] == class
}

// markCold records that the packs of point id are in class.
func (v *openVault) markCold(id, class string) {
	v.coldMu.Lock()
	defer v.coldMu.Unlock()
	if v.cold == nil {
		v.cold = map[string]string{}
	}
	v.cold[id] = class
}

func (v *openVault) close() {
	v.repo.Close()
	if v.lock != nil {
		v.lock.Unlock()
	}
	v.be.Close()
}

// vaultSet opens vaults on first use and keeps them open.
type vaultSet struct {
	s     *Server
	mu    sync.Mutex
	open  map[string]*openVault
	maint map[string]*sync.Mutex // one maintenance pass per vault at a time
}

func newVaultSet(s *Server) *vaultSet {
	return &vaultSet{s: s, open: map[string]*openVault{}, maint: map[string]*sync.Mutex{}}
}

// maintenanceLock returns the lock that serialises maintenance of a vault.
func (vs *vaultSet) maintenanceLock(name string) *sync.Mutex {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	m, ok := vs.maint[name]
	if !ok {
		m = &sync.Mutex{}
		vs.maint[name] = m
	}
	return m
}

// get returns the open vault v, opening and unlocking it on first use.
func (vs *vaultSet) get(ctx context.Context, v *store.Vault) (*openVault, error) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if ov, ok := vs.open[v.Name]; ok {
		return ov, nil
	}
	ov, err := vs.openVault(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("open vault %s: %w", v.Name, err)
	}
	vs.open[v.Name] = ov
	return ov, nil
}

func (vs *vaultSet) openVault(ctx context.Context, v *store.Vault) (*openVault, error) {
	loc, err := parseVaultLocation(v.Backend, v.Location)
	if err != nil {
		return nil, err
	}
	be, err := vs.s.openBackend(ctx, v.Backend, loc, false)
	if err != nil {
		return nil, err
	}
	ov := &openVault{name: v.Name, be: be}
	fail := func(err error) (*openVault, error) {
		if ov.lock != nil {
			ov.lock.Unlock()
		}
		be.Close()
		return nil, err
	}
	cfg, err := repo.ReadConfig(ctx, be)
	if err != nil {
		return fail(err)
	}
	if cfg.ID != v.StorageID {
		return fail(fmt.Errorf("the storage at %s holds vault %s, not %s", be.Location(), cfg.ID, v.StorageID))
	}
	master, err := keys.Unlock(ctx, be, cfg.ID, keys.Secret{KeyFile: vs.s.root})
	if err != nil {
		return fail(err)
	}
	ov.master = master
	if l, ok := be.(storage.Locker); ok {
		if ov.lock, err = l.Lock(ctx, false); err != nil {
			return fail(fmt.Errorf("lock: %w", err))
		}
	}
	if lb, ok := be.(*local.Backend); ok {
		if _, err := lb.CleanTemp(staleTemp); err != nil {
			return fail(err)
		}
	}
	if ov.prot, err = vs.s.newProtector(ctx, v, be); err != nil {
		return fail(err)
	}
	if ov.repo, err = repo.Open(ctx, be, master, repo.Options{Logger: vs.s.log, Uploads: 4, Retain: ov.prot.putOptions, TreeCache: treeCacheBytes, ReadAhead: readAheadBytes}); err != nil {
		return fail(err)
	}
	// Reload keeps only stored packs: an index object naming deleted ones
	// may outlive them when the storage retains it.
	if err := ov.repo.ReloadIndex(ctx); err != nil {
		ov.repo.Close()
		return fail(err)
	}
	if n, err := ov.repo.RecoverPacks(ctx); err != nil {
		vs.s.log.Warn("recover packs", "vault", v.Name, "err", err)
	} else if n > 0 {
		vs.s.log.Info("indexed packs left by an interrupted backup", "vault", v.Name, "packs", n)
	}
	if err := vs.s.reconcilePoints(ctx, v, ov); err != nil {
		ov.repo.Close()
		return fail(err)
	}
	return ov, nil
}

// peek returns the vault name if it is open.
func (vs *vaultSet) peek(name string) (*openVault, bool) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	ov, ok := vs.open[name]
	return ov, ok
}

// isS3 reports whether a backend is an S3 bucket.
func isS3(be storage.Backend) bool {
	_, ok := be.(*s3.Backend)
	return ok
}

// byName returns the open vault name, reading its settings from the catalog
// only when it is not open yet.
func (vs *vaultSet) byName(c *call, name string) (*openVault, error) {
	vs.mu.Lock()
	ov, ok := vs.open[name]
	vs.mu.Unlock()
	if ok {
		return ov, nil
	}
	var v *store.Vault
	err := vs.s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		v, err = vs.s.loadVault(c, tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return vs.get(c.ctx, v)
}

// staleTemp is the age after which a temporary in a vault is known to be
// left by a writer that died.
const staleTemp = time.Hour

// create makes the storage of a new vault on target (LocalStorage or an
// S3 target), with its master key wrapped by the server's key file. It
// returns the storage id, backend and location, and whether the storage
// can hold objects under retention itself (with the reason when not).
func (vs *vaultSet) create(ctx context.Context, target string) (id, backend string, loc vaultLocation, retains bool, why string, err error) {
	cfg, err := repo.NewConfig()
	if err != nil {
		return "", "", loc, false, "", err
	}
	if backend, loc, err = vs.s.newVaultLocation(target, cfg.ID); err != nil {
		return "", "", loc, false, "", err
	}
	be, err := vs.s.openBackend(ctx, backend, loc, true)
	if err != nil {
		return "", "", loc, false, "", err
	}
	defer be.Close()
	_, err = repo.Create(ctx, be, cfg, func(m crypto.MasterKey, vid string) (*keys.Slot, error) {
		return keys.NewKeyFileSlot(m, vid, vs.s.root, "bunker server "+vs.s.keyID)
	})
	if err != nil {
		vs.wipe(ctx, be, backend)
		return "", "", loc, false, "", err
	}
	retains, why = retentionSupport(ctx, be)
	return cfg.ID, backend, loc, retains, why, nil
}

// remove closes a vault and deletes its storage.
func (vs *vaultSet) remove(ctx context.Context, v *store.Vault) error {
	vs.mu.Lock()
	if ov, ok := vs.open[v.Name]; ok {
		ov.gc.Lock()
		ov.close()
		ov.gc.Unlock()
		delete(vs.open, v.Name)
	}
	vs.mu.Unlock()
	loc, err := parseVaultLocation(v.Backend, v.Location)
	if err != nil {
		return err
	}
	be, err := vs.s.openBackend(ctx, v.Backend, loc, false)
	if err != nil {
		return err
	}
	defer be.Close()
	return vs.wipe(ctx, be, v.Backend)
}

// wipe deletes every object of a vault's storage that is not retained, and
// for a local vault its directory once empty.
func (vs *vaultSet) wipe(ctx context.Context, be storage.Backend, backend string) error {
	var firstErr error
	for _, k := range storage.Kinds {
		var hs []storage.Handle
		_ = be.List(ctx, k, func(fi storage.Info) error {
			hs = append(hs, fi.Handle)
			return nil
		})
		for _, h := range hs {
			if err := be.Delete(ctx, h); err != nil && !errors.Is(err, storage.ErrNotFound) && firstErr == nil {
				firstErr = err
			}
		}
	}
	if lb, ok := be.(*local.Backend); ok && firstErr == nil {
		dir := lb.Location()
		// Stored objects are read-only; make them removable first.
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		return os.RemoveAll(dir)
	}
	return firstErr
}

func (vs *vaultSet) closeAll() {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for name, ov := range vs.open {
		ov.gc.Lock()
		if err := ov.repo.Flush(context.Background()); err != nil {
			vs.s.log.Error("flush vault", "vault", name, "err", err)
		}
		ov.close()
		ov.gc.Unlock()
		delete(vs.open, name)
	}
}

// reconcilePoints catalogs point records that are in the vault's storage
// but not in the catalog: what a crash between storing a point and
// recording it leaves. Only records signed by this server for this vault
// are taken; anything else is reported and left alone.
func (s *Server) reconcilePoints(ctx context.Context, v *store.Vault, ov *openVault) error {
	var known map[string]bool
	err := s.st.View(ctx, func(tx store.Tx) error {
		ps, err := tx.Points(ctx, store.PointFilter{Vault: v.Name})
		known = make(map[string]bool, len(ps))
		for _, p := range ps {
			known[p.ID] = true
		}
		return err
	})
	if err != nil {
		return err
	}
	var missing []blob.ID
	err = ov.be.List(ctx, storage.KindPoint, func(fi storage.Info) error {
		if !known[fi.Handle.Name] {
			if id, err := blob.ParseID(fi.Handle.Name); err == nil {
				missing = append(missing, id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list points: %w", err)
	}
	for _, id := range missing {
		p, err := ov.repo.LoadPoint(ctx, id)
		if err != nil {
			s.log.Warn("unreadable point record left uncatalogued", "vault", v.Name, "point", id.String(), "err", err)
			continue
		}
		if err := s.verifyPoint(p, v.Name); err != nil {
			s.log.Warn("point record not signed by this server for this vault; left uncatalogued", "vault", v.Name, "point", id.String(), "err", err)
			continue
		}
		sp := catalogEntry(p)
		err = s.st.Update(ctx, func(tx store.Tx) error {
			if err := tx.CreatePoint(ctx, sp); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, audit.Entry{Time: s.cfg.Now().UTC(), Action: "point.recover",
				Target: "point/" + v.Name + "/" + sp.ID, Outcome: audit.OutcomeOK,
				Detail: []byte(`{"reason":"stored but not catalogued, as a crash leaves it"}`)})
		})
		if err != nil {
			return err
		}
		s.log.Info("catalogued a point stored before a crash", "vault", v.Name, "point", sp.ID)
	}
	return nil
}

// errSignature reports a point record the server did not sign.
var errSignature = errors.New("bad point signature")

// verifyPoint checks that p carries this server's valid signature for vault.
func (s *Server) verifyPoint(p *repo.Point, vault string) error {
	if p.Server == nil {
		return fmt.Errorf("%w: the record has no server stamp", errSignature)
	}
	if p.Server.Vault != vault {
		return fmt.Errorf("%w: stamped for vault %s", errSignature, p.Server.Vault)
	}
	if p.Server.KeyID != s.keyID {
		return fmt.Errorf("%w: signed by key %s, not %s", errSignature, p.Server.KeyID, s.keyID)
	}
	msg, err := p.SigningBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(s.PublicKey(), msg, p.Server.Signature) {
		return fmt.Errorf("%w: the signature does not verify", errSignature)
	}
	return nil
}

// catalogEntry makes the catalog entry of a stamped point record.
func catalogEntry(p *repo.Point) *store.Point {
	sp := &store.Point{
		Vault: p.Server.Vault, ID: p.ID.String(), Time: p.Time.UTC(), Hostname: p.Hostname, Username: p.Username,
		Paths: p.Paths, Tags: p.Tags, Tree: p.Tree.String(), Summary: p.Summary, ClientTime: p.Server.ClientTime,
		CreatedBy: p.Server.CreatedBy, Expires: p.Server.Expires, State: store.Active,
		KeyID: p.Server.KeyID, Signature: bytes.Clone(p.Server.Signature), Origin: p.Server.Origin,
	}
	if p.Parent != nil {
		sp.Parent = p.Parent.String()
	}
	return sp
}

// storageRequests returns the requests sent by the storage of each open
// vault that counts them.
func (vs *vaultSet) storageRequests() map[string]map[string]uint64 {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	out := make(map[string]map[string]uint64)
	for name, v := range vs.open {
		if rc, ok := v.be.(s3.RequestCounter); ok {
			out[name] = rc.Requests()
		}
	}
	return out
}
