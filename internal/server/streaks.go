package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/bunkerhq/bunker/internal/store"
)

// failureStreaks counts the failures in a row of each push and pull. The
// counts live in the store, so that a restart (or a server that keeps
// crashing) forgets none; the set remembers which copies fail now, so that
// a copy that keeps succeeding writes nothing.
type failureStreaks struct {
	mu      sync.Mutex
	failing map[store.FailureStreak]struct{} // keys, Failures zero
}

func streakKey(kind, peer, vault, point string) store.FailureStreak {
	return store.FailureStreak{Kind: kind, Peer: peer, Vault: vault, Point: point}
}

// seed learns which copies were failing when the server stopped.
func (f *failureStreaks) seed(ctx context.Context, st store.Store) error {
	var all []store.FailureStreak
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = tx.FailureStreaks(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the failing pushes and pulls: %w", err)
	}
	for _, s := range all {
		f.mark(streakKey(s.Kind, s.Peer, s.Vault, s.Point))
	}
	return nil
}

func (f *failureStreaks) mark(k store.FailureStreak) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[store.FailureStreak]struct{}{}
	}
	f.failing[k] = struct{}{}
}

// add counts one more failure of k in tx and returns the count.
func (f *failureStreaks) add(ctx context.Context, tx store.Tx, k store.FailureStreak) (int, error) {
	n, err := tx.AddFailure(ctx, k)
	if err != nil {
		return 0, err
	}
	f.mark(k)
	return n, nil
}

// clear forgets the failures of k, which has just succeeded.
func (f *failureStreaks) clear(ctx context.Context, st store.Store, k store.FailureStreak) error {
	f.mu.Lock()
	_, failing := f.failing[k]
	f.mu.Unlock()
	if !failing {
		return nil
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.ClearFailures(ctx, k) }); err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.failing, k)
	f.mu.Unlock()
	return nil
}

// forgetGone forgets the failures of the copies of kind between peer and
// vault whose point is no longer there to copy (not in listed), so that a
// point deleted while it failed leaves no count behind.
func (f *failureStreaks) forgetGone(ctx context.Context, st store.Store, kind, peer, vault string, listed map[string]bool) error {
	f.mu.Lock()
	var gone []store.FailureStreak
	for k := range f.failing {
		if k.Kind == kind && k.Peer == peer && k.Vault == vault && k.Point != "" && !listed[k.Point] {
			gone = append(gone, k)
		}
	}
	f.mu.Unlock()
	for _, k := range gone {
		if err := f.clear(ctx, st, k); err != nil {
			return err
		}
	}
	return nil
}
