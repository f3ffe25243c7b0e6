package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/bufpool"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// Repository is an open vault. Its methods are safe for concurrent use.
type Repository struct {
	be     storage.Backend
	key    *crypto.Key
	cfg    Config
	idx    *index.Index
	codec  *codec
	log    *slog.Logger
	saver  *saver
	loadMu sync.Mutex
	loaded map[blob.ID]bool // index objects already merged into idx
	retain func(storage.Handle) storage.PutOptions
	trees  *treeCache // nil unless Options.TreeCache
	ahead  *readAhead // nil unless Options.ReadAhead

	sealers sealerCache  // sealers of recently read packs
	openers sync.Pool    // *opener: OpenBlob's hasher and scratch
	bufs    bufpool.Pool // sealed blobs and decrypted payloads being read
}

// putOptions returns the retention a new object is written with.
func (r *Repository) putOptions(h storage.Handle) storage.PutOptions {
	if r.retain == nil {
		return storage.PutOptions{}
	}
	return r.retain(h)
}

// Options tune an open repository.
type Options struct {
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
	// Uploads bounds concurrent pack uploads; 0 picks a default.
	Uploads int
	// Retain gives the retention each new pack, index object and point
	// record is written with, on backends that enforce it (a locked vault
	// on S3 with Object Lock, a hardened local vault); nil writes without.
	Retain func(h storage.Handle) storage.PutOptions
	// TreeCache keeps up to this many bytes of recently saved and loaded
	// tree blobs in memory; 0 keeps none.
	TreeCache int
	// ReadAhead extends each read of LoadPayloads to this many bytes of
	// the pack and keeps the last few such stretches, for readers that ask
	// for a pack's blobs in order in many small calls; 0 reads only what
	// is asked for.
	ReadAhead int
}

// configHandle names the vault config object.
var configHandle = storage.Handle{Kind: storage.KindConfig, Name: "config"}

// Init writes the config of a new vault. Key slots are written by the caller.
func Init(ctx context.Context, be storage.Backend, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := be.Put(ctx, configHandle, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("a vault already exists at %s", be.Location())
		}
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// ReadConfig loads the vault config without any key.
func ReadConfig(ctx context.Context, be storage.Backend) (Config, error) {
	data, err := storage.ReadAll(ctx, be, configHandle)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return Config{}, fmt.Errorf("no vault at %s (run `bunker init` first): %w", be.Location(), err)
		}
		return Config{}, fmt.Errorf("read vault config: %w", err)
	}
	return DecodeConfig(data)
}

// Open opens a vault with its master key. The index is not loaded; call
// LoadIndex before reading or deduplicating.
func Open(ctx context.Context, be storage.Backend, master crypto.MasterKey, opts Options) (*Repository, error) {
	cfg, err := ReadConfig(ctx, be)
	if err != nil {
		return nil, err
	}
	key, err := master.Derive()
	if err != nil {
		return nil, err
	}
	c, err := newCodec(cfg.Compress == "none")
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Repository{be: be, key: key, cfg: cfg, idx: index.New(), codec: c, log: log, loaded: map[blob.ID]bool{}, retain: opts.Retain,
		trees: newTreeCache(opts.TreeCache), ahead: newReadAhead(opts.ReadAhead)}
	r.saver = newSaver(r, opts.Uploads)
	return r, nil
}

// Close releases the repository's resources. It does not flush: call Flush
// first when blobs were saved.
func (r *Repository) Close() error {
	r.codec.close()
	return nil
}

// Config returns the vault config.
func (r *Repository) Config() Config { return r.cfg }

// Key returns the vault's derived keys.
func (r *Repository) Key() *crypto.Key { return r.key }

// IDKey returns the vault's content-naming key.
func (r *Repository) IDKey() *crypto.IDKey { return &r.key.IDKey }

// Backend returns the storage the vault lives on.
func (r *Repository) Backend() storage.Backend { return r.be }

// Index returns the in-memory index.
func (r *Repository) Index() *index.Index { return r.idx }

