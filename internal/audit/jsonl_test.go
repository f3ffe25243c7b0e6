package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/secret"
)

func export(t testing.TB, l *auditLog) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, l.pub(), l.entries, l.cps); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Time.Equal(y.Time) {
			return false
		}
		x.Time, y.Time = time.Time{}, time.Time{}
		dx, _ := canonicalDetail(x.Detail)
		dy, _ := canonicalDetail(y.Detail)
		x.Detail, y.Detail = dx, dy
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func sameCheckpoints(a, b []Checkpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Time.Equal(y.Time) || x.Seq != y.Seq || x.Hash != y.Hash || x.KeyID != y.KeyID || !bytes.Equal(x.Signature, y.Signature) {
			return false
		}
	}
	return true
}

func TestJSONLRoundTrip(t *testing.T) {
	l := newLog(t, 120, 25)
	data := export(t, l)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 1+120+4 {
		t.Fatalf("%d lines, want a header, 120 entries and 4 checkpoints", len(lines))
	}
	wantHeader := fmt.Sprintf(`{"type":"header","format":"bunker-audit-v1","key_id":"%s","public_key":"%s"}`,
		secret.KeyID(l.pub()), base64.StdEncoding.EncodeToString(l.pub()))
	if lines[0] != wantHeader {
		t.Fatalf("header %s, want %s", lines[0], wantHeader)
	}
	if !strings.HasPrefix(lines[1], `{"type":"entry","seq":1,"time":"2031-05-01T00:00:00Z","actor":"","action":"auth.login",`) {
		t.Fatalf("first entry line %s", lines[1])
	}
	if !strings.HasPrefix(lines[26], `{"type":"checkpoint","seq":25,`) || !strings.Contains(lines[25], `"seq":25,`) {
		t.Fatalf("checkpoint 25 is not right after entry 25: %s", lines[26])
	}

	pub, entries, cps, err := ReadJSONL(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(l.pub()) || !sameEntries(entries, l.entries) || !sameCheckpoints(cps, l.cps) {
		t.Fatal("export does not read back to the same log")
	}
	if r := Verify(entries, cps, l.pub()); !r.OK() || r.LastCheckpoint != 100 {
		t.Fatalf("read-back log: %+v", r)
	}
	if again := export(t, &auditLog{entries: entries, cps: cps, priv: l.priv}); !bytes.Equal(again, data) {
		t.Fatal("writing a read export again changes it")
	}
	// CRLF line ends are read the same way.
	crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
	if _, e2, _, err := ReadJSONL(bytes.NewReader(crlf)); err != nil || !sameEntries(e2, entries) {
		t.Fatalf("CRLF export: %v", err)
	}
}

// TestJSONLVerifiesAfterReencoding: an export whose details and times were
// re-encoded by another tool (other key order, spacing, zone) still
// verifies.
func TestJSONLVerifiesAfterReencoding(t *testing.T) {
	l := newLog(t, 30, 10)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(export(t, l)))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"type":"entry"`) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			ts, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
			m["time"] = ts.In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano)
			b, _ := json.MarshalIndent(m, "", "")
			line = strings.ReplaceAll(string(b), "\n", " ")
		}
		out.WriteString(line + "\n")
	}
	_, entries, cps, err := ReadJSONL(&out)
	if err != nil {
		t.Fatal(err)
	}
	if r := Verify(entries, cps, l.pub()); !r.OK() {
		t.Fatalf("re-encoded export: %+v", r.Problems)
	}
	if entries[0].Time.Location() != time.UTC {
		t.Fatal("ReadJSONL does not return times in UTC")
	}
}

func TestReadJSONLRefuses(t *testing.T) {
	l := newLog(t, 3, 3)
	lines := strings.Split(strings.TrimSuffix(string(export(t, l)), "\n"), "\n")
	header, entry, cp := lines[0], lines[1], lines[4]
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	other := testKey(99).Public().(ed25519.PublicKey)
	for _, c := range []struct {
		name, input, problem string
	}{
		{"empty", "", "empty"},
		{"no header", join(entry), "line 1: want the header"},
		{"two headers", join(header, header), "line 2: a second header"},
		{"blank line", join(header, "", entry), "line 2: empty line"},
		{"not JSON", join(header, "hello"), "line 2"},
		{"array", join(header, "[1]"), "line 2: not a JSON object"},
		{"trailing data", join(header, entry+" {}"), "line 2"},
		{"two objects", join(header, entry+entry), "line 2"},
		{"unknown type", join(header, `{"type":"note","text":"hi"}`), `line 2: unknown line type "note"`},
		{"no type", join(header, strings.Replace(entry, `"type":"entry",`, "", 1)), `line 2: no "type"`},
		{"numeric type", join(header, `{"type":1}`), `line 2: no "type"`},
		{"unknown field", join(header, strings.Replace(entry, `"seq":1,`, `"seq":1,"extra":true,`, 1)), `line 2: entry line with unknown field "extra"`},
		{"field in other case", join(header, strings.Replace(entry, `"seq":1,`, `"Seq":1,`, 1)), "line 2: entry line without \"seq\""},
		{"duplicate field", join(header, strings.Replace(entry, `"seq":1,`, `"seq":1,"seq":2,`, 1)), "line 2: JSON: object key \"seq\" appears twice"},
		{"missing field", join(header, strings.Replace(entry, `"actor":"",`, "", 1)), `line 2: entry line without "actor"`},
		{"null field", join(header, strings.Replace(entry, `"actor":""`, `"actor":null`, 1)), `line 2: entry line with null "actor"`},
		{"negative seq", join(header, strings.Replace(entry, `"seq":1,`, `"seq":-1,`, 1)), "line 2"},
		{"string seq", join(header, strings.Replace(entry, `"seq":1,`, `"seq":"1",`, 1)), "line 2"},
		{"bad time", join(header, strings.Replace(entry, `"time":"2031-05-01T00:00:00Z"`, `"time":"yesterday"`, 1)), "line 2"},
		{"invalid UTF-8", join(header, strings.Replace(entry, `"actor":""`, "\"actor\":\"\xff\"", 1)), "line 2: JSON: invalid UTF-8"},
		{"checkpoint field missing", join(header, entry, strings.Replace(cp, `"key_id"`, `"kid"`, 1)), "line 3"},
		{"bad signature base64", join(header, entry, strings.Replace(cp, `"signature":"`, `"signature":"!`, 1)), "line 3"},
		{"unknown format", join(strings.Replace(header, "bunker-audit-v1", "bunker-audit-v2", 1)), `line 1: format "bunker-audit-v2"`},
		{"short key", join(strings.Replace(header, base64.StdEncoding.EncodeToString(l.pub()), "AAAA", 1)), "line 1: public key has 3 bytes"},
		{"key id of another key", join(strings.Replace(header, secret.KeyID(l.pub()), secret.KeyID(other), 1)), "line 1: key_id"},
		{"header field missing", join(strings.Replace(header, `,"format":"bunker-audit-v1"`, "", 1)), `line 1: header line without "format"`},
		{"long line", join(header, `{"type":"entry","actor":"`+strings.Repeat("a", MaxLine)+`"}`), "line 2 is longer than"},
		{"long first line", strings.Repeat(" ", MaxLine+10), "line 1 is longer than"},
	} {
		_, _, _, err := ReadJSONL(strings.NewReader(c.input))
		if err == nil || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("%s: ReadJSONL = %v, want an error containing %q", c.name, err, c.problem)
		}
	}
	// A line of exactly MaxLine bytes is read (and refused only for what
	// it holds).
	pad := `{"type":"note","x":"` + strings.Repeat("a", MaxLine-22) + `"}`
	if len(pad) != MaxLine {
		t.Fatalf("padding line has %d bytes", len(pad))
	}
	if _, _, _, err := ReadJSONL(strings.NewReader(join(header, pad))); err == nil || !strings.Contains(err.Error(), "unknown line type") {
		t.Errorf("line of MaxLine bytes: %v", err)
	}
	if _, _, _, err := ReadJSONL(strings.NewReader(join(header))); err != nil {
		t.Errorf("export of an empty log: %v", err)
	}
}

func TestWriteJSONLRefuses(t *testing.T) {
	l := newLog(t, 3, 3)
	if err := WriteJSONL(&bytes.Buffer{}, l.pub()[:5], l.entries, l.cps); err == nil {
		t.Error("WriteJSONL with a short public key accepted")
	}
	bad := append([]Entry(nil), l.entries...)
	bad[1].Detail = json.RawMessage(`{"a":`)
	if err := WriteJSONL(&bytes.Buffer{}, l.pub(), bad, l.cps); err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("WriteJSONL with a broken detail = %v", err)
	}
}

// FuzzReadJSONL feeds arbitrary exports to ReadJSONL. Whatever it reads
// must write back and read again to the same log, Verify must give the same
// report for both, and nothing may panic.
func FuzzReadJSONL(f *testing.F) {
	l := newLog(f, 6, 3)
	good := export(f, l)
	lines := strings.SplitAfter(string(good), "\n")
	tampered := newLog(f, 6, 3)
	tampered.entries[2].Actor = "mallory"
	tampered.entries = append(tampered.entries[:4], tampered.entries[5:]...)
	seeds := [][]byte{
		good,
		export(f, tampered),
		[]byte(lines[0] + lines[2] + lines[1] + lines[3]),
		[]byte(lines[0] + strings.Replace(lines[1], `"seq":1`, `"seq":1,"seq":1`, 1)),
		[]byte(lines[0] + `{"type":"entry","seq":1,"time":"2031-05-01T00:00:00Z","actor":"","action":"a","target":"","outcome":"ok","detail":{"b":[1.50,{"a":null}]},"prev":"` + GenesisPrev + `","hash":"00"}` + "\n"),
		[]byte(lines[0] + `{"type":"checkpoint","seq":1,"hash":"","time":"2031-05-01T00:00:00Z","key_id":"","signature":""}` + "\n"),
		[]byte(lines[0]),
		[]byte(good[:len(good)/2]),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzReadJSONL", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, entries, cps, err := ReadJSONL(bytes.NewReader(data))
		if err != nil {
			if pub != nil || entries != nil || cps != nil {
				t.Fatal("ReadJSONL returned data with an error")
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, pub, entries, cps); err != nil {
			t.Fatalf("read export does not write: %v", err)
		}
		pub2, entries2, cps2, err := ReadJSONL(&buf)
		if err != nil {
			t.Fatalf("written export does not read: %v", err)
		}
		sorted := slices.Clone(cps)
		slices.SortStableFunc(sorted, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
		if !pub2.Equal(pub) || !sameEntries(entries, entries2) || !sameCheckpoints(sorted, cps2) {
			t.Fatal("export changed through a write and read")
		}
		r1, r2 := Verify(entries, cps, pub), Verify(entries2, cps2, pub2)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("reports differ:\n%+v\n%+v", r1, r2)
		}
	})
}
