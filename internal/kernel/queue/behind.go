package queue

import (
	"context"
	"sync"
	"time"
)

// writeBehind keeps the direct path's ledger writes in memory for a few
// milliseconds and writes them in large groups, when Redis is a server of
// its own. A directly enqueued job is then in Redis as soon as Enqueue
// returns and in the database within one interval: each of the two keeps it
// if the other fails (Redis losing its data, or this process dying), and
// only both failing within the same interval loses it. On the in-process
// Redis, which dies with the process, the direct path writes before it
// pushes (group commit) instead.
//
// The row is buffered before its task is pushed, so the worker's success
// always finds it: still in the buffer (it is written as done) or written
// (it is updated in the next group, after the insert). A failure or a
// chained success, which need the row in the database, flush it first.
type writeBehind struct {
	q     *Queue
	every time.Duration

	mu    sync.Mutex
	rows  []*jobRow
	byID  map[string]*jobRow
	dones []string

	flushMu sync.Mutex // one flush at a time: an update never overtakes its insert
	slow    func()     // tests: runs before each write, to widen the window
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

// behindKick is how many buffered writes start a flush before the tick.
const behindKick = 512

func newWriteBehind(q *Queue, every time.Duration) *writeBehind {
	w := &writeBehind{q: q, every: every, byID: map[string]*jobRow{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	return w
}

func (w *writeBehind) run() {
	defer close(w.stopped)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.flush(); err != nil {
			w.q.log.Warn("queue: write the ledger behind; will retry", "error", err)
		}
	}
}

func (w *writeBehind) nudgeIfFull(n int) {
	if n >= behindKick {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// add buffers a new row.
func (w *writeBehind) add(r *jobRow) {
	w.mu.Lock()
	w.rows = append(w.rows, r)
	w.byID[r.ID] = r
	n := len(w.rows) + len(w.dones)
	w.mu.Unlock()
	w.nudgeIfFull(n)
}

// done records a success: on the buffered row, or as an update to come.
func (w *writeBehind) done(id string) {
	now := w.q.now()
	w.mu.Lock()
	if r, ok := w.byID[id]; ok {
		r.State, r.CompletedAt, r.UpdatedAt = StateDone, &now, now
		r.Attempts++
	} else {
		w.dones = append(w.dones, id)
	}
	n := len(w.rows) + len(w.dones)
	w.mu.Unlock()
	w.nudgeIfFull(n)
}

// unsent turns a job whose push failed back to pending, for the relay, and
// writes it: in the buffer when it is still there, else in the database
// once the flush that took it has finished.
func (w *writeBehind) unsent(ctx context.Context, id string) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	r, buffered := w.byID[id]
	if buffered {
		r.State, r.EnqueuedAt = StatePending, nil
	}
	w.mu.Unlock()
	if buffered {
		return w.flushLocked()
	}
	return w.q.handBack(ctx, id)
}

// settle makes sure the row of id is in the database. A flush that has
// taken it from the buffer may be writing it right now: holding flushMu
// waits for that one to end, and a row it failed to write is back in the
// buffer.
func (w *writeBehind) settle(id string) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	_, ok := w.byID[id]
	w.mu.Unlock()
	if !ok {
		return nil
	}
	return w.flushLocked()
}

// flush writes what is buffered: new rows first, then the successes of
// rows written before. What fails to be written goes back for the next
// flush.
func (w *writeBehind) flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	return w.flushLocked()
}

// flushLocked is flush with flushMu held.
func (w *writeBehind) flushLocked() error {
	w.mu.Lock()
	rows, dones := w.rows, w.dones
	w.rows, w.dones, w.byID = nil, nil, map[string]*jobRow{}
	w.mu.Unlock()
	if len(rows) == 0 && len(dones) == 0 {
		return nil
	}
	if w.slow != nil {
		w.slow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(rows) > 0 {
		n := min(len(rows), groupMax)
		if err := w.q.insertRows(ctx, rows[:n]); err != nil {
			w.putBack(rows, dones)
			return err
		}
		rows = rows[n:]
	}
	for len(dones) > 0 {
		n := min(len(dones), 500)
		if err := w.q.markDone(ctx, dones[:n]); err != nil {
			w.putBack(nil, dones)
			return err
		}
		dones = dones[n:]
	}
	return nil
}

func (w *writeBehind) putBack(rows []*jobRow, dones []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range rows {
		if _, ok := w.byID[r.ID]; !ok {
			w.byID[r.ID] = r
		}
	}
	w.rows = append(rows, w.rows...)
	w.dones = append(dones, w.dones...)
}

// close stops the loop and writes what is left.
func (w *writeBehind) close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.stopped
	return w.flush()
}