// LoadIndex reads every index object not yet loaded and merges it. It can be
// called again to pick up index objects written by other processes.
func (r *Repository) LoadIndex(ctx context.Context) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	var todo []blob.ID
	err := r.be.List(ctx, storage.KindIndex, func(fi storage.Info) error {
		id, err := blob.ParseID(fi.Handle.Name)
		if err != nil {
			return fmt.Errorf("index object %q: %w", fi.Handle.Name, err)
		}
		if !r.loaded[id] {
			todo = append(todo, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	for _, id := range todo {
		packs, err := r.ReadIndexObject(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range packs {
			r.idx.AddPack(p.Pack, p.Salt, p.Entries)
		}
		r.loaded[id] = true
	}
	return nil
}

// ReloadIndex forgets the in-memory index and reads every index object
// again, keeping only packs that are stored, so that packs deleted
// meanwhile (by prune) are no longer found, even where an index object
// naming them could not be deleted yet (retained by the storage). Call it
// only when no blob is being saved.
func (r *Repository) ReloadIndex(ctx context.Context) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	stored := map[blob.ID]bool{}
	err := r.be.List(ctx, storage.KindPack, func(fi storage.Info) error {
		if id, err := blob.ParseID(fi.Handle.Name); err == nil {
			stored[id] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	fresh := index.New()
	loaded := map[blob.ID]bool{}
	err = r.be.List(ctx, storage.KindIndex, func(fi storage.Info) error {
		id, err := blob.ParseID(fi.Handle.Name)
		if err != nil {
			return fmt.Errorf("index object %q: %w", fi.Handle.Name, err)
		}
		loaded[id] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	for id := range loaded {
		packs, err := r.ReadIndexObject(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range packs {
			if stored[p.Pack] {
				fresh.AddPack(p.Pack, p.Salt, p.Entries)
			}
		}
	}
	r.idx.Replace(fresh)
	r.loaded = loaded
	return nil
}

// ErrIndexDamaged reports an index object that does not authenticate or
// decode; RebuildIndex makes a new index from the packs.
var ErrIndexDamaged = errors.New("index object damaged")

// ReadIndexObject reads and decodes one index object.
func (r *Repository) ReadIndexObject(ctx context.Context, id blob.ID) ([]index.PackEntries, error) {
	data, err := storage.ReadAll(ctx, r.be, storage.Handle{Kind: storage.KindIndex, Name: id.String()})
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", id.Short(), err)
	}
	plain, err := r.openObject("index", data)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w: %w", id.Short(), ErrIndexDamaged, err)
	}
	packs, err := index.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w: %w", id.Short(), ErrIndexDamaged, err)
	}
	return packs, nil
}

// WriteIndex stores an index object listing packs and returns its id.
func (r *Repository) WriteIndex(ctx context.Context, packs []index.PackEntries) (blob.ID, error) {
	data, id, err := r.sealObject("index", index.Encode(packs))
	if err != nil {
		return id, err
	}
	h := storage.Handle{Kind: storage.KindIndex, Name: id.String()}
	if err := r.be.Put(ctx, h, int64(len(data)), bytes.NewReader(data), r.putOptions(h)); err != nil && !errors.Is(err, storage.ErrExists) {
		return id, fmt.Errorf("write index: %w", err)
	}
	r.loadMu.Lock()
	r.loaded[id] = true
	r.loadMu.Unlock()
	return id, nil
}

// RecoverPacks indexes packs that are stored but named by no index object,
// which is what a writer killed between writing packs and their index leaves
// behind, so that their blobs are re-used instead of uploaded again. It
// returns the number of packs recovered.
func (r *Repository) RecoverPacks(ctx context.Context) (int, error) {
	var orphans []storage.Info
	err := r.be.List(ctx, storage.KindPack, func(fi storage.Info) error {
		id, err := blob.ParseID(fi.Handle.Name)
		if err == nil && !r.idx.HasPack(id) {
			orphans = append(orphans, fi)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list packs: %w", err)
	}
	var found []index.PackEntries
	for _, fi := range orphans {
		id, _ := blob.ParseID(fi.Handle.Name)
		entries, t, err := pack.ReadHeader(ctx, r.be, r.key, id, fi.Size)
		if err != nil {
			r.log.Warn("unreadable pack left unindexed", "pack", id.String(), "err", err)
			continue
		}
		found = append(found, index.PackEntries{Pack: id, Salt: t.Salt, Entries: entries})
	}
	if len(found) == 0 {
		return 0, nil
	}
	if _, err := r.WriteIndex(ctx, found); err != nil {
		return 0, err
	}
	for _, p := range found {
		r.idx.AddPack(p.Pack, p.Salt, p.Entries)
	}
	return len(found), nil
}

// SlotMaker wraps a new vault's master key into its first key slot.
type SlotMaker func(master crypto.MasterKey, vaultID string) (*keys.Slot, error)

// Create makes a new vault on be: a fresh master key, stored only in the
// key slot that newSlot makes, and the config cfg. It returns the master key.
func Create(ctx context.Context, be storage.Backend, cfg Config, newSlot SlotMaker) (crypto.MasterKey, error) {
	master, err := crypto.NewMasterKey()
	if err != nil {
		return master, err
	}
	if err := cfg.Validate(); err != nil {
		return master, err
	}
	sl, err := newSlot(master, cfg.ID)
	if err != nil {
		return master, err
	}
	if err := keys.Put(ctx, be, sl); err != nil {
		return master, err
	}
	return master, Init(ctx, be, cfg)
}
