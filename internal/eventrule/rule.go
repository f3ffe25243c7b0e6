package eventrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// Limits of a rule, and of the rules a server keeps: every event is
// matched against all of them, in the transaction that emits it.
const (
	MaxRules           = 256
	MaxRuleBytes       = MaxPatternBytes + 16<<10
	MaxTargets         = 16
	MaxNameLen         = 64
	MaxDescriptionLen  = 1024
	MaxArgs            = 64
	MaxArgLen          = 4096
	DefaultTimeout     = time.Minute
	MaxTargetTimeout   = 5 * time.Minute
	maxWebhookTimeout  = MaxTargetTimeout
	defaultHookTimeout = notify.DefaultWebhookTimeout
)

// Rule routes the events its pattern matches to its targets.
type Rule struct {
	// Name identifies the rule: 1 to 64 of a-z, 0-9, '.', '_' and '-',
	// starting with a letter or digit.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Enabled rules route events; a rule given without "enabled" is.
	Enabled bool     `json:"enabled"`
	Pattern *Pattern `json:"pattern"`
	// Targets receive every event the pattern matches; 1 to MaxTargets.
	Targets []Target `json:"targets"`
}

// Target is where a rule sends an event: exactly one field is set.
type Target struct {
	Webhook *WebhookTarget `json:"webhook,omitempty"`
	Email   *EmailTarget   `json:"email,omitempty"`
	Command *CommandTarget `json:"command,omitempty"`
	Copy    *CopyTarget    `json:"copy,omitempty"`
}

// WebhookTarget posts the event, signed, as docs/NOTIFICATIONS.md says.
type WebhookTarget struct {
	// URL is https, or http to a loopback host.
	URL string `json:"url"`
	// Secret names the secret that signs the requests; the server looks
	// it up when it delivers, so the rule never holds it.
	Secret string `json:"secret"`
	// Timeout bounds one request; 0 means notify's default (10s).
	Timeout Duration `json:"timeout,omitzero"`
	// Fingerprint, when set, pins the receiver's certificate
	// ("sha256:…"), as for another bunker server's self-signed one:
	// no certificate authority is consulted.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// EmailTarget mails the event.
type EmailTarget struct {
	// SMTP is the server and the addresses as notify.ParseTarget reads
	// them: smtp://HOST[:PORT]?from=…&to=…. A password is given with
	// password-file, never in the URL.
	SMTP string `json:"smtp"`
}

// CommandTarget runs a program with the event's envelope on its standard
// input: no shell, a fixed small environment, a time limit.
type CommandTarget struct {
	// Argv is the program, an absolute path, and its arguments.
	Argv []string `json:"argv"`
	// Timeout bounds one run; 0 means DefaultTimeout.
	Timeout Duration `json:"timeout,omitzero"`
}

// CopyTarget runs one of the server's named copy actions for the event's
// point.
type CopyTarget struct {
	// Action names the copy action. bunker's server reads it as the name
	// of one of its vaults, into which the event's point is copied.
	Action string `json:"action"`
}

// Duration is a time.Duration that JSON encodes as Go writes durations:
// "30s", "1m30s".
type Duration time.Duration

// MarshalJSON encodes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\", not %s", quote(s))
	}
	*d = Duration(v)
	return nil
}

// Kind names the target's kind: webhook, email, command or copy.
func (t Target) Kind() string {
	switch {
	case t.Webhook != nil:
		return "webhook"
	case t.Email != nil:
		return "email"
	case t.Command != nil:
		return "command"
	case t.Copy != nil:
		return "copy"
	}
	return "none"
}

// Name describes the target with no secret: a webhook by its scheme, host
// and a hash of its URL; mail by its server and recipients.
func (t Target) Name() string {
	switch {
	case t.Webhook != nil:
		s, err := notify.ParseTarget(t.Webhook.URL)
		if err != nil {
			return "webhook (invalid)"
		}
		return "webhook " + s.String()
	case t.Email != nil:
		s, err := notify.ParseTarget(t.Email.SMTP)
		if err != nil || s.Email == nil {
			return "email (invalid)"
		}
		return fmt.Sprintf("email to %s via %s", strings.Join(s.Email.To, ", "), s.Email.Host)
	case t.Command != nil && len(t.Command.Argv) > 0:
		return "command " + t.Command.Argv[0]
	case t.Copy != nil:
		return "copy " + t.Copy.Action
	}
	return "(no target)"
}

