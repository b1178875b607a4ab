package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

var errNotArchived = errs.New(errs.Conflict, "queue.not_archived", "Only an archived job can be re-run.")

// Task is what a handler receives.
type Task struct {
	ID       string
	Type     string
	TenantID string
	Data     json.RawMessage
	Attempt  int // 0 on the first run
	MaxRetry int
}

// Decode unmarshals the job's data.
func (t *Task) Decode(v any) error { return json.Unmarshal(t.Data, v) }

// Handler runs one task. It is called at least once per job and must be
// idempotent. Return an error wrapping SkipRetry for a permanent failure.
type Handler func(ctx context.Context, t *Task) error

// SkipRetry marks a permanent failure: the job is archived at once.
var SkipRetry = asynq.SkipRetry

// Registry registers one module's handlers under its prefix.
type Registry struct {
	q      *Queue
	prefix string
}

// Tasks returns the registry for module.
func (q *Queue) Tasks(module string) *Registry { return &Registry{q: q, prefix: module} }

// Handle registers h for "<module>:<name>".
func (r *Registry) Handle(name string, h Handler) { r.register(r.q.handlers, "handler", name, h) }

// OnDelete registers fn to run when an unfinished job of
// "<module>:<name>" is deleted by hand (Queue.Delete), in the transaction
// that deletes its row, with the task as its handler would have seen it.
// An error keeps the row. It is for a job that holds something back until
// it runs: a buffer's batch hands its items back this way.
func (r *Registry) OnDelete(name string, fn Handler) {
	r.register(r.q.onDelete, "delete hook", name, fn)
}

func (r *Registry) register(in map[string]Handler, what, name string, h Handler) {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	typ := r.prefix + ":" + name
	if _, dup := in[typ]; dup {
		panic("queue: " + what + " registered twice: " + typ)
	}
	in[typ] = h
}

// Types lists the registered task types.
func (q *Queue) Types() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]string, 0, len(q.handlers))
	for t := range q.handlers {
		out = append(out, t)
	}
	return out
}

// retryDelay is exponential backoff with full jitter: 1s, 2s, 4s … capped
// at an hour, each drawn uniformly from its upper half.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := time.Second << min(n, 12)
	if d > time.Hour {
		d = time.Hour
	}
	return d/2 + rand.N(d/2+1)
}

// StartRelay runs the relay, the reconciler, the scheduler and the ledger
// clean-up. Every process that enqueues runs it; API processes need it so
// that their jobs leave promptly.
func (q *Queue) StartRelay(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stop, q.loops = cancel, ctx
	// Whatever Redis lost since the last run goes back first.
	if _, err := q.Reconcile(ctx, 0); err != nil {
		return fmt.Errorf("queue: reconcile: %w", err)
	}
	q.goLoop(ctx, q.o.RelayInterval, q.wake, func(ctx context.Context) {
		for {
			n, err := q.RelayOnce(ctx)
			if err != nil {
				q.log.Warn("queue relay", "error", err)
				return
			}
			if n < relayBatch {
				return
			}
		}
	})
	if q.announce != nil {
		q.done.Add(1)
		go func() {
			defer q.done.Done()
			q.announce.run(ctx)
		}()
	}
	q.goLoop(ctx, max(q.o.Lease/4, time.Second), nil, func(ctx context.Context) {
		if _, err := q.Reconcile(ctx, q.o.Lease); err != nil {
			q.log.Warn("queue reconcile", "error", err)
		}
	})
	q.goLoop(ctx, time.Hour, nil, func(ctx context.Context) {
		if err := q.cleanup(ctx); err != nil {
			q.log.Warn("queue cleanup", "error", err)
		}
	})
	return nil
}

