package event

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 12, 30, 0, 123456789, time.UTC)

func sample() Envelope {
	return Envelope{ID: NewID(), Version: Version, Kind: BackupCompleted, Time: t0, Source: "bunker-1", Vault: "prod",
		Subject: "3fa9c2d1", Actor: "web1", Detail: map[string]any{"job": 42, "paths": []string{"/etc"}, "bytes": int64(1) << 40}}
}

func TestMarshalParse(t *testing.T) {
	e := sample()
	if err := e.Normalize(); err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":1`, `"kind":"backup.completed"`, `"time":"2026-05-04T12:30:00.123456789Z"`, `"bytes":1099511627776`, `"paths":["/etc"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoding lacks %s: %s", want, b)
		}
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || !got.Time.Equal(t0) || got.Subject != "3fa9c2d1" || got.Detail["bytes"] != json.Number("1099511627776") {
		t.Errorf("round trip: %+v", got)
	}
	again, _ := got.Marshal()
	if string(again) != string(b) {
		t.Errorf("second encoding differs:\n%s\n%s", b, again)
	}
}

func TestNormalizeCopies(t *testing.T) {
	d := map[string]any{"a": []string{"x"}}
	e := Envelope{Kind: JobFailed, Detail: d}
	if err := e.Normalize(); err != nil {
		t.Fatal(err)
	}
	d["a"] = "changed"
	if l, ok := e.Detail["a"].([]any); !ok || l[0] != "x" {
		t.Errorf("detail shares the caller's map: %#v", e.Detail)
	}
	var empty Envelope
	if err := empty.Normalize(); err != nil || empty.Detail == nil {
		t.Errorf("nil detail: %v %#v", err, empty.Detail)
	}
	bad := Envelope{Kind: JobFailed, Detail: map[string]any{"f": func() {}}}
	if err := bad.Normalize(); err == nil {
		t.Error("a function in detail was accepted")
	}
	big := Envelope{Kind: JobFailed, Detail: map[string]any{"s": strings.Repeat("x", MaxDetailBytes)}}
	if err := big.Normalize(); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized detail: %v", err)
	}
	var nested any = "leaf"
	for range maxDetailDepth + 1 {
		nested = []any{nested}
	}
	deep := Envelope{Kind: JobFailed, Detail: map[string]any{"n": nested}}
	if err := deep.Normalize(); err == nil || !strings.Contains(err.Error(), "nests") {
		t.Errorf("deep detail: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Envelope)
		want string
	}{
		{"ok", func(*Envelope) {}, ""},
		{"version", func(e *Envelope) { e.Version = 2 }, "version 2"},
		{"no kind", func(e *Envelope) { e.Kind = "" }, "no kind"},
		{"one word", func(e *Envelope) { e.Kind = "backup" }, "separated by dots"},
		{"upper", func(e *Envelope) { e.Kind = "Backup.done" }, "only a-z"},
		{"empty word", func(e *Envelope) { e.Kind = "backup..done" }, "empty word"},
		{"no time", func(e *Envelope) { e.Time = time.Time{} }, "no time"},
		{"no id", func(e *Envelope) { e.ID = "" }, "no id"},
		{"no source", func(e *Envelope) { e.Source = "" }, "no source"},
		{"long vault", func(e *Envelope) { e.Vault = strings.Repeat("v", MaxFieldLen+1) }, "vault is"},
	} {
		e := sample()
		tc.mod(&e)
		err := e.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"version":1}`, `{"id":"x","version":1,"kind":"a.b","time":"2026-01-01T00:00:00Z","source":"s","detail":[1]}`,
		`{"id":"x","version":1,"kind":"a.b","time":"2026-01-01T00:00:00Z","source":"s","detail":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		strings.Repeat(" ", MaxBytes+1),
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("accepted %.60q", in)
		}
	}
	e, err := Parse([]byte(`{"id":"x","version":1,"kind":"a.b","time":"2026-01-01T00:00:00Z","source":"s"}`))
	if err != nil || e.Detail == nil {
		t.Errorf("no detail: %v %+v", err, e)
	}
}

func TestKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if err := CheckKind(k.Kind); err != nil {
			t.Error(err)
		}
		if seen[k.Kind] {
			t.Errorf("%s listed twice", k.Kind)
		}
		seen[k.Kind] = true
		if k.Doc == "" || k.Subject == "" || len(k.Detail) == 0 {
			t.Errorf("%s: incomplete %+v", k.Kind, k)
		}
		fields := map[string]bool{}
		for _, f := range k.Detail {
			if fields[f.Name] || f.Type == "" || f.Doc == "" {
				t.Errorf("%s: field %+v repeated or incomplete", k.Kind, f)
			}
			fields[f.Name] = true
		}
	}
	for _, k := range []string{BackupCompleted, BackupFailed, CopyCompleted, CopyFailed, ScanVerdict, ScanVerdictChanged, VaultLockChanged,
		ApprovalRequested, ApprovalNeeded, ApprovalApproved, ApprovalRejected, ApprovalExpired, ApprovalExecuted,
		GrantOpened, GrantClosed, VerifyCompleted, VerifyFailed, JobFailed, PlanDue, PlanMissed, PlanOverdue, VaultFlood, PlanDropped, PullStalled,
		ApprovalPending, ApprovalCancelled, GrantIssued, GrantRevoked, GrantExpired, TeamInvited, TeamActive} {
		if _, ok := Lookup(k); !ok {
			t.Errorf("%s not listed", k)
		}
	}
	if _, ok := Lookup("backup.exploded"); ok {
		t.Error("an unknown kind was found")
	}
	ks := Kinds()
	ks[0].Kind = "x"
	if Kinds()[0].Kind != BackupCompleted {
		t.Error("Kinds shares its slice")
	}
}

// TestKindsDocumented checks that docs/EVENTS.md describes every kind and
// every field of its detail.
func TestKindsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range Kinds() {
		_, section, ok := strings.Cut(doc, "### `"+k.Kind+"`\n")
		if !ok {
			t.Errorf("%s is not documented", k.Kind)
			continue
		}
		section, _, _ = strings.Cut(section, "\n### ")
		for _, f := range k.Detail {
			if !strings.Contains(section, "| `"+f.Name+"` | "+f.Type+" |") {
				t.Errorf("%s: detail field %s (%s) is not documented", k.Kind, f.Name, f.Type)
			}
		}
	}
}
