package local

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/storage"
)

func TestRecordRoundTrip(t *testing.T) {
	until := time.Date(2031, 5, 17, 8, 30, 12, 123456789, time.UTC)
	for _, r := range []record{
		{},
		{hold: true},
		{mode: storage.RetentionGovernance, until: until},
		{mode: storage.RetentionCompliance, until: until, hold: true},
		{mode: storage.RetentionCompliance, until: time.Unix(maxRetainUnix, 999999999).UTC()},
		{mode: storage.RetentionGovernance, until: time.Unix(0, 1).UTC()},
	} {
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("encode %+v: %v", r, err)
		}
		if len(enc) != recordLen || enc[0] != recordVersion {
			t.Fatalf("encode %+v = %x: want %d bytes starting with version %d", r, enc, recordLen, recordVersion)
		}
		got, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decode %x: %v", enc, err)
		}
		if got.mode != r.mode || got.hold != r.hold || !got.until.Equal(r.until) {
			t.Fatalf("round trip of %+v gave %+v", r, got)
		}
	}
}

// TestRecordEncoding pins the layout docs/FORMAT.md describes.
func TestRecordEncoding(t *testing.T) {
	r := record{mode: storage.RetentionCompliance, until: time.Unix(0x01020304, 5).UTC(), hold: true}
	enc, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "01020100" + "0000000001020304" + "00000005"; hex.EncodeToString(enc) != want {
		t.Fatalf("encoding %x, want %s", enc, want)
	}
}

func TestEncodeRecordRefuses(t *testing.T) {
	for _, r := range []record{
		{mode: storage.RetentionGovernance},
		{until: time.Now()},
		{mode: "FOREVER", until: time.Now()},
		{mode: storage.RetentionCompliance, until: time.Unix(maxRetainUnix+1, 0)},
		{mode: storage.RetentionCompliance, until: time.Unix(-1, 0)},
	} {
		if enc, err := encodeRecord(r); err == nil {
			t.Errorf("encode %+v = %x, want an error", r, enc)
		}
	}
}

// validRecord returns the encoding of a governance record, for mutating.
func validRecord(t testing.TB) []byte {
	enc, err := encodeRecord(record{mode: storage.RetentionGovernance, until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestDecodeRecordRefuses(t *testing.T) {
	good := validRecord(t)
	with := func(i int, b byte) []byte {
		c := bytes.Clone(good)
		c[i] = b
		return c
	}
	noDate := make([]byte, recordLen)
	noDate[0], noDate[1] = recordVersion, recordModeCompliance
	dateWithoutMode := bytes.Clone(good)
	dateWithoutMode[1] = recordModeNone
	for name, b := range map[string][]byte{
		"empty":             {},
		"version 0":         with(0, 0),
		"version 2":         with(0, 2),
		"short":             good[:recordLen-1],
		"long":              append(bytes.Clone(good), 0),
		"unknown mode":      with(1, 3),
		"unknown flag":      with(2, 2),
		"reserved":          with(3, 1),
		"nanoseconds":       append(bytes.Clone(good[:12]), 0x3b, 0x9a, 0xca, 0x00), // 1e9
		"mode without date": noDate,
		"date without mode": dateWithoutMode,
		"negative date":     with(4, 0x80),
		"after 9999":        with(4, 0x7f),
	} {
		r, err := decodeRecord(b)
		if !errors.Is(err, errBadRecord) {
			t.Errorf("%s: decode %x = %+v, %v; want errBadRecord", name, b, r, err)
		}
	}
}

func TestRecordBlocks(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Second), now.Add(-time.Second)
	cases := []struct {
		r              record
		delete, bypass bool // whether Delete, DeleteBypass may remove it
	}{
		{record{}, true, true},
		{record{hold: true}, false, false},
		{record{mode: storage.RetentionGovernance, until: later}, false, true},
		{record{mode: storage.RetentionCompliance, until: later}, false, false},
		{record{mode: storage.RetentionCompliance, until: now}, true, true},
		{record{mode: storage.RetentionCompliance, until: earlier}, true, true},
		{record{mode: storage.RetentionGovernance, until: earlier, hold: true}, false, false},
	}
	for _, c := range cases {
		if got := c.r.blocks(now, false) == ""; got != c.delete {
			t.Errorf("%+v: Delete allowed %v, want %v", c.r, got, c.delete)
		}
		if got := c.r.blocks(now, true) == ""; got != c.bypass {
			t.Errorf("%+v: DeleteBypass allowed %v, want %v", c.r, got, c.bypass)
		}
	}
}

// FuzzDecodeRecord checks that decoding never panics, that whatever decodes
// is a valid record that encodes back to exactly the input, and that
// whatever is refused is refused with errBadRecord.
func FuzzDecodeRecord(f *testing.F) {
	good := validRecord(f)
	held, err := encodeRecord(record{mode: storage.RetentionCompliance, until: time.Unix(maxRetainUnix, 999999999), hold: true})
	if err != nil {
		f.Fatal(err)
	}
	holdOnly, err := encodeRecord(record{hold: true})
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		good, held, holdOnly,
		{},
		{recordVersion},
		append(bytes.Clone(good), 0),
		append([]byte{2}, good[1:]...),
		append(bytes.Clone(good[:12]), 0xff, 0xff, 0xff, 0xff),
		bytes.Repeat([]byte{0xff}, recordLen),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecodeRecord", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("decode %x: error %v does not wrap errBadRecord", data, err)
			}
			return
		}
		again, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("decoded %x to %+v, which does not encode: %v", data, r, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decoded %x to %+v, which encodes as %x", data, r, again)
		}
		if r.mode != storage.RetentionNone && checkRetention(r.mode, r.until) != nil {
			t.Fatalf("decoded %x to %+v, which Put would refuse", data, r)
		}
	})
}
