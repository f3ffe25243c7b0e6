package main

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseResults(f *testing.F) {
	f.Add(sampleCSV)
	f.Add(strings.Join(Header, ",") + "\n1,borg,check,,,,,,skipped\n")
	f.Add(strings.Join(Header, ",") + "\n1,restic,initial,1e308,1,1,1,1,ok,,,,,,,\n")
	f.Add(serverCSV)
	f.Add(legacyCSV)
	f.Add(s3CSV)
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ParseResults(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Run < 1 || r.Wall < 0 || r.User < 0 || r.Sys < 0 || r.MaxRSSKB < 0 || r.Stored < -1 {
				t.Fatalf("accepted an impossible row %+v", r)
			}
			if a := r.API; a.Requests < 0 || a.Errors < 0 || a.Errors > a.Requests || a.Rate < 0 || a.P50 < 0 ||
				a.P50 > a.P90 || a.P90 > a.P99 || a.P99 > a.Max {
				t.Fatalf("accepted impossible read API figures %+v", r)
			}
			if !knownStep(r.Tool, r.Step) {
				t.Fatalf("accepted unknown step %+v", r)
			}
		}
		var buf bytes.Buffer
		if err := Render(&buf, Meta{}, Aggregate(rows)); err != nil {
			t.Fatal(err)
		}
		if err := Render(&buf, serverMeta, Aggregate(rows)); err != nil {
			t.Fatal(err)
		}
		if err := Render(&buf, s3Meta, Aggregate(rows)); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	f.Add("a=1\nb=2\n")
	f.Add("# c\n\nkey=value=more\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMeta(strings.NewReader(in))
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t=\n") {
				t.Fatalf("accepted key %q", k)
			}
		}
	})
}
