package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	chainLen = 300
	every    = 50 // a checkpoint after every 50th entry, the last one included
)

// positions returns the seqs tampered with: the first entry, one in the
// middle, the last, one right after a checkpoint and one at a checkpoint.
func positions() []uint64 { return []uint64{1, 137, chainLen, every*2 + 1, every * 2} }

type auditLog struct {
	entries []Entry
	cps     []Checkpoint
	priv    ed25519.PrivateKey
}

func (l *auditLog) pub() ed25519.PublicKey { return l.priv.Public().(ed25519.PublicKey) }

// newLog builds a real chain of n entries with a checkpoint every k.
func newLog(t testing.TB, n, k int) *auditLog {
	t.Helper()
	l := &auditLog{priv: testKey(7)}
	base := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	actions := []string{"auth.login", "vault.create", "point.create", "point.delete", "lock.change"}
	outcomes := []string{OutcomeOK, OutcomeOK, OutcomeDenied, OutcomeFailed}
	var last *Entry
	for i := range n {
		e := Entry{
			Time:    base.Add(time.Duration(i) * 1500 * time.Millisecond),
			Actor:   []string{"", "alice", "bob", "backup@host-3"}[i%4],
			Action:  actions[i%len(actions)],
			Target:  fmt.Sprintf("vault/v%d", i%7),
			Outcome: outcomes[i%len(outcomes)],
			Remote:  fmt.Sprintf("192.0.2.%d:4%04d", i%250, i),
		}
		if i%3 == 0 {
			e.Detail = json.RawMessage(fmt.Sprintf(`{"n":%d,"reason":"step %d","tags":["a","b"]}`, i, i))
		}
		next, err := Next(last, e)
		if err != nil {
			t.Fatal(err)
		}
		l.entries = append(l.entries, next)
		last = &l.entries[len(l.entries)-1]
		if (i+1)%k == 0 {
			c, err := Sign(l.priv, next, next.Time.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			l.cps = append(l.cps, c)
		}
	}
	return l
}

// at returns the index of the entry with seq s.
func (l *auditLog) at(t testing.TB, s uint64) int {
	for i, e := range l.entries {
		if e.Seq == s {
			return i
		}
	}
	t.Fatalf("no entry %d", s)
	return -1
}

func rehash(t testing.TB, e *Entry) {
	t.Helper()
	h, err := e.ComputeHash()
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = h
}

// rewriteFrom recomputes every prev and hash from index i on, as an
// attacker covering up a change would.
func (l *auditLog) rewriteFrom(t testing.TB, i int) {
	for j := i; j < len(l.entries); j++ {
		if j > 0 {
			l.entries[j].Prev = l.entries[j-1].Hash
		}
		rehash(t, &l.entries[j])
	}
}

// renumber adds d to the seq of every entry from index i on, without
// rehashing.
func (l *auditLog) renumber(i int, d int) {
	for j := i; j < len(l.entries); j++ {
		l.entries[j].Seq = uint64(int(l.entries[j].Seq) + d)
	}
}

// forged is an entry an attacker made to sit after prev, hashed properly.
func forged(t testing.TB, seq uint64, prev string) Entry {
	e := Entry{Seq: seq, Time: time.Date(2031, 5, 1, 1, 0, 0, 0, time.UTC), Actor: "mallory", Action: "point.delete", Target: "vault/v1", Outcome: OutcomeOK, Prev: prev}
	rehash(t, &e)
	return e
}

func (l *auditLog) insert(i int, e Entry) {
	l.entries = slices.Insert(l.entries, i, e)
}

func prevHash(l *auditLog, i int) string {
	if i == 0 {
		return GenesisPrev
	}
	return l.entries[i-1].Hash
}

type want struct {
	seq  uint64
	kind string
}

func check(t *testing.T, l *auditLog, wants ...want) Report {
	t.Helper()
	r := Verify(l.entries, l.cps, l.pub())
	var got []want
	for _, p := range r.Problems {
		got = append(got, want{p.Seq, p.Kind})
	}
	if !slices.Equal(got, wants) {
		t.Errorf("problems %v, want %v", got, wants)
		for _, p := range r.Problems {
			t.Logf("  %d %s: %s", p.Seq, p.Kind, p.Detail)
		}
	}
	if r.OK() != (len(wants) == 0) {
		t.Errorf("OK() = %v with %d problems", r.OK(), len(r.Problems))
	}
	return r
}

func TestVerifyUntampered(t *testing.T) {
	l := newLog(t, chainLen, every)
	r := check(t, l)
	if r.Entries != chainLen || r.Checkpoints != chainLen/every || r.LastSeq != chainLen || r.LastCheckpoint != chainLen {
		t.Fatalf("report %+v", r)
	}
	if r := Verify(nil, nil, l.pub()); !r.OK() || r.LastSeq != 0 {
		t.Fatalf("empty log: %+v", r)
	}
	// A log with entries after the last checkpoint verifies, and the
	// report says how far the checkpoints reach.
	l = newLog(t, chainLen+7, every)
	if r := check(t, l); r.LastSeq != chainLen+7 || r.LastCheckpoint != chainLen {
		t.Fatalf("report %+v", r)
	}
}

func TestVerifyEdited(t *testing.T) {
	for _, s := range positions() {
		t.Run(fmt.Sprintf("content of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries[l.at(t, s)].Target = "vault/other"
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("detail of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries[l.at(t, s)].Detail = json.RawMessage(`{"n":1}`)
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("time of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries[l.at(t, s)].Time = l.entries[l.at(t, s)].Time.Add(-time.Hour)
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("hash of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i].Hash = strings.Repeat("0", 64)
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("malformed hash of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries[l.at(t, s)].Hash = "not a hash"
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("invalid outcome of %d, rehashed", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i].Outcome = "fine"
			rehash(t, &l.entries[i])
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("prev of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries[l.at(t, s)].Prev = strings.Repeat("1", 64)
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("content of %d, rehashed", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i].Outcome = OutcomeOK
			l.entries[i].Actor = "someone else"
			rehash(t, &l.entries[i])
			if s == chainLen {
				// Nothing links to the last entry: only its checkpoint
				// knows it changed.
				check(t, l, want{s, KindBadCheckpoint})
				return
			}
			check(t, l, want{s, KindEdited})
		})
		t.Run(fmt.Sprintf("prev of %d, rehashed", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i].Prev = strings.Repeat("1", 64)
			rehash(t, &l.entries[i])
			check(t, l, want{s, KindEdited})
		})
	}
}

// TestVerifyRewritten plays an attacker who edits an entry and recomputes
// every hash after it, so that the chain is whole again: the first signed
// checkpoint after the edit still catches it.
func TestVerifyRewritten(t *testing.T) {
	for _, s := range positions() {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i].Actor = "rewritten by mallory"
			l.rewriteFrom(t, i)
			cp := (s + every - 1) / every * every
			r := check(t, l, want{cp, KindBadCheckpoint})
			if r.LastCheckpoint != cp-every {
				t.Errorf("LastCheckpoint %d, want %d", r.LastCheckpoint, cp-every)
			}
		})
	}
	t.Run("after the last checkpoint", func(t *testing.T) {
		// The documented limit: entries after the last checkpoint are
		// protected only by the chain, and the report shows where that is.
		l := newLog(t, chainLen+10, every)
		i := l.at(t, chainLen+5)
		l.entries[i].Actor = "nobody"
		l.rewriteFrom(t, i)
		if r := check(t, l); r.LastCheckpoint != chainLen || r.LastSeq != chainLen+10 {
			t.Errorf("report %+v", r)
		}
	})
	t.Run("attacker signs with own key", func(t *testing.T) {
		l := newLog(t, chainLen, every)
		l.entries[l.at(t, 10)].Actor = "nobody"
		l.rewriteFrom(t, l.at(t, 10))
		mallory := testKey(66)
		for j, c := range l.cps {
			e := l.entries[l.at(t, c.Seq)]
			if l.cps[j], _ = Sign(mallory, e, c.Time); l.cps[j].Seq == 0 {
				t.Fatal("could not re-sign")
			}
		}
		var wants []want
		for _, c := range l.cps {
			wants = append(wants, want{c.Seq, KindBadCheckpoint})
		}
		if r := check(t, l, wants...); r.LastCheckpoint != 0 {
			t.Errorf("LastCheckpoint %d with no genuine checkpoint", r.LastCheckpoint)
		}
	})
}

func TestVerifyDeleted(t *testing.T) {
	for _, s := range positions() {
		t.Run(fmt.Sprintf("%d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries = slices.Delete(l.entries, i, i+1)
			if s == chainLen {
				check(t, l, want{s, KindTruncated})
				return
			}
			check(t, l, want{s, KindDeleted})
		})
		if s == chainLen {
			continue
		}
		t.Run(fmt.Sprintf("%d, renumbered", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries = slices.Delete(l.entries, i, i+1)
			l.renumber(i, -1)
			r := check(t, l, want{s, KindDeleted})
			if !strings.Contains(r.Problems[0].Detail, "renumbered") {
				t.Errorf("detail %q does not mention the renumbering", r.Problems[0].Detail)
			}
		})
		t.Run(fmt.Sprintf("%d and four more", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			if i+5 > len(l.entries) {
				i = len(l.entries) - 5
			}
			first := l.entries[i].Seq
			l.entries = slices.Delete(l.entries, i, i+5)
			if first+4 == chainLen {
				check(t, l, want{first, KindTruncated})
				return
			}
			r := check(t, l, want{first, KindDeleted})
			if !strings.Contains(r.Problems[0].Detail, fmt.Sprintf("%d to %d", first, first+4)) {
				t.Errorf("detail %q", r.Problems[0].Detail)
			}
		})
	}
}

func TestVerifyInserted(t *testing.T) {
	for _, s := range positions() {
		t.Run(fmt.Sprintf("duplicate %d after the original", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.insert(i+1, forged(t, s, prevHash(l, i)))
			check(t, l, want{s, KindInserted})
		})
		t.Run(fmt.Sprintf("duplicate %d before the original", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.insert(i, forged(t, s, prevHash(l, i)))
			check(t, l, want{s, KindInserted})
		})
		t.Run(fmt.Sprintf("copy of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.insert(i+1, l.entries[i])
			check(t, l, want{s, KindInserted})
		})
		t.Run(fmt.Sprintf("unhashed forgery at %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			f := forged(t, s, prevHash(l, i))
			f.Actor = "changed after hashing"
			l.insert(i+1, f)
			check(t, l, want{s, KindInserted})
		})
		t.Run(fmt.Sprintf("at %d, later entries renumbered", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.insert(i, forged(t, s, prevHash(l, i)))
			l.renumber(i+1, +1)
			r := check(t, l, want{s, KindInserted})
			if r.LastSeq != chainLen {
				t.Errorf("LastSeq %d, want %d: renumbered entries keep their original seq", r.LastSeq, chainLen)
			}
		})
		t.Run(fmt.Sprintf("at %d, later entries renumbered and rehashed", s), func(t *testing.T) {
			// The attacker renumbers and rehashes everything after the
			// forgery, but the entry it displaced still links to the entry
			// before the forgery.
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.insert(i, forged(t, s, prevHash(l, i)))
			l.renumber(i+1, +1)
			rehash(t, &l.entries[i+1])
			l.rewriteFrom(t, i+2)
			check(t, l, want{s, KindInserted})
		})
	}
	t.Run("seq 0", func(t *testing.T) {
		l := newLog(t, chainLen, every)
		l.insert(0, forged(t, 0, GenesisPrev))
		check(t, l, want{0, KindInserted})
	})
	t.Run("after the last checkpoint", func(t *testing.T) {
		// Appended entries that chain properly cannot be told from real
		// ones; the report shows they are not yet covered.
		l := newLog(t, chainLen, every)
		l.entries = append(l.entries, forged(t, chainLen+1, l.entries[chainLen-1].Hash))
		if r := check(t, l); r.LastSeq != chainLen+1 || r.LastCheckpoint != chainLen {
			t.Errorf("report %+v", r)
		}
	})
}

func TestVerifyReordered(t *testing.T) {
	for _, s := range positions() {
		if s == chainLen {
			s--
		}
		t.Run(fmt.Sprintf("%d swapped with the next", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			l.entries[i], l.entries[i+1] = l.entries[i+1], l.entries[i]
			oneReordered(t, l, s, s+1) // moving either one restores the order
		})
		t.Run(fmt.Sprintf("%d moved to the end", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			e := l.entries[i]
			l.entries = append(slices.Delete(l.entries, i, i+1), e)
			if s == chainLen-1 {
				oneReordered(t, l, s, s+1)
				return
			}
			check(t, l, want{s, KindReordered})
		})
		t.Run(fmt.Sprintf("%d moved to the start", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			i := l.at(t, s)
			e := l.entries[i]
			l.entries = slices.Insert(slices.Delete(l.entries, i, i+1), 0, e)
			if s == 1 {
				check(t, l)
				return
			}
			check(t, l, want{s, KindReordered})
		})
	}
	t.Run("reversed", func(t *testing.T) {
		l := newLog(t, 20, 5)
		slices.Reverse(l.entries)
		if r := Verify(l.entries, l.cps, l.pub()); len(r.Problems) != 19 {
			t.Fatalf("%d problems in a reversed log of 20, want 19 reordered", len(r.Problems))
		}
	})
}

// oneReordered checks that the log has one problem: entry a or b is out of
// order.
func oneReordered(t *testing.T, l *auditLog, a, b uint64) {
	t.Helper()
	r := Verify(l.entries, l.cps, l.pub())
	if len(r.Problems) != 1 || r.Problems[0].Kind != KindReordered || (r.Problems[0].Seq != a && r.Problems[0].Seq != b) {
		t.Fatalf("problems %+v, want one reordered entry, %d or %d", r.Problems, a, b)
	}
}

func TestVerifyBadCheckpoint(t *testing.T) {
	for _, s := range []uint64{every, every * 2, chainLen} {
		t.Run(fmt.Sprintf("signature of %d", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			c := &l.cps[s/every-1]
			c.Signature = slices.Clone(c.Signature)
			c.Signature[0] ^= 1
			r := check(t, l, want{s, KindBadCheckpoint})
			if s == chainLen && r.LastCheckpoint != chainLen-every {
				t.Errorf("LastCheckpoint %d counts a bad checkpoint", r.LastCheckpoint)
			}
		})
		t.Run(fmt.Sprintf("seq of %d moved", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.cps[s/every-1].Seq--
			check(t, l, want{s - 1, KindBadCheckpoint})
		})
		t.Run(fmt.Sprintf("%d signed by another key", s), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			c, err := Sign(testKey(9), l.entries[l.at(t, s)], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			l.cps[s/every-1] = c
			check(t, l, want{s, KindBadCheckpoint})
		})
	}
	t.Run("forged checkpoint", func(t *testing.T) {
		l := newLog(t, chainLen, every)
		e := l.entries[l.at(t, 123)]
		l.cps = append(l.cps, Checkpoint{Seq: 123, Hash: e.Hash, Time: time.Now(), KeyID: l.cps[0].KeyID, Signature: make([]byte, 64)})
		check(t, l, want{123, KindBadCheckpoint})
	})
	t.Run("wrong verification key", func(t *testing.T) {
		l := newLog(t, chainLen, every)
		r := Verify(l.entries, l.cps, testKey(8).Public().(ed25519.PublicKey))
		if len(r.Problems) != len(l.cps) || r.LastCheckpoint != 0 {
			t.Fatalf("with the wrong key: %+v", r)
		}
		for _, p := range r.Problems {
			if p.Kind != KindBadCheckpoint {
				t.Fatalf("problem %+v", p)
			}
		}
		if r := Verify(l.entries, l.cps, nil); len(r.Problems) != len(l.cps) {
			t.Fatalf("with no key: %+v", r)
		}
	})
}

func TestVerifyTruncated(t *testing.T) {
	for _, keep := range []int{chainLen - 1, chainLen - 60, 1, 0} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			l := newLog(t, chainLen, every)
			l.entries = l.entries[:keep]
			r := check(t, l, want{uint64(keep) + 1, KindTruncated})
			if !strings.Contains(r.Problems[0].Detail, fmt.Sprintf("checkpoint %d", chainLen)) {
				t.Errorf("detail %q does not name the last checkpoint", r.Problems[0].Detail)
			}
		})
	}
	t.Run("checkpoints removed too", func(t *testing.T) {
		// Removing the checkpoints that name the removed entries as well
		// hides the truncation back to the last remaining checkpoint.
		l := newLog(t, chainLen, every)
		l.entries = l.entries[:chainLen-60]
		l.cps = l.cps[:len(l.cps)-2]
		if r := check(t, l); r.LastCheckpoint != chainLen-100 {
			t.Errorf("LastCheckpoint %d", r.LastCheckpoint)
		}
	})
}

