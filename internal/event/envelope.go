package event

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the version of the envelope's encoding. It changes only if a
// field changes incompatibly; fields may be added without a new version,
// so receivers should ignore fields they do not know.
const Version = 1

// Limits of an envelope.
const (
	MaxKindLen     = 64       // bytes of Kind
	MaxFieldLen    = 256      // bytes of Source, Vault, Subject, Actor and ID
	MaxDetailBytes = 64 << 10 // Detail, encoded as JSON
	MaxBytes       = MaxDetailBytes + 4<<10
	maxDetailDepth = 16
)

// Envelope is one event. Its JSON encoding is:
//
//	{
//	  "id": "01J9Z3…",              // unique, the same on every delivery
//	  "version": 1,
//	  "kind": "backup.completed",  // dotted, lower case
//	  "time": "2026-05-04T12:30:00.123456789Z",  // the server's clock, UTC
//	  "source": "bunker-1",        // the server that emitted it
//	  "vault": "prod",             // absent if no vault is concerned
//	  "subject": "3fa9c2d1…",      // what it is about: a point, job, request…
//	  "actor": "web1",             // who caused it; absent for the server itself
//	  "detail": {…}                // the kind's fields, always an object
//	}
type Envelope struct {
	// ID identifies the event: 32 lower-case hex digits, random.
	ID string `json:"id"`
	// Version is the encoding's version, Version.
	Version int `json:"version"`
	// Kind is what happened, as "backup.completed": dot-separated words of
	// lower-case letters, digits and underscores.
	Kind string `json:"kind"`
	// Time is when the server noticed it happen, by its own clock.
	Time time.Time `json:"time"`
	// Source names the server that emitted the event.
	Source string `json:"source"`
	// Vault is the vault concerned, if any.
	Vault string `json:"vault,omitempty"`
	// Subject is what the event is about: a point id, a job id, an
	// approval request id…; Kinds says which for each kind.
	Subject string `json:"subject,omitempty"`
	// Actor is the principal whose request caused the event, if any.
	Actor string `json:"actor,omitempty"`
	// Detail holds the kind's own fields. Its values must encode as JSON;
	// Normalize turns them into what decoding JSON gives (json.Number for
	// numbers).
	Detail map[string]any `json:"detail"`
}

// NewID returns a new random event id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// Validate checks every field of e.
func (e *Envelope) Validate() error {
	if e.Version != Version {
		return fmt.Errorf("event: version %d, want %d", e.Version, Version)
	}
	if err := CheckKind(e.Kind); err != nil {
		return err
	}
	if e.Time.IsZero() {
		return fmt.Errorf("event %s: no time", e.Kind)
	}
	for _, f := range []struct{ name, v string }{{"id", e.ID}, {"source", e.Source}, {"vault", e.Vault}, {"subject", e.Subject}, {"actor", e.Actor}} {
		if len(f.v) > MaxFieldLen {
			return fmt.Errorf("event %s: %s is %d bytes, at most %d", e.Kind, f.name, len(f.v), MaxFieldLen)
		}
	}
	if e.ID == "" {
		return fmt.Errorf("event %s: no id", e.Kind)
	}
	if e.Source == "" {
		return fmt.Errorf("event %s: no source", e.Kind)
	}
	return nil
}

// CheckKind checks that kind is dot-separated words of lower-case ASCII
// letters, digits and underscores, at least two of them.
func CheckKind(kind string) error {
	switch {
	case kind == "":
		return errors.New("event: no kind")
	case len(kind) > MaxKindLen:
		return fmt.Errorf("event: kind of %d bytes, at most %d", len(kind), MaxKindLen)
	}
	words := strings.Split(kind, ".")
	if len(words) < 2 {
		return fmt.Errorf("event: kind %q: want words separated by dots, as backup.completed", kind)
	}
	for _, w := range words {
		if w == "" {
			return fmt.Errorf("event: kind %q has an empty word", kind)
		}
		for _, r := range w {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("event: kind %q: only a-z, 0-9, '_' and '.'", kind)
			}
		}
	}
	return nil
}

// Normalize makes e's Detail its own copy in the form decoding JSON gives
// (objects as map[string]any, arrays as []any, numbers as json.Number),
// so that the caller's map may change afterwards and patterns see what a
// receiver will. A nil Detail becomes an empty object. It fails if the
// detail does not encode as JSON or is larger than MaxDetailBytes.
func (e *Envelope) Normalize() error {
	if e.Detail == nil {
		e.Detail = map[string]any{}
		return nil
	}
	j, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("event %s: detail does not encode as JSON: %w", e.Kind, err)
	}
	d, err := decodeDetail(j)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.Kind, err)
	}
	e.Detail = d
	return nil
}

// decodeDetail decodes a detail object, bounded in size and depth.
func decodeDetail(j []byte) (map[string]any, error) {
	if len(j) > MaxDetailBytes {
		return nil, fmt.Errorf("detail is %d bytes of JSON, more than %d", len(j), MaxDetailBytes)
	}
	if d := depth(j); d > maxDetailDepth {
		return nil, fmt.Errorf("detail nests %d deep, more than %d", d, maxDetailDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	if d == nil {
		d = map[string]any{}
	}
	return d, nil
}

// depth returns how deeply objects and arrays nest in the JSON text j.
func depth(j []byte) int {
	d, most, inString, escaped := 0, 0, false, false
	for _, c := range j {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}

// Marshal returns e's JSON encoding, on one line.
func (e *Envelope) Marshal() ([]byte, error) {
	c := *e
	if c.Detail == nil {
		c.Detail = map[string]any{}
	}
	c.Time = c.Time.UTC()
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.Kind, err)
	}
	return b, nil
}

// Parse decodes and validates an envelope as Marshal encodes it. It is
// bounded: at most MaxBytes, with a detail of at most MaxDetailBytes.
func Parse(b []byte) (*Envelope, error) {
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("event of %d bytes, more than %d", len(b), MaxBytes)
	}
	var raw struct {
		Envelope
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	e := raw.Envelope
	if len(raw.Detail) > 0 && !bytes.Equal(raw.Detail, []byte("null")) {
		d, err := decodeDetail(raw.Detail)
		if err != nil {
			return nil, fmt.Errorf("decode event %s: %w", e.Kind, err)
		}
		e.Detail = d
	} else {
		e.Detail = map[string]any{}
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}