// ParseRule reads a rule from JSON and validates it. Unknown fields are
// refused; every error names the field, as "targets[1].webhook.url".
func ParseRule(b []byte) (*Rule, error) {
	if len(b) > MaxRuleBytes {
		return nil, fmt.Errorf("rule: %d bytes, at most %d", len(b), MaxRuleBytes)
	}
	fs, err := objectFields(b, "rule", "name", "description", "enabled", "pattern", "targets")
	if err != nil {
		return nil, err
	}
	r := &Rule{Enabled: true}
	if err := decodeField(fs, "name", "name", &r.Name); err != nil {
		return nil, err
	}
	if err := decodeField(fs, "description", "description", &r.Description); err != nil {
		return nil, err
	}
	if err := decodeField(fs, "enabled", "enabled", &r.Enabled); err != nil {
		return nil, err
	}
	if raw, ok := fs["pattern"]; ok {
		p, err := Compile(raw)
		if err != nil {
			return nil, prefixPattern(err)
		}
		r.Pattern = p
	}
	var targets []json.RawMessage
	if err := decodeField(fs, "targets", "targets", &targets); err != nil {
		return nil, err
	}
	for i, raw := range targets {
		t, err := parseTarget(raw, "targets["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		r.Targets = append(r.Targets, t)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseTarget reads one target, strictly.
func parseTarget(b []byte, path string) (Target, error) {
	fs, err := objectFields(b, path, "webhook", "email", "command", "copy")
	if err != nil {
		return Target{}, err
	}
	if len(fs) != 1 {
		return Target{}, fmt.Errorf("%s: give exactly one of webhook, email, command and copy", path)
	}
	var t Target
	for kind, raw := range fs {
		p := path + "." + kind
		var fields []namedField
		switch kind {
		case "webhook":
			w := &WebhookTarget{}
			t.Webhook, fields = w, []namedField{{"url", &w.URL}, {"secret", &w.Secret}, {"timeout", &w.Timeout}, {"fingerprint", &w.Fingerprint}}
		case "email":
			e := &EmailTarget{}
			t.Email, fields = e, []namedField{{"smtp", &e.SMTP}}
		case "command":
			c := &CommandTarget{}
			t.Command, fields = c, []namedField{{"argv", &c.Argv}, {"timeout", &c.Timeout}}
		case "copy":
			c := &CopyTarget{}
			t.Copy, fields = c, []namedField{{"action", &c.Action}}
		}
		known := make([]string, len(fields))
		for i, f := range fields {
			known[i] = f.name
		}
		sub, err := objectFields(raw, p, known...)
		if err != nil {
			return Target{}, err
		}
		for _, f := range fields {
			if err := decodeField(sub, f.name, p+"."+f.name, f.dst); err != nil {
				return Target{}, err
			}
		}
	}
	return t, nil
}

// namedField is a field of a target and where to decode it.
type namedField struct {
	name string
	dst  any
}

// objectFields splits a JSON object into its fields, refusing keys not in
// known and keys given twice.
func objectFields(b []byte, path string, known ...string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, fmt.Errorf("%s: want a JSON object", path)
	}
	fs := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, syntaxError(err))
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %w", joinKey(path, key), syntaxError(err))
		}
		switch {
		case !slices.Contains(known, key):
			return nil, fmt.Errorf("%s: unknown field (want %s)", joinKey(path, key), strings.Join(known, ", "))
		case fs[key] != nil:
			return nil, fmt.Errorf("%s: given twice", joinKey(path, key))
		}
		fs[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, syntaxError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the object", path)
	}
	return fs, nil
}

// decodeField decodes fs[key], if present, into dst.
func decodeField(fs map[string]json.RawMessage, key, path string, dst any) error {
	raw, ok := fs[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: want %s, not a JSON %s", path, goTypeName(te.Type.String()), te.Value)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// goTypeName words a Go type for an error.
func goTypeName(t string) string {
	switch t {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "[]string":
		return "an array of strings"
	case "[]json.RawMessage":
		return "an array of objects"
	}
	return t
}

// prefixPattern puts "pattern" before a pattern error's path.
func prefixPattern(err error) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("pattern: %w", err)
	}
	if pe.Path == "" {
		return &Error{Path: "pattern", Msg: pe.Msg}
	}
	return &Error{Path: "pattern." + pe.Path, Msg: pe.Msg}
}

