package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func handle(b byte, t blob.Type) blob.Handle {
	var id blob.ID
	for i := range id {
		id[i] = b + byte(i)
	}
	return blob.Handle{ID: id, Type: t}
}

func TestHandlesRoundTrip(t *testing.T) {
	hs := []blob.Handle{handle(1, blob.DataBlob), handle(2, blob.TreeBlob), handle(3, blob.DataBlob)}
	b := AppendHandles(nil, hs)
	if len(b) != 3*HandleSize {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, err := DecodeHandles(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hs {
		if got[i] != hs[i] {
			t.Fatalf("handle %d: %v, want %v", i, got[i], hs[i])
		}
	}
	if _, err := DecodeHandles(b, 2); !errors.Is(err, ErrFormat) {
		t.Fatalf("limit not enforced: %v", err)
	}
	if _, err := DecodeHandles(b[:len(b)-1], 10); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated list accepted: %v", err)
	}
	bad := bytes.Clone(b)
	bad[HandleSize] = 7
	if _, err := DecodeHandles(bad, 10); !errors.Is(err, ErrFormat) {
		t.Fatalf("unknown type accepted: %v", err)
	}
}

func TestFramesRoundTrip(t *testing.T) {
	frames := []Frame{
		{Handle: handle(1, blob.DataBlob), Compressed: true, RawLen: 100, Payload: []byte("zstd bytes")},
		{Handle: handle(2, blob.TreeBlob), RawLen: 5, Payload: []byte("plain")},
		{Handle: handle(3, blob.DataBlob), RawLen: 0, Payload: nil},
	}
	var b []byte
	for _, f := range frames {
		b = AppendFrame(b, f)
	}
	fr := NewFrameReader(bytes.NewReader(b), 1<<20, 10)
	for i, want := range frames {
		got, err := fr.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Handle != want.Handle || got.Compressed != want.Compressed || got.RawLen != want.RawLen || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d: %+v, want %+v", i, got, want)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	good := AppendFrame(nil, Frame{Handle: handle(1, blob.DataBlob), RawLen: 4, Payload: []byte("abcd")})
	cases := map[string][]byte{
		"truncated header":  good[:10],
		"truncated payload": good[:len(good)-1],
		"unknown type":      append([]byte{9}, good[1:]...),
		"unknown flags":     append([]byte{1, 0x80}, good[2:]...),
		"oversized payload": AppendFrame(nil, Frame{Handle: handle(1, blob.DataBlob), RawLen: 4, Payload: make([]byte, 2000)}),
		"oversized raw":     AppendFrame(nil, Frame{Handle: handle(1, blob.DataBlob), RawLen: 5000, Payload: []byte("x")}),
		"too many frames":   bytes.Repeat(good, 4),
	}
	for name, b := range cases {
		fr := NewFrameReader(bytes.NewReader(b), 1000, 3)
		var err error
		for err == nil {
			_, err = fr.Next()
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func FuzzFrameReader(f *testing.F) {
	seeds := [][]byte{
		AppendFrame(nil, Frame{Handle: handle(1, blob.DataBlob), RawLen: 4, Payload: []byte("abcd")}),
		AppendFrame(AppendFrame(nil, Frame{Handle: handle(1, blob.TreeBlob), Compressed: true, RawLen: 40, Payload: []byte("xyz")}),
			Frame{Handle: handle(2, blob.DataBlob), RawLen: 1, Payload: []byte("q")}),
		{1, 0, 255, 255, 255, 255},
		{},
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzFrameReader", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b), 4096, 64)
		var out []byte
		for {
			fm, err := fr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error %v does not wrap ErrFormat", err)
				}
				return
			}
			if len(fm.Payload) > 4096 || fm.RawLen > 4096 {
				t.Fatalf("frame beyond the limit: %d/%d", len(fm.Payload), fm.RawLen)
			}
			out = AppendFrame(out, fm)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("a stream that decodes does not re-encode to itself")
		}
	})
}

func FuzzDecodeHandles(f *testing.F) {
	seeds := [][]byte{AppendHandles(nil, []blob.Handle{handle(1, blob.DataBlob), handle(9, blob.TreeBlob)}), {1}, {3, 0}}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecodeHandles", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := DecodeHandles(b, 100)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if !bytes.Equal(AppendHandles(nil, hs), b) {
			t.Fatal("decoded handles do not re-encode to the input")
		}
	})
}
