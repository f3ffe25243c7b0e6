package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
)

func TestCopyPairsByScope(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	h := func(b byte, typ blob.Type) blob.Handle {
		var id blob.ID
		id[0], id[31] = b, b
		return blob.Handle{ID: id, Type: typ}
	}
	var d1, d2 blob.ID
	d1[1], d2[2] = 1, 2
	// More pairs than one lookup query takes.
	var many []store.CopyPair
	for i := range 1000 {
		var src blob.ID
		src[0], src[1] = byte(i), byte(i>>8)
		src[5] = 9
		many = append(many, store.CopyPair{Src: blob.Handle{ID: src, Type: blob.DataBlob}, Dst: d2})
	}
	update(t, db, func(tx store.Tx) error {
		if err := tx.RecordCopyPairs(ctx, "a", []store.CopyPair{{Src: h(1, blob.DataBlob), Dst: d1}, {Src: h(1, blob.TreeBlob), Dst: d2}}); err != nil {
			return err
		}
		return tx.RecordCopyPairs(ctx, "b", many)
	})
	update(t, db, func(tx store.Tx) error {
		got, err := tx.LookupCopyPairs(ctx, "a", []blob.Handle{h(1, blob.DataBlob), h(1, blob.TreeBlob), h(2, blob.DataBlob)})
		if err != nil {
			return err
		}
		if len(got) != 2 || got[h(1, blob.DataBlob)] != d1 || got[h(1, blob.TreeBlob)] != d2 {
			t.Errorf("scope a: %v", got)
		}
		var hs []blob.Handle
		for _, p := range many {
			hs = append(hs, p.Src)
		}
		if got, err = tx.LookupCopyPairs(ctx, "b", hs); err != nil {
			return err
		}
		if len(got) != len(many) {
			t.Errorf("scope b: %d of %d pairs found", len(got), len(many))
		}
		if got, err = tx.LookupCopyPairs(ctx, "b", []blob.Handle{h(1, blob.DataBlob)}); err != nil || len(got) != 0 {
			t.Errorf("scope b answered for scope a's pair: %v %v", got, err)
		}
		if err := tx.DeleteCopyPairs(ctx, "a"); err != nil {
			return err
		}
		if got, err = tx.LookupCopyPairs(ctx, "a", []blob.Handle{h(1, blob.DataBlob)}); err != nil || len(got) != 0 {
			t.Errorf("after delete: %v %v", got, err)
		}
		return nil
	})
}

func TestPointOriginRoundTrips(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	o := &repo.Origin{Site: "workload-1", Vault: "prod", Point: "abcd", Time: t0.Add(-time.Hour)}
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateVault(ctx, &store.Vault{Name: "central"}); err != nil {
			return err
		}
		for _, p := range []*store.Point{
			{Vault: "central", ID: "copy", Time: t0, Tree: "t", State: store.Active, Signature: []byte{1}, Origin: o},
			{Vault: "central", ID: "direct", Time: t0, Tree: "t", State: store.Active, Signature: []byte{1}},
		} {
			if err := tx.CreatePoint(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, db, func(tx store.Tx) error {
		p, err := tx.Point(ctx, "central", "copy")
		if err != nil {
			return err
		}
		if p.Origin == nil || *p.Origin != *o {
			t.Errorf("origin %+v, want %+v", p.Origin, o)
		}
		if p, err = tx.Point(ctx, "central", "direct"); err != nil {
			return err
		}
		if p.Origin != nil {
			t.Errorf("a direct point has origin %+v", p.Origin)
		}
		for _, c := range []struct {
			vault, of string
			want      []string
		}{{"central", "abcd", []string{"copy"}}, {"central", "copy", nil}, {"central", "direct", nil}, {"other", "abcd", nil}} {
			ps, err := tx.Points(ctx, store.PointFilter{Vault: c.vault, CopyOf: c.of})
			if err != nil {
				return err
			}
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("copies of %s in %s: %v, want %v", c.of, c.vault, ids, c.want)
			}
		}
		return nil
	})
}

