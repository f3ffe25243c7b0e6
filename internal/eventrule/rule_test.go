package eventrule

import (
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
)

const fullRule = `{
	"name": "failures-to-ops",
	"description": "every failure, to the on-call",
	"pattern": {"kind": [{"suffix": ".failed"}], "vault": [{"anything-but": "scratch"}]},
	"targets": [
		{"webhook": {"url": "https://hooks.example/bunker/T0/XYZ", "secret": "ops-hook", "timeout": "5s"}},
		{"email": {"smtp": "smtp://bunker@mail.example?from=bunker@example.com&to=ops@example.com&password-file=/etc/bunker/smtp"}},
		{"command": {"argv": ["/etc/bunker/hooks/page", "--sev", "2"], "timeout": "30s"}},
		{"copy": {"action": "to-central"}}
	]
}`

func TestParseRule(t *testing.T) {
	r, err := ParseRule([]byte(fullRule))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Enabled || r.Name != "failures-to-ops" || len(r.Targets) != 4 || time.Duration(r.Targets[0].Webhook.Timeout) != 5*time.Second ||
		r.Targets[2].Command.Argv[2] != "2" || r.Targets[3].Copy.Action != "to-central" {
		t.Fatalf("parsed %+v", r)
	}
	names := []string{}
	for _, tg := range r.Targets {
		names = append(names, tg.Kind()+": "+tg.Name())
	}
	got := strings.Join(names, "; ")
	for _, want := range []string{"webhook: webhook https://hooks.example/…#", "email: email to <ops@example.com> via mail.example", "command: command /etc/bunker/hooks/page", "copy: copy to-central"} {
		if !strings.Contains(got, want) {
			t.Errorf("names %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "XYZ") {
		t.Errorf("a webhook's name shows its path: %s", got)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseRule(b)
	if err != nil {
		t.Fatalf("%s does not parse back: %v", b, err)
	}
	b2, _ := again.Marshal()
	if string(b) != string(b2) {
		t.Errorf("encodings differ:\n%s\n%s", b, b2)
	}
	off, err := ParseRule([]byte(`{"name":"x","enabled":false,"pattern":{"kind":["a.b"]},"targets":[{"copy":{"action":"c"}}]}`))
	if err != nil || off.Enabled {
		t.Errorf("disabled rule: %+v %v", off, err)
	}
}

func TestParseRuleErrors(t *testing.T) {
	ok := `"pattern":{"kind":["a.b"]},"targets":[{"copy":{"action":"c"}}]`
	for _, tc := range []struct{ rule, want string }{
		{`[]`, "rule: want a JSON object"},
		{`{"name":"x",` + ok + `,"extra":1}`, `extra: unknown field (want name, description, enabled, pattern, targets)`},
		{`{"name":"x","name":"y",` + ok + `}`, `name: given twice`},
		{`{` + ok + `}`, `name: empty`},
		{`{"name":"Bad Name",` + ok + `}`, `name: "Bad Name": only a-z`},
		{`{"name":"-x",` + ok + `}`, `name: "-x": only a-z`},
		{`{"name":7,` + ok + `}`, `name: want a string, not a JSON number`},
		{`{"name":"x","enabled":"yes",` + ok + `}`, `enabled: want true or false, not a JSON string`},
		{`{"name":"x","description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `",` + ok + `}`, `description: 1025 bytes`},
		{`{"name":"x","targets":[{"copy":{"action":"c"}}]}`, `pattern: missing`},
		{`{"name":"x","pattern":{"detail":{"level":["a",{"prefixx":"b"}]}},"targets":[]}`, `pattern.detail.level[1]: unknown matcher "prefixx"`},
		{`{"name":"x","pattern":{},"targets":[]}`, `pattern: empty`},
		{`{"name":"x","pattern":{"kind":["a"]}}`, `targets: give at least one`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":{}}`, `targets: want an array of objects, not a JSON object`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[` + strings.Repeat(`{"copy":{"action":"c"}},`, MaxTargets) + `{"copy":{"action":"c"}}]}`, `targets: 17, at most 16`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{}]}`, `targets[0]: give exactly one of webhook, email, command and copy`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"copy":{"action":"c"},"email":{}}]}`, `targets[0]: give exactly one`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"sms":{}}]}`, `targets[0].sms: unknown field (want webhook, email, command, copy)`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"copy":{"action":"c"}},{"copy":{"actoin":"c"}}]}`, `targets[1].copy.actoin: unknown field (want action)`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"copy":{}}]}`, `targets[0].copy.action: empty`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"ftp://h/x","secret":"s"}}]}`, `targets[0].webhook.url: notification target: scheme "ftp"`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"http://example.com/x","secret":"s"}}]}`, `targets[0].webhook.url: notification target: webhook http://example.com/…#83422ef3: plain http only to a loopback host`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"smtp://h?from=a@b&to=c@d","secret":"s"}}]}`, `targets[0].webhook.url: want an https:// URL`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"https://h/x"}}]}`, `targets[0].webhook.secret: the name of a secret: empty`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"https://h/x","secret":"s","timeout":"soon"}}]}`, `targets[0].webhook.timeout: want a duration such as "30s", not "soon"`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"https://h/x","secret":"s","timeout":"1h"}}]}`, `targets[0].webhook.timeout: 1h0m0s, want 0 (10s) to 5m0s`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"email":{"smtp":"smtp://u:pw@h?from=a@b.c&to=c@d.e"}}]}`, `targets[0].email.smtp: a password in the URL`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"email":{"smtp":"smtp://h?from=a@b.c"}}]}`, `targets[0].email.smtp: notification target smtp://h`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"email":{"smtp":"https://h/x"}}]}`, `targets[0].email.smtp: want smtp://`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":[]}}]}`, `targets[0].command.argv: give the program's absolute path`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":"/bin/true"}}]}`, `targets[0].command.argv: want an array of strings, not a JSON string`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["notify-send","x"]}}]}`, `targets[0].command.argv[0]: "notify-send": want a clean absolute path`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["/a/../b"]}}]}`, `targets[0].command.argv[0]: "/a/../b": want a clean absolute path`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["/bin/x","a\u0000b"]}}]}`, `targets[0].command.argv[1]: a NUL byte`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["/bin/x"],"timeout":"-1s"}}]}`, `targets[0].command.timeout: -1s`},
		{`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["/bin/x"],"env":{"A":"b"}}}]}`, `targets[0].command.env: unknown field (want argv, timeout)`},
		{`{"name":"x",` + ok + `} x`, `rule: data after the object`},
		{`{"name":"x",` + ok, `rule: invalid JSON`},
		{strings.Repeat(" ", MaxRuleBytes+1), `rule: 32769 bytes`},
	} {
		_, err := ParseRule([]byte(tc.rule))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.100s:\n  %v\n  want %q", tc.rule, err, tc.want)
		}
	}
}

func TestRouter(t *testing.T) {
	mk := func(name string, enabled bool, pattern string, targets ...Target) Rule {
		return Rule{Name: name, Enabled: enabled, Pattern: MustCompile(pattern), Targets: targets}
	}
	cp := func(a string) Target { return Target{Copy: &CopyTarget{Action: a}} }
	rules := []Rule{
		mk("completed", true, `{"kind":["backup.completed"]}`, cp("to-central"), cp("to-cold")),
		mk("prod", true, `{"vault":["prod"]}`, cp("audit")),
		mk("off", false, `{"vault":["prod"]}`, cp("never")),
		mk("failed", true, `{"kind":[{"suffix":".failed"}]}`, cp("page")),
	}
	r, err := NewRouter(rules)
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Envelope{ID: "e1", Version: 1, Kind: event.BackupCompleted, Time: time.Now(), Source: "s", Vault: "prod"}
	due := r.Route(e)
	var got []string
	for _, d := range due {
		got = append(got, d.Rule+"/"+d.Target.Copy.Action)
		if d.ID != DeliveryID("e1", d.Rule, d.Index) || len(d.ID) != 32 {
			t.Errorf("delivery id %s", d.ID)
		}
	}
	if strings.Join(got, " ") != "completed/to-central completed/to-cold prod/audit" {
		t.Errorf("routed to %v", got)
	}
	if due[0].ID == due[1].ID || DeliveryID("e1", "completed", 0) != due[0].ID || DeliveryID("e2", "completed", 0) == due[0].ID {
		t.Error("delivery ids are not distinct and stable")
	}
	if m := r.Matching(e); strings.Join(m, ",") != "completed,prod" {
		t.Errorf("matching %v", m)
	}
	if _, err := NewRouter(append(rules, mk("prod", true, `{"vault":["x"]}`, cp("a")))); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate rule names: %v", err)
	}
	if _, err := NewRouter([]Rule{{Name: "bad", Enabled: true, Pattern: MustCompile(`{"kind":["a"]}`)}}); err == nil || !strings.Contains(err.Error(), "rule bad: targets") {
		t.Errorf("invalid rule: %v", err)
	}
}
