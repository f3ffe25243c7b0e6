package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func decodeString(t *testing.T, s string) []Plan {
	t.Helper()
	plans, err := Decode(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return plans
}

func TestDiffSameFileTwice(t *testing.T) {
	a, b := decodeFile(t, "testdata/plans.yaml"), decodeFile(t, "testdata/plans.yaml")
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("Diff = %+v", d)
	}
	// The same plans, written differently: defaults spelt out, zone in the
	// expression, sources and paths in another order.
	other := `name: web
schedule: {rate: every 360m}
start_window: 60m
completion_window: 6h
vault: prod
retention: {keep_daily: 7, keep_last: 4}
sources:
  - {host: web2, paths: [/srv/www]}
  - {host: web1, paths: [/srv/www, /etc/nginx]}
---
name: db
schedule:
  cron: "CRON_TZ=Europe/Berlin 30  2 * * *"
` + strings.Split(strings.SplitN(readFile(t, "testdata/plans.yaml"), "  timezone: Europe/Berlin\n", 2)[1], "---")[0]
	if d := Diff(a, decodeString(t, other)); len(d) != 0 {
		t.Errorf("Diff of the same plans written differently = %+v", d)
	}
}

func TestDiff(t *testing.T) {
	current := decodeFile(t, "testdata/plans.yaml")
	desired := decodeString(t, `name: web
schedule: {rate: every 4h}
vault: prod
sources:
  - {host: web1, paths: [/srv/www, /etc/nginx]}
retention: {keep_last: 4, keep_weekly: 4}
hooks:
  pre: [{argv: [/usr/bin/sync]}]
---
name: mail
schedule: {cron: "0 1 * * *"}
vault: prod
sources: [{host: mx1, paths: [/var/mail]}]
`)
	got := Diff(current, desired)
	want := []PlanChange{
		{Action: Delete, Plan: "db"},
		{Action: Create, Plan: "mail", Changes: []Change{
			{Field: "name", New: "mail"},
			{Field: "schedule.cron", New: `"0 1 * * *"`},
			{Field: "schedule.timezone", New: "UTC"},
			{Field: "start_window", New: "1h"},
			{Field: "completion_window", New: "1d"},
			{Field: "vault", New: "prod"},
			{Field: "sources[0].host", New: "mx1"},
			{Field: "sources[0].paths", New: "[/var/mail]"},
		}},
		{Action: Update, Plan: "web", Changes: []Change{
			{Field: "schedule.rate", Old: `"every 6h"`, New: `"every 4h"`},
			{Field: "completion_window", Old: "6h", New: "4h"},
			{Field: "sources[1].host", Old: "web2"},
			{Field: "sources[1].paths", Old: "[/srv/www]"},
			{Field: "retention.keep_daily", Old: "7"},
			{Field: "retention.keep_weekly", New: "4"},
			{Field: "hooks.pre[0].argv", New: "[/usr/bin/sync]"},
			{Field: "hooks.pre[0].timeout", New: "5m"},
			{Field: "hooks.pre[0].on_failure", New: "fail"},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("Diff =\n%s", g)
	}
	var out strings.Builder
	if err := WriteDiff(&out, got); err != nil {
		t.Fatal(err)
	}
	wantText := `- plan "db" (delete)
+ plan "mail" (create)
    name: mail
    schedule.cron: "0 1 * * *"
    schedule.timezone: UTC
    start_window: 1h
    completion_window: 1d
    vault: prod
    sources[0].host: mx1
    sources[0].paths: [/var/mail]
~ plan "web" (update)
    ~ schedule.rate: "every 6h" → "every 4h"
    ~ completion_window: 6h → 4h
    - sources[1].host: web2
    - sources[1].paths: [/srv/www]
    - retention.keep_daily: 7
    + retention.keep_weekly: 4
    + hooks.pre[0].argv: [/usr/bin/sync]
    + hooks.pre[0].timeout: 5m
    + hooks.pre[0].on_failure: fail
1 to create, 1 to update, 1 to delete
`
	if out.String() != wantText {
		t.Errorf("WriteDiff =\n%s\nwant\n%s", out.String(), wantText)
	}
	out.Reset()
	if err := WriteDiff(&out, nil); err != nil || out.String() != "no changes: the plans are as the file says\n" {
		t.Errorf("no changes: %q", out.String())
	}
}
