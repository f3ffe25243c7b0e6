package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcomes of an audited action.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeFailed = "failed"
)

// Limits on an entry's fields, checked by Next and Verify.
const (
	MaxString = 4 << 10  // bytes in each of Actor, Action, Target, Remote
	MaxDetail = 64 << 10 // bytes of Detail, before and after canonicalisation
)

// GenesisPrev is the Prev of the first entry.
const GenesisPrev = "0000000000000000000000000000000000000000000000000000000000000000"

const entryDomain = "bunker audit entry v1\x00"

// Entry is one record of the audit log.
type Entry struct {
	Seq     uint64          `json:"seq"`              // 1, 2, 3… with no gaps
	Time    time.Time       `json:"time"`             // server clock, UTC
	Actor   string          `json:"actor"`            // principal name, or "" when unauthenticated
	Action  string          `json:"action"`           // e.g. "vault.create", "point.delete", "auth.login"
	Target  string          `json:"target"`           // e.g. "vault/prod", "point/prod/3fa9…"
	Outcome string          `json:"outcome"`          // OutcomeOK, OutcomeDenied or OutcomeFailed
	Remote  string          `json:"remote,omitempty"` // client address
	Detail  json.RawMessage `json:"detail,omitempty"` // a JSON object, hashed in canonical form
	Prev    string          `json:"prev"`             // hex hash of the previous entry; GenesisPrev for seq 1
	Hash    string          `json:"hash"`             // hex SHA-256 of the entry's encoding
}

// Next returns e chained after last (nil for the first entry of a log): Seq
// is last's plus one, Prev is last's Hash and Hash is computed. Time is
// converted to UTC and cut to whole microseconds, the precision of the
// databases the log is kept in, and Detail is replaced by its canonical
// form, so that a store can keep both without changing the hash. Next
// refuses an entry with an unknown outcome, an empty action, a string field
// longer than MaxString or not valid UTF-8, a detail that is not a JSON
// object of at most MaxDetail bytes, or a last entry whose hash does not
// match its content. Use Clean on strings that come from clients.
func Next(last *Entry, e Entry) (Entry, error) {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	detail, err := e.check()
	if err != nil {
		return Entry{}, fmt.Errorf("audit entry: %w", err)
	}
	e.Detail = detail
	if last == nil {
		e.Seq, e.Prev = 1, GenesisPrev
	} else {
		h, err := last.ComputeHash()
		if err != nil {
			return Entry{}, fmt.Errorf("audit entry: previous entry %d: %w", last.Seq, err)
		}
		switch {
		case last.Seq == 0:
			return Entry{}, errors.New("audit entry: previous entry has seq 0")
		case last.Seq == math.MaxUint64:
			return Entry{}, errors.New("audit entry: sequence numbers exhausted")
		case h != last.Hash:
			return Entry{}, fmt.Errorf("audit entry: previous entry %d does not match its hash", last.Seq)
		}
		e.Seq, e.Prev = last.Seq+1, last.Hash
	}
	if e.Hash, err = e.ComputeHash(); err != nil {
		return Entry{}, fmt.Errorf("audit entry: %w", err)
	}
	return e, nil
}

// check validates e's fields and returns its canonical detail.
func (e Entry) check() ([]byte, error) {
	switch e.Outcome {
	case OutcomeOK, OutcomeDenied, OutcomeFailed:
	default:
		return nil, fmt.Errorf("unknown outcome %q", Clean(e.Outcome))
	}
	if e.Action == "" {
		return nil, errors.New("empty action")
	}
	for _, f := range []struct{ name, value string }{{"actor", e.Actor}, {"action", e.Action}, {"target", e.Target}, {"remote", e.Remote}} {
		if len(f.value) > MaxString {
			return nil, fmt.Errorf("%s is %d bytes long, at most %d allowed", f.name, len(f.value), MaxString)
		}
		if !utf8.ValidString(f.value) {
			return nil, fmt.Errorf("%s is not valid UTF-8", f.name)
		}
	}
	if e.Time.IsZero() {
		return nil, errors.New("no time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("time in year %d is outside 1..9999", y)
	}
	if len(e.Detail) > MaxDetail {
		return nil, fmt.Errorf("detail is %d bytes long, at most %d allowed", len(e.Detail), MaxDetail)
	}
	detail, err := canonicalDetail(e.Detail)
	if err != nil {
		return nil, err
	}
	if len(detail) > MaxDetail {
		return nil, fmt.Errorf("detail is %d bytes long in canonical form, at most %d allowed", len(detail), MaxDetail)
	}
	return detail, nil
}

// ComputeHash returns the hex SHA-256 of e's encoding, as described in the
// package documentation. It fails if Prev is not 64 lower-case hex digits
// or Detail is not a JSON object.
func (e Entry) ComputeHash() (string, error) {
	detail, err := canonicalDetail(e.Detail)
	if err != nil {
		return "", fmt.Errorf("hash entry %d: %w", e.Seq, err)
	}
	return e.hashWith(e.Seq, detail)
}

// hashWith hashes e as if its seq were seq, with detail already canonical.
func (e Entry) hashWith(seq uint64, detail []byte) (string, error) {
	prev, err := decodeHash(e.Prev)
	if err != nil {
		return "", fmt.Errorf("hash entry %d: prev: %w", e.Seq, err)
	}
	buf := make([]byte, 0, len(entryDomain)+8+12+5*4+len(e.Actor)+len(e.Action)+len(e.Target)+len(e.Outcome)+len(e.Remote)+4+len(detail)+32)
	buf = append(buf, entryDomain...)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = appendTime(buf, e.Time)
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Outcome, e.Remote, string(detail)} {
		if uint64(len(s)) > math.MaxUint32 {
			return "", fmt.Errorf("hash entry %d: a field is longer than 4 GiB", e.Seq)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	buf = append(buf, prev[:]...)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

// appendTime appends t as Unix seconds (8 bytes, two's complement) and
// nanoseconds (4 bytes), big-endian.
func appendTime(buf []byte, t time.Time) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(buf, uint32(t.Nanosecond()))
}

// decodeHash decodes 64 lower-case hex digits.
func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	bad := len(s) != 64
	for i := 0; i < len(s) && !bad; i++ {
		bad = (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f')
	}
	if bad {
		return h, errors.New("not 64 lower-case hex digits")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("decode hash: %w", err)
	}
	return h, nil
}

// Clean makes s acceptable as a string field of an entry, so that an
// attempt is logged whatever a client sent: invalid UTF-8 is replaced by
// U+FFFD and the result is cut to at most MaxString bytes at a character
// boundary.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxString {
		return s
	}
	cut := MaxString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
