package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Point is the record of one recovery point.
type Point struct {
	Version  int       `json:"version"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username,omitempty"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags,omitempty"`
	Tree     blob.ID   `json:"tree"`
	Parent   *blob.ID  `json:"parent,omitempty"`
	Summary  *Summary  `json:"summary,omitempty"`
	Program  string    `json:"program,omitempty"`
	// Server is set on points recorded by a vault server.
	Server *Stamp `json:"server,omitempty"`

	// ID is the name of the stored record; it is not part of the record.
	ID blob.ID `json:"-"`
}

// Stamp is what a vault server adds to a point it records: the vault, who
// made the point, the expiry the vault's policy gave it, the time the client
// claimed (a label only: Time is the server's clock), and the server's
// ed25519 signature over the whole record.
type Stamp struct {
	Vault      string    `json:"vault"`
	CreatedBy  string    `json:"created_by"`
	Expires    time.Time `json:"expires,omitzero"`
	ClientTime time.Time `json:"client_time,omitzero"`
	KeyID      string    `json:"key_id"`
	// Origin is set on a copy: the point it copies.
	Origin    *Origin `json:"origin,omitempty"`
	Signature []byte  `json:"signature,omitempty"`
}

// Origin names the point a copy was made from: on another server (Site,
// as the copying server calls it) or, when Site is empty, in another vault
// of the same server. Time is the original's time, by its own server: the
// age of the data the copy holds.
type Origin struct {
	Site  string    `json:"site,omitempty"`
	Vault string    `json:"vault"`
	Point string    `json:"point"`
	Time  time.Time `json:"time"`
}

// SigningBytes returns what a server signs for p: the record's JSON with the
// signature left out.
func (p *Point) SigningBytes() ([]byte, error) {
	c := *p
	c.Version = pointVersion
	if c.Server != nil {
		st := *c.Server
		st.Signature = nil
		c.Server = &st
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode point: %w", err)
	}
	return append([]byte("bunker point signature v1\n"), b...), nil
}

// Summary records what a backup did.
type Summary struct {
	FilesNew       int64   `json:"files_new"`
	FilesChanged   int64   `json:"files_changed"`
	FilesUnchanged int64   `json:"files_unchanged"`
	DirsNew        int64   `json:"dirs_new"`
	DirsChanged    int64   `json:"dirs_changed"`
	DirsUnchanged  int64   `json:"dirs_unchanged"`
	Errors         int64   `json:"errors"`
	BytesRead      int64   `json:"bytes_read"`
	TotalBytes     int64   `json:"total_bytes"` // logical size of all files in the point
	BlobsAdded     int64   `json:"blobs_added"`
	BytesAdded     int64   `json:"bytes_added"`  // plaintext bytes of new blobs
	BytesStored    int64   `json:"bytes_stored"` // pack bytes written
	Duration       float64 `json:"duration_seconds"`
}

const pointVersion = 1

// SavePoint stores a point record and returns its id.
func (r *Repository) SavePoint(ctx context.Context, p *Point) (blob.ID, error) {
	p.Version = pointVersion
	payload, err := json.Marshal(p)
	if err != nil {
		return blob.ID{}, fmt.Errorf("encode point: %w", err)
	}
	data, id, err := r.sealObject("point", payload)
	if err != nil {
		return id, err
	}
	h := storage.Handle{Kind: storage.KindPoint, Name: id.String()}
	if err := r.be.Put(ctx, h, int64(len(data)), bytes.NewReader(data), r.putOptions(h)); err != nil {
		return id, fmt.Errorf("store point: %w", err)
	}
	p.ID = id
	return id, nil
}

// LoadPoint reads a point record.
func (r *Repository) LoadPoint(ctx context.Context, id blob.ID) (*Point, error) {
	data, err := storage.ReadAll(ctx, r.be, storage.Handle{Kind: storage.KindPoint, Name: id.String()})
	if err != nil {
		return nil, fmt.Errorf("read point %s: %w", id.Short(), err)
	}
	plain, err := r.openObject("point", data)
	if err != nil {
		return nil, fmt.Errorf("point %s: %w", id.Short(), err)
	}
	var p Point
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("point %s: %w: %v", id.Short(), ErrObject, err)
	}
	if p.Version != pointVersion {
		return nil, fmt.Errorf("point %s: unsupported version %d", id.Short(), p.Version)
	}
	p.ID = id
	return &p, nil
}

// Points loads every point record, oldest first.
func (r *Repository) Points(ctx context.Context) ([]*Point, error) {
	var ids []blob.ID
	err := r.be.List(ctx, storage.KindPoint, func(fi storage.Info) error {
		id, err := blob.ParseID(fi.Handle.Name)
		if err != nil {
			return fmt.Errorf("point object %q: %w", fi.Handle.Name, err)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list points: %w", err)
	}
	points := make([]*Point, 0, len(ids))
	for _, id := range ids {
		p, err := r.LoadPoint(ctx, id)
		if err != nil {
			return nil, err
		}
		points = append(points, p)
	}
	slices.SortFunc(points, func(a, b *Point) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return points, nil
}

// ErrNoPoint reports that no point matches a reference.
var ErrNoPoint = errors.New("no such point")

// FindPoint resolves "latest" or a unique id prefix of at least 4 hex digits
// among points.
func FindPoint(points []*Point, ref string) (*Point, error) {
	if ref == "latest" {
		if len(points) == 0 {
			return nil, fmt.Errorf("%w: the vault has no points yet", ErrNoPoint)
		}
		return points[len(points)-1], nil
	}
	if len(ref) < 4 {
		return nil, fmt.Errorf("point reference %q is too short: give at least 4 hex digits or \"latest\"", ref)
	}
	var found *Point
	for _, p := range points {
		if strings.HasPrefix(p.ID.String(), strings.ToLower(ref)) {
			if found != nil {
				return nil, fmt.Errorf("point reference %q is ambiguous: give more digits", ref)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoPoint, ref)
	}
	return found, nil
}

// SaveTree encodes and stores a tree blob and returns its id.
func (r *Repository) SaveTree(ctx context.Context, t *tree.Tree) (blob.ID, error) {
	data, err := tree.Encode(t)
	if err != nil {
		return blob.ID{}, err
	}
	id := r.key.BlobID(data)
	if _, err = r.SaveBlob(ctx, blob.TreeBlob, id, data); err == nil {
		r.trees.add(id, data)
	}
	return id, err
}

// LoadTree reads and decodes a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id blob.ID) (*tree.Tree, error) {
	data, err := r.LoadBlob(ctx, blob.TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := tree.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}
