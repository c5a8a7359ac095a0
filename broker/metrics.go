package broker

import (
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the broker's Prometheus metrics, on a registry of their own
// (never the global one), named brokerlab_broker_<name>_<unit>. Requests
// are counted here and never logged one by one.
type metrics struct {
	reg *prometheus.Registry

	requests            *prometheus.CounterVec
	duration            *prometheus.HistogramVec
	connErrors          *prometheus.CounterVec
	bytesIn             prometheus.Counter
	bytesOut            prometheus.Counter
	fetchSendfileBytes  prometheus.Counter
	fetchCopyBytes      prometheus.Counter
	producedRecords     prometheus.Counter
	producedBatches     prometheus.Counter
	fetchedBytes        prometheus.Counter
	fetchWaiting        prometheus.Gauge
	connections         prometheus.Gauge
	connectionsAccepted prometheus.Counter
	queuedRequestBytes  prometheus.Gauge
	requestBudgetWaits  prometheus.Counter

	// apis holds each API key's request counter and duration histogram,
	// looked up once instead of by label on every request.
	apis [256]apiMetrics
}

type apiMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// forAPI returns the request metrics of an API key the broker serves.
func (m *metrics) forAPI(key int16) *apiMetrics {
	return &m.apis[uint8(key)]
}

// goCPUClasses selects runtime/metrics' /cpu/classes/... (exported as
// go_cpu_classes_*_cpu_seconds_total) for the dashboard's GC CPU share.
var goCPUClasses = regexp.MustCompile(`^/cpu/classes/`)

const (
	namespace = "brokerlab"
	subsystem = "broker"
)

func newMetrics(b *Broker) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts(opts(name, help)))
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts(opts("requests_total", "Requests served, by Kafka API.")), []string{"api"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: subsystem, Name: "request_duration_seconds",
		Help:    "Time from a request's arrival to its response written, by Kafka API (Fetch includes its long-poll wait).",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18), // 25µs .. ~3.3s
	}, []string{"api"})
	m.connErrors = prometheus.NewCounterVec(prometheus.CounterOpts(opts("connection_errors_total",
		"Connections closed by the broker, by reason: the client's request (frame_size, malformed, handler), idle longer than connections.max.idle.ms (idle), refused at accept (max_connections, max_connections_per_ip), and accept errors (accept).")), []string{"reason"})
	m.bytesIn = counter("network_received_bytes_total", "Bytes of requests received, size prefixes included.")
	m.bytesOut = counter("network_sent_bytes_total", "Bytes of responses sent, size prefixes included.")
	m.fetchSendfileBytes = counter("fetch_sendfile_bytes_total", "Record bytes of Fetch responses sent with sendfile(2), not copied through user space.")
	m.fetchCopyBytes = counter("fetch_copy_bytes_total", "Record bytes of Fetch responses read into a buffer and written (copy mode, no TCP socket, or a partition's records under 16 KiB).")
	m.producedRecords = counter("produced_records_total", "Records appended by Produce requests (duplicates not counted).")
	m.producedBatches = counter("produced_batches_total", "Record batches appended by Produce requests (duplicates not counted).")
	m.fetchedBytes = counter("fetched_record_bytes_total", "Record bytes returned by Fetch requests, whichever way they were sent.")
	// Kafka's counterpart: DelayedOperationPurgatory PurgatorySize, delayedOperation=Fetch.
	m.fetchWaiting = prometheus.NewGauge(prometheus.GaugeOpts(opts("fetch_waiting", "Fetch requests waiting now in a long poll for min.bytes or max.wait.ms.")))
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts(opts("connections", "Client connections open now.")))
	m.connectionsAccepted = counter("connections_accepted_total", "Client connections accepted.")
	m.queuedRequestBytes = prometheus.NewGauge(prometheus.GaugeOpts(opts("queued_request_bytes",
		"Request bytes reserved now outside the connections' read buffers (bounded by queued.max.request.bytes).")))
	m.requestBudgetWaits = counter("queued_request_bytes_waits_total",
		"Times a connection waited to read a request because queued.max.request.bytes was spent.")
	for _, a := range registeredAPIs() {
		name := kmsg.NameForKey(a.key)
		m.apis[uint8(a.key)] = apiMetrics{requests: m.requests.WithLabelValues(name), duration: m.duration.WithLabelValues(name)}
	}
	m.reg.MustRegister(m.requests, m.duration, m.connErrors, m.bytesIn, m.bytesOut, m.fetchSendfileBytes,
		m.fetchCopyBytes, m.producedRecords, m.producedBatches, m.fetchedBytes, m.fetchWaiting, m.connections, m.connectionsAccepted,
		m.queuedRequestBytes, m.requestBudgetWaits,
		// The runtime/metrics CPU classes give GC CPU time (assists,
		// background workers, pauses), not only pause time.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: goCPUClasses})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storageCollector{b: b})
	return m
}
