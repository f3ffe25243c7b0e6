package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
)

var (
	firstNames = []string{"Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana",
		"Ines", "Jonas", "Kaito", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa",
		"Sven", "Tamar", "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zofia"}
	lastNames = []string{"Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
		"Horvat", "Ivanova", "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov",
		"Quinn", "Rossi", "Schmidt", "Tanaka", "Urban", "Varga", "Weber", "Yilmaz", "Zeller"}
	regions  = []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa-east"}
	currency = []string{"EUR", "USD", "GBP", "JPY", "CHF", "SEK", "PLN", "BRL"}
	statuses = []string{"settled", "pending", "refunded", "disputed", "settled", "settled"}
	notes    = []string{"invoice", "order", "subscription", "refund for order", "transfer to",
		"card payment", "standing order", "fee for"}
)

// tableHeader is the first line of every generated table.
const tableHeader = "id,timestamp,account,region,currency,amount,status,customer,note\n"

// WriteTable writes exactly size bytes of a CSV-like ledger whose rows come
// from a generator seeded with seed; the same arguments give the same bytes.
func WriteTable(ctx context.Context, w io.Writer, size int64, seed uint64) error {
	r := newRNG(seed)
	cw := &cutWriter{w: w, left: size}
	if _, err := io.WriteString(cw, tableHeader); err != nil {
		return err
	}
	ts := int64(1_600_000_000)
	buf := make([]byte, 0, 256)
	for id := 1; cw.left > 0; id++ {
		if id%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ts += int64(r.intn(90))
		buf = appendRow(buf[:0], r, id, ts)
		if _, err := cw.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func appendRow(b []byte, r *rng, id int, ts int64) []byte {
	b = appendPadded(b, int64(id), 10)
	b = append(b, ',')
	b = appendTime(b, ts)
	b = append(b, ",ACC-"...)
	b = appendPadded(b, int64(r.intn(2_000_000)), 7)
	b = append(b, ',')
	b = append(b, regions[r.intn(len(regions))]...)
	b = append(b, ',')
	b = append(b, currency[r.intn(len(currency))]...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.intn(500_000)), 10)
	b = append(b, '.')
	b = appendPadded(b, int64(r.intn(100)), 2)
	b = append(b, ',')
	b = append(b, statuses[r.intn(len(statuses))]...)
	b = append(b, ",\""...)
	b = append(b, lastNames[r.intn(len(lastNames))]...)
	b = append(b, ", "...)
	b = append(b, firstNames[r.intn(len(firstNames))]...)
	b = append(b, "\","...)
	b = append(b, notes[r.intn(len(notes))]...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.intn(10_000_000)), 10)
	return append(b, '\n')
}

func appendPadded(b []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendTime appends ts as an RFC 3339 UTC timestamp without using the time
// zone database, so the output is the same everywhere.
func appendTime(b []byte, ts int64) []byte {
	days, secs := ts/86400, ts%86400
	y, m, d := civil(days)
	b = strconv.AppendInt(b, y, 10)
	b = append(b, '-')
	b = appendPadded(b, m, 2)
	b = append(b, '-')
	b = appendPadded(b, d, 2)
	b = append(b, 'T')
	b = appendPadded(b, secs/3600, 2)
	b = append(b, ':')
	b = appendPadded(b, secs/60%60, 2)
	b = append(b, ':')
	b = appendPadded(b, secs%60, 2)
	return append(b, 'Z')
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date.
func civil(days int64) (year, month, day int64) {
	z := days + 719468
	era := z
	if era < 0 {
		era -= 146096 // round toward minus infinity
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// cutWriter passes on at most left bytes; the last piece it lets through is
// shortened and ends in a newline so the table ends on a line boundary.
type cutWriter struct {
	w    io.Writer
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		if c.left == 0 {
			return 0, nil
		}
		p = append(p[:c.left-1:c.left-1], '\n')
	}
	n, err := c.w.Write(p)
	c.left -= int64(n)
	return n, err
}

// WriteTableFile writes the table to a new file at path.
func WriteTableFile(ctx context.Context, path string, size int64, seed uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = WriteTable(ctx, bw, size, seed)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write table %s: %w", path, err)
	}
	return nil
}
