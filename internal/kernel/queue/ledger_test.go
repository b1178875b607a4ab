package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

func TestLedgerListsArchivesAndDeletesWithinTheTenant(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("led", rec.handle)
	kerneltest.StartQueue(t, k)
	as := func(tenant string) context.Context {
		return security.WithPrincipal(context.Background(),
			&security.Principal{Kind: security.KindUser, ID: "u-" + tenant, TenantID: tenant, Role: security.RoleOwner})
	}
	a, b := as("tenant-a"), as("tenant-b")
	admin := security.WithPrincipal(context.Background(),
		&security.Principal{Kind: security.KindUser, ID: "root", TenantID: "root", Role: security.RolePlatformAdmin})
	later := time.Now().Add(time.Hour)

	doneA := enqueue(t, a, k, queue.Job{Type: "test:led", Data: map[string]string{"secret": "a"}})
	laterA := enqueue(t, a, k, queue.Job{Type: "test:led", RunAt: later, Queue: "low"})
	laterB := enqueue(t, b, k, queue.Job{Type: "test:led", RunAt: later})
	waitState(t, k, doneA, queue.StateDone)
	waitState(t, k, laterA, queue.StateEnqueued)
	waitState(t, k, laterB, queue.StateEnqueued)

	list := []struct {
		name  string
		ctx   context.Context
		f     queue.JobFilter
		want  []string
		total int64
	}{
		{"tenant a sees its own", a, queue.JobFilter{}, []string{doneA, laterA}, 2},
		{"newest first", a, queue.JobFilter{Desc: true}, []string{laterA, doneA}, 2},
		{"by state", a, queue.JobFilter{State: queue.StateEnqueued}, []string{laterA}, 1},
		{"by queue", a, queue.JobFilter{Queue: "low"}, []string{laterA}, 1},
		{"paged", a, queue.JobFilter{Limit: 1, Offset: 1}, []string{laterA}, 2},
		{"tenant b sees its own", b, queue.JobFilter{}, []string{laterB}, 1},
		{"platform admin sees all", admin, queue.JobFilter{Type: "test:led"}, []string{doneA, laterA, laterB}, 3},
		{"no principal sees nothing", context.Background(), queue.JobFilter{}, nil, 0},
	}
	for _, tc := range list {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := k.Queue.ListJobs(tc.ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range got {
				ids = append(ids, j.ID)
			}
			if total != tc.total || len(ids) != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v (total %d)", ids, total, tc.want, tc.total)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", ids, tc.want)
				}
			}
		})
	}
	if _, _, err := k.Queue.ListJobs(a, queue.JobFilter{State: "lost"}); !errors.Is(err, queue.ErrUnknownState) {
		t.Errorf("unknown state: %v", err)
	}
	if _, _, err := k.Queue.ListJobs(a, queue.JobFilter{Queue: "urgent"}); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Errorf("unknown queue: %v", err)
	}

	j, err := k.Queue.Job(a, doneA)
	if err != nil || j.State != queue.StateDone || string(j.Data) != `{"secret":"a"}` || j.Principal != "user:u-tenant-a" || j.TenantID != "tenant-a" {
		t.Fatalf("job = %+v, %v", j, err)
	}
	for name, op := range map[string]func(context.Context, string) error{
		"read":    func(ctx context.Context, id string) error { _, err := k.Queue.Job(ctx, id); return err },
		"archive": k.Queue.Archive, "delete": k.Queue.Delete,
	} {
		if err := op(b, doneA); !errors.Is(err, queue.ErrJobNotFound) {
			t.Errorf("%s of another tenant's job: %v, want not found", name, err)
		}
	}

	// Archive a job waiting in redis: asynq archives it too, and a re-run
	// brings it back.
	if err := k.Queue.Archive(a, laterA); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if row, _ := readLedger(t, k, laterA); row.State != queue.StateArchived {
		t.Fatalf("archived job is %q", row.State)
	}
	if info, err := k.Queue.Inspector().GetTaskInfo("low", laterA); err != nil || info.State != asynq.TaskStateArchived {
		t.Fatalf("task in redis: %v %v", info, err)
	}
	if err := k.Queue.Archive(a, laterA); !errors.Is(err, queue.ErrJobFinished) {
		t.Errorf("archive twice: %v", err)
	}
	if err := k.Queue.Archive(a, doneA); !errors.Is(err, queue.ErrJobFinished) {
		t.Errorf("archive of a done job: %v", err)
	}

	// Delete removes the row and the task.
	for _, id := range []string{laterA, doneA} {
		if err := k.Queue.Delete(a, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		if _, found := readLedger(t, k, id); found {
			t.Fatalf("deleted job %s is still in the ledger", id)
		}
	}
	if _, err := k.Queue.Inspector().GetTaskInfo("low", laterA); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("deleted task in redis: %v", err)
	}
	if err := k.Queue.Delete(admin, laterB); err != nil {
		t.Fatalf("admin delete: %v", err)
	}
	if _, err := k.Queue.Inspector().GetTaskInfo(queue.DefaultQueue, laterB); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("deleted scheduled task in redis: %v", err)
	}

	counts, err := k.Queue.CountJobs(admin)
	if err != nil || counts["default"][queue.StateDone] != 0 || counts["low"][queue.StatePending] != 0 {
		t.Errorf("counts = %v, %v", counts, err)
	}
}

// A job archived by hand before its time runs at once when it is re-run,
// not at its old run_at.
func TestRerunOfAJobArchivedBeforeItsTimeRunsNow(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("later", rec.handle)
	kerneltest.StartQueue(t, k)
	ctx := security.WithPrincipal(context.Background(), security.System(""))
	id := enqueue(t, ctx, k, queue.Job{Type: "test:later", RunAt: time.Now().Add(time.Hour)})
	waitState(t, k, id, queue.StateEnqueued)
	if err := k.Queue.Archive(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := k.Queue.Rerun(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitState(t, k, id, queue.StateDone)
	if n := rec.count(id); n != 1 {
		t.Fatalf("ran %d times, want 1", n)
	}
}
