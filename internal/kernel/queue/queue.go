// Package queue is the platform's job queue: asynq on Redis, with the
// database as the source of truth for work not yet done.
//
// Every job is first written to the kernel_jobs ledger, in the caller's
// transaction when there is one (a transactional outbox). After commit a
// relay hands it to asynq with the ledger id as the asynq task id, and the
// worker marks the row done when the handler succeeds. A reconciler puts
// back any row whose task Redis lost: the in-process server after a restart
// or kill -9, or a real Redis that keeps nothing on disk. So nothing is lost
// and a rollback enqueues nothing. Delivery is at least once: handlers are
// idempotent.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/metrics"
	"github.com/platform/platform/internal/kernel/security"
)

// Queues and their weights: a worker takes from critical six times as often
// as from low, and low still runs under load.
var Queues = map[string]int{"critical": 6, "default": 3, "low": 1}

// Defaults for a job.
const (
	DefaultQueue    = "default"
	DefaultMaxRetry = 10
)

// Options configure Open.
type Options struct {
	RedisAddr       string // empty: the in-process server
	RedisPassword   string
	RedisDB         int
	Concurrency     int
	ShutdownTimeout time.Duration
	RelayInterval   time.Duration
	Lease           time.Duration // how long a relayed row may go unseen before it is checked
	Retention       time.Duration // how long done rows are kept
	// WriteBehind is how long the direct path may keep ledger writes in
	// memory, with a Redis server (not the in-process one); 0 writes them
	// before the push.
	WriteBehind  time.Duration
	PollInterval time.Duration // how often an idle worker looks for tasks unasked (a push or a due task wakes it); 0: 1s
	// Dequeuers is how many asynq servers a worker process runs, sharing
	// Concurrency: each takes tasks off Redis one at a time, so one caps
	// throughput at a dequeue's round trips. 0: 2, 1 in-process.
	Dequeuers int
	Logger    *slog.Logger
	Metrics   *metrics.Metrics
}

// Signer protects envelopes; the security service is one.
type Signer interface {
	SignEnvelope([]byte) string
	VerifyEnvelope([]byte, string) bool
}

// Queue enqueues jobs and runs their handlers.
type Queue struct {
	db     *db.DB
	rdb    redis.UniversalClient
	mini   *miniredis.Miniredis
	client *asynq.Client
	insp   *asynq.Inspector
	signer Signer
	log    *slog.Logger
	m      *metrics.Metrics
	o      Options

	mu        sync.Mutex
	handlers  map[string]Handler
	onDelete  map[string]Handler // by type: run when an unfinished job is deleted by hand
	schedules map[string]*entry
	tickers   []ticker
	limits    map[string]Limits // by queue
	inserts   *group[*jobRow]   // direct enqueues, written in groups
	dones     *group[string]    // successes, marked done in groups
	behind    *writeBehind      // or both written behind, with a Redis server
	closeOnce sync.Once
	servers   []*asynq.Server
	wakeup    *wakeup                   // ends an idle worker's poll when a task is pushed: the first server's
	wakeups   atomic.Pointer[[]*wakeup] // every server's, each on a client of its own
	extra     []*redis.Client           // the other servers' clients
	newClient func() *redis.Client
	announce  *announcer    // and tells other processes' workers; nil in-process
	listener  *redis.PubSub // their announcements to this process's workers
	wake      chan struct{}
	stop      context.CancelFunc
	loops     context.Context
	done      sync.WaitGroup
	now       func() time.Time
}