// Validate checks every field of r, naming the first that is wrong.
func (r *Rule) Validate() error {
	if err := CheckName(r.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if len(r.Description) > MaxDescriptionLen {
		return fmt.Errorf("description: %d bytes, at most %d", len(r.Description), MaxDescriptionLen)
	}
	if r.Pattern == nil || r.Pattern.root == nil {
		return errors.New("pattern: missing; {\"kind\": [{\"exists\": true}]} matches every event")
	}
	switch {
	case len(r.Targets) == 0:
		return errors.New("targets: give at least one")
	case len(r.Targets) > MaxTargets:
		return fmt.Errorf("targets: %d, at most %d", len(r.Targets), MaxTargets)
	}
	for i, t := range r.Targets {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("targets[%d].%w", i, err)
		}
	}
	return nil
}

// CheckName checks a rule's, a secret's or a copy action's name.
func CheckName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("%d bytes, at most %d", len(s), MaxNameLen)
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')) {
			return fmt.Errorf("%s: only a-z, 0-9, '.', '_' and '-', starting with a letter or digit", quote(s))
		}
	}
	return nil
}

// Validate checks t. Its errors start with the kind's field, as
// "webhook.url: …", for Rule.Validate to put the target's index before.
func (t Target) Validate() error {
	n := 0
	for _, set := range []bool{t.Webhook != nil, t.Email != nil, t.Command != nil, t.Copy != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("kind: give exactly one of webhook, email, command and copy")
	}
	switch {
	case t.Webhook != nil:
		return t.Webhook.validate()
	case t.Email != nil:
		return t.Email.validate()
	case t.Command != nil:
		return t.Command.validate()
	}
	if err := CheckName(t.Copy.Action); err != nil {
		return fmt.Errorf("copy.action: %w", err)
	}
	return nil
}

func (w *WebhookTarget) validate() error {
	s, err := notify.ParseTarget(w.URL)
	if err != nil || s.Webhook == nil {
		if err == nil {
			err = errors.New("want an https:// URL")
		}
		return fmt.Errorf("webhook.url: %w", err)
	}
	if err := CheckName(w.Secret); err != nil {
		return fmt.Errorf("webhook.secret: the name of a secret: %w", err)
	}
	if d := time.Duration(w.Timeout); d < 0 || d > maxWebhookTimeout {
		return fmt.Errorf("webhook.timeout: %v, want 0 (10s) to %v", d, maxWebhookTimeout)
	}
	if w.Fingerprint != "" {
		if _, err := tlsutil.ParseFingerprint(w.Fingerprint); err != nil {
			return fmt.Errorf("webhook.fingerprint: %w", err)
		}
	}
	return nil
}

func (e *EmailTarget) validate() error {
	s, err := notify.ParseTarget(e.SMTP)
	if err != nil {
		return fmt.Errorf("email.smtp: %w", err)
	}
	switch {
	case s.Email == nil:
		return errors.New("email.smtp: want smtp://… or smtps://…")
	case s.Email.Password != "":
		return errors.New("email.smtp: a password in the URL; put it in a file and give password-file=PATH")
	}
	return nil
}

func (c *CommandTarget) validate() error {
	switch {
	case len(c.Argv) == 0:
		return errors.New("command.argv: give the program's absolute path and its arguments")
	case len(c.Argv) > MaxArgs:
		return fmt.Errorf("command.argv: %d entries, at most %d", len(c.Argv), MaxArgs)
	}
	for i, a := range c.Argv {
		switch {
		case len(a) > MaxArgLen:
			return fmt.Errorf("command.argv[%d]: %d bytes, at most %d", i, len(a), MaxArgLen)
		case strings.IndexByte(a, 0) >= 0:
			return fmt.Errorf("command.argv[%d]: a NUL byte", i)
		}
	}
	if p := c.Argv[0]; !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("command.argv[0]: %s: want a clean absolute path; there is no shell and no PATH search", quote(p))
	}
	if d := time.Duration(c.Timeout); d < 0 || d > MaxTargetTimeout {
		return fmt.Errorf("command.timeout: %v, want 0 (%v) to %v", d, DefaultTimeout, MaxTargetTimeout)
	}
	return nil
}

// Stored returns r as the store keeps it, created or updated by by at at.
func (r *Rule) Stored(by string, at time.Time) (*store.EventRule, error) {
	spec, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	return &store.EventRule{Name: r.Name, Spec: spec, CreatedAt: at, CreatedBy: by, UpdatedAt: at, UpdatedBy: by}, nil
}

// Marshal returns r's JSON encoding, which ParseRule reads back.
func (r *Rule) Marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rule %s: %w", r.Name, err)
	}
	return b, nil
}
