package plan

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
)

const day = 24 * time.Hour

func decodeFile(t *testing.T, name string) []Plan {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plans, err := Decode(f)
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	return plans
}

// withoutLines drops where the plans were read from, for comparisons.
func withoutLines(plans []Plan) []Plan {
	out := make([]Plan, len(plans))
	for i, p := range plans {
		p.lines, p.copyAt = nil, nil
		out[i] = p
	}
	return out
}

func TestDecodeFile(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	want := []Plan{{
		Name:             "db",
		Schedule:         Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"},
		StartWindow:      time.Hour,
		CompletionWindow: 6 * time.Hour,
		Vault:            "prod",
		Sources: []Source{
			{Host: "db1.example.com", Paths: []string{"/etc/postgresql", "/var/backups/pg"}, Excludes: []string{"*.tmp"}},
			{Host: "db1.example.com", Stdin: &Stdin{Command: []string{"/usr/bin/pg_dump", "--format=custom", "shop"}, Name: "shop.dump"}},
		},
		Retention: Retention{Keep: policy.Rules{Last: 7, Daily: 14, Weekly: 8, Monthly: 12}, MaxAge: policy.Year},
		Lifecycle: Lifecycle{ColdAfter: 30 * day, StorageClass: "GLACIER", ExpireAfter: policy.Year},
		Copies: []Copy{
			{To: "central:shop-db", Retention: Retention{Keep: policy.Rules{Monthly: 24}}},
			{To: "prod-copy"},
		},
		Hooks: Hooks{
			Pre:  []Hook{{Argv: []string{"/usr/bin/psql", "--command", "CHECKPOINT"}, Timeout: 2 * time.Minute, OnFailure: Fail}},
			Post: []Hook{{Argv: []string{"/usr/local/bin/notify-backup-done"}, Timeout: 30 * time.Second, OnFailure: Continue}},
		},
	}, {
		Name:             "web",
		Schedule:         Schedule{Rate: 6 * time.Hour},
		StartWindow:      DefaultStartWindow,
		CompletionWindow: 6 * time.Hour, // the time between two runs
		Vault:            "prod",
		Sources: []Source{
			{Host: "web1", Paths: []string{"/etc/nginx", "/srv/www"}},
			{Host: "web2", Paths: []string{"/srv/www"}},
		},
		Retention: Retention{Keep: policy.Rules{Last: 4, Daily: 7}},
	}}
	if got := withoutLines(plans); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestEncodeDecodeIsIdempotent(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	var buf bytes.Buffer
	if err := Encode(&buf, plans); err != nil {
		t.Fatal(err)
	}
	again, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("the encoded plans do not decode: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(withoutLines(again), withoutLines(plans)) {
		t.Errorf("encode and decode changed the plans:\n%s", buf.String())
	}
	if d := Diff(plans, again); len(d) != 0 {
		t.Errorf("Diff of a file against itself encoded: %+v", d)
	}
	var buf2 bytes.Buffer
	if err := Encode(&buf2, again); err != nil || buf2.String() != buf.String() {
		t.Errorf("the canonical form is not stable:\n%s\n---\n%s", buf.String(), buf2.String())
	}
	if !strings.Contains(buf.String(), `cron: "30 2 * * *"`) || !strings.Contains(buf.String(), "paths: [/etc/postgresql, /var/backups/pg]") {
		t.Errorf("encoded form is not as people write it:\n%s", buf.String())
	}
}

func TestJSON(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	for _, p := range plans {
		b, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Plan
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(withoutLines([]Plan{back}), withoutLines([]Plan{p})) {
			t.Errorf("JSON round trip changed %s", b)
		}
	}
	var p Plan
	if err := p.UnmarshalJSON([]byte(`{"name":"x","schedule":{"rate":"every 1h"},"vault":"v","sources":[{"host":"h","paths":["/"]}],"bogus":1}`)); err == nil ||
		!strings.Contains(err.Error(), `plan "x": bogus (line 1): unknown field "bogus"`) {
		t.Errorf("unknown JSON field: %v", err)
	}
}

// minimal is a valid plan that test cases change a line of.
const minimal = `name: db
schedule:
  cron: "0 3 * * *"
vault: prod
sources:
  - host: db1
    paths: [/var/lib/db]
`

func TestDecodeRefusals(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"cron fields", strings.Replace(minimal, `"0 3 * * *"`, `"0 3 * *"`, 1),
			[]string{`plan "db": schedule.cron (line 3): expected 5 fields, got 4: minute hour day-of-month month day-of-week`}},
		{"cron range", strings.Replace(minimal, `"0 3 * * *"`, `"0 24 * * *"`, 1),
			[]string{`plan "db": schedule.cron (line 3): end of range (24) above maximum (23): 24`}},
		{"never due", strings.Replace(minimal, `"0 3 * * *"`, `"0 3 31 2 *"`, 1),
			[]string{`plan "db": schedule.cron (line 3): "0 3 31 2 *" is never due`}},
		{"zone", strings.Replace(minimal, `cron: "0 3 * * *"`, "cron: \"0 3 * * *\"\n  timezone: Europe/Atlantis", 1),
			[]string{`plan "db": schedule.timezone (line 4): invalid time zone "Europe/Atlantis": not in the zone database`}},
		{"zone twice", strings.Replace(minimal, `cron: "0 3 * * *"`, "cron: \"CRON_TZ=UTC 0 3 * * *\"\n  timezone: Europe/Berlin", 1),
			[]string{`plan "db": schedule.cron (line 3): the time zone is given twice: as CRON_TZ=UTC and separately`}},
		{"cron and rate", strings.Replace(minimal, `cron: "0 3 * * *"`, "cron: \"0 3 * * *\"\n  rate: every 1h", 1),
			[]string{`plan "db": schedule (line 2): give cron or rate, not both`}},
		{"no schedule", strings.Replace(minimal, "schedule:\n  cron: \"0 3 * * *\"\n", "", 1),
			[]string{`plan "db": schedule (line 1): give cron (with an optional timezone) or rate, e.g. cron: "0 3 * * *" or rate: every 6h`}},
		{"rate too often", strings.Replace(minimal, `cron: "0 3 * * *"`, "rate: every 30s", 1),
			[]string{`plan "db": schedule.rate (line 3): every 30s is too often: a plan runs at most once every 1m`}},
		{"rate syntax", strings.Replace(minimal, `cron: "0 3 * * *"`, "rate: 15m", 1),
			[]string{`plan "db": schedule.rate (line 3): rate "15m": write "every" and an interval, e.g. every 15m`}},
		{"unknown field", strings.Replace(minimal, "cron:", "crn:", 1),
			[]string{`plan "db": schedule.crn (line 3): unknown field "crn"; known fields: cron, timezone, rate`}},
		{"unknown top field", minimal + "schedul: x\n",
			[]string{`plan "db": schedul (line 8): unknown field "schedul"; known fields: kind, name, schedule, start_window, completion_window, sources, vault, retention, lifecycle, copies, hooks`}},
		{"unknown source field", strings.Replace(minimal, "paths:", "path:", 1),
			[]string{`plan "db": sources[0].path (line 7): unknown field "path"; known fields: host, paths, excludes, stdin`}},
		{"field twice", minimal + "vault: other\n",
			[]string{`plan "db": vault (line 8): given twice; first at line 4`}},
		{"sources not a list", strings.Replace(minimal, "sources:\n  - host: db1\n    paths: [/var/lib/db]\n", "sources: db1\n", 1),
			[]string{`plan "db": sources (line 5): expected a list`}},
		{"window too long", minimal + "start_window: 2d\n",
			[]string{`plan "db": start_window (line 8): 2d is longer than the 1d between two runs, so that a late run would meet the next one`}},
		{"window syntax", minimal + "completion_window: 6 hours\n",
			[]string{`plan "db": completion_window (line 8): interval "6 hours": unknown unit " " (want s, m, h or d)`}},
		{"relative path", strings.Replace(minimal, "[/var/lib/db]", "[/var/lib/db, var/log]", 1),
			[]string{`plan "db": sources[0].paths[1] (line 7): invalid path "var/log": give absolute, clean paths`}},
		{"paths and stdin", strings.Replace(minimal, "    paths: [/var/lib/db]\n", "    paths: [/var/lib/db]\n    stdin: {command: [/usr/bin/pg_dump]}\n", 1),
			[]string{`plan "db": sources[0] (line 6): give paths or stdin, not both`}},
		{"stdin without absolute path", strings.Replace(minimal, "    paths: [/var/lib/db]\n", "    stdin: {command: [pg_dump, shop]}\n", 1),
			[]string{`plan "db": sources[0].stdin.command[0] (line 7): "pg_dump": give the program's absolute path; hooks and commands run without a shell or a PATH search`}},
		{"bad exclude", strings.Replace(minimal, "    paths: [/var/lib/db]\n", "    paths: [/var/lib/db]\n    excludes: [\"*.tmp\", \"[z-a]\"]\n", 1),
			[]string{`plan "db": sources[0].excludes[1] (line 8): pattern "[z-a]": `}},
		{"same source twice", strings.Replace(minimal, "    paths: [/var/lib/db]\n", "    paths: [/var/lib/db]\n  - host: db1\n    paths: [/var/lib/db, /var/lib/db]\n", 1),
			[]string{`plan "db": sources[1] (line 8): the same source as sources[0]`}},
		{"no sources", strings.Replace(minimal, "sources:\n  - host: db1\n    paths: [/var/lib/db]\n", "", 1),
			[]string{`plan "db": sources (line 1): a plan needs at least one source`}},
		{"no host", strings.Replace(minimal, "  - host: db1\n    paths", "  - paths", 1),
			[]string{`plan "db": sources[0].host (line 6): a source needs the agent host it is on`}},
		{"count not a number", minimal + "retention:\n  keep_daily: seven\n",
			[]string{`plan "db": retention.keep_daily (line 9): expected a whole number, got "seven"`}},
		{"negative count", minimal + "retention:\n  keep_daily: -1\n",
			[]string{`plan "db": retention.keep_daily (line 9): -1 is out of range: 0 to 100000`}},
		{"bad span", minimal + "retention:\n  max_age: 1 year\n",
			[]string{`plan "db": retention.max_age (line 9): parse duration "1 year": unknown unit " " (want h, d, w, m or y)`}},
		{"span past expiry", minimal + "retention:\n  keep_yearly: 3\nlifecycle:\n  expire_after: 1y\n",
			[]string{`plan "db": retention.keep_yearly (line 9): keeps points up to 733d, past their expiry: lifecycle.expire_after is 366d`}},
		{"cold without class", minimal + "lifecycle:\n  cold_after: 30d\n",
			[]string{`plan "db": lifecycle.storage_class (line 8): needed with cold_after: the storage class points move to, e.g. GLACIER`}},
		{"cold after expiry", minimal + "lifecycle:\n  cold_after: 30d\n  storage_class: GLACIER\n  expire_after: 7d\n",
			[]string{`plan "db": lifecycle.cold_after (line 9): 30d is not before expire_after 7d`}},
		{"copy to itself", minimal + "copies:\n  - to: prod\n",
			[]string{`plan "db": copies[0].to (line 9): a copy goes to another vault than the plan's own "prod"`}},
		{"bad copy target", minimal + "copies:\n  - to: \"central:\"\n",
			[]string{`plan "db": copies[0].to (line 9): invalid copy target "central:"`}},
		{"post hook skip", minimal + "hooks:\n  post:\n    - argv: [/usr/sbin/fsfreeze, --unfreeze, /data]\n      on_failure: skip\n",
			[]string{`plan "db": hooks.post[0].on_failure (line 11): skip applies to pre hooks only: a post hook runs after the backup; use fail or continue`}},
		{"hook on_failure", minimal + "hooks:\n  pre:\n    - argv: [/usr/sbin/fsfreeze, --freeze, /data]\n      on_failure: ignore\n",
			[]string{`plan "db": hooks.pre[0].on_failure (line 11): "ignore": want fail, skip or continue`}},
		{"hook timeout", minimal + "hooks:\n  pre:\n    - argv: [/usr/sbin/fsfreeze, --freeze, /data]\n      timeout: 2d\n",
			[]string{`plan "db": hooks.pre[0].timeout (line 11): 2d is longer than the completion window 1d`}},
		{"bad name", strings.Replace(minimal, "name: db", "name: DB", 1),
			[]string{`plan #1: name (line 1): invalid plan name "DB": use 1 to 63 lower-case letters`}},
		{"not a mapping", "- a\n- b\n", []string{`plan #1 (line 1): a plan is a mapping of fields`}},
		{"other kind", "kind: eventrule\n" + minimal, []string{`plan "db": kind (line 1): this file is read as plans; a document of kind "eventrule" belongs elsewhere`}},
		{"list where a value goes", strings.Replace(minimal, "vault: prod", "vault: [prod]", 1),
			[]string{`plan "db": vault (line 4): expected a single value, not a list or mapping`}},
		{"several at once", "name: db\nschedule: {rate: every 1h}\nvault: Prod\nsources: [{host: h, paths: [x]}]\n",
			[]string{`plan "db": sources[0].paths[0] (line 4): invalid path "x"`, `plan "db": vault (line 3): invalid vault name "Prod"`}},
		{"duplicate plan", minimal + "---\n" + minimal,
			[]string{`plan "db": name (line 9): plan "db" is also defined in document 1 of the file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.file))
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.file)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

func TestDecodeSyntaxError(t *testing.T) {
	_, err := Decode(strings.NewReader("name: db\nschedule:\n  cron: */15 * * * *\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("unquoted cron: %v", err)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, f := range []string{"", "# nothing\n", "---\n---\n", minimal + "---\n"} {
		plans, err := Decode(strings.NewReader(f))
		if err != nil {
			t.Errorf("Decode(%q): %v", f, err)
		}
		if want := strings.Count(f, "name:"); len(plans) != want {
			t.Errorf("Decode(%q) = %d plans, want %d", f, len(plans), want)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	big := strings.Repeat("#", MaxFileSize+1)
	if _, err := Decode(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
	many := strings.Repeat("---\n# a plan\n", MaxPlans+1)
	if _, err := Decode(strings.NewReader(many)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many plans: %v", err)
	}
	// Refusals stop at a bound rather than listing a huge file's every one.
	bad := strings.Repeat("---\nname: x\nbogus: 1\n", 200)
	_, err := Decode(strings.NewReader(bad))
	var es Errors
	if !errors.As(err, &es) || len(es) != maxErrors {
		t.Errorf("got %d refusals, want %d: %v", len(es), maxErrors, err)
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
		"g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	if _, err := Decode(strings.NewReader(bomb)); err == nil {
		t.Error("an alias bomb decoded")
	}
}

func TestAliasesAreRead(t *testing.T) {
	f := minimal + "copies:\n  - to: central\n    retention: &r {keep_daily: 7}\n  - to: site:central\n    retention: *r\n"
	plans, err := Decode(strings.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if c := plans[0].Copies; len(c) != 2 || c[1].Retention.Keep.Daily != 7 {
		t.Errorf("copies = %+v", c)
	}
}

func TestCanonical(t *testing.T) {
	p := Plan{
		Name:     "db",
		Schedule: Schedule{Cron: "CRON_TZ=Europe/Berlin  0  3 * * *"},
		Vault:    "prod",
		Sources:  []Source{{Host: "b", Paths: []string{"/z", "/a", "/z"}}, {Host: "a", Stdin: &Stdin{Command: []string{"/bin/dump"}}}},
		Copies:   []Copy{{To: "z"}, {To: "a"}},
		Hooks:    Hooks{Pre: []Hook{{Argv: []string{"/bin/true"}}}},
	}
	orig := p.clone()
	c, err := p.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule != (Schedule{Cron: "0 3 * * *", Timezone: "Europe/Berlin"}) {
		t.Errorf("schedule = %+v", c.Schedule)
	}
	// 23 hours: the shortest day in Berlin, when the clocks go forward.
	if c.StartWindow != time.Hour || c.CompletionWindow != 23*time.Hour {
		t.Errorf("windows = %v, %v", c.StartWindow, c.CompletionWindow)
	}
	if c.Sources[0].Host != "a" || c.Sources[0].Stdin.Name != DefaultStdinName || !reflect.DeepEqual(c.Sources[1].Paths, []string{"/a", "/z"}) {
		t.Errorf("sources = %+v", c.Sources)
	}
	if c.Copies[0].To != "a" || c.Hooks.Pre[0].Timeout != DefaultHookTimeout || c.Hooks.Pre[0].OnFailure != Fail {
		t.Errorf("copies %+v hooks %+v", c.Copies, c.Hooks)
	}
	if !reflect.DeepEqual(p, orig) {
		t.Error("Canonical changed its receiver")
	}
	if again, err := c.Canonical(); err != nil || !reflect.DeepEqual(again, c) {
		t.Errorf("Canonical is not idempotent: %+v, %v", again, err)
	}
	// A plan built in code names its fields without lines.
	p.Vault = ""
	if _, err := p.Canonical(); err == nil || err.Error() != `plan "db": vault: a plan needs the vault its points go to` {
		t.Errorf("err = %v", err)
	}
	p.Vault, p.Retention.Keep.Tags = "prod", []string{"x"}
	if _, err := p.Canonical(); err == nil || !strings.Contains(err.Error(), "retention: plans keep no points by tag") {
		t.Errorf("err = %v", err)
	}
}

func TestShortSchedulesGetShortWindows(t *testing.T) {
	p := Plan{Name: "a", Schedule: Schedule{Rate: 15 * time.Minute}, Vault: "v", Sources: []Source{{Host: "h", Paths: []string{"/"}}}}
	c, err := p.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if c.StartWindow != 15*time.Minute || c.CompletionWindow != 15*time.Minute {
		t.Errorf("windows %v %v, want the 15m between runs", c.StartWindow, c.CompletionWindow)
	}
	p.Schedule = Schedule{Cron: "* 3 * * *"} // every minute of one hour: 1m apart
	if c, err = p.Canonical(); err != nil || c.StartWindow != time.Minute {
		t.Errorf("every minute: %v, %v", c.StartWindow, err)
	}
}

func TestEntryAndHosts(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	e, err := plans[0].Entry()
	if err != nil || e.ID != "db" || e.StartWindow != time.Hour || e.CompletionWindow != 6*time.Hour {
		t.Fatalf("Entry = %+v, %v", e, err)
	}
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if next := e.Spec.Next(from); !next.Equal(time.Date(2026, 5, 1, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("next = %v, want 02:30 in Berlin", next)
	}
	if h := plans[1].Hosts(); !reflect.DeepEqual(h, []string{"web1", "web2"}) {
		t.Errorf("hosts = %v", h)
	}
	mine := ForHost(plans, "web2")
	if len(mine) != 1 || mine[0].Name != "web" || len(mine[0].Sources) != 1 || mine[0].Sources[0].Host != "web2" {
		t.Errorf("ForHost = %+v", mine)
	}
	if len(plans[1].Sources) != 2 {
		t.Error("ForHost changed the plans")
	}
}

func BenchmarkCanonical(b *testing.B) {
	p := Plan{Name: "db", Schedule: Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, Vault: "prod",
		Sources: []Source{{Host: "h", Paths: []string{"/"}}}}
	for b.Loop() {
		if _, err := p.Canonical(); err != nil {
			b.Fatal(err)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
