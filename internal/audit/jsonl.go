package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bunkerhq/bunker/internal/secret"
)

// Format is the format name in the header line of an export.
const Format = "bunker-audit-v1"

// MaxLine is the longest line ReadJSONL accepts, in bytes.
const MaxLine = 1 << 20

type headerLine struct {
	Type      string `json:"type"`
	Format    string `json:"format"`
	KeyID     string `json:"key_id"`
	PublicKey []byte `json:"public_key"`
}

type entryLine struct {
	Type string `json:"type"`
	Entry
}

type checkpointLine struct {
	Type string `json:"type"`
	Checkpoint
}

// lineFields returns the fields a line of type typ must have and the ones
// it may have, and false for an unknown type.
func lineFields(typ string) (required, optional []string, ok bool) {
	switch typ {
	case "header":
		return []string{"type", "format", "key_id", "public_key"}, nil, true
	case "entry":
		return []string{"type", "seq", "time", "actor", "action", "target", "outcome", "prev", "hash"}, []string{"remote", "detail"}, true
	case "checkpoint":
		return []string{"type", "seq", "hash", "time", "key_id", "signature"}, nil, true
	}
	return nil, nil, false
}

// WriteJSONL writes an export of a log: a header line naming the format
// and the public key that signs the checkpoints, then one line per entry
// in the order given, each checkpoint after the entry it names (or at the
// end if that entry is not among them).
func WriteJSONL(w io.Writer, pub ed25519.PublicKey, entries []Entry, checkpoints []Checkpoint) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("write audit export: public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(headerLine{Type: "header", Format: Format, KeyID: secret.KeyID(pub), PublicKey: pub}); err != nil {
		return fmt.Errorf("write audit export: %w", err)
	}
	cps := slices.Clone(checkpoints)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	writeCheckpoints := func(upTo uint64) error {
		for len(cps) > 0 && cps[0].Seq <= upTo {
			if err := enc.Encode(checkpointLine{Type: "checkpoint", Checkpoint: cps[0]}); err != nil {
				return fmt.Errorf("write audit export: checkpoint %d: %w", cps[0].Seq, err)
			}
			cps = cps[1:]
		}
		return nil
	}
	for _, e := range entries {
		if err := enc.Encode(entryLine{Type: "entry", Entry: e}); err != nil {
			return fmt.Errorf("write audit export: entry %d: %w", e.Seq, err)
		}
		if err := writeCheckpoints(e.Seq); err != nil {
			return err
		}
	}
	if err := writeCheckpoints(^uint64(0)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write audit export: %w", err)
	}
	return nil
}

// ReadJSONL reads an export written by WriteJSONL. It is strict: the
// header must come first and only there, every line must be one JSON object
// of a known type with exactly the known fields (no duplicates, no nulls,
// nothing missing), and lines are at most MaxLine bytes. Errors name the
// line. It does not verify the log: pass what it returns to Verify, with a
// public key obtained independently (compare its id with the header's
// key_id: a forger can write any key into the header).
func ReadJSONL(r io.Reader) (pub ed25519.PublicKey, entries []Entry, checkpoints []Checkpoint, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine+2) // room for "\r\n"
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(line) > MaxLine {
			return nil, nil, nil, fmt.Errorf("audit export line %d is longer than %d bytes", n, MaxLine)
		}
		typ, err := lineType(line)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("audit export line %d: %w", n, err)
		}
		switch {
		case n == 1 && typ != "header":
			return nil, nil, nil, fmt.Errorf("audit export line 1: want the header, found a %q line", typ)
		case n > 1 && typ == "header":
			return nil, nil, nil, fmt.Errorf("audit export line %d: a second header", n)
		}
		switch typ {
		case "header":
			var h headerLine
			if err := json.Unmarshal(line, &h); err != nil {
				return nil, nil, nil, fmt.Errorf("audit export line %d: %w", n, err)
			}
			if h.Format != Format {
				return nil, nil, nil, fmt.Errorf("audit export line %d: format %q, want %q", n, Clean(h.Format), Format)
			}
			if len(h.PublicKey) != ed25519.PublicKeySize {
				return nil, nil, nil, fmt.Errorf("audit export line %d: public key has %d bytes, want %d", n, len(h.PublicKey), ed25519.PublicKeySize)
			}
			pub = ed25519.PublicKey(h.PublicKey)
			if id := secret.KeyID(pub); h.KeyID != id {
				return nil, nil, nil, fmt.Errorf("audit export line %d: key_id %q is not the id %s of the public key", n, Clean(h.KeyID), id)
			}
		case "entry":
			var l entryLine
			if err := json.Unmarshal(line, &l); err != nil {
				return nil, nil, nil, fmt.Errorf("audit export line %d: %w", n, err)
			}
			l.Entry.Time = l.Entry.Time.UTC()
			entries = append(entries, l.Entry)
		case "checkpoint":
			var l checkpointLine
			if err := json.Unmarshal(line, &l); err != nil {
				return nil, nil, nil, fmt.Errorf("audit export line %d: %w", n, err)
			}
			l.Checkpoint.Time = l.Checkpoint.Time.UTC()
			checkpoints = append(checkpoints, l.Checkpoint)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, nil, fmt.Errorf("audit export line %d is longer than %d bytes", n+1, MaxLine)
		}
		return nil, nil, nil, fmt.Errorf("read audit export after line %d: %w", n, err)
	}
	if n == 0 {
		return nil, nil, nil, errors.New("audit export is empty: no header line")
	}
	return pub, entries, checkpoints, nil
}

// lineType checks that line is one JSON object with exactly the fields of
// its type, none null, and returns the type.
func lineType(line []byte) (string, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return "", errors.New("empty line")
	}
	// Refuses duplicate keys, invalid UTF-8 and anything after the object,
	// which encoding/json would let through.
	if _, err := CanonicalJSON(line); err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return "", fmt.Errorf("not a JSON object: %w", err)
	}
	var typ string
	if err := json.Unmarshal(fields["type"], &typ); err != nil {
		return "", errors.New(`no "type" string`)
	}
	required, optional, ok := lineFields(typ)
	if !ok {
		return "", fmt.Errorf("unknown line type %q", Clean(typ))
	}
	for _, name := range required {
		if _, ok := fields[name]; !ok {
			return "", fmt.Errorf("%s line without %q", typ, name)
		}
	}
	for name, value := range fields {
		if !slices.Contains(required, name) && !slices.Contains(optional, name) {
			return "", fmt.Errorf("%s line with unknown field %q", typ, Clean(name))
		}
		if string(value) == "null" {
			return "", fmt.Errorf("%s line with null %q", typ, name)
		}
	}
	return typ, nil
}
