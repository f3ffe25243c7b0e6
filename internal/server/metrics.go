package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers can live in one process (as in tests).
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	blobsIn      prometheus.Counter
	bytesIn      prometheus.Counter
	blobsStored  prometheus.Counter
	blobsOut     prometheus.Counter
	bytesOut     prometheus.Counter
	points       *prometheus.CounterVec
	auditEntries *prometheus.CounterVec
	denied       prometheus.Counter
	sessions     prometheus.Gauge
	maintenance  *prometheus.CounterVec

	retentionExtensions prometheus.Counter
	legalHoldChanges    prometheus.Counter
	scans               *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bunker_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bunker_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		blobsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_blobs_received_total", Help: "Blobs uploaded by backup clients.",
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_blob_bytes_received_total", Help: "Payload bytes of uploaded blobs.",
		}),
		blobsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_blobs_stored_total", Help: "Uploaded blobs that were new and stored.",
		}),
		blobsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_blobs_sent_total", Help: "Blobs sent to restoring clients.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_blob_bytes_sent_total", Help: "Payload bytes sent to restoring clients.",
		}),
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bunker_points_total", Help: "Recovery point events by kind (created, binned, purged, undeleted).",
		}, []string{"event"}),
		auditEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bunker_audit_entries_total", Help: "Audit entries written, by outcome.",
		}, []string{"outcome"}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bunker_denied_requests_total", Help: "Requests refused for want of authentication or permission.",
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bunker_sessions_open", Help: "Open backup and restore sessions.",
		}),
		maintenance: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bunker_maintenance_runs_total", Help: "Maintenance passes by result.",
		}, []string{"result"}),
	}
	m.retentionExtensions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bunker_retention_extensions_total", Help: "Storage objects whose retention was extended.",
	})
	m.legalHoldChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bunker_legal_hold_changes_total", Help: "Legal holds placed on or lifted from storage objects.",
	})
	m.scans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bunker_scans_total", Help: "Point scans by verdict (clean, suspicious, infected) or failed.",
	}, []string{"verdict"})
	m.reg.MustRegister(m.retentionExtensions, m.legalHoldChanges, m.scans)
	m.reg.MustRegister(m.requests, m.duration, m.blobsIn, m.bytesIn, m.blobsStored, m.blobsOut, m.bytesOut,
		m.points, m.auditEntries, m.denied, m.sessions, m.maintenance,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// storageRequests exports the requests each open vault's storage has sent,
// by operation, for storages that count them (S3). A vault's series starts
// again from zero when the server reopens its storage, which Prometheus
// treats as a counter reset.
type storageRequests struct {
	desc  *prometheus.Desc
	count func() map[string]map[string]uint64 // vault → operation → requests
}

func newStorageRequests(count func() map[string]map[string]uint64) *storageRequests {
	return &storageRequests{
		desc: prometheus.NewDesc("bunker_storage_requests_total",
			"Requests sent to vault storage, by vault and operation (retries and multipart parts included).",
			[]string{"vault", "op"}, nil),
		count: count,
	}
}

// Describe implements prometheus.Collector.
func (c *storageRequests) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *storageRequests) Collect(ch chan<- prometheus.Metric) {
	for vault, ops := range c.count() {
		for op, n := range ops {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), vault, op)
		}
	}
}
