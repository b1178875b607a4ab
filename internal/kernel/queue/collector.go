package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports queue sizes by state, read from Redis at scrape time,
// and the ledger's backlog of jobs not yet handed to Redis.
type Collector struct {
	q       *Queue
	size    *prometheus.Desc
	pending *prometheus.Desc
}

// NewCollector returns a collector for q.
func NewCollector(q *Queue) *Collector {
	return &Collector{q: q,
		size:    prometheus.NewDesc("platform_queue_tasks", "Tasks in Redis by queue and state.", []string{"queue", "state"}, nil),
		pending: prometheus.NewDesc("platform_queue_outbox_pending", "Jobs in the ledger not yet handed to Redis.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size; ch <- c.pending }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for name := range Queues {
		info, err := c.q.insp.GetQueueInfo(name)
		if err != nil {
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), name, state)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int64
	if err := c.q.db.Conn(ctx).Model(&jobRow{}).Where("state = ?", StatePending).Count(&n).Error; err == nil {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	}
}
