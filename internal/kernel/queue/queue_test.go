package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

// waitLimit bounds every wait; a healthy run needs a small part of it.
const waitLimit = 30 * time.Second

// eventually polls cond until it holds or the deadline passes; detail says
// what was last seen.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	kerneltest.Eventually(t, waitLimit, what, cond)
}

// ledgerRow is the part of a kernel_jobs row that the tests read.
type ledgerRow struct {
	ID          string
	Type        string
	Queue       string
	Payload     []byte
	TenantID    *string
	State       string
	Attempts    int
	LastError   *string
	UniqueKey   *string
	RunAt       time.Time
	CreatedAt   time.Time
	CompletedAt *time.Time
}

func readLedger(t *testing.T, k *kernel.Kernel, id string) (ledgerRow, bool) {
	t.Helper()
	var rows []ledgerRow
	if err := k.DB.Conn(context.Background()).Table("kernel_jobs").Where("id = ?", id).Find(&rows).Error; err != nil {
		t.Fatalf("read ledger %s: %v", id, err)
	}
	if len(rows) == 0 {
		return ledgerRow{}, false
	}
	return rows[0], true
}

func waitState(t *testing.T, k *kernel.Kernel, id, state string) ledgerRow {
	t.Helper()
	var row ledgerRow
	eventually(t, "job "+id+" to be "+state, func() (bool, string) {
		r, ok := readLedger(t, k, id)
		row = r
		return ok && r.State == state, fmt.Sprintf("found=%v state=%q attempts=%d", ok, r.State, r.Attempts)
	})
	return row
}

// waitTaskState waits until asynq holds the task in state.
func waitTaskState(t *testing.T, k *kernel.Kernel, id string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	eventually(t, "task "+id+" in redis as "+state.String(), func() (bool, string) {
		i, err := k.Queue.Inspector().GetTaskInfo(queue.DefaultQueue, id)
		if err != nil {
			return false, err.Error()
		}
		info = i
		return i.State == state, i.State.String()
	})
	return info
}

func enqueue(t *testing.T, ctx context.Context, k *kernel.Kernel, j queue.Job) string {
	t.Helper()
	id, err := k.Queue.Enqueue(ctx, j)
	if err != nil {
		t.Fatalf("enqueue %s: %v", j.Type, err)
	}
	return id
}

