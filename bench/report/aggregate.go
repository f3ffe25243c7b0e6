package main

import "slices"

// Key names one step of one tool.
type Key struct{ Tool, Step string }

// Stat is the median of a step over the runs in which it succeeded.
type Stat struct {
	OK, Failed int
	Wall, CPU  float64 // seconds; CPU is user+sys
	RSSKB      float64
	Stored     float64 // bytes; -1 when never measured
	// API holds the medians of a read API load's figures, except Errors,
	// which is the total over the successful runs.
	API APIFigures
	// S3 holds the medians of the S3 part's storage figures over the
	// successful runs that recorded them.
	S3 StorageFigures
}

// StorageFigures are the medians of a step's storage requests.
type StorageFigures struct {
	Runs       int                // successful runs that recorded them; 0: none
	Requests   float64            // all operations together
	ByOp       map[string]float64 // per operation (a run without one counts 0)
	Extensions float64            // storage objects whose retention was extended
}

// Util is CPU time over wall time: 2 means two cores busy throughout.
func (s Stat) Util() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return s.CPU / s.Wall
}

// Aggregate groups rows by tool and step and takes medians of the
// successful runs. Skipped rows count as failed.
func Aggregate(rows []Row) map[Key]Stat {
	type samples struct {
		ok, failed             int
		wall, cpu, rss, stored []float64
		errors                 int64
		api                    [6][]float64 // requests, rate, p50, p90, p99, max
		storage                []map[string]int64
		extensions             []float64
	}
	byKey := map[Key]*samples{}
	for _, r := range rows {
		k := Key{r.Tool, r.Step}
		s := byKey[k]
		if s == nil {
			s = &samples{}
			byKey[k] = s
		}
		if r.Status != StatusOK {
			s.failed++
			continue
		}
		s.ok++
		s.wall = append(s.wall, r.Wall)
		s.cpu = append(s.cpu, r.User+r.Sys)
		s.rss = append(s.rss, float64(r.MaxRSSKB))
		if r.Stored >= 0 {
			s.stored = append(s.stored, float64(r.Stored))
		}
		s.errors += r.API.Errors
		for i, v := range []float64{float64(r.API.Requests), r.API.Rate, r.API.P50, r.API.P90, r.API.P99, r.API.Max} {
			s.api[i] = append(s.api[i], v)
		}
		if r.Storage != nil || r.Extensions >= 0 {
			s.storage = append(s.storage, r.Storage)
			s.extensions = append(s.extensions, float64(max(r.Extensions, 0)))
		}
	}
	out := make(map[Key]Stat, len(byKey))
	for k, s := range byKey {
		st := Stat{OK: s.ok, Failed: s.failed, Stored: -1}
		if s.ok > 0 {
			st.Wall, st.CPU, st.RSSKB = median(s.wall), median(s.cpu), median(s.rss)
		}
		if len(s.stored) > 0 {
			st.Stored = median(s.stored)
		}
		st.API = APIFigures{
			Requests: int64(median(s.api[0])), Errors: s.errors, Rate: median(s.api[1]),
			P50: median(s.api[2]), P90: median(s.api[3]), P99: median(s.api[4]), Max: median(s.api[5]),
		}
		st.S3 = storageFigures(s.storage, s.extensions)
		out[k] = st
	}
	return out
}

// storageFigures takes the medians of the runs' storage requests.
func storageFigures(runs []map[string]int64, extensions []float64) StorageFigures {
	if len(runs) == 0 {
		return StorageFigures{}
	}
	f := StorageFigures{Runs: len(runs), ByOp: map[string]float64{}, Extensions: median(extensions)}
	ops := map[string]bool{}
	totals := make([]float64, len(runs))
	for i, r := range runs {
		for op, n := range r {
			ops[op] = true
			totals[i] += float64(n)
		}
	}
	for op := range ops {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = float64(r[op])
		}
		f.ByOp[op] = median(v)
	}
	f.Requests = median(totals)
	return f
}

// median returns the middle value, or the mean of the two middle values.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
