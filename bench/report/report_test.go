package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleCSV = `run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status,requests,errors,rate_per_s,p50_ms,p90_ms,p99_ms,max_ms
1,machine,read,2.00,0.50,1.00,3000,,ok,,,,,,,
1,machine,stat,1.00,0.20,0.70,3000,,ok,,,,,,,
1,machine,copy,4.00,0.50,3.00,2000,,ok,,,,,,,
1,bunker,initial,5.00,6.00,2.00,102400,1048576,ok,,,,,,,
1,restic,initial,10.00,12.00,3.00,204800,2097152,ok,,,,,,,
1,borg,initial,20.00,18.00,2.00,102400,3145728,ok,,,,,,,
1,bunker,unchanged,4.00,1.00,1.00,51200,1048576,ok,,,,,,,
1,restic,unchanged,10.00,2.00,1.00,51200,2097152,ok,,,,,,,
1,bunker,restore,,,,,,failed,,,,,,,
1,restic,restore,8.00,4.00,4.00,1024,,ok,,,,,,,
1,restic,check,8.00,4.00,4.00,1024,,ok,,,,,,,
`

// legacyCSV has the fields of results written before the read API's
// figures were added.
const legacyCSV = `run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status
1,machine,read,2.00,0.50,1.00,3000,,ok
1,bunker,initial,5.00,6.00,2.00,102400,1048576,ok
1,bunker,restore,,,,,,failed
`

// serverCSV adds the server part to sampleCSV: the server-mode sequence
// beside bunker's local one, the parallel clients with the local backup of
// all their data, the small backups and the read API under load.
const serverCSV = sampleCSV + `1,bunker,changed,2.00,1.50,0.50,51200,1100000,ok,,,,,,,
1,bunker-server,initial,6.25,5.00,1.00,81920,1048576,ok,,,,,,,
1,server,initial,6.25,4.00,2.00,204800,,ok,,,,,,,
1,bunker-server,unchanged,5.00,1.00,0.50,40960,1048576,ok,,,,,,,
1,server,unchanged,5.00,0.50,0.50,102400,,ok,,,,,,,
1,bunker-server,changed,,,,,,failed,,,,,,,
1,server,changed,,,,,,failed,,,,,,,
1,bunker-server,restore,,,,,,skipped,,,,,,,
1,server,restore,,,,,,skipped,,,,,,,
1,bunker-server,parallel,10.00,12.00,2.00,65536,2200000,ok,,,,,,,
1,server,parallel,10.00,5.00,1.00,307200,,ok,,,,,,,
1,bunker-server,union-local,3.00,4.00,1.00,90000,2097152,ok,,,,,,,
1,bunker-server,small,5.00,2.00,1.00,30000,,ok,,,,,,,
1,server,small,5.00,1.00,0.50,100000,,ok,,,,,,,
1,bunker-server,api-points,15.00,1.00,0.50,20000,,ok,3000,0,199.9,1.2,2.5,4.5,9.0
1,server,api-points,15.00,3.00,1.00,90000,,ok,,,,,,,
1,bunker-server,api-vault,15.00,1.00,0.50,20000,,ok,3000,2,180.0,1.0,2.0,25.0,40.0
1,server,api-vault,15.00,2.00,1.00,90000,,ok,,,,,,,
`

// serverMeta describes serverCSV's run: a 100 MiB corpus split among 4
// clients (4 MiB common, 1.5 MiB slices: 22 MiB backed up, 10 MiB unique).
var serverMeta = Meta{
	"runs": "1", "cores": "2", "corpus_bytes": "104857600", "server_clients": "4", "server_small": "100",
	"server_points": "103", "server_api_rate": "200", "server_api_seconds": "15", "server_api_proto": "HTTP/1.1",
	"fleet_common_bytes": "4194304", "fleet_part_bytes_min": "1572864", "fleet_part_bytes_max": "1572864",
	"fleet_unique_bytes": "10485760", "fleet_clients_bytes": "23068672",
}

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

