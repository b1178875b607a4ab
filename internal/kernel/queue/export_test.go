package queue

import (
	"context"
	"time"
)

// SetClock replaces the queue's clock. Call it before the queue's loops
// start; now must be safe for concurrent use.
func (q *Queue) SetClock(now func() time.Time) { q.now = now }

// FireDue fires the schedules whose tick has come, as the scheduler loop
// does every second.
func (q *Queue) FireDue(ctx context.Context) error { return q.fireDue(ctx) }

// InsertWrites counts the statements that wrote direct enqueues.
func InsertWrites(q *Queue) int64 { return q.inserts.writes.Load() }

// SlowWriteBehind makes every write of the write-behind wait d first, so
// that jobs run while their rows are being written.
func SlowWriteBehind(q *Queue, d time.Duration) { q.behind.slow = func() { time.Sleep(d) } }
