package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleCSV = `run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status
1,machine,read,2.00,0.50,1.00,3000,,ok
1,machine,stat,1.00,0.20,0.70,3000,,ok
1,machine,copy,4.00,0.50,3.00,2000,,ok
1,bunker,initial,5.00,6.00,2.00,102400,1048576,ok
1,restic,initial,10.00,12.00,3.00,204800,2097152,ok
1,borg,initial,20.00,18.00,2.00,102400,3145728,ok
1,bunker,unchanged,4.00,1.00,1.00,51200,1048576,ok
1,restic,unchanged,10.00,2.00,1.00,51200,2097152,ok
1,bunker,restore,,,,,,failed
1,restic,restore,8.00,4.00,4.00,1024,,ok
1,restic,check,8.00,4.00,4.00,1024,,ok
`

func parse(t *testing.T, s string) []Row {
	t.Helper()
	rows, err := ParseResults(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestParseResults(t *testing.T) {
	rows := parse(t, sampleCSV)
	if len(rows) != 11 {
		t.Fatalf("got %d rows, want 11", len(rows))
	}
	r := rows[3]
	if r.Tool != "bunker" || r.Step != "initial" || r.Wall != 5 || r.User != 6 || r.Sys != 2 ||
		r.MaxRSSKB != 102400 || r.Stored != 1048576 || r.Status != StatusOK {
		t.Errorf("row 4 parsed as %+v", r)
	}
	if rows[0].Stored != -1 {
		t.Errorf("empty stored_bytes parsed as %d, want -1", rows[0].Stored)
	}
}

func TestParseResultsRejectsBadInput(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	for name, in := range map[string]string{
		"empty":          "",
		"wrong header":   "a,b,c,d,e,f,g,h,i\n",
		"too few fields": head + "1,restic,initial,1,1,1,1,1\n",
		"run zero":       head + "0,restic,initial,1,1,1,1,1,ok\n",
		"unknown tool":   head + "1,tar,initial,1,1,1,1,1,ok\n",
		"unknown step":   head + "1,restic,prune,1,1,1,1,1,ok\n",
		"machine step":   head + "1,restic,read,1,1,1,1,1,ok\n",
		"bad status":     head + "1,restic,initial,1,1,1,1,1,maybe\n",
		"negative wall":  head + "1,restic,initial,-1,1,1,1,1,ok\n",
		"NaN wall":       head + "1,restic,initial,NaN,1,1,1,1,ok\n",
		"bad rss":        head + "1,restic,initial,1,1,1,1.5,1,ok\n",
		"negative size":  head + "1,restic,initial,1,1,1,1,-4,ok\n",
	} {
		if _, err := ParseResults(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAggregateTakesMediansOfSuccessfulRuns(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	stats := Aggregate(parse(t, head+
		"1,restic,initial,10,1,1,100,500,ok\n"+
		"2,restic,initial,30,3,1,300,700,ok\n"+
		"3,restic,initial,20,2,1,200,600,ok\n"+
		"1,borg,initial,10,1,0,100,,ok\n"+
		"2,borg,initial,40,4,0,400,,ok\n"+
		"3,borg,initial,999,9,9,999,,failed\n"+
		"1,borg,check,,,,,,skipped\n"))
	r := stats[Key{"restic", "initial"}]
	if r.OK != 3 || r.Failed != 0 || r.Wall != 20 || r.CPU != 3 || r.RSSKB != 200 || r.Stored != 600 {
		t.Errorf("restic initial: %+v", r)
	}
	b := stats[Key{"borg", "initial"}]
	if b.OK != 2 || b.Failed != 1 || b.Wall != 25 || b.CPU != 2.5 || b.Stored != -1 {
		t.Errorf("borg initial (even count, one failure): %+v", b)
	}
	if c := stats[Key{"borg", "check"}]; c.OK != 0 || c.Failed != 1 {
		t.Errorf("skipped borg check: %+v", c)
	}
	if u := r.Util(); u != 3.0/20 {
		t.Errorf("Util = %v", u)
	}
}

func render(t *testing.T, meta Meta, csv string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, meta, Aggregate(parse(t, csv))); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// rowStarting returns the first table row that starts with prefix.
func rowStarting(t *testing.T, doc, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no line starts with %q in:\n%s", prefix, doc)
	return ""
}

func TestRenderRatiosAndVerdicts(t *testing.T) {
	doc := render(t, Meta{"runs": "1", "cores": "2", "corpus_bytes": "1048576"}, sampleCSV)
	for prefix, want := range map[string]string{
		// 5 s vs 10 s meets the 0.5 target exactly; borg took twice restic's time.
		"| initial backup | wall time |":   "| 5.00 s | 10.0 s | 20.0 s | 0.50× | ≤ 0.50× | yes | 2.00× |",
		"| initial backup | stored size |": "| 1.0 MiB | 2.0 MiB | 3.0 MiB | 0.50× | ≤ 1.00× | yes | 1.50× |",
		"| initial backup | peak RSS |":    "| 100.0 MiB | 200.0 MiB | 100.0 MiB | 0.50× | ≤ 1.00× | yes | 0.50× |",
		// 0.40 misses the 0.35 target; borg did not run this step.
		"| unchanged re-backup | wall time |":     "| 4.00 s | 10.0 s | — | 0.40× | ≤ 0.35× | **no** | — |",
		"| unchanged re-backup | peak RSS |":      "| 50.0 MiB | 50.0 MiB | — | 1.00× | ≤ 1.00× | yes | — |",
		"| full restore | wall time |":            "| failed | 8.00 s | — | — | ≤ 0.60× | — | — |",
		"| check, reading all data | wall time |": "| — | 8.00 s | — | — | ≤ 0.80× | — | — |",
		// Multiples of the machine's limits: 5 s backup over a 2 s read.
		"| backup ÷ read everything |":    "| 2.00 s | 2.50× | 5.00× | 10.00× |",
		"| re-backup ÷ stat everything |": "| 1.00 s | 4.00× | 10.00× | — |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	// A pipe inside a cell must not split the Markdown table.
	if !strings.Contains(doc, "`tar cf - corpus \\| cat >/dev/null`") {
		t.Error("pipe in the read command is not escaped")
	}
	if !strings.Contains(doc, "median of 1 run.") {
		t.Error("run count not stated in the singular")
	}
	if strings.Contains(doc, "Smoke run") {
		t.Error("smoke banner in a full report")
	}
	if !strings.Contains(render(t, Meta{"smoke": "1"}, sampleCSV), "Smoke run") {
		t.Error("smoke banner missing")
	}
	if strings.Contains(doc, "Busy machine") {
		t.Error("busy banner without a load average")
	}
	if !strings.Contains(render(t, Meta{"cores": "2", "load_start": "3.50 1.00 0.50"}, sampleCSV), "load average was 3.50") {
		t.Error("busy banner missing for a load of 3.5 on 2 cores")
	}
	if strings.Contains(render(t, Meta{"cores": "2", "load_start": "1.50 1.00 0.50"}, sampleCSV), "Busy machine") {
		t.Error("busy banner for a load below the core count")
	}
}

func TestRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "r.csv")
	meta := filepath.Join(dir, "meta.txt")
	out := filepath.Join(dir, "out.md")
	if err := os.WriteFile(results, []byte(sampleCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte("# comment\ncpu_model=Test CPU = fast\nruns=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := run([]string{"-results", results, "-meta", meta, "-out", out}, &stderr); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "| CPU | Test CPU = fast |") {
		t.Errorf("meta value with '=' not rendered:\n%s", doc)
	}
	if err := run([]string{"-results", results}, &stderr); err == nil {
		t.Error("missing flags accepted")
	}
	if err := run([]string{"-results", filepath.Join(dir, "none.csv"), "-meta", meta, "-out", out}, &stderr); err == nil {
		t.Error("missing results file accepted")
	}
}

func TestParseMeta(t *testing.T) {
	m, err := ParseMeta(strings.NewReader("a=1\n\n# x\nb=two=2\na=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["a"] != "3" || m["b"] != "two=2" || m.Get("missing") != "unknown" {
		t.Errorf("meta %v", m)
	}
	for _, bad := range []string{"novalue\n", "=x\n", "a b=c\n"} {
		if _, err := ParseMeta(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