func TestParseResultsReadsLegacyFiles(t *testing.T) {
	rows := parse(t, legacyCSV)
	if len(rows) != 3 || rows[1].Tool != "bunker" || rows[1].Wall != 5 || rows[1].Stored != 1048576 || rows[1].API != (APIFigures{}) {
		t.Fatalf("legacy rows parsed as %+v", rows)
	}
	// A row with the new fields under the old header is refused.
	if _, err := ParseResults(strings.NewReader(strings.Join(Header[:legacyFields], ",") + "\n1,restic,initial,1,1,1,1,1,ok,,,,,,,\n")); err == nil {
		t.Error("16 fields under the 9-field header accepted")
	}
}

func TestParseResultsReadsAPIFigures(t *testing.T) {
	rows := parse(t, serverCSV)
	var got *Row
	for i := range rows {
		if rows[i].Tool == ServerTool && rows[i].Step == StepAPIPoints {
			got = &rows[i]
		}
	}
	want := APIFigures{Requests: 3000, Errors: 0, Rate: 199.9, P50: 1.2, P90: 2.5, P99: 4.5, Max: 9}
	if got == nil || got.API != want || got.Wall != 15 {
		t.Fatalf("api-points row parsed as %+v, want figures %+v", got, want)
	}
}

func TestParseResultsRejectsBadInput(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	const api = ",,,,,,,,," // the read API's and the S3 part's fields, empty
	for name, in := range map[string]string{
		"empty":                "",
		"wrong header":         "a,b,c,d,e,f,g,h,i\n",
		"too few fields":       head + "1,restic,initial,1,1,1,1,1,ok\n",
		"too many fields":      head + "1,restic,initial,1,1,1,1,1,ok" + api + ",\n",
		"run zero":             head + "0,restic,initial,1,1,1,1,1,ok" + api + "\n",
		"unknown tool":         head + "1,tar,initial,1,1,1,1,1,ok" + api + "\n",
		"unknown step":         head + "1,restic,prune,1,1,1,1,1,ok" + api + "\n",
		"machine step":         head + "1,restic,read,1,1,1,1,1,ok" + api + "\n",
		"server-only step":     head + "1,restic,api-points,1,1,1,1,1,ok" + api + "\n",
		"local-only server":    head + "1,server,union-local,1,1,1,1,1,ok" + api + "\n",
		"check in server":      head + "1,bunker-server,check,1,1,1,1,1,ok" + api + "\n",
		"bad status":           head + "1,restic,initial,1,1,1,1,1,maybe" + api + "\n",
		"negative wall":        head + "1,restic,initial,-1,1,1,1,1,ok" + api + "\n",
		"NaN wall":             head + "1,restic,initial,NaN,1,1,1,1,ok" + api + "\n",
		"bad rss":              head + "1,restic,initial,1,1,1,1.5,1,ok" + api + "\n",
		"negative size":        head + "1,restic,initial,1,1,1,1,-4,ok" + api + "\n",
		"fractional count":     head + "1,bunker-server,api-vault,1,1,1,1,,ok,1.5,0,1,1,1,1,1,,\n",
		"negative errors":      head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,-1,1,1,1,1,1,,\n",
		"errors > requests":    head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,11,1,1,1,1,1,,\n",
		"NaN rate":             head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,0,NaN,1,1,1,1,,\n",
		"negative p50":         head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,0,1,-1,1,1,1,,\n",
		"p99 above max":        head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,0,1,1,2,5,4,,\n",
		"p50 above p90":        head + "1,bunker-server,api-vault,1,1,1,1,,ok,10,0,1,3,2,5,6,,\n",
		"S3 step not known":    head + "1,bunker-s3,check,1,1,1,1,1,ok" + api + "\n",
		"minio parallel":       head + "1,minio,parallel,1,1,1,1,,ok" + api + "\n",
		"bad op name":          head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,Put-Object=1,0\n",
		"op without count":     head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject,0\n",
		"negative op count":    head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=-1,0\n",
		"fractional op":        head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1.5,0\n",
		"op twice":             head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1 PutObject=2,0\n",
		"two spaces":           head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1  GetObject=2,0\n",
		"bad extensions":       head + "1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1,x\n",
		"requests elsewhere":   head + "1,bunker-server,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1,\n",
		"extensions elsewhere": head + "1,s3-server,initial,1,1,1,1,,ok,,,,,,,,,0\n",
	} {
		if _, err := ParseResults(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAggregateTakesMediansOfSuccessfulRuns(t *testing.T) {
	head := strings.Join(Header[:legacyFields], ",") + "\n"
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

func TestRenderServerSection(t *testing.T) {
	doc := render(t, serverMeta, serverCSV)
	for prefix, want := range map[string]string{
		// Local 5 s, server mode 6.25 s on 100 MiB: exactly the 80% target.
		"| server-mode initial backup: throughput at least 80% of local mode's |": "| 80% (16.0 MiB/s against 20.0 MiB/s) | yes |",
		"| 4 clients backing up into one vault at once: all succeed |":            "| runs ok: 1/1 | yes |",
		// 2200000 stored against 2097152 for the local backup of the union.
		"| … and store at most 1.05× what one local backup of all their data stores |":              "| 1.05× | yes |",
		"| read API, list points: `GET /v1/vaults/{v}/points`: p99 under 20 ms at 200 requests/s |": "| p99 4.50 ms at 199.9/s, 0 errors | yes |",
		// p99 25 ms, 2 errors and 180/s: a miss three times over.
		"| read API, show vault: `GET /v1/vaults/{v}`: p99 under 20 ms at 200 requests/s |": "| p99 25.00 ms at 180.0/s, 2 errors | **no** |",
		"| initial backup | 5.00 s | 6.25 s |":                                              "| 20.0 MiB/s | 16.0 MiB/s | 0.80× | ≥ 0.80× | yes |",
		"| unchanged re-backup | 4.00 s | 5.00 s |":                                         "| 25.0 MiB/s | 20.0 MiB/s | 0.80× | — | — |",
		"| backup after changing 5% of files | 2.00 s |":                                    "| failed | 50.0 MiB/s | — | — | — | — |",
		// Client 6 s + server 6 s of CPU in 6.25 s; local 8 s in 5 s.
		"| initial backup | 6.00 s | 6.00 s |":                  "| 1.92 | 1.60 | 80.0 MiB | 200.0 MiB | 1.0 MiB | 1.0 MiB |",
		"| full restore | failed | failed |":                    "| — | — | — | — | — |",
		"| data |":                                              "| common part 4.0 MiB, slices of 1.5 MiB to 1.5 MiB: 22.0 MiB backed up in all (the common part once per client), 10.0 MiB of it unique |",
		"| aggregate throughput (data backed up ÷ wall time) |": "| 2.2 MiB/s |",
		"| CPU time: all clients, server |":                     "| 14.0 s, 6.00 s |",
		"| CPU util, clients + server |":                        "| 2.00 |",
		"| vault ÷ local backup of all their data |":            "| 1.05× (target ≤ 1.05×: yes) |",
		// 2 MiB × 22 MiB backed up ÷ 10 MiB unique.
		"| had each client stored its common part anew": "(estimate: local backup × data backed up ÷ unique data) | ≈ 4.4 MiB |",
		"| list points: `GET /v1/vaults/{v}/points` |":  "| 199.9/s | 3000 | 0 | 1.20 ms | 2.50 ms | 4.50 ms | 9.00 ms | < 20 ms | yes | 0.37 | 1/1 |",
		"| show vault: `GET /v1/vaults/{v}` |":          "| 180.0/s | 3000 | 2 | 1.00 ms | 2.00 ms | 25.00 ms | 40.00 ms | < 20 ms | **no** | 0.30 | 1/1 |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	for _, want := range []string{
		"see [Server mode](#server-mode)",
		"The vault `bench` holds 103 points",
		"100 small backups",
		"made one after another in 5.00 s: 50.00 ms each, with 3.00 s of client CPU and 1.50 s of server CPU in all",
		// The resources of a step that failed in server mode and in local mode.
		"| full restore | failed | failed | — | failed | failed | failed | — | — |",
		"sends each endpoint 200 requests/s for 15 s",
		"over HTTP/1.1 with the certificate pinned",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(render(t, Meta{"runs": "1"}, sampleCSV), "Server mode") {
		t.Error("server section without server results")
	}
}

func TestServerTargetsMissedAndUnmeasured(t *testing.T) {
	head := strings.Join(Header[:apiFields], ",") + "\n"
	const api = ",,,,,,,"
	doc := render(t, serverMeta, head+
		"1,bunker,initial,5,5,1,1000,1000,ok"+api+"\n"+
		"1,bunker-server,initial,7,5,1,1000,1000,ok"+api+"\n"+
		"1,bunker-server,parallel,1,1,1,1000,1200,ok"+api+"\n"+
		"2,bunker-server,parallel,,,,,,failed"+api+"\n"+
		"1,bunker-server,union-local,1,1,1,1000,1000,ok"+api+"\n"+
		"1,bunker-server,api-points,,,,,,failed"+api+"\n")
	for prefix, want := range map[string]string{
		"| server-mode initial backup:":                         "throughput at least 80% of local mode's | 71% (14.3 MiB/s against 20.0 MiB/s) | **no** |",
		"| 4 clients backing up into one vault at once:":        "all succeed | runs ok: 1/2 | **no** |",
		"| … and store at most 1.05×":                           "what one local backup of all their data stores | — | — |",
		"| read API, list points: `GET /v1/vaults/{v}/points`:": "p99 under 20 ms at 200 requests/s | failed | **no** |",
		"| read API, show vault: `GET /v1/vaults/{v}`:":         "p99 under 20 ms at 200 requests/s | — | — |",
		"| list points: `GET /v1/vaults/{v}/points` |":          "| failed | failed | failed | failed | failed | failed | failed | < 20 ms | — | — | 0/1 |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
}

func TestAggregateAPIFigures(t *testing.T) {
	head := strings.Join(Header[:apiFields], ",") + "\n"
	stats := Aggregate(parse(t, head+
		"1,bunker-server,api-vault,15,1,1,100,,ok,3000,1,199,1,2,3,9\n"+
		"2,bunker-server,api-vault,15,1,1,100,,ok,3002,2,200,2,3,5,30\n"+
		"3,bunker-server,api-vault,15,1,1,100,,ok,2998,0,198,3,4,4,10\n"+
		"4,bunker-server,api-vault,,,,,,failed,,,,,,,\n"))
	got := stats[Key{ServerTool, StepAPIVault}]
	want := APIFigures{Requests: 3000, Errors: 3, Rate: 199, P50: 2, P90: 3, P99: 4, Max: 10}
	if got.API != want || got.OK != 3 || got.Failed != 1 {
		t.Errorf("aggregate %+v, want figures %+v (medians; errors summed)", got, want)
	}
}

// current rewrites a CSV of the read API's era into the CSV's current
// form: the S3 part's two fields, empty, added to every row.
func current(csv string) string {
	lines := strings.Split(strings.TrimSuffix(csv, "\n"), "\n")
	lines[0] = strings.Join(Header, ",")
	for i := 1; i < len(lines); i++ {
		lines[i] += ",,"
	}
	return strings.Join(lines, "\n") + "\n"
}

// s3CSV adds the S3 part to serverCSV: the server with its vault on MinIO,
// its backups and restore with the server's and MinIO's processes, and
// the storage requests of each step.
var s3CSV = current(serverCSV) + `1,bunker-s3,initial,9.00,5.00,1.00,81920,2000000000,ok,,,,,,,,PutObject=100 UploadPart=40 CreateMultipartUpload=10 CompleteMultipartUpload=10 GetObject=40,0
1,s3-server,initial,9.00,3.00,1.00,204800,,ok,,,,,,,,,
1,minio,initial,9.00,4.00,2.00,409600,,ok,,,,,,,,,
1,bunker-s3,unchanged,8.00,1.00,0.50,40960,2000000000,ok,,,,,,,,GetObject=30 PutObject=2 PutObjectRetention=5 HeadObject=5,5
1,s3-server,unchanged,8.00,1.00,0.50,102400,,ok,,,,,,,,,
1,minio,unchanged,8.00,2.00,0.50,409600,,ok,,,,,,,,,
1,bunker-s3,changed,3.00,1.50,0.50,51200,2100000000,ok,,,,,,,,PutObject=10 GetObject=20,0
1,s3-server,changed,3.00,1.00,0.50,102400,,ok,,,,,,,,,
1,minio,changed,3.00,1.00,0.50,409600,,ok,,,,,,,,,
1,bunker-s3,restore,12.00,4.00,2.00,30000,,ok,,,,,,,,GetObject=1000 ListObjectVersions=2,0
1,s3-server,restore,12.00,3.00,1.00,102400,,ok,,,,,,,,,
1,minio,restore,12.00,5.00,1.00,409600,,ok,,,,,,,,,
`

var s3Meta = func() Meta {
	m := Meta{"s3_minio_version": "minio version TEST", "s3_vault": "bucket bench with Object Lock; the vault created with `--storage minio --lock compliance`",
		"s3_retention_slack": "168h"}
	for k, v := range serverMeta {
		m[k] = v
	}
	return m
}()

func TestParseResultsReadsStorageFigures(t *testing.T) {
	rows := parse(t, s3CSV)
	var got []Row
	for _, r := range rows {
		if r.Tool == S3Tool || r.Tool == S3Server || r.Tool == MinIO {
			got = append(got, r)
		}
	}
	if len(got) != 12 {
		t.Fatalf("%d rows of the S3 part, want 12", len(got))
	}
	want := map[string]int64{"GetObject": 30, "PutObject": 2, "PutObjectRetention": 5, "HeadObject": 5}
	if u := got[3]; u.Step != "unchanged" || !maps.Equal(u.Storage, want) || u.Extensions != 5 || u.Stored != 2000000000 {
		t.Errorf("unchanged row parsed as %+v", u)
	}
	if p := got[1]; p.Tool != S3Server || p.Storage != nil || p.Extensions != -1 {
		t.Errorf("server row parsed as %+v", p)
	}
	// Rows of the earlier forms have no storage figures.
	for _, r := range parse(t, serverCSV) {
		if r.Storage != nil || r.Extensions != -1 {
			t.Fatalf("row without the S3 fields parsed as %+v", r)
		}
	}
	// The rows that TestParseResultsRejectsBadInput breaks are accepted
	// whole.
	head := strings.Join(Header, ",") + "\n"
	for _, in := range []string{
		"1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=1 GetObject=2,0\n",
		"1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,,\n",
		"1,minio,restore,1,1,1,1,,ok,,,,,,,,,\n",
		"1,bunker-server,api-vault,1,1,1,1,,ok,10,0,1,1,1,1,1,,\n",
	} {
		if _, err := ParseResults(strings.NewReader(head + in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestAggregateStorageFigures(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	stats := Aggregate(parse(t, head+
		"1,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=10 GetObject=1,0\n"+
		"2,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=20,2\n"+
		"3,bunker-s3,initial,1,1,1,1,1,ok,,,,,,,,PutObject=30 GetObject=5,1\n"+
		"4,bunker-s3,initial,,,,,,failed,,,,,,,,,\n"+
		"1,minio,initial,1,1,1,1,,ok,,,,,,,,,\n"))
	got := stats[Key{S3Tool, "initial"}].S3
	// Medians per operation (a run without one counts 0) and of the totals.
	want := StorageFigures{Runs: 3, Requests: 20, ByOp: map[string]float64{"PutObject": 20, "GetObject": 1}, Extensions: 1}
	if got.Runs != want.Runs || got.Requests != want.Requests || !maps.Equal(got.ByOp, want.ByOp) || got.Extensions != want.Extensions {
		t.Errorf("storage figures %+v, want %+v", got, want)
	}
	if m := stats[Key{MinIO, "initial"}].S3; m.Runs != 0 {
		t.Errorf("MinIO's row has storage figures %+v", m)
	}
}

func TestRenderS3Section(t *testing.T) {
	doc := render(t, s3Meta, s3CSV)
	for prefix, want := range map[string]string{
		// 9 s against 6.25 s through the server with a local vault: 1.44×.
		"| initial backup | 6.25 s | 9.00 s |":                    "| 1.44× | ≤ 1.50× | yes | 5.00 s | 1.80× | 1/1 |",
		"| unchanged re-backup | 5.00 s | 8.00 s |":               "| 1.60× | ≤ 1.50× | **no** | 4.00 s | 2.00× | 1/1 |",
		"| backup after changing 5% of files | failed | 3.00 s |": "| — | ≤ 1.50× | — | 2.00 s | 1.50× | 1/1 |",
		"| full restore | failed | 12.0 s |":                      "| — | ≤ 1.50× | — | failed | — | 1/1 |",
		// Client 6 s, server 4 s, MinIO 6 s of CPU in 9 s.
		"| initial backup | 6.00 s | 4.00 s | 6.00 s |": "| 1.78 | 80.0 MiB | 200.0 MiB | 400.0 MiB | 1.0 MiB | 1907.3 MiB |",
		"| full restore | 6.00 s | 4.00 s | 6.00 s |":   "| 1.33 | 29.3 MiB | 100.0 MiB | 400.0 MiB | — | — |",
		// 200 requests for 2 GB stored.
		"| requests per GB stored, initial backup |":                       "| 100.0 (200 requests; the vault holds 1907.3 MiB after it) |",
		"| retention-extension requests (PutObjectRetention) per backup |": "| unchanged re-backup: 5; backup after changing 5% of files: 0 |",
		"| storage objects whose retention was extended |":                 "| initial backup: 0; unchanged re-backup: 5; backup after changing 5% of files: 0 |",
		// 1002 requests to restore 100 MiB.
		"| requests for the restore |":     "| 1002 (9555.8 per GB restored) |",
		"| `GetObject` |":                  "| 40 | 20.0 | 30 | 20 | 1000 |",
		"| `PutObject` |":                  "| 100 | 50.0 | 2 | 10 | 0 |",
		"| `PutObjectRetention` |":         "| 0 | 0.0 | 5 | 0 | 0 |",
		"| all |":                          "| 200 | 100.0 | 42 | 30 | 1002 |",
		"| retention extended (objects) |": "| 0 | — | 5 | 0 | 0 |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	for _, want := range []string{
		"see [S3 vault (MinIO)](#s3-vault-minio)",
		"## S3 vault (MinIO)",
		"### Target: within 1.50× of the local vault's time",
		"with the vault on MinIO (minio version TEST)",
		"creates a bucket bench with Object Lock; the vault created with `--storage minio --lock compliance`, and starts",
		"with a retention slack of 168h.",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Operations in order of their requests over all steps; ties by name.
	order := []string{"| `GetObject` |", "| `PutObject` |", "| `UploadPart` |", "| `CompleteMultipartUpload` |",
		"| `CreateMultipartUpload` |", "| `HeadObject` |", "| `PutObjectRetention` |", "| `ListObjectVersions` |", "| all |"}
	last := -1
	for _, op := range order {
		i := strings.Index(doc, op)
		if i <= last {
			t.Errorf("%s out of order", op)
		}
		last = i
	}
	for _, d := range []string{render(t, serverMeta, serverCSV), render(t, Meta{}, sampleCSV)} {
		if strings.Contains(d, "S3 vault") {
			t.Error("S3 section without results of the S3 part")
		}
	}
}

func TestRenderS3Failed(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	var b strings.Builder
	b.WriteString(head)
	for _, step := range ServerModeSteps {
		for _, tool := range []string{S3Tool, S3Server, MinIO} {
			fmt.Fprintf(&b, "1,%s,%s,,,,,,failed,,,,,,,,,\n", tool, step)
		}
	}
	doc := render(t, s3Meta, b.String())
	for prefix, want := range map[string]string{
		"| initial backup | — | failed |":                                  "| — | ≤ 1.50× | — | — | — | 0/1 |",
		"| requests per GB stored, initial backup |":                       "| failed |",
		"| retention-extension requests (PutObjectRetention) per backup |": "| unchanged re-backup: failed; backup after changing 5% of files: failed |",
		"| requests for the restore |":                                     "| failed |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	if strings.Contains(doc, "| all |") {
		t.Error("table of operations without any measured")
	}
}

// scanCSV is a run with the scanning part: bunker's check against
// restic's, and the three scans with the restore of the changed files.
const scanCSV = `run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status,requests,errors,rate_per_s,p50_ms,p90_ms,p99_ms,max_ms
1,bunker,check,4.00,4.00,1.00,1024,,ok,,,,,,,
1,restic,check,8.00,4.00,4.00,1024,,ok,,,,,,,
1,bunker-scan,scan-initial,10.00,15.00,5.00,90000,,ok,,,,,,,
1,bunker-scan,scan-unchanged,0.40,0.30,0.10,80000,,ok,,,,,,,
1,bunker-scan,scan-changed,3.00,1.50,0.50,80000,,ok,,,,,,,
1,bunker-scan,read-changed,1.50,1.00,1.00,80000,,ok,,,,,,,
2,bunker-scan,scan-changed,5.00,2.50,0.50,80000,,ok,,,,,,,
`

func TestRenderScanSection(t *testing.T) {
	meta := Meta{"runs": "2",
		"scan_scan-initial_examined_run1": "40000", "scan_scan-initial_bytes_changed_run1": "10000000000", "scan_scan-initial_bytes_read_run1": "500000000", "scan_scan-initial_level_run1": "clean",
		"scan_scan-unchanged_examined_run1": "0", "scan_scan-unchanged_bytes_changed_run1": "0", "scan_scan-unchanged_bytes_read_run1": "0", "scan_scan-unchanged_level_run1": "clean",
		"scan_scan-changed_examined_run1": "2000", "scan_scan-changed_bytes_changed_run1": "50000000", "scan_scan-changed_bytes_read_run1": "30000000", "scan_scan-changed_level_run1": "suspicious",
		"scan_scan-changed_examined_run2": "2000", "scan_scan-changed_bytes_changed_run2": "50000000", "scan_scan-changed_bytes_read_run2": "30000000", "scan_scan-changed_level_run2": "clean",
	}
	doc := render(t, meta, scanCSV)
	for prefix, want := range map[string]string{
		"| an unchanged point scans in under 1.00 s |": "| 0.40 s | yes |",
		// Median of 3 s and 5 s against 1.5 s.
		"| a point with 5% of files changed scans in at most 1.50× the time of reading those files |": "| 2.67× (4.00 s against 1.50 s) | **no** |",
		// 50 MB over the median CPU time, 2.5 s.
		"| throughput on changed data, scan-changed: at least 400 MB/s per core |": "| 20 MB/s | **no** |",
		// 10 GB over 20 s of CPU.
		"| throughput on changed data, scan-initial: at least 400 MB/s per core |": "| 500 MB/s | yes |",
		"| verification of the whole corpus":                                       "(`bunker check --read-data`) at least as fast as `restic check --read-data` | 0.50× | yes |",
		"| scan the point after changing 5% of files against the unchanged one |":  "| 4.00 s | 2.50 s | 2000 | 47.7 MiB | 28.6 MiB | 20 MB/s | clean, suspicious |",
		"| restore only the changed files (`bunker restore --include`) |":          "| 1.50 s | 2.00 s | — | — | — | — | — |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	if strings.Contains(render(t, Meta{"runs": "1"}, sampleCSV), "Scanning for ransomware") {
		t.Error("scanning section without scan results")
	}
}

// copiesCSV has the copy part (two runs of the pull, one failed changed
// backup) and the scheduler part.
const copiesCSV = `run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status,requests,errors,rate_per_s,p50_ms,p90_ms,p99_ms,max_ms
1,bunker-copy,backup,10.00,8.00,2.00,90000,300000000,ok,,,,,,,
1,copy-a,backup,10.00,5.00,1.00,150000,,ok,,,,,,,
1,copy-b,backup,10.00,0.00,0.00,70000,,ok,,,,,,,
1,bunker-copy,pull,12.00,0.10,0.10,20000,300000000,ok,,,,,,,
1,copy-a,pull,12.00,4.00,1.00,100000,,ok,,,,,,,
1,copy-b,pull,12.00,8.00,2.00,160000,,ok,,,,,,,
2,bunker-copy,pull,16.00,0.10,0.10,20000,300000000,ok,,,,,,,
2,copy-a,pull,16.00,4.00,1.00,100000,,ok,,,,,,,
2,copy-b,pull,16.00,8.00,2.00,160000,,ok,,,,,,,
1,bunker-copy,changed,,,,,,failed,,,,,,,
1,copy-a,changed,,,,,,failed,,,,,,,
1,copy-b,changed,,,,,,failed,,,,,,,
1,bunker-copy,pull-changed,1.00,0.10,0.10,20000,310000000,ok,,,,,,,
1,copy-a,pull-changed,1.00,0.20,0.10,100000,,ok,,,,,,,
1,copy-b,pull-changed,1.00,0.50,0.10,100000,,ok,,,,,,,
1,bunker-sched,plans,70.00,1.00,0.50,10000,,ok,,,,,,,
1,sched-server,plans,70.00,3.00,1.00,160000,,ok,,,,,,,
`

func TestRenderCopiesSection(t *testing.T) {
	meta := Meta{"runs": "2", "cores": "2", "corpus_bytes": "734003200", "sched_plans": "1000", "sched_lead": "15s",
		"copy_pull_blobs_read_run1": "40000", "copy_pull_bytes_read_run1": "734003200", "copy_pull_bytes_new_run1": "740000000",
		"copy_pull_a_wchar_run1":       "280000000",
		"copy_changed_file_bytes_run1": "20000000", "copy_changed_file_bytes_run10": "1",
		"copy_pull-changed_bytes_read_run1": "10000000", "copy_pull-changed_blobs_read_run1": "2500",
		"sched_recorded_max_ms_run1": "5000", "sched_recorded_p99_ms_run1": "4900", "sched_recorded_p50_ms_run1": "2500",
		"sched_recorded_max_ms_run2": "3000", "sched_recorded_p99_ms_run2": "2900", "sched_recorded_p50_ms_run2": "1500",
		"sched_apply_s_run1": "2.5",
	}
	doc := render(t, meta, copiesCSV)
	for prefix, want := range map[string]string{
		// Backup 10 s over the median pull, 14 s.
		"| a copy of the corpus's point to a second server runs at ≥ 70% of a direct server-mode backup's speed |": "| 71% (copy 14.0 s against backup 10.0 s: 1.40× the backup's time) | yes |",
		"| the same for the point after the change (no target) |":                                                  "| — | — |",
		// The median of the changed files' size is over run 1 and 10: 10 MB.
		"| only new chunks move:":                                  "the copy of the changed point reads at most what the files the change step changed hold | 9.5 MiB read against 9.5 MiB of changed files: 1.00× | yes |",
		"| 1000 plans due at once start within a second:":          "each run recorded at most 1 s after its slot | max 4.00 s, p99 3.90 s, median 2.00 s | **no** |",
		"| B pulls that point from A (`bunker remote pull`) |":     "| 14.0 s | 50.0 MiB/s | 0.20 s | 5.00 s | 10.0 s | 1.09 | 97.7 MiB | 156.2 MiB | 40000 | 700.0 MiB | 705.7 MiB | 267.0 MiB | 286.1 MiB |",
		"| server-mode backup into A after changing 5% of files |": "| failed | — | failed | failed | failed | — | failed | failed | — | — | — | — | failed |",
		"| plans applied in one file (the apply request) |":        "| 2.50 s |",
		"| server CPU time and peak RSS over the whole step |":     "| 4.00 s, 156.2 MiB |",
	} {
		if got := rowStarting(t, doc, prefix); got != prefix+" "+strings.TrimPrefix(want, "| ") {
			t.Errorf("row %s\n got: %s\nwant: %s %s", prefix, got, prefix, strings.TrimPrefix(want, "| "))
		}
	}
	if strings.Contains(render(t, Meta{"runs": "1"}, sampleCSV), "Copies and scheduling") {
		t.Error("copies section without copy or scheduler results")
	}
}
