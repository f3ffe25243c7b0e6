package repo

import (
	"context"
	"fmt"
	"io"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// ErrBlobMissing reports a blob that no index names.
var ErrBlobMissing = fmt.Errorf("blob not in index")

// LoadBlob reads, authenticates and decompresses a blob, appending nothing:
// the result may reuse buf when it is large enough. If the blob is stored in
// several packs and one copy is damaged, the next copy is tried.
func (r *Repository) LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error) {
	return r.loadBlob(ctx, t, id, buf, true)
}

// LoadBlobAuthOnly is LoadBlob without re-hashing the plaintext against the
// id. The blob is still decrypted and authenticated by its AEAD tag, which
// binds the id: it is what a holder of the vault's key stored under that
// id. What is skipped guards only against such a holder storing content
// under the wrong id; restore and verify check it. For reads that analyse
// much content and prove nothing, such as the ransomware scan's.
func (r *Repository) LoadBlobAuthOnly(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error) {
	return r.loadBlob(ctx, t, id, buf, false)
}

func (r *Repository) loadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte, checkID bool) ([]byte, error) {
	h := blob.Handle{ID: id, Type: t}
	locs := r.idx.LookupAll(h)
	if len(locs) == 0 {
		return nil, fmt.Errorf("load %s: %w", h, ErrBlobMissing)
	}
	// Only a tree the index names comes from the cache: one that garbage
	// collection removed is missing, cached or not.
	if t == blob.TreeBlob {
		if out, ok := r.trees.get(id, buf); ok {
			return out, nil
		}
	}
	var firstErr error
	for _, l := range locs {
		out, err := r.loadFrom(ctx, h, l, buf, checkID)
		if err == nil {
			if t == blob.TreeBlob {
				r.trees.add(id, out)
			}
			return out, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (r *Repository) loadFrom(ctx context.Context, h blob.Handle, l index.Location, buf []byte, checkID bool) ([]byte, error) {
	ph := storage.Handle{Kind: storage.KindPack, Name: l.Pack.String()}
	rd, err := r.be.Get(ctx, ph, int64(l.Offset), int64(l.Length))
	if err != nil {
		return nil, fmt.Errorf("load %s from pack %s: %w", h, l.Pack.Short(), err)
	}
	sealed := r.bufs.Get(int(l.Length))
	defer r.bufs.Put(sealed)
	_, err = io.ReadFull(rd, sealed)
	rd.Close()
	if err != nil {
		return nil, fmt.Errorf("load %s from pack %s: %w", h, l.Pack.Short(), err)
	}
	return r.openBlob(h, l, sealed, buf, checkID)
}

// readSealed reads a sealed blob from its pack into a buffer of its own.
func (r *Repository) readSealed(ctx context.Context, h blob.Handle, l index.Location) ([]byte, error) {
	ph := storage.Handle{Kind: storage.KindPack, Name: l.Pack.String()}
	rd, err := r.be.Get(ctx, ph, int64(l.Offset), int64(l.Length))
	if err != nil {
		return nil, fmt.Errorf("load %s from pack %s: %w", h, l.Pack.Short(), err)
	}
	sealed := make([]byte, l.Length)
	_, err = io.ReadFull(rd, sealed)
	rd.Close()
	if err != nil {
		return nil, fmt.Errorf("load %s from pack %s: %w", h, l.Pack.Short(), err)
	}
	return sealed, nil
}

// openSealed authenticates and decrypts a sealed blob, leaving its payload
// compressed when it is.
func (r *Repository) openSealed(h blob.Handle, l index.Location, sealed []byte) ([]byte, error) {
	s, err := r.sealers.get(r.key, l.Salt)
	if err != nil {
		return nil, err
	}
	plain, err := s.Open(nil, sealed, crypto.BlobAAD(h.Type, h.ID))
	if err != nil {
		return nil, fmt.Errorf("blob %s in pack %s: %w", h, l.Pack.Short(), err)
	}
	return plain, nil
}

// OpenBlob authenticates and decodes a sealed blob read from its pack, and
// checks that the plaintext hashes to the blob's id. The plaintext is stored
// in buf if it is large enough and in a new slice otherwise; buf must not
// overlap sealed. sealed is not modified or retained.
func (r *Repository) OpenBlob(h blob.Handle, l index.Location, sealed, buf []byte) ([]byte, error) {
	return r.openBlob(h, l, sealed, buf, true)
}

// openBlob is OpenBlob, checking the plaintext against the id when checkID
// is set.
func (r *Repository) openBlob(h blob.Handle, l index.Location, sealed, buf []byte, checkID bool) ([]byte, error) {
	s, err := r.sealers.get(r.key, l.Salt)
	if err != nil {
		return nil, err
	}
	o := r.opener()
	defer r.openers.Put(o)
	aad := append(append(o.aad[:0], byte(h.Type)), h.ID[:]...)
	var plain []byte
	if l.Flags&pack.FlagCompressed != 0 {
		scratch := r.bufs.Get(len(sealed))
		defer r.bufs.Put(scratch)
		payload, err := s.Open(scratch[:0], sealed, aad)
		if err != nil {
			return nil, fmt.Errorf("blob %s in pack %s: %w", h, l.Pack.Short(), err)
		}
		if plain, err = r.codec.decompressInto(buf, payload, int(l.RawLen)); err != nil {
			return nil, fmt.Errorf("blob %s in pack %s: %w", h, l.Pack.Short(), err)
		}
	} else {
		var dst []byte
		if len(sealed) >= crypto.Overhead && cap(buf) >= len(sealed)-crypto.Overhead {
			dst = buf[:0]
		}
		if plain, err = s.Open(dst, sealed, aad); err != nil {
			return nil, fmt.Errorf("blob %s in pack %s: %w", h, l.Pack.Short(), err)
		}
	}
	if !checkID {
		return plain, nil
	}
	if got := o.ids.Sum(plain); got != h.ID {
		return nil, fmt.Errorf("blob %s in pack %s: content hashes to %s", h, l.Pack.Short(), got.Short())
	}
	return plain, nil
}

// opener is the per-call state of OpenBlob, pooled so that opening a blob
// allocates nothing.
type opener struct {
	ids *crypto.IDHasher
	aad [1 + blob.IDSize]byte
}

func (r *Repository) opener() *opener {
	if o, ok := r.openers.Get().(*opener); ok {
		return o
	}
	return &opener{ids: r.key.NewIDHasher()}
}