// enqueueConcurrently enqueues jobs of typ from callers goroutines, each
// at a time, outside any transaction, and returns their ids.
func enqueueConcurrently(t *testing.T, ctx context.Context, k *kernel.Kernel, typ string, callers, each int) []string {
	t.Helper()
	ids := make(chan string, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := k.Queue.Enqueue(ctx, queue.Job{Type: typ})
				if err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	var out []string
	for id := range ids {
		out = append(out, id)
	}
	return out
}

// enqueueTx enqueues in a transaction of its own, so that the job waits in
// the ledger for the relay (the outbox path) instead of going straight to
// Redis.
func enqueueTx(t *testing.T, ctx context.Context, k *kernel.Kernel, j queue.Job) string {
	t.Helper()
	var id string
	err := k.DB.InTx(ctx, func(ctx context.Context) error {
		var err error
		id, err = k.Queue.Enqueue(ctx, j)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", j.Type, err)
	}
	return id
}

// recorder is a handler that remembers which jobs ran, and how often.
type recorder struct {
	mu   sync.Mutex
	runs map[string]int
}

func newRecorder() *recorder { return &recorder{runs: map[string]int{}} }

func (r *recorder) handle(_ context.Context, task *queue.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[task.ID]++
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

func TestHandlerRunsWithPrincipalAndTenantFromEnvelope(t *testing.T) {
	k := kerneltest.New(t)
	type seen struct {
		p    *security.Principal
		task *queue.Task
	}
	got := make(chan seen, 16)
	k.Queue.Tasks("test").Handle("who", func(ctx context.Context, task *queue.Task) error {
		p, _ := security.PrincipalFrom(ctx)
		got <- seen{p: p, task: task}
		return nil
	})
	kerneltest.StartQueue(t, k)

	user := &security.Principal{Kind: security.KindUser, ID: "user-1", TenantID: "tenant-1", Role: security.RoleAgent, Email: "agent@example.com"}
	acting := &security.Principal{Kind: security.KindUser, ID: "admin-1", TenantID: "root", Acting: "tenant-2", Role: security.RolePlatformAdmin}
	apiKey := &security.Principal{Kind: security.KindAPIKey, ID: "key-1", TenantID: "tenant-4", Scopes: []string{"contact.read"}}
	cases := []struct {
		name       string
		principal  *security.Principal // in the enqueuing ctx
		jobTenant  string
		wantP      *security.Principal
		wantTenant string
	}{
		{name: "user", principal: user, wantP: user, wantTenant: "tenant-1"},
		{name: "acting tenant", principal: acting, wantP: acting, wantTenant: "tenant-2"},
		{name: "api key", principal: apiKey, wantP: apiKey, wantTenant: "tenant-4"},
		{name: "system for a tenant", jobTenant: "tenant-3", wantP: security.System("tenant-3"), wantTenant: "tenant-3"},
		{name: "system platform-wide", wantP: security.System(""), wantTenant: ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.principal != nil {
				ctx = security.WithPrincipal(ctx, tc.principal)
			}
			id := enqueue(t, ctx, k, queue.Job{Type: "test:who", Data: map[string]int{"n": i}, TenantID: tc.jobTenant})
			var s seen
			select {
			case s = <-got:
			case <-time.After(waitLimit):
				t.Fatalf("handler did not run")
			}
			if s.task.ID != id || s.task.Type != "test:who" {
				t.Fatalf("task = %s %s, want %s test:who", s.task.ID, s.task.Type, id)
			}
			if s.p == nil {
				t.Fatalf("handler ran without a principal")
			}
			if !reflect.DeepEqual(*s.p, *tc.wantP) {
				t.Errorf("principal = %+v, want %+v", *s.p, *tc.wantP)
			}
			if s.task.TenantID != tc.wantTenant {
				t.Errorf("tenant = %q, want %q", s.task.TenantID, tc.wantTenant)
			}
			var data struct{ N int }
			if err := s.task.Decode(&data); err != nil || data.N != i {
				t.Errorf("data = %s (%v), want n=%d", s.task.Data, err, i)
			}
			row := waitState(t, k, id, queue.StateDone)
			if row.Attempts != 1 || row.CompletedAt == nil || row.LastError != nil {
				t.Errorf("done row: attempts=%d completed_at=%v last_error=%v", row.Attempts, row.CompletedAt, row.LastError)
			}
		})
	}
}

func TestEnqueueFollowsTheTransaction(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("tx", rec.handle)
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	boom := errors.New("boom")
	var rolledBack string
	err := k.DB.InTx(ctx, func(ctx context.Context) error {
		rolledBack = enqueue(t, ctx, k, queue.Job{Type: "test:tx"})
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if _, found := readLedger(t, k, rolledBack); found {
		t.Fatalf("a rolled-back enqueue left ledger row %s", rolledBack)
	}

	var committed string
	err = k.DB.InTx(ctx, func(ctx context.Context) error {
		committed = enqueue(t, ctx, k, queue.Job{Type: "test:tx"})
		// Until commit, nobody else (the relay included) sees the job.
		if _, found := readLedger(t, k, committed); found {
			t.Errorf("job %s visible outside its transaction before commit", committed)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	waitState(t, k, committed, queue.StateDone)
	if n := rec.count(committed); n != 1 {
		t.Errorf("committed job ran %d times, want 1", n)
	}
	if n := rec.count(rolledBack); n != 0 {
		t.Errorf("rolled-back job ran %d times", n)
	}
	var total int64
	k.DB.Conn(ctx).Table("kernel_jobs").Where("type = ?", "test:tx").Count(&total)
	if total != 1 {
		t.Errorf("ledger holds %d test:tx rows, want 1", total)
	}
}

func TestFailingHandlerRetriesThenArchives(t *testing.T) {
	k := kerneltest.New(t)
	var mu sync.Mutex
	var attempts []int
	k.Queue.Tasks("test").Handle("fail", func(_ context.Context, task *queue.Task) error {
		mu.Lock()
		attempts = append(attempts, task.Attempt)
		mu.Unlock()
		return errors.New("downstream unavailable")
	})
	k.Queue.Tasks("test").Handle("panic", func(context.Context, *queue.Task) error { panic("nil map") })
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	t.Run("max retry", func(t *testing.T) {
		id := enqueue(t, ctx, k, queue.Job{Type: "test:fail", MaxRetry: 2})
		row := waitState(t, k, id, queue.StateArchived)
		if row.Attempts != 3 {
			t.Errorf("attempts = %d, want 3 (one run and two retries)", row.Attempts)
		}
		if row.LastError == nil || !strings.Contains(*row.LastError, "downstream unavailable") {
			t.Errorf("last_error = %v, want the handler's error", row.LastError)
		}
		if row.CompletedAt == nil {
			t.Errorf("archived row has no completed_at")
		}
		waitTaskState(t, k, id, asynq.TaskStateArchived)
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(attempts, []int{0, 1, 2}) {
			t.Errorf("handler saw attempts %v, want [0 1 2]", attempts)
		}
	})
	t.Run("panic without retry", func(t *testing.T) {
		id := enqueue(t, ctx, k, queue.Job{Type: "test:panic", MaxRetry: -1})
		row := waitState(t, k, id, queue.StateArchived)
		if row.Attempts != 1 || row.LastError == nil || !strings.Contains(*row.LastError, "panic: nil map") {
			t.Errorf("attempts=%d last_error=%v, want 1 and the panic", row.Attempts, row.LastError)
		}
		waitTaskState(t, k, id, asynq.TaskStateArchived)
	})
}

func TestSkipRetryArchivesAtOnceAndRerunRunsAgain(t *testing.T) {
	k := kerneltest.New(t)
	var calls atomic.Int32
	k.Queue.Tasks("test").Handle("skip", func(context.Context, *queue.Task) error {
		if calls.Add(1) == 1 {
			return fmt.Errorf("unknown customer: %w", queue.SkipRetry)
		}
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	id := enqueue(t, ctx, k, queue.Job{Type: "test:skip", MaxRetry: 5})
	row := waitState(t, k, id, queue.StateArchived)
	if row.Attempts != 1 || row.LastError == nil || !strings.Contains(*row.LastError, "unknown customer") {
		t.Fatalf("attempts=%d last_error=%v, want 1 and the handler's reason", row.Attempts, row.LastError)
	}
	// asynq archived it too, so no retry is scheduled.
	waitTaskState(t, k, id, asynq.TaskStateArchived)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}

	if err := k.Queue.Rerun(ctx, id); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	row = waitState(t, k, id, queue.StateDone)
	if n := calls.Load(); n != 2 {
		t.Errorf("handler ran %d times after the rerun, want 2", n)
	}
	if row.Attempts != 1 {
		t.Errorf("attempts after rerun = %d, want 1", row.Attempts)
	}
	if err := k.Queue.Rerun(ctx, id); err == nil {
		t.Errorf("rerun of a done job succeeded")
	}
}

func TestRunAtAndDelay(t *testing.T) {
	k := kerneltest.New(t)
	var mu sync.Mutex
	ranAt := map[string]time.Time{}
	k.Queue.Tasks("test").Handle("later", func(_ context.Context, task *queue.Task) error {
		mu.Lock()
		defer mu.Unlock()
		ranAt[task.ID] = time.Now()
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	far := time.Now().Add(time.Hour).UTC()
	farID := enqueue(t, ctx, k, queue.Job{Type: "test:later", RunAt: far})
	delayed := enqueue(t, ctx, k, queue.Job{Type: "test:later", Delay: time.Second})
	at := enqueue(t, ctx, k, queue.Job{Type: "test:later", RunAt: time.Now().Add(1500 * time.Millisecond)})

	// A job for later waits in asynq's scheduled set for its time.
	waitState(t, k, farID, queue.StateEnqueued)
	info := waitTaskState(t, k, farID, asynq.TaskStateScheduled)
	if d := info.NextProcessAt.Sub(far); d < -time.Second || d > time.Second {
		t.Errorf("scheduled for %v, want %v", info.NextProcessAt, far)
	}

	for _, id := range []string{delayed, at} {
		row := waitState(t, k, id, queue.StateDone)
		if id == delayed && !row.RunAt.Equal(row.CreatedAt.Add(time.Second)) {
			t.Errorf("delayed job: run_at %v, want created_at %v + 1s", row.RunAt, row.CreatedAt)
		}
		mu.Lock()
		ran := ranAt[id]
		mu.Unlock()
		// asynq keeps due times in whole seconds.
		if ran.Before(row.RunAt.Truncate(time.Second)) {
			t.Errorf("job %s ran at %v, before its run_at %v", id, ran, row.RunAt)
		}
	}
	mu.Lock()
	_, early := ranAt[farID]
	mu.Unlock()
	if early {
		t.Errorf("the job for an hour from now has already run")
	}
	if row, _ := readLedger(t, k, farID); row.State != queue.StateEnqueued {
		t.Errorf("job for later is %q, want enqueued", row.State)
	}
}

// A deadline bounds the whole job: a job not started by then is archived
// unrun, and a running handler's context ends at it.
func TestDeadlineArchivesALateJobUnrunAndEndsTheHandlersContext(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("due", rec.handle)
	var mu sync.Mutex
	var ctxDeadline time.Time
	k.Queue.Tasks("test").Handle("bounded", func(ctx context.Context, task *queue.Task) error {
		d, _ := ctx.Deadline()
		mu.Lock()
		ctxDeadline = d
		mu.Unlock()
		return nil
	})
	ctx := context.Background()
	// Due before the workers start: it misses its deadline.
	late := enqueue(t, ctx, k, queue.Job{Type: "test:due", Deadline: time.Now().Add(300 * time.Millisecond)})
	time.Sleep(400 * time.Millisecond)
	kerneltest.StartQueue(t, k)
	dl := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second) // before asynq's 30m timeout
	bounded := enqueue(t, ctx, k, queue.Job{Type: "test:bounded", Deadline: dl})

	row := waitState(t, k, late, queue.StateArchived)
	if row.LastError == nil || !strings.Contains(*row.LastError, "deadline passed") || rec.count(late) != 0 {
		t.Errorf("late job: error %v, ran %d times; want archived unrun", row.LastError, rec.count(late))
	}
	waitState(t, k, bounded, queue.StateDone)
	mu.Lock()
	defer mu.Unlock()
	if !ctxDeadline.Equal(dl) {
		t.Errorf("the handler's context ends at %v, want the job's deadline %v", ctxDeadline, dl)
	}
	info, err := k.Queue.Job(security.WithPrincipal(ctx, security.System("")), bounded)
	if err != nil || info.Deadline == nil || !info.Deadline.Equal(dl) {
		t.Errorf("job info deadline = %v (%v), want %v", info, err, dl)
	}
}

func TestUniqueKeyRefusesDuplicatesUntilUniqueForPasses(t *testing.T) {
	k := kerneltest.New(t)
	var clock atomic.Int64
	base := time.Now().UTC().Truncate(time.Second)
	set := func(t time.Time) { clock.Store(t.UnixNano()) }
	set(base)
	k.Queue.SetClock(func() time.Time { return time.Unix(0, clock.Load()).UTC() })
	ctx := context.Background()

	job := queue.Job{Type: "test:unique", UniqueKey: "invoice-42", UniqueFor: 10 * time.Minute}
	first := enqueue(t, ctx, k, job)

	steps := []struct {
		name    string
		at      time.Time
		job     queue.Job
		wantDup bool
	}{
		{"same key at once", base, job, true},
		{"same key just before UniqueFor ends", base.Add(10*time.Minute - time.Second), job, true},
		{"another key, held for the default day", base.Add(time.Minute), queue.Job{Type: "test:unique", UniqueKey: "invoice-43"}, false},
		{"same key after UniqueFor", base.Add(10*time.Minute + time.Second), job, false},
		{"same key right after it was taken again", base.Add(10*time.Minute + 2*time.Second), job, true},
		{"the other key within its day", base.Add(23 * time.Hour), queue.Job{Type: "test:unique", UniqueKey: "invoice-43"}, true},
		{"the other key after its day", base.Add(24*time.Hour + 2*time.Minute), queue.Job{Type: "test:unique", UniqueKey: "invoice-43"}, false},
	}
	for _, s := range steps {
		set(s.at)
		id, err := k.Queue.Enqueue(ctx, s.job)
		switch {
		case s.wantDup && !errors.Is(err, queue.ErrDuplicate):
			t.Errorf("%s: got id=%q err=%v, want ErrDuplicate", s.name, id, err)
		case !s.wantDup && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case !s.wantDup && id == first:
			t.Errorf("%s: got the first job's id", s.name)
		}
	}
	// The expired holder gave up its key; the live one keeps it.
	if row, _ := readLedger(t, k, first); row.UniqueKey != nil {
		t.Errorf("first job still holds key %q after UniqueFor", *row.UniqueKey)
	}
	var holders int64
	k.DB.Conn(ctx).Table("kernel_jobs").Where("unique_key = ?", "invoice-42").Count(&holders)
	if holders != 1 {
		t.Errorf("%d rows hold invoice-42, want 1", holders)
	}

	// A duplicate inside a transaction leaves the transaction usable.
	set(base.Add(11 * time.Minute))
	var other string
	err := k.DB.InTx(ctx, func(ctx context.Context) error {
		if _, err := k.Queue.Enqueue(ctx, job); !errors.Is(err, queue.ErrDuplicate) {
			return fmt.Errorf("duplicate in tx: %v", err)
		}
		var err error
		other, err = k.Queue.Enqueue(ctx, queue.Job{Type: "test:unique"})
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if _, ok := readLedger(t, k, other); !ok {
		t.Errorf("the job enqueued after a duplicate in the same transaction is missing")
	}
}

// tamper rewrites a pending job's envelope in the ledger.
func tamper(t *testing.T, k *kernel.Kernel, id string, edit func([]byte) []byte) {
	t.Helper()
	row, ok := readLedger(t, k, id)
	if !ok {
		t.Fatalf("no ledger row %s", id)
	}
	b := edit(bytes.Clone(row.Payload))
	if bytes.Equal(b, row.Payload) {
		t.Fatalf("tampering changed nothing in %s", row.Payload)
	}
	if err := k.DB.Conn(context.Background()).Table("kernel_jobs").Where("id = ?", id).Update("payload", b).Error; err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

func TestTamperedEnvelopeIsRefused(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("signed", rec.handle)
	ctx := security.WithPrincipal(context.Background(),
		&security.Principal{Kind: security.KindUser, ID: "user-1", TenantID: "tenant-1", Role: security.RoleAgent})

	// The queue is not running yet and the jobs go through the outbox, so
	// the rows wait in the ledger, where they are tampered with.
	good := enqueueTx(t, ctx, k, queue.Job{Type: "test:signed", Data: map[string]int{"amount": 10}})
	escalated := enqueueTx(t, ctx, k, queue.Job{Type: "test:signed", Data: map[string]int{"amount": 10}})
	tamper(t, k, escalated, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"role":"agent"`), []byte(`"role":"platform_admin"`), 1)
	})
	changedData := enqueueTx(t, ctx, k, queue.Job{Type: "test:signed", Data: map[string]int{"amount": 10}})
	tamper(t, k, changedData, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`{"amount":10}`), []byte(`{"amount":10000}`), 1)
	})
	forgedSig := enqueueTx(t, ctx, k, queue.Job{Type: "test:signed"})
	tamper(t, k, forgedSig, func(b []byte) []byte {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("envelope: %v", err)
		}
		env["sig"] = json.RawMessage(`"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`)
		out, _ := json.Marshal(env)
		return out
	})
	unsigned := enqueueTx(t, ctx, k, queue.Job{Type: "test:signed"})
	tamper(t, k, unsigned, func(b []byte) []byte {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("envelope: %v", err)
		}
		delete(env, "sig")
		out, _ := json.Marshal(env)
		return out
	})

	kerneltest.StartQueue(t, k)
	waitState(t, k, good, queue.StateDone)
	for name, id := range map[string]string{"escalated role": escalated, "changed data": changedData,
		"forged signature": forgedSig, "no signature": unsigned} {
		row := waitState(t, k, id, queue.StateArchived)
		if row.LastError == nil || !strings.Contains(*row.LastError, "signature") {
			t.Errorf("%s: last_error = %v, want a signature error", name, row.LastError)
		}
		if n := rec.count(id); n != 0 {
			t.Errorf("%s: the handler ran %d times", name, n)
		}
		waitTaskState(t, k, id, asynq.TaskStateArchived)
	}
	if n := rec.count(good); n != 1 {
		t.Errorf("the untouched job ran %d times, want 1", n)
	}
}

func TestReconcileRestoresWhatRedisLost(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("lost", rec.handle)
	ctx := context.Background()
	// The relay only: no worker takes the tasks until the test says so.
	if err := k.Queue.StartRelay(ctx); err != nil {
		t.Fatalf("relay: %v", err)
	}
	t.Cleanup(k.Queue.Shutdown)
	insp := k.Queue.Inspector()

	later := time.Now().Add(time.Hour)
	a := enqueue(t, ctx, k, queue.Job{Type: "test:lost", RunAt: later})
	b := enqueue(t, ctx, k, queue.Job{Type: "test:lost", RunAt: later})
	c := enqueue(t, ctx, k, queue.Job{Type: "test:lost"})
	for _, id := range []string{a, b} {
		waitState(t, k, id, queue.StateEnqueued)
		waitTaskState(t, k, id, asynq.TaskStateScheduled)
	}
	waitState(t, k, c, queue.StateEnqueued)
	waitTaskState(t, k, c, asynq.TaskStatePending)

	reconcile := func(lease time.Duration, want int) {
		t.Helper()
		n, err := k.Queue.Reconcile(ctx, lease)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if n != want {
			t.Fatalf("reconcile(%v) restored %d, want %d", lease, n, want)
		}
	}

	// One task deleted: only it goes back, the live ones are left alone.
	if err := insp.DeleteTask(queue.DefaultQueue, a); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	reconcile(0, 1)
	waitTaskState(t, k, a, asynq.TaskStateScheduled)
	reconcile(0, 0)

	// Redis loses everything.
	if err := k.Queue.Redis().FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	reconcile(0, 3)
	info := waitTaskState(t, k, a, asynq.TaskStateScheduled)
	if d := info.NextProcessAt.Sub(later); d < -time.Second || d > time.Second {
		t.Errorf("restored task runs at %v, want %v", info.NextProcessAt, later)
	}
	waitTaskState(t, k, b, asynq.TaskStateScheduled)
	waitTaskState(t, k, c, asynq.TaskStatePending)

	// Within the lease a row is not checked.
	if err := insp.DeleteTask(queue.DefaultQueue, b); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	reconcile(time.Hour, 0)
	if _, err := insp.GetTaskInfo(queue.DefaultQueue, b); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("task b: %v, want not found", err)
	}
	reconcile(0, 1)

	// The restored task runs, once.
	if err := k.Queue.StartWorkers(ctx); err != nil {
		t.Fatalf("workers: %v", err)
	}
	waitState(t, k, c, queue.StateDone)
	reconcile(0, 0)
	if n := rec.count(c); n != 1 {
		t.Errorf("restored job ran %d times, want 1", n)
	}
	for _, id := range []string{a, b} {
		if n := rec.count(id); n != 0 {
			t.Errorf("job for later ran %d times", n)
		}
	}
}

func TestScheduleFiresEachTickOnceAcrossKernels(t *testing.T) {
	cfg := kerneltest.Config(t)
	// Two processes on one database: the same SQLite file or MariaDB schema.
	k1 := kerneltest.NewWithConfig(t, cfg)
	k2 := kerneltest.NewWithConfig(t, cfg)
	var runs atomic.Int32
	var clock atomic.Int64
	t0 := time.Now().UTC().Add(-12 * time.Hour).Truncate(time.Hour).Add(30 * time.Minute)
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	for _, k := range []*kernel.Kernel{k1, k2} {
		k.Queue.SetClock(now)
		k.Queue.Schedules("test").Add("tick", "@hourly", queue.Job{Type: "test:tick"})
		k.Queue.Tasks("test").Handle("tick", func(context.Context, *queue.Task) error {
			runs.Add(1)
			return nil
		})
	}
	kerneltest.StartQueue(t, k1)
	kerneltest.StartQueue(t, k2)
	ctx := context.Background()

	// Both kernels race for each due tick, besides their own loops.
	fireBoth := func() {
		var wg sync.WaitGroup
		for _, k := range []*kernel.Kernel{k1, k2, k1, k2, k1, k2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := k.Queue.FireDue(ctx); err != nil {
					t.Errorf("fire: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	fired := func() int64 {
		var n int64
		if err := k1.DB.Conn(ctx).Table("kernel_jobs").Where("type = ?", "test:tick").Count(&n).Error; err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	lastRun := func() time.Time {
		var row struct{ LastRunAt time.Time }
		if err := k1.DB.Conn(ctx).Table("kernel_schedules").Where("name = ?", "test:tick").Take(&row).Error; err != nil {
			t.Fatalf("schedule row: %v", err)
		}
		return row.LastRunAt.UTC()
	}

	// A new schedule waits for its next tick.
	fireBoth()
	if n := fired(); n != 0 {
		t.Fatalf("fired %d times before the first tick", n)
	}

	clock.Store(t0.Add(40 * time.Minute).UnixNano())
	fireBoth()
	if n := fired(); n != 1 {
		t.Fatalf("one tick fired %d times across two kernels, want 1", n)
	}
	if got, want := lastRun(), t0.Add(30*time.Minute); !got.Equal(want) {
		t.Errorf("last_run_at = %v, want %v", got, want)
	}
	eventually(t, "the tick's job to run", func() (bool, string) {
		return runs.Load() == 1, fmt.Sprintf("%d runs", runs.Load())
	})

	// Three missed ticks fire once.
	clock.Store(t0.Add(3*time.Hour + 40*time.Minute).UnixNano())
	fireBoth()
	if n := fired(); n != 2 {
		t.Fatalf("after three missed ticks: fired %d times in all, want 2", n)
	}
	if got, want := lastRun(), t0.Add(3*time.Hour+30*time.Minute); !got.Equal(want) {
		t.Errorf("last_run_at = %v, want %v", got, want)
	}
	eventually(t, "the second tick's job to run", func() (bool, string) {
		return runs.Load() == 2, fmt.Sprintf("%d runs", runs.Load())
	})
	var done int64
	k1.DB.Conn(ctx).Table("kernel_jobs").Where("type = ? AND state = ?", "test:tick", queue.StateDone).Count(&done)
	eventually(t, "both tick jobs done in the ledger", func() (bool, string) {
		k1.DB.Conn(ctx).Table("kernel_jobs").Where("type = ? AND state = ?", "test:tick", queue.StateDone).Count(&done)
		return done == 2, fmt.Sprintf("%d done", done)
	})

	infos, err := k2.Queue.ListSchedules(ctx)
	if err != nil || len(infos) != 1 || infos[0].Name != "test:tick" || infos[0].Type != "test:tick" {
		t.Fatalf("schedules = %+v, %v", infos, err)
	}
	if want := t0.Add(4*time.Hour + 30*time.Minute); !infos[0].NextRunAt.Equal(want) {
		t.Errorf("next run = %v, want %v", infos[0].NextRunAt, want)
	}
}

func TestEnqueueRejectsBadJobs(t *testing.T) {
	k := kerneltest.New(t)
	ctx := context.Background()
	cases := []struct {
		name string
		job  queue.Job
		want error
	}{
		{"no type", queue.Job{}, queue.ErrNoType},
		{"type without module", queue.Job{Type: "send"}, queue.ErrNoType},
		{"unknown queue", queue.Job{Type: "test:x", Queue: "urgent"}, queue.ErrUnknownQueue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Queue.Enqueue(ctx, tc.job); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("data that cannot be encoded", func(t *testing.T) {
		if _, err := k.Queue.Enqueue(ctx, queue.Job{Type: "test:x", Data: func() {}}); err == nil {
			t.Fatalf("enqueue of a func succeeded")
		}
	})
	var n int64
	k.DB.Conn(ctx).Table("kernel_jobs").Count(&n)
	if n != 0 {
		t.Errorf("bad jobs left %d ledger rows", n)
	}
}

// Requests that enqueue in their transactions while the relay claims rows
// and workers finish them must not fail: on MariaDB a claim that locked
// index gaps deadlocked with them.
func TestConcurrentEnqueueWhileRelaying(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("busy", rec.handle)
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	const writers, txs, perTx = 6, 15, 4
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	errs := make(chan error, writers*txs)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range txs {
				var mine []string
				err := k.DB.InTx(ctx, func(ctx context.Context) error {
					for range perTx {
						id, err := k.Queue.Enqueue(ctx, queue.Job{Type: "test:busy"})
						if err != nil {
							return err
						}
						mine = append(mine, id)
					}
					return nil
				})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				ids = append(ids, mine...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("enqueue transaction failed: %v", err)
	}
	for _, id := range ids {
		waitState(t, k, id, queue.StateDone)
		if n := rec.count(id); n != 1 {
			t.Errorf("job %s ran %d times", id, n)
		}
	}
}

// Enqueues outside a transaction take the direct path: many callers at
// once share group writes, every job is in the ledger before it runs, each
// runs once, and the successes are marked done in groups too.
func TestDirectEnqueuesShareGroupWrites(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Queue.WriteBehind = 0 // with a Redis server the rows would be written behind
	k := kerneltest.NewWithConfig(t, cfg)
	var mu sync.Mutex
	seen := map[string]string{} // job id: its ledger state when it ran
	k.Queue.Tasks("test").Handle("direct", func(ctx context.Context, task *queue.Task) error {
		row, _ := readLedger(t, k, task.ID)
		mu.Lock()
		defer mu.Unlock()
		seen[task.ID] = row.State
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := security.WithPrincipal(context.Background(), security.System("tenant-1"))

	const callers, each = 40, 10
	n := 0
	for _, id := range enqueueConcurrently(t, ctx, k, "test:direct", callers, each) {
		n++
		if row := waitState(t, k, id, queue.StateDone); row.Attempts != 1 || row.TenantID == nil || *row.TenantID != "tenant-1" {
			t.Errorf("job %s: attempts %d, tenant %v", id, row.Attempts, row.TenantID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != callers*each || len(seen) != n {
		t.Fatalf("%d enqueued, %d ran; want %d", n, len(seen), callers*each)
	}
	if w := queue.InsertWrites(k.Queue); w == 0 || w >= int64(n) {
		t.Errorf("%d jobs took %d insert statements; want them grouped", n, w)
	}
	for id, st := range seen {
		if st != queue.StateEnqueued {
			t.Errorf("job %s ran while its ledger row was %q, want it written as handed over", id, st)
		}
	}
}

// A ledger row that is due again while asynq still holds its archived task
// under the same id is handed over anew, not taken as already queued.
func TestHandOverReplacesALeftoverArchivedTask(t *testing.T) {
	k := kerneltest.New(t)
	var calls atomic.Int32
	k.Queue.Tasks("test").Handle("again", func(context.Context, *queue.Task) error {
		if calls.Add(1) == 1 {
			return fmt.Errorf("first time: %w", queue.SkipRetry)
		}
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := context.Background()
	id := enqueue(t, ctx, k, queue.Job{Type: "test:again"})
	waitState(t, k, id, queue.StateArchived)
	waitTaskState(t, k, id, asynq.TaskStateArchived)
	// As if an operator's re-run had flipped the row before the task went.
	if err := k.DB.Conn(ctx).Table("kernel_jobs").Where("id = ?", id).Update("state", queue.StatePending).Error; err != nil {
		t.Fatalf("update: %v", err)
	}
	waitState(t, k, id, queue.StateDone)
	if n := calls.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2", n)
	}
}
