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

// IdleWaiting reports whether a server's idle poll waits in the wakeup hook
// now; Woken counts the waits a pushed task ended with that task.
func IdleWaiting(q *Queue) bool {
	return q.sumWakeups(func(w *wakeup) int64 { return int64(w.waiting.Load()) }) > 0
}
func Woken(q *Queue) int64 { return q.sumWakeups(func(w *wakeup) int64 { return w.woken.Load() }) }

func (q *Queue) sumWakeups(f func(*wakeup) int64) int64 {
	n := f(q.wakeup)
	if ws := q.wakeups.Load(); ws != nil {
		for _, w := range (*ws)[1:] {
			n += f(w)
		}
	}
	return n
}

// Announcing reports whether the queue tells other processes' workers of
// its pushes: it does while one of them listens.
func Announcing(q *Queue) bool { return q.announce != nil && q.announce.others.Load() }

// OneCallRounds counts the dequeue rounds asked in one round trip, which
// happens only while asynq runs the dequeue script the hook knows.
func OneCallRounds(q *Queue) int64 {
	return q.sumWakeups(func(w *wakeup) int64 { return w.oneCall.Load() })
}
