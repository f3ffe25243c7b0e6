package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
)

// photo paints a photo-like picture: smooth gradients, blobs and sensor noise.
func photo(rng *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type blob struct {
		x, y, r float64
		c       [3]float64
	}
	blobs := make([]blob, 6+rng.IntN(8))
	for i := range blobs {
		blobs[i] = blob{rng.Float64() * float64(w), rng.Float64() * float64(h), 20 + rng.Float64()*float64(w)/3,
			[3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}}
	}
	base := [3]float64{rng.Float64() * 200, rng.Float64() * 200, rng.Float64() * 200}
	buf := make([][3]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := base
			for k := range c {
				c[k] += 40 * float64(y) / float64(h)
			}
			buf[y*w+x] = c
		}
	}
	for _, b := range blobs {
		x0, x1 := max(int(b.x-b.r), 0), min(int(b.x+b.r)+1, w)
		y0, y1 := max(int(b.y-b.r), 0), min(int(b.y+b.r)+1, h)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y)
				if d < b.r {
					t := 1 - d/b.r
					c := &buf[y*w+x]
					for k := range c {
						c[k] = c[k]*(1-t) + b.c[k]*t
					}
				}
			}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := buf[y*w+x]
			n := rng.NormFloat64() * 6
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = clamp(c[0]+n), clamp(c[1]+n), clamp(c[2]+n), 255
		}
	}
	return img
}

func clamp(v float64) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// JPEG returns a real baseline JPEG of a photo-like w x h picture.
func JPEG(rng *rand.Rand, w, h int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photo(rng, w, h), &jpeg.Options{Quality: 80 + rng.IntN(15)}); err != nil {
		return nil, fmt.Errorf("jpeg encode: %w", err)
	}
	return buf.Bytes(), nil
}

// PNG returns a real PNG of a photo-like w x h picture.
func PNG(rng *rand.Rand, w, h int) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, photo(rng, w, h)); err != nil {
		return nil, fmt.Errorf("png encode: %w", err)
	}
	return buf.Bytes(), nil
}

// WAV returns a 16-bit PCM mono WAV file of seconds of tones and noise.
func WAV(rng *rand.Rand, seconds int) []byte {
	const rate = 22050
	n := rate * seconds
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	_ = binary.Write(&buf, le, uint32(36+2*n))
	buf.WriteString("WAVEfmt ")
	// fmt chunk: size 16, PCM, mono, rate, byte rate, block align, bits.
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&buf, le, v)
	}
	buf.WriteString("data")
	_ = binary.Write(&buf, le, uint32(2*n))
	f1, f2 := 200+rng.Float64()*600, 300+rng.Float64()*900
	s := make([]byte, 2)
	for i := 0; i < n; i++ {
		t := float64(i) / rate
		v := 9000*math.Sin(2*math.Pi*f1*t) + 5000*math.Sin(2*math.Pi*f2*t) + rng.NormFloat64()*800
		le.PutUint16(s, uint16(int16(v)))
		buf.Write(s)
	}
	return buf.Bytes()
}

func box(typ string, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
	copy(b[4:], typ)
	return append(b, payload...)
}

// MP4 returns an ISO-BMFF (MP4-like) container of about size bytes: an ftyp
// box, a moov box with mvhd/trak/tkhd headers and an mdat box of
// length-prefixed NAL-like units filled with pseudo-random bytes. The
// payload is not decodable video, but it has the structure and the entropy
// of compressed video, which is what a content scanner sees.
func MP4(rng *rand.Rand, size int) []byte {
	be := binary.BigEndian
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	mvhd := make([]byte, 100)
	be.PutUint32(mvhd[12:], 1000)                    // timescale
	be.PutUint32(mvhd[16:], uint32(1000*(size>>17))) // duration
	be.PutUint32(mvhd[20:], 0x00010000)              // rate 1.0
	be.PutUint16(mvhd[24:], 0x0100)                  // volume
	be.PutUint32(mvhd[96:], 2)                       // next track id
	tkhd := make([]byte, 84)
	tkhd[3] = 3 // enabled, in movie
	be.PutUint32(tkhd[12:], 1)
	be.PutUint32(tkhd[76:], 1280<<16)
	be.PutUint32(tkhd[80:], 720<<16)
	moov := box("moov", append(box("mvhd", mvhd), box("trak", box("tkhd", tkhd))...))
	var mdat []byte
	for len(mdat) < size-len(ftyp)-len(moov)-8 {
		n := 2000 + rng.IntN(30000)
		u := make([]byte, 4+n)
		be.PutUint32(u, uint32(n))
		u[4] = 0x41 // non-IDR slice NAL header
		if rng.IntN(30) == 0 {
			u[4] = 0x65 // IDR
		}
		for i := 5; i < len(u); i += 8 {
			var w [8]byte
			be.PutUint64(w[:], rng.Uint64())
			copy(u[i:], w[:])
		}
		mdat = append(mdat, u...)
	}
	out := append(ftyp, moov...)
	return append(out, box("mdat", mdat)...)
}
