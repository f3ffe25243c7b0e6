package plan

import (
	"bytes"
	"reflect"
	"testing"
)

const cachedPlan = `kind: plan
name: db
schedule:
  cron: "30 2 * * *"
  timezone: Europe/Berlin
vault: prod
sources:
  - host: db1.example.com
    paths: [/etc/postgresql, /var/backups/pg]
retention:
  keep_daily: 7
`

func TestCacheDecodesOnceAndHandsOutCopies(t *testing.T) {
	p, err := DecodePlan([]byte(cachedPlan))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, []Plan{p}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	var c Cache
	a, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Sources, p.Sources) || a.Schedule != p.Schedule || a.Vault != p.Vault {
		t.Fatalf("cached decode %+v, want %+v", a, p)
	}
	// A caller changing its copy changes nobody else's.
	a.Sources[0].Paths[0] = "/changed"
	a.Vault = "other"
	b, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Sources[0].Paths[0] == "/changed" || b.Vault != p.Vault {
		t.Fatalf("a change to one decode reached the next: %+v", b)
	}
	if len(c.m) != 1 {
		t.Fatalf("the cache holds %d plans, want 1", len(c.m))
	}
	// Bad input is refused every time, and not remembered.
	for range 2 {
		if _, err := c.Decode([]byte("kind: plan\nname: x\n")); err == nil {
			t.Fatal("an incomplete plan was accepted")
		}
	}
	if len(c.m) != 1 {
		t.Fatalf("a refused plan was remembered: %d entries", len(c.m))
	}
}