// TestVerifyCombined: independent problems in different places are each
// reported.
func TestVerifyCombined(t *testing.T) {
	l := newLog(t, chainLen, every)
	l.entries[l.at(t, 20)].Actor = "x"
	i := l.at(t, 160)
	l.entries = slices.Delete(l.entries, i, i+1)
	i = l.at(t, 230)
	l.insert(i+1, forged(t, 230, l.entries[i-1].Hash))
	l.entries = l.entries[:len(l.entries)-3]
	check(t, l, want{20, KindEdited}, want{160, KindDeleted}, want{230, KindInserted}, want{298, KindTruncated})
}

// TestVerifyEveryPosition applies the basic tampering of each kind at every
// position of the chain, not only the chosen ones.
func TestVerifyEveryPosition(t *testing.T) {
	base := newLog(t, chainLen, every)
	fresh := func() *auditLog {
		return &auditLog{entries: slices.Clone(base.entries), cps: base.cps, priv: base.priv}
	}
	for s := uint64(1); s <= chainLen; s++ {
		l := fresh()
		i := l.at(t, s)
		l.entries[i].Action = "changed"
		check(t, l, want{s, KindEdited})

		l = fresh()
		l.entries = slices.Delete(l.entries, i, i+1)
		if s == chainLen {
			check(t, l, want{s, KindTruncated})
		} else {
			check(t, l, want{s, KindDeleted})
		}

		l = fresh()
		l.insert(i+1, forged(t, s, prevHash(l, i)))
		check(t, l, want{s, KindInserted})

		if s < chainLen {
			l = fresh()
			l.entries[i], l.entries[i+1] = l.entries[i+1], l.entries[i]
			oneReordered(t, l, s, s+1)
		}

		l = fresh()
		l.entries[i].Actor = "rewritten"
		l.rewriteFrom(t, i)
		check(t, l, want{(s + every - 1) / every * every, KindBadCheckpoint})
		if t.Failed() {
			t.Fatalf("at seq %d", s)
		}
	}
}