// Open connects to Redis, or starts the in-process server when no address
// is configured. The signer comes later, with UseSigner, because the
// security layer it belongs to needs this queue's Redis for its throttle.
func Open(ctx context.Context, d *db.DB, o Options) (*Queue, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 10
	}
	if o.RelayInterval <= 0 {
		o.RelayInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	if o.Dequeuers <= 0 {
		o.Dequeuers = 2
		if o.RedisAddr == "" {
			// Each dequeuer's idle poll runs Lua in the in-process
			// server's interpreter, which costs more than it brings.
			o.Dequeuers = 1
		}
	}
	o.Dequeuers = min(o.Dequeuers, o.Concurrency)
	if o.PollInterval <= 0 {
		// Pushes and due tasks wake the workers (wakeup.go): the poll is
		// only a safety net, for tasks put into Redis by other tools.
		o.PollInterval = time.Second
	}
	q := &Queue{db: d, log: o.Logger, m: o.Metrics, o: o,
		handlers: map[string]Handler{}, onDelete: map[string]Handler{}, schedules: map[string]*entry{}, wake: make(chan struct{}, 1),
		now: func() time.Time { return time.Now().UTC() }}
	addr := o.RedisAddr
	if addr == "" {
		q.mini = miniredis.NewMiniRedis()
		q.mini.ClockTTL(true) // TTLs follow the wall clock, as on a real server
		if err := q.mini.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("queue: start embedded redis: %w", err)
		}
		addr = q.mini.Addr()
	}
	q.newClient = func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr, Password: o.RedisPassword, DB: o.RedisDB,
			PoolSize: o.Concurrency + 20, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	}
	q.rdb = q.newClient()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := q.rdb.Ping(pctx).Err(); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: cannot reach redis at %s: %w", addr, err)
	}
	if q.mini == nil {
		q.announce = newAnnouncer(q.rdb, fmt.Sprintf("platform:queue:wakeup:%d", o.RedisDB))
	}
	q.wakeup = newWakeup(q.rdb, o.PollInterval)
	q.wakeup.forwarded = q.wakeAll
	q.rdb.AddHook(q.wakeup)
	q.client = asynq.NewClientFromRedisClient(q.rdb)
	q.insp = asynq.NewInspectorFromRedisClient(q.rdb)
	q.inserts = newGroup(groupMax, q.insertRows)
	q.dones = newGroup(groupMax, q.markDone)
	if q.mini == nil && o.WriteBehind > 0 {
		q.behind = newWriteBehind(q, o.WriteBehind)
	}
	return q, nil
}

// groupMax bounds one group write.
const groupMax = 256

// UseSigner sets the envelope signer; call it once, before any Enqueue.
func (q *Queue) UseSigner(s Signer) { q.signer = s }

// Embedded reports whether the queue runs on the in-process server.
func (q *Queue) Embedded() bool { return q.mini != nil }

// Redis is the connection, shared with the login throttle.
func (q *Queue) Redis() redis.UniversalClient { return q.rdb }

// Inspector exposes asynq's inspector for the jobs module.
func (q *Queue) Inspector() *asynq.Inspector { return q.insp }

// Ping checks Redis.
func (q *Queue) Ping(ctx context.Context) error { return q.rdb.Ping(ctx).Err() }

// Close releases connections and stops the in-process server. Closing
// twice is fine.
func (q *Queue) Close() { q.closeOnce.Do(q.close) }

func (q *Queue) close() {
	if q.behind != nil {
		if err := q.behind.close(); err != nil {
			q.log.Error("queue: write the ledger behind at close", "error", err)
		}
	}
	if q.inserts != nil {
		q.inserts.close()
		q.dones.close()
	}
	if q.client != nil {
		q.client.Close()
	}
	if q.rdb != nil {
		q.rdb.Close()
	}
	if q.mini != nil {
		q.mini.Close()
	}
}

// Job is work to run later.
type Job struct {
	Type     string        // "<module>:<name>"
	Data     any           // JSON-encoded into the envelope
	Queue    string        // critical, default or low
	RunAt    time.Time     // zero: now
	Delay    time.Duration // added to now when RunAt is zero
	MaxRetry int           // 0: DefaultMaxRetry; -1: no retry
	Timeout  time.Duration // per attempt; 0: asynq's default (30m)
	// Deadline bounds the whole job: its handler's context ends then, and
	// a job not started by then is archived unrun ("deadline passed").
	Deadline  time.Time
	UniqueKey string // at most one live job per key while UniqueFor lasts
	UniqueFor time.Duration
	TenantID  string // default: the principal's tenant
	// Then is enqueued when this job succeeds, with its principal, in the
	// transaction that marks it done; never after a failure. Its RunAt is
	// ignored: use Delay.
	Then *Job
}

// check refuses a job that cannot be enqueued.
func (j *Job) check() error {
	if j.Type == "" || !strings.Contains(j.Type, ":") {
		return ErrNoType
	}
	if j.Queue != "" {
		if _, ok := Queues[j.Queue]; !ok {
			return ErrUnknownQueue
		}
	}
	return nil
}