// StartScheduler fires periodic schedules. Every worker runs it; a database
// claim makes sure that each tick fires once across all processes.
func (q *Queue) StartScheduler(ctx context.Context) error {
	if q.loops == nil {
		return errors.New("queue: start the relay first")
	}
	if err := q.registerSchedules(ctx); err != nil {
		return err
	}
	q.goLoop(q.loops, time.Second, nil, func(ctx context.Context) {
		if err := q.fireDue(ctx); err != nil {
			q.log.Warn("queue scheduler", "error", err)
		}
	})
	q.mu.Lock()
	tickers := append([]ticker(nil), q.tickers...)
	q.mu.Unlock()
	for _, t := range tickers {
		q.goLoop(q.loops, t.every, nil, func(ctx context.Context) {
			if err := t.fn(ctx); err != nil {
				q.log.Warn("queue ticker", "ticker", t.name, "error", err)
			}
		})
	}
	return nil
}

func (q *Queue) goLoop(ctx context.Context, every time.Duration, wake <-chan struct{}, fn func(context.Context)) {
	q.done.Add(1)
	go func() {
		defer q.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-wake:
			}
		}
	}()
}

// StartWorkers runs the registered handlers, on Dequeuers asynq servers
// that share Concurrency.
func (q *Queue) StartWorkers(ctx context.Context) error {
	mux := asynq.NewServeMux()
	q.mu.Lock()
	for typ, h := range q.handlers {
		mux.HandleFunc(typ, q.process(h))
	}
	q.mu.Unlock()
	// asynq's processor takes tasks off Redis one at a time. Servers of
	// their own, each with its own client (the wakeup hook follows one
	// processor's calls), take them in parallel.
	wakeups := []*wakeup{q.wakeup}
	clients := []redis.UniversalClient{q.rdb}
	for range q.o.Dequeuers - 1 {
		c := q.newClient()
		w := newWakeup(c, q.o.PollInterval)
		w.forwarded = q.wakeAll
		c.AddHook(w)
		q.extra = append(q.extra, c)
		wakeups = append(wakeups, w)
		clients = append(clients, c)
	}
	for _, w := range wakeups {
		w.start()
	}
	q.wakeups.Store(&wakeups)
	if q.announce != nil {
		q.listener = q.listen(ctx)
		q.announce.own.Store(1)
	}
	for i, c := range clients {
		conc := q.o.Concurrency / len(clients)
		if i < q.o.Concurrency%len(clients) {
			conc++
		}
		// Every server runs asynq's forwarder, which moves due scheduled
		// and retry tasks to pending; the first one's is enough, the
		// others only stand by.
		forward := min(q.o.RelayInterval, time.Second)
		if i > 0 {
			forward = time.Minute
		}
		srv := asynq.NewServerFromRedisClient(c, asynq.Config{
			Concurrency: conc,
			Queues:      Queues,
			RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
				if th, ok := isThrottled(err); ok {
					return th.wait
				}
				return retryDelay(n, err, t)
			},
			// A task put back by its tenant's limit has not failed: it
			// keeps its retry count.
			IsFailure:       func(err error) bool { _, ok := isThrottled(err); return !ok },
			ShutdownTimeout: q.o.ShutdownTimeout,
			// An idle worker waits for a pushed task in the wakeup hook,
			// for up to PollInterval; asynq's own sleep after that only
			// paces the loop. Due scheduled and retry tasks are moved to
			// pending within a second (asynq's default, 5s, would make
			// them late by up to 5s), which wakes the workers.
			TaskCheckInterval:        time.Millisecond,
			DelayedTaskCheckInterval: forward,
			Logger:                   asynqLogger{q.log},
			LogLevel:                 asynq.WarnLevel,
			BaseContext:              func() context.Context { return context.WithoutCancel(ctx) },
		})
		if err := srv.Start(mux); err != nil {
			q.Shutdown()
			return err
		}
		q.servers = append(q.servers, srv)
	}
	return nil
}

// listen relays other processes' announcements to every server's wakeup.
func (q *Queue) listen(ctx context.Context) *redis.PubSub {
	ps := q.rdb.Subscribe(ctx, q.announce.channel)
	go func() {
		for range ps.Channel() {
			q.wakeOne()
		}
	}()
	return ps
}

// wakeAll wakes every server that waits for work.
func (q *Queue) wakeAll() {
	if ws := q.wakeups.Load(); ws != nil {
		for _, w := range *ws {
			w.poke()
		}
	}
}

