package plan

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// FuzzDecode checks that the decoder never panics, and that what it
// accepts encodes to a file that decodes to the same plans.
func FuzzDecode(f *testing.F) {
	full, err := os.ReadFile("testdata/plans.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		full,
		[]byte(minimal),
		[]byte(minimal + "---\n" + minimal),
		[]byte(`{"name":"j","schedule":{"rate":"every 1h"},"vault":"v","sources":[{"host":"h","paths":["/"]}]}`),
		[]byte("name: a\nschedule: {cron: \"CRON_TZ=America/New_York 30 2 * * 1-5\"}\nvault: v\nsources: [{host: h, stdin: {command: [/bin/cat]}}]\n"),
		[]byte("name: a\nschedule: &s {rate: every 1h}\nx: *s\n"),
		[]byte("a: &a [x, x]\nb: [*a, *a, *a]\n"),
		[]byte("- [[[[[[[[[[]]]]]]]]]]\n"),
		[]byte("name: a\nretention: {keep_last: 99999999999999999999}\n"),
		[]byte("name: a\nsources: {host: h}\nhooks: {pre: [{argv: x}]}\n"),
		[]byte("---\n---\n"),
		[]byte("name: a\nname: b\n"),
		[]byte("<<: {name: a}\n"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecode", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plans, err := Decode(bytes.NewReader(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, plans); err != nil {
			t.Fatalf("accepted plans do not encode: %v", err)
		}
		encoded := buf.String()
		again, err := Decode(&buf)
		if err != nil {
			t.Fatalf("accepted plans encode to a file that is refused: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(withoutLines(again), withoutLines(plans)) {
			t.Fatalf("encode and decode changed the plans:\n%+v\n%s\n%+v", withoutLines(plans), encoded, withoutLines(again))
		}
		if d := Diff(plans, again); len(d) != 0 {
			t.Fatalf("Diff after a round trip: %+v", d)
		}
	})
}
