// Package metrics owns the platform's Prometheus registry. There is no
// global registry: the kernel makes one and hands it to whoever measures.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the registry and the kernel's own instruments.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec
	HTTPInFlight prometheus.Gauge

	TasksProcessed *prometheus.CounterVec
	TaskDuration   *prometheus.HistogramVec
	OutboxRelayed  prometheus.Counter
}

// New makes a registry with Go and process collectors and the kernel's
// instruments.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "platform_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "platform_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		HTTPInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "platform_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		TasksProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "platform_queue_tasks_processed_total", Help: "Queue tasks processed by type and result (ok, retry, failed).",
		}, []string{"type", "result"}),
		TaskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "platform_queue_task_duration_seconds", Help: "Queue task handler latency by type.",
			Buckets: prometheus.DefBuckets,
		}, []string{"type"}),
		OutboxRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "platform_queue_outbox_relayed_total", Help: "Jobs relayed from the database ledger to the queue.",
		}),
	}
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.HTTPInFlight, m.TasksProcessed, m.TaskDuration, m.OutboxRelayed)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