// wakeOne wakes a server that waits for work. With none waiting, every
// server gets the signal for its next wait: one may be about to begin.
func (q *Queue) wakeOne() {
	ws := q.wakeups.Load()
	if ws == nil {
		return
	}
	for _, w := range *ws {
		if w.waiting.Load() > 0 {
			w.poke()
			return
		}
	}
	q.wakeAll()
}

// Shutdown stops taking work, waits for running handlers up to the shutdown
// timeout (asynq puts back what did not finish), and stops the loops.
func (q *Queue) Shutdown() {
	q.wakeup.close()
	if ws := q.wakeups.Swap(nil); ws != nil {
		for _, w := range *ws {
			w.close()
		}
	}
	var wg sync.WaitGroup
	for _, srv := range q.servers {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	q.servers = nil
	for _, c := range q.extra {
		c.Close()
	}
	q.extra = nil
	if q.listener != nil {
		q.listener.Close()
		q.listener = nil
		q.announce.own.Store(0)
	}
	if q.stop != nil {
		q.stop()
	}
	q.done.Wait()
	if q.behind != nil {
		if err := q.behind.flush(); err != nil {
			q.log.Error("queue: write the ledger behind at shutdown", "error", err)
		}
	}
}

// process wraps a handler: it checks the envelope, restores the principal,
// and keeps the ledger row in step with the outcome.
func (q *Queue) process(h Handler) asynq.HandlerFunc {
	return func(ctx context.Context, at *asynq.Task) error {
		start := time.Now()
		env, err := q.open(at.Payload())
		if err != nil {
			id, _ := asynq.GetTaskID(ctx)
			q.finish(ctx, id, at.Type(), err, true, nil)
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		p := env.Principal
		if p == nil {
			p = security.System(env.TenantID)
		}
		ctx = security.WithPrincipal(ctx, p)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		maxRetry = max(maxRetry-1, 0) // push gives asynq one retry more than the job has
		qname, _ := asynq.GetQueueName(ctx)
		release, err := q.admit(ctx, qname, env.TenantID, env.ID)
		if err != nil {
			if q.m != nil {
				q.m.TasksProcessed.WithLabelValues(at.Type(), "throttled").Inc()
			}
			return err
		}
		defer release()
		t := &Task{ID: env.ID, Type: env.Type, TenantID: env.TenantID, Data: env.Data, Attempt: retried, MaxRetry: maxRetry}
		// The deadline is the wrapper's to keep, not asynq's: asynq would
		// fail a late task without calling it, and the ledger would not know.
		switch {
		case env.Deadline == nil:
			err = safeRun(ctx, h, t)
		case !q.now().Before(*env.Deadline):
			err = fmt.Errorf("%w: deadline passed at %s", asynq.SkipRetry, env.Deadline.Format(time.RFC3339))
		default:
			dctx, cancel := context.WithDeadline(ctx, *env.Deadline)
			err = safeRun(dctx, h, t)
			cancel()
		}
		final := err != nil && (retried >= maxRetry || errors.Is(err, asynq.SkipRetry))
		q.finish(ctx, env.ID, at.Type(), err, final, env.Then)
		if q.m != nil {
			result := "ok"
			switch {
			case final:
				result = "failed"
			case err != nil:
				result = "retry"
			}
			q.m.TasksProcessed.WithLabelValues(at.Type(), result).Inc()
			q.m.TaskDuration.WithLabelValues(at.Type()).Observe(time.Since(start).Seconds())
		}
		if final && !errors.Is(err, asynq.SkipRetry) {
			// asynq would allow one more retry (see push): archive now.
			err = fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
		}
		return err
	}
}

func safeRun(ctx context.Context, h Handler, t *Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return h(ctx, t)
}

// finish records an attempt in the ledger, and a failure in the job's
// history too. It runs even when the task's context has ended, so
// that a timeout is recorded too. After a success it enqueues the job's
// follow-up, then, in the transaction that marks it done.
func (q *Queue) finish(ctx context.Context, id, typ string, herr error, final bool, then *chainJob) {
	if id == "" {
		return
	}
	if herr == nil && then == nil {
		if q.behind != nil {
			q.behind.done(id)
		} else if err := q.dones.do(id); err != nil {
			q.log.Error("queue: record outcome", "job_id", id, "type", typ, "error", err)
		}
		return
	}
	if q.behind != nil {
		// What follows updates the row in the database: write it first.
		if err := q.behind.settle(id); err != nil {
			q.log.Error("queue: write the ledger behind", "job_id", id, "type", typ, "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := q.now()
	upd := map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": now}
	switch {
	case herr == nil:
		upd["state"], upd["completed_at"] = StateDone, now
	case final:
		msg := herr.Error()
		upd["state"], upd["completed_at"], upd["last_error"] = StateArchived, now, msg
	default:
		msg := herr.Error()
		upd["last_error"] = msg
		upd["enqueued_at"] = now // it is alive in Redis: the reconciler need not look yet
	}
	if herr == nil && then != nil {
		if err := q.finishChain(ctx, id, upd, then); err != nil {
			// The row stays enqueued; the reconciler hands the job over
			// again, and the follow-up is enqueued when it next succeeds.
			q.log.Error("queue: record outcome and enqueue the follow-up", "job_id", id, "type", typ, "error", err)
		}
		return
	}
	if err := q.recordFailure(ctx, id, herr, upd); err != nil {
		q.log.Error("queue: record failure", "job_id", id, "type", typ, "error", err)
	}
}

// recordFailure updates the row and adds the failure to the job's history,
// in one transaction. The history runs on across re-runs by hand.
func (q *Queue) recordFailure(ctx context.Context, id string, herr error, upd map[string]any) error {
	msg := herr.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
	}
	return q.db.InTx(ctx, func(ctx context.Context) error {
		if err := q.db.Conn(ctx).Model(&jobRow{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return err
		}
		var n int
		if err := q.db.Conn(ctx).Model(&attemptRow{}).Where("job_id = ?", id).
			Select("COALESCE(MAX(attempt), 0)").Scan(&n).Error; err != nil {
			return err
		}
		a := attemptRow{JobID: id, Attempt: n + 1, Error: msg, FailedAt: q.now()}
		return q.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error
	})
}

// maxErrorLen bounds an error kept in the history.
const maxErrorLen = 4000

// attemptRow is one failed attempt of a job.
type attemptRow struct {
	JobID    string    `gorm:"column:job_id;primaryKey"`
	Attempt  int       `gorm:"column:attempt;primaryKey"`
	Error    string    `gorm:"column:error"`
	FailedAt time.Time `gorm:"column:failed_at"`
}

func (attemptRow) TableName() string { return "kernel_job_attempts" }

// finishChain marks a job done and enqueues its follow-up, once: a job
// delivered twice finds its row done the second time and enqueues nothing.
func (q *Queue) finishChain(ctx context.Context, id string, upd map[string]any, then *chainJob) error {
	return q.db.InTx(ctx, func(ctx context.Context) error {
		res := q.db.Conn(ctx).Model(&jobRow{}).Where("id = ? AND state <> ?", id, StateDone).Updates(upd)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if _, err := q.Enqueue(ctx, then.job()); err != nil && !errors.Is(err, ErrDuplicate) {
			return err
		}
		return nil
	})
}

const relayBatch = 200

// asynqQueuesKey is the Redis set in which asynq lists its queues.
const asynqQueuesKey = "asynq:queues"

// RelayOnce hands up to one batch of pending rows to Redis and returns how
// many it claimed. A claim is an atomic state change, so two relays never
// hand over the same row; a row claimed but not handed over (a crash in
// between) is found again by the reconciler.
func (q *Queue) RelayOnce(ctx context.Context) (int, error) {
	var rows []jobRow
	claim := func(tx *gorm.DB) error {
		sel := tx.Where("state = ?", StatePending).Order("created_at").Limit(relayBatch)
		if q.db.Dialect() == "mysql" {
			sel = sel.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := sel.Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		now := q.now()
		return tx.Model(&jobRow{}).Where("id IN ? AND state = ?", ids, StatePending).
			Updates(map[string]any{"state": StateEnqueued, "enqueued_at": now, "updated_at": now}).Error
	}
	var err error
	if q.db.Dialect() == "mysql" {
		// READ COMMITTED: the claim locks the rows it takes and nothing
		// else. Under REPEATABLE READ its scan also locks the gaps between
		// index entries, and a transaction that enqueues jobs meanwhile
		// deadlocks with it, failing the caller's request.
		err = q.db.Conn(ctx).Transaction(claim, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	} else {
		err = q.db.InTx(ctx, func(ctx context.Context) error { return claim(q.db.Conn(ctx)) })
	}
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	var failed []string
	for i := range rows {
		if err := q.push(ctx, &rows[i]); err != nil {
			q.log.Warn("queue: hand over to redis", "job_id", rows[i].ID, "error", err)
			failed = append(failed, rows[i].ID)
		}
	}
	if len(failed) > 0 {
		q.db.Conn(ctx).Model(&jobRow{}).Where("id IN ? AND state = ?", failed, StateEnqueued).
			Update("state", StatePending)
		return len(rows), fmt.Errorf("%d of %d jobs not handed over", len(failed), len(rows))
	}
	if q.m != nil {
		q.m.OutboxRelayed.Add(float64(len(rows)))
	}
	return len(rows), nil
}

// push enqueues one row in asynq; a task that is there already is fine.
func (q *Queue) push(ctx context.Context, r *jobRow) error {
	// asynq archives a task that errs on its last retry, even when the
	// error is no failure (IsFailure), so a task held back by its tenant's
	// limit then would be lost to the archive. asynq gets one retry more than
	// the job has, and the handler wrapper archives at the job's own limit.
	opts := []asynq.Option{asynq.TaskID(r.ID), asynq.Queue(r.Queue), asynq.MaxRetry(r.MaxRetry + 1)}
	if r.RunAt.After(q.now()) {
		opts = append(opts, asynq.ProcessAt(r.RunAt))
	}
	if r.TimeoutMS > 0 {
		opts = append(opts, asynq.Timeout(time.Duration(r.TimeoutMS)*time.Millisecond))
	}
	task := asynq.NewTask(r.Type, r.Payload)
	_, err := q.client.EnqueueContext(ctx, task, opts...)
	if err == nil {
		q.pushed(r)
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return err
	}
	// The task is there already: fine while it is live. One that asynq
	// finished or archived is a leftover, since the ledger row is not done,
	// and taking it as handed over would leave the job waiting for ever.
	info, err := q.insp.GetTaskInfo(r.Queue, r.ID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound):
	case err != nil:
		return err
	case info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
		return nil
	default:
		if err := q.deleteTask(r.Queue, r.ID); err != nil {
			return err
		}
	}
	_, err = q.client.EnqueueContext(ctx, task, opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // another relay or reconciler was quicker
	}
	if err == nil {
		q.pushed(r)
	}
	return err
}

// pushed wakes idle workers, here and in other processes, for a task that
// is due now.
func (q *Queue) pushed(r *jobRow) {
	if r.RunAt.After(q.now()) {
		return
	}
	q.wakeOne()
	q.announce.announce()
}

// Reconcile re-enqueues relayed rows older than lease whose task Redis no
// longer has, and returns how many it put back. With lease 0 it checks
// every live row, as at start-up.
func (q *Queue) Reconcile(ctx context.Context, lease time.Duration) (int, error) {
	// asynq's client registers a queue's name in Redis only on its first
	// enqueue; after Redis lost its data the inspector would call every
	// queue unknown, and every task lost, until the name is back.
	names := make([]any, 0, len(Queues))
	for name := range Queues {
		names = append(names, name)
	}
	if err := q.rdb.SAdd(ctx, asynqQueuesKey, names...).Err(); err != nil {
		return 0, err
	}
	cutoff := q.now().Add(-lease)
	restored := 0
	after := ""
	for {
		var rows []jobRow
		sel := q.db.Conn(ctx).Where("state = ? AND enqueued_at <= ? AND id > ?", StateEnqueued, cutoff, after).
			Order("id").Limit(500)
		if err := sel.Find(&rows).Error; err != nil {
			return restored, err
		}
		if len(rows) == 0 {
			return restored, nil
		}
		var alive []string
		for i := range rows {
			r := &rows[i]
			after = r.ID
			_, err := q.insp.GetTaskInfo(r.Queue, r.ID)
			switch {
			case err == nil:
				alive = append(alive, r.ID)
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
				// A task that finished since the row was read is gone from
				// Redis too, but its handler recorded the outcome before
				// asynq let go of it: read the row again, or a job that has
				// just run would run twice.
				var st jobRow
				if err := q.db.Conn(ctx).Select("state").Where("id = ?", r.ID).Take(&st).Error; err != nil {
					return restored, err
				}
				if st.State != StateEnqueued {
					continue
				}
				if perr := q.push(ctx, r); perr != nil {
					return restored, perr
				}
				q.db.Conn(ctx).Model(&jobRow{}).Where("id = ? AND state = ?", r.ID, StateEnqueued).Update("enqueued_at", q.now())
				restored++
			default:
				return restored, err
			}
		}
		if len(alive) > 0 {
			q.db.Conn(ctx).Model(&jobRow{}).Where("id IN ? AND state = ?", alive, StateEnqueued).Update("enqueued_at", q.now())
		}
		if len(rows) < 500 {
			if restored > 0 {
				q.log.Info("queue: re-enqueued jobs that redis had lost", "count", restored)
			}
			return restored, nil
		}
	}
}

// cleanup deletes done rows past the retention, in small batches.
func (q *Queue) cleanup(ctx context.Context) error {
	cutoff := q.now().Add(-q.o.Retention)
	for {
		var ids []string
		if err := q.db.Conn(ctx).Model(&jobRow{}).Where("state = ? AND completed_at < ?", StateDone, cutoff).
			Limit(1000).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := q.db.Conn(ctx).Where("job_id IN ?", ids).Delete(&attemptRow{}).Error; err != nil {
			return err
		}
		if err := q.db.Conn(ctx).Where("id IN ?", ids).Delete(&jobRow{}).Error; err != nil {
			return err
		}
	}
}

// Rerun puts an archived job back in the queue, to run now, as an admin's
// "retry" (a job archived before its run_at does not wait for it).
func (q *Queue) Rerun(ctx context.Context, id string) error {
	var r jobRow
	if err := q.db.Conn(ctx).Select("id", "queue").Where("id = ? AND state = ?", id, StateArchived).Take(&r).Error; err != nil {
		if db.IsNotFound(err) {
			return errNotArchived
		}
		return err
	}
	// asynq still holds the archived task under the same id. It goes first:
	// once the row is pending the relay may hand it over at any moment.
	if err := q.deleteFinished(ctx, r.Queue, id); err != nil {
		return err
	}
	res := q.db.Conn(ctx).Model(&jobRow{}).Where("id = ? AND state = ?", id, StateArchived).
		Updates(map[string]any{"state": StatePending, "attempts": 0, "completed_at": nil, "run_at": q.now(), "updated_at": q.now()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errNotArchived
	}
	db.AfterCommit(ctx, q.nudge)
	return nil
}

// deleteFinished removes the task of a job the ledger has finished. The
// ledger is written just before the handler returns, so asynq may still
// hold the task as active for a moment: wait for it to move on.
func (q *Queue) deleteFinished(ctx context.Context, queueName, id string) error {
	for range 100 {
		info, err := q.insp.GetTaskInfo(queueName, id)
		if err != nil || info.State != asynq.TaskStateActive {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return q.deleteTask(queueName, id)
}

// deleteTask removes a task from asynq; one that is not there is fine.
func (q *Queue) deleteTask(queueName, id string) error {
	err := q.insp.DeleteTask(queueName, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	return err
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
