package approval

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bunkerhq/bunker/internal/audit"
)

// Operation is a kind of guarded operation.
type Operation string

// The guarded operations.
const (
	// DeleteEarly deletes a point before its expiry, or shortens it.
	DeleteEarly Operation = "delete-early"
	// HoldRelease releases a legal hold.
	HoldRelease Operation = "hold-release"
	// LockChange changes or removes a vault's lock during its grace period.
	LockChange Operation = "lock-change"
	// VaultDelete deletes a vault.
	VaultDelete Operation = "vault-delete"
	// RetentionLower lowers a vault's retention or recycle-bin period.
	RetentionLower Operation = "retention-lower"
	// VaultTeam changes the team that approves a vault's operations.
	VaultTeam Operation = "vault-team"
	// ApprovalOff removes a scope's team or stops guarding an operation.
	ApprovalOff Operation = "approval-off"
	// SecurityAdminGrant binds the security-admin role.
	SecurityAdminGrant Operation = "security-admin-grant"
	// InfectedRestore restores a point whose verdict is infected.
	InfectedRestore Operation = "infected-restore"
	// AirGapOpen grants time-boxed restore access to an air-gapped vault.
	AirGapOpen Operation = "air-gap-open"
	// TeamChange changes an active team's members or threshold.
	TeamChange Operation = "team-change"
)

// opInfo describes an operation.
type opInfo struct {
	op    Operation
	vault bool // guarded per vault, and configurable there
	desc  string
}

// operations is the table of guarded operations, in display order.
func operations() []opInfo {
	return []opInfo{
		{DeleteEarly, true, "delete a point before its expiry, or shorten its retention"},
		{HoldRelease, true, "release a legal hold"},
		{LockChange, true, "change or remove the vault's lock during its grace period"},
		{VaultDelete, true, "delete the vault"},
		{RetentionLower, true, "lower the vault's retention or recycle-bin period"},
		{VaultTeam, true, "change the vault's approval team"},
		{ApprovalOff, true, "turn approval off: remove the team or stop guarding an operation"},
		{InfectedRestore, true, "restore a point whose verdict is infected"},
		{AirGapOpen, false, "open an air-gapped vault: a time-boxed restore-access grant"},
		{SecurityAdminGrant, false, "bind the security-admin role (guarded by the server's team)"},
		{TeamChange, false, "change an active team's members or threshold (approved by that team)"},
	}
}

// Operations lists every guarded operation.
func Operations() []Operation {
	ops := operations()
	out := make([]Operation, len(ops))
	for i, o := range ops {
		out[i] = o.op
	}
	return out
}

// VaultOperations lists the operations a vault's approval settings guard,
// each of them unless the settings say otherwise.
func VaultOperations() []Operation {
	var out []Operation
	for _, o := range operations() {
		if o.vault {
			out = append(out, o.op)
		}
	}
	return out
}

// Describe says what the operation does.
func (o Operation) Describe() string {
	for _, x := range operations() {
		if x.op == o {
			return x.desc
		}
	}
	return string(o)
}

// ParseOperation checks that s names an operation.
func ParseOperation(s string) (Operation, error) {
	for _, o := range operations() {
		if string(o.op) == s {
			return o.op, nil
		}
	}
	ops := operations()
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = string(o.op)
	}
	return "", fmt.Errorf("unknown guarded operation %q (operations: %s)", audit.Clean(s), strings.Join(names, ", "))
}

// ServerScope is the scope of operations that concern the whole server.
const ServerScope = "*"

// Request is a guarded operation pinned with its parameters.
type Request struct {
	ID        string          `json:"id"`
	Operation Operation       `json:"operation"`
	Scope     string          `json:"scope"`  // a vault's name, or ServerScope
	Target    string          `json:"target"` // what it acts on, as audit entries name it
	Params    json.RawMessage `json:"params"` // a JSON object
	Requester string          `json:"requester"`
	Team      string          `json:"team"`
	Created   time.Time       `json:"created"`
}

// NewID returns a random request id: 32 lower-case hex digits.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a request id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// maxParams bounds a request's parameters.
const maxParams = 16 << 10

// Validate checks a request's fields.
func (r Request) Validate() error {
	if len(r.ID) != 32 || strings.Trim(r.ID, "0123456789abcdef") != "" {
		return errors.New("request id: want 32 lower-case hex digits")
	}
	if _, err := ParseOperation(string(r.Operation)); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"scope", r.Scope}, {"target", r.Target}, {"requester", r.Requester}, {"team", r.Team}} {
		if f.v == "" || len(f.v) > 512 || !utf8.ValidString(f.v) {
			return fmt.Errorf("request %s: want 1 to 512 bytes of UTF-8", f.name)
		}
	}
	if len(r.Params) > maxParams {
		return fmt.Errorf("request params: %d bytes, at most %d", len(r.Params), maxParams)
	}
	if p := bytes.TrimSpace(r.Params); len(p) == 0 || p[0] != '{' {
		return errors.New("request params: want a JSON object")
	}
	if r.Created.IsZero() {
		return errors.New("request has no time")
	}
	if y := r.Created.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("request time in year %d is outside 1..9999", y)
	}
	return nil
}

// Canonical returns the request's canonical form (see the package
// documentation).
func (r Request) Canonical() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.Created = r.Created.UTC()
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	out, err := audit.CanonicalJSON(data)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return out, nil
}

const requestDomain = "bunker approval request v1\n"

// Hash returns the hash of a request's canonical form.
func Hash(canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(requestDomain))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// ParseCanonical reads a request from its canonical form and returns it
// with its hash. It refuses anything that is not exactly the canonical form
// of a valid request, so that a request and its bytes correspond one to one.
func ParseCanonical(data []byte) (Request, string, error) {
	var r Request
	if len(data) > 2*maxParams {
		return r, "", fmt.Errorf("request: %d bytes, too long", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, "", fmt.Errorf("request: %w", err)
	}
	again, err := r.Canonical()
	if err != nil {
		return Request{}, "", err
	}
	if !bytes.Equal(again, data) {
		return Request{}, "", errors.New("request is not in canonical form")
	}
	return r, Hash(data), nil
}

// CheckHash reports whether s is a request hash: 64 lower-case hex digits.
func CheckHash(s string) error {
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return errors.New("a request hash is 64 lower-case hex digits")
	}
	return nil
}