// Errors of Enqueue.
var (
	ErrDuplicate    = errs.New(errs.Conflict, "queue.duplicate", "A job with this unique key is already queued.")
	ErrUnknownQueue = errs.New(errs.Invalid, "queue.unknown_queue", "The queue must be critical, default or low.")
	ErrNoType       = errs.New(errs.Invalid, "queue.no_type", "A job needs a type such as module:name.")
)

// envelope is what a task carries: who asked for it and on whose behalf,
// signed so that Redis cannot be used to forge a principal.
type envelope struct {
	V         int                 `json:"v"`
	ID        string              `json:"id"`
	Type      string              `json:"type"`
	TenantID  string              `json:"tenant_id,omitempty"`
	Principal *security.Principal `json:"principal,omitempty"`
	Data      json.RawMessage     `json:"data"`
	Then      *chainJob           `json:"then,omitempty"`
	Deadline  *time.Time          `json:"deadline,omitempty"`
	Sig       string              `json:"sig,omitempty"`
}

func (q *Queue) seal(e *envelope) ([]byte, error) {
	e.Sig = ""
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	e.Sig = q.signer.SignEnvelope(b)
	return json.Marshal(e)
}

func (q *Queue) open(b []byte) (*envelope, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	sig := e.Sig
	e.Sig = ""
	raw, err := json.Marshal(&e)
	if err != nil {
		return nil, err
	}
	if !q.signer.VerifyEnvelope(raw, sig) {
		return nil, errors.New("envelope signature does not match")
	}
	return &e, nil
}