// BenchmarkCopyOf finds the copy of one point among a vault's 5000
// copies, as a pull does for every point the remote lists.
func BenchmarkCopyOf(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bunker.db")
	db, err := OpenSQLite(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const n = 5000
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateVault(ctx, &store.Vault{Name: "central"}); err != nil {
			return err
		}
		for i := range n {
			o := &repo.Origin{Site: "w", Vault: "prod", Point: fmt.Sprintf("orig%04d", i), Time: t0}
			p := &store.Point{Vault: "central", ID: fmt.Sprintf("copy%04d", i), Time: t0.Add(time.Duration(i)), Tree: "t",
				State: store.Active, Signature: []byte{1}, Origin: o}
			if err := tx.CreatePoint(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		err := db.View(ctx, func(tx store.Tx) error {
			ps, err := tx.Points(ctx, store.PointFilter{Vault: "central", State: store.Active, CopyOf: fmt.Sprintf("orig%04d", i%n)})
			if err == nil && len(ps) != 1 {
				err = fmt.Errorf("%d copies", len(ps))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func TestRemotes(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	r := &store.Remote{Name: "site-a", URL: "https://a.example:8443", Fingerprint: "sha256:ab", TokenSealed: []byte{1, 2},
		Follow: []store.Follow{{Vault: "prod", ToVault: "central"}}, CreatedAt: t0, CreatedBy: "vadmin", UpdatedAt: t0, UpdatedBy: "vadmin"}
	update(t, db, func(tx store.Tx) error { return tx.PutRemote(ctx, r) })
	r2 := *r
	r2.URL, r2.Follow, r2.UpdatedBy, r2.CreatedBy = "https://a2.example:8443", nil, "other", "ignored"
	update(t, db, func(tx store.Tx) error { return tx.PutRemote(ctx, &r2) })
	update(t, db, func(tx store.Tx) error {
		got, err := tx.Remote(ctx, "site-a")
		if err != nil {
			return err
		}
		if got.URL != r2.URL || len(got.Follow) != 0 || got.CreatedBy != "vadmin" || got.UpdatedBy != "other" || string(got.TokenSealed) != "\x01\x02" {
			t.Errorf("remote after replace: %+v", got)
		}
		all, err := tx.Remotes(ctx)
		if err != nil || len(all) != 1 {
			t.Errorf("remotes: %v %v", all, err)
		}
		if err := tx.DeleteRemote(ctx, "site-a"); err != nil {
			return err
		}
		if _, err := tx.Remote(ctx, "site-a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted remote: %v", err)
		}
		if err := tx.DeleteRemote(ctx, "site-a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete of a deleted remote: %v", err)
		}
		return nil
	})
}

func TestPushTargets(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	p := &store.PushTarget{Name: "central", URL: "https://c.example:8443", Fingerprint: "sha256:ab", TokenSealed: []byte{3},
		Vault: "tier2", Vaults: []string{"prod"}, Site: "site-a", Principal: "site-a-pusher",
		CreatedAt: t0, CreatedBy: "vadmin", UpdatedAt: t0, UpdatedBy: "vadmin"}
	update(t, db, func(tx store.Tx) error { return tx.PutPushTarget(ctx, p) })
	update(t, db, func(tx store.Tx) error {
		return tx.RecordPush(ctx, &store.Push{Target: "central", Vault: "prod", Point: "p1", ToPoint: "c1", At: t0})
	})
	pushed := func(want string) {
		t.Helper()
		update(t, db, func(tx store.Tx) error {
			got, err := tx.Pushed(ctx, "central", "prod", "p1")
			switch {
			case want == "" && !errors.Is(err, store.ErrNotFound):
				t.Errorf("push of p1: %+v %v, want none", got, err)
			case want != "" && (err != nil || got.ToPoint != want):
				t.Errorf("push of p1: %+v %v, want %s", got, err, want)
			}
			return nil
		})
	}
	pushed("c1")
	// Another token for the same vault keeps what was pushed; another
	// vault does not.
	p2 := *p
	p2.TokenSealed, p2.Vaults, p2.CreatedBy = []byte{4}, nil, "ignored"
	update(t, db, func(tx store.Tx) error { return tx.PutPushTarget(ctx, &p2) })
	pushed("c1")
	p2.Vault = "elsewhere"
	update(t, db, func(tx store.Tx) error { return tx.PutPushTarget(ctx, &p2) })
	pushed("")
	update(t, db, func(tx store.Tx) error {
		got, err := tx.PushTarget(ctx, "central")
		if err != nil {
			return err
		}
		if got.Vault != "elsewhere" || len(got.Vaults) != 0 || got.CreatedBy != "vadmin" || string(got.TokenSealed) != "\x04" || got.Principal != "site-a-pusher" {
			t.Errorf("push target after replace: %+v", got)
		}
		return tx.RecordPush(ctx, &store.Push{Target: "central", Vault: "prod", Point: "p1", ToPoint: "c2", At: t0})
	})
	update(t, db, func(tx store.Tx) error {
		if err := tx.DeletePushTarget(ctx, "central"); err != nil {
			return err
		}
		if all, err := tx.PushTargets(ctx); err != nil || len(all) != 0 {
			t.Errorf("push targets after delete: %v %v", all, err)
		}
		if err := tx.DeletePushTarget(ctx, "central"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete of a deleted push target: %v", err)
		}
		return nil
	})
	pushed("")
}

// Failures in a row are counted per copy, outlive the database being
// closed, and are forgotten when the copy succeeds or its peer is removed.
func TestFailureStreaks(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		if err := tx.PutRemote(ctx, &store.Remote{Name: "site-a", URL: "https://a", Fingerprint: "sha256:ab", TokenSealed: []byte{1},
			CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.PutPushTarget(ctx, &store.PushTarget{Name: "site-a", URL: "https://c", Fingerprint: "sha256:cd", TokenSealed: []byte{2},
			Vault: "central", CreatedAt: t0, UpdatedAt: t0})
	})
	push := store.FailureStreak{Kind: store.StreakPush, Peer: "site-a", Vault: "prod", Point: "p1"}
	look := store.FailureStreak{Kind: store.StreakPull, Peer: "site-a", Vault: "prod"}
	pull := store.FailureStreak{Kind: store.StreakPull, Peer: "site-a", Vault: "prod", Point: "p1"}
	add := func(s store.FailureStreak, want int) {
		t.Helper()
		update(t, db, func(tx store.Tx) error {
			s.Failures = 99 // ignored
			n, err := tx.AddFailure(ctx, s)
			if err != nil || n != want {
				t.Errorf("add a failure of %+v: %d %v, want %d", s, n, err, want)
			}
			return nil
		})
	}
	streaks := func() map[store.FailureStreak]int {
		t.Helper()
		out := map[store.FailureStreak]int{}
		update(t, db, func(tx store.Tx) error {
			all, err := tx.FailureStreaks(ctx)
			for _, s := range all {
				n := s.Failures
				s.Failures = 0
				out[s] = n
			}
			return err
		})
		return out
	}
	add(push, 1)
	add(push, 2)
	add(look, 1)
	add(pull, 1)
	add(pull, 2)
	add(pull, 3)
	db.Close()
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got := streaks(); len(got) != 3 || got[push] != 2 || got[look] != 1 || got[pull] != 3 {
		t.Fatalf("streaks after reopening: %v", got)
	}
	add(push, 3)
	update(t, db, func(tx store.Tx) error { return tx.ClearFailures(ctx, pull) })
	if got := streaks(); len(got) != 2 || got[push] != 3 || got[look] != 1 {
		t.Fatalf("streaks after the pull succeeded: %v", got)
	}
	add(pull, 1)
	// Removing the push target forgets its pushes, not the remote's pulls
	// of the same name; removing the remote forgets those.
	update(t, db, func(tx store.Tx) error { return tx.DeletePushTarget(ctx, "site-a") })
	if got := streaks(); len(got) != 2 || got[look] != 1 || got[pull] != 1 {
		t.Fatalf("streaks after removing the push target: %v", got)
	}
	update(t, db, func(tx store.Tx) error { return tx.DeleteRemote(ctx, "site-a") })
	if got := streaks(); len(got) != 0 {
		t.Fatalf("streaks after removing the remote: %v", got)
	}
}