// jobRow is a row of the ledger.
type jobRow struct {
	ID          string     `gorm:"primaryKey"`
	Type        string     `gorm:"column:type"`
	Queue       string     `gorm:"column:queue"`
	Payload     []byte     `gorm:"column:payload"`
	TenantID    *string    `gorm:"column:tenant_id"`
	UniqueKey   *string    `gorm:"column:unique_key"`
	UniqueUntil *time.Time `gorm:"column:unique_until"`
	State       string     `gorm:"column:state"`
	RunAt       time.Time  `gorm:"column:run_at"`
	MaxRetry    int        `gorm:"column:max_retry"`
	TimeoutMS   int64      `gorm:"column:timeout_ms"`
	Deadline    *time.Time `gorm:"column:deadline"`
	Attempts    int        `gorm:"column:attempts"`
	LastError   *string    `gorm:"column:last_error"`
	EnqueuedAt  *time.Time `gorm:"column:enqueued_at"`
	CompletedAt *time.Time `gorm:"column:completed_at"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	UpdatedAt   time.Time  `gorm:"column:updated_at"`
}

func (jobRow) TableName() string { return "kernel_jobs" }

// Ledger states.
const (
	StatePending  = "pending"  // written, not yet handed to Redis
	StateEnqueued = "enqueued" // handed to Redis, not yet done
	StateDone     = "done"
	StateArchived = "archived" // failed for good; can be re-run by hand
)

// Enqueue writes a job to the ledger, inside the transaction in ctx when
// there is one, and wakes the relay after commit. It returns the job id.
func (q *Queue) Enqueue(ctx context.Context, j Job) (string, error) {
	if err := j.check(); err != nil {
		return "", err
	}
	if j.Queue == "" {
		j.Queue = DefaultQueue
	}
	data, err := json.Marshal(j.Data)
	if err != nil {
		return "", fmt.Errorf("queue: encode %s: %w", j.Type, err)
	}
	then, err := chainOf(j.Then)
	if err != nil {
		return "", err
	}
	now := q.now()
	p, _ := security.PrincipalFrom(ctx)
	tenant := j.TenantID
	if tenant == "" && p != nil {
		tenant = p.Tenant()
	}
	id := uuid.Must(uuid.NewV7()).String()
	var deadline *time.Time
	if !j.Deadline.IsZero() {
		d := j.Deadline.UTC()
		deadline = &d
	}
	payload, err := q.seal(&envelope{V: 1, ID: id, Type: j.Type, TenantID: tenant, Principal: p, Data: data, Then: then,
		Deadline: deadline})
	if err != nil {
		return "", err
	}
	runAt := j.RunAt.UTC()
	if j.RunAt.IsZero() {
		runAt = now.Add(j.Delay)
	}
	maxRetry := j.MaxRetry
	switch {
	case maxRetry == 0:
		maxRetry = DefaultMaxRetry
	case maxRetry < 0:
		maxRetry = 0
	}
	row := &jobRow{ID: id, Type: j.Type, Queue: j.Queue, Payload: payload, State: StatePending, RunAt: runAt,
		MaxRetry: maxRetry, TimeoutMS: j.Timeout.Milliseconds(), Deadline: deadline, CreatedAt: now, UpdatedAt: now}
	if tenant != "" {
		row.TenantID = &tenant
	}
	if j.UniqueKey != "" {
		k := j.UniqueKey
		until := now.Add(j.UniqueFor)
		if j.UniqueFor <= 0 {
			until = now.Add(24 * time.Hour)
		}
		row.UniqueKey, row.UniqueUntil = &k, &until
	}
	if !db.InTx(ctx) && row.UniqueKey == nil {
		return id, q.enqueueDirect(ctx, row)
	}
	conn := q.db.Conn(ctx)
	if err := conn.Create(row).Error; err != nil {
		if !db.IsUniqueViolation(err) || row.UniqueKey == nil {
			return "", err
		}
		// The key is taken; free it if its time is up, then try once more.
		res := conn.Model(&jobRow{}).Where("unique_key = ? AND unique_until < ?", *row.UniqueKey, now).
			Update("unique_key", nil)
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected == 0 {
			return "", ErrDuplicate
		}
		if err := conn.Create(row).Error; err != nil {
			if db.IsUniqueViolation(err) {
				return "", ErrDuplicate
			}
			return "", err
		}
	}
	db.AfterCommit(ctx, q.nudge)
	return id, nil
}

// enqueueDirect is Enqueue outside a transaction, where there is no commit
// to wait for: the row is written as handed over, with other callers' rows
// in one statement, and the job goes to Redis at once, without the relay's
// round trip. A crash in between leaves a row that the reconciler hands
// over; a failed hand-over goes back to the relay.
func (q *Queue) enqueueDirect(ctx context.Context, row *jobRow) error {
	row.State, row.EnqueuedAt = StateEnqueued, &row.CreatedAt
	if q.behind != nil {
		q.behind.add(row)
		if err := q.push(ctx, row); err != nil {
			// Not in Redis: the row must be in the database, for the relay,
			// before the caller hears that the job is enqueued.
			q.log.Warn("queue: hand over to redis; the relay will retry", "job_id", row.ID, "error", err)
			if err := q.behind.unsent(ctx, row.ID); err != nil {
				return err
			}
			q.nudge()
		}
		return nil
	}
	if err := q.inserts.do(row); err != nil {
		return err
	}
	if err := q.push(ctx, row); err != nil {
		q.log.Warn("queue: hand over to redis; the relay will retry", "job_id", row.ID, "error", err)
		if err := q.handBack(ctx, row.ID); err != nil {
			q.log.Warn("queue: hand back to the relay; the reconciler will", "job_id", row.ID, "error", err)
		}
	}
	return nil
}

// handBack returns a written row that did not reach Redis to the relay.
func (q *Queue) handBack(ctx context.Context, id string) error {
	err := q.db.Conn(context.WithoutCancel(ctx)).Model(&jobRow{}).Where("id = ? AND state = ?", id, StateEnqueued).
		Update("state", StatePending).Error
	q.nudge()
	return err
}

// insertRows writes direct enqueues, in as few statements as it may.
func (q *Queue) insertRows(ctx context.Context, rows []*jobRow) error {
	// The SQLite driver matches each bound parameter to its argument by a
	// linear search, so a statement's cost grows with the square of its
	// rows: past a few dozen, more rows a statement cost more than they
	// save.
	chunk := groupMax
	if q.db.Dialect() != db.MySQL {
		chunk = 32
	}
	return q.db.Conn(ctx).CreateInBatches(rows, chunk).Error
}

// markDone marks jobs that succeeded, in one statement.
func (q *Queue) markDone(ctx context.Context, ids []string) error {
	now := q.now()
	return q.db.Conn(ctx).Model(&jobRow{}).Where("id IN ?", ids).Updates(map[string]any{
		"state": StateDone, "completed_at": now, "updated_at": now, "attempts": gorm.Expr("attempts + 1")}).Error
}

// nudge wakes the relay without blocking.
func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
