package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

// behindKernel is a kernel that writes the direct path's ledger behind: on
// the test Redis, or on a Redis-compatible server of its own standing in
// for one when the tests run embedded.
func behindKernel(t *testing.T) *kernel.Kernel {
	t.Helper()
	cfg := kerneltest.Config(t)
	if cfg.Redis.Addr == "" {
		srv := miniredis.NewMiniRedis()
		srv.ClockTTL(true)
		if err := srv.StartAddr("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		cfg.Redis.Addr = srv.Addr()
	}
	cfg.Queue.WriteBehind = 20 * time.Millisecond
	return kerneltest.NewWithConfig(t, cfg)
}

// Written behind, the ledger still ends in step: every success is marked
// done once (also when it comes before its row is written), a failure's
// history and a chain's follow-up, which need the row, find it.
func TestWriteBehindKeepsTheLedgerInStep(t *testing.T) {
	k := behindKernel(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("ok", rec.handle)
	var mu sync.Mutex
	failed := map[string]bool{}
	k.Queue.Tasks("test").Handle("flaky", func(ctx context.Context, task *queue.Task) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed[task.ID] {
			failed[task.ID] = true
			return errors.New("first attempt fails")
		}
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := security.WithPrincipal(context.Background(), security.System("tenant-1"))

	const callers, each = 20, 15
	flaky := enqueue(t, ctx, k, queue.Job{Type: "test:flaky"})
	chained := enqueue(t, ctx, k, queue.Job{Type: "test:ok", Then: &queue.Job{Type: "test:ok", Data: "follow-up"}})
	for _, id := range enqueueConcurrently(t, ctx, k, "test:ok", callers, each) {
		if row := waitState(t, k, id, queue.StateDone); row.Attempts != 1 {
			t.Errorf("job %s: %d attempts, want 1", id, row.Attempts)
		}
		if n := rec.count(id); n != 1 {
			t.Errorf("job %s ran %d times", id, n)
		}
	}
	if row := waitState(t, k, flaky, queue.StateDone); row.Attempts != 2 {
		t.Errorf("flaky job: %d attempts, want 2", row.Attempts)
	}
	info, err := k.Queue.Job(ctx, flaky)
	if err != nil || len(info.History) != 1 || info.History[0].Error != "first attempt fails" {
		t.Errorf("flaky job's history: %+v, %v", info, err)
	}
	waitState(t, k, chained, queue.StateDone)
	eventually(t, "the chained job's follow-up to run", func() (bool, string) {
		var n int64
		k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type = ? AND state = ?", "test:ok", queue.StateDone).Count(&n)
		return n == callers*each+2, fmt.Sprint(n)
	})
}

// A shutdown writes what is buffered: jobs enqueued just before it are in
// the ledger after it, for the next start to run.
func TestWriteBehindIsWrittenAtShutdown(t *testing.T) {
	k := behindKernel(t)
	ctx := context.Background()
	var ids []string
	for range 30 {
		ids = append(ids, enqueue(t, ctx, k, queue.Job{Type: "test:later", RunAt: time.Now().Add(time.Hour)}))
	}
	k.Queue.Shutdown()
	for _, id := range ids {
		if row, ok := readLedger(t, k, id); !ok || row.State != queue.StateEnqueued {
			t.Errorf("job %s after shutdown: found %v, state %q", id, ok, row.State)
		}
	}
}

// Closing a kernel twice is fine (a test's cleanup often closes it again).
func TestCloseTwiceIsFine(t *testing.T) {
	for name, k := range map[string]*kernel.Kernel{"group commit": kerneltest.New(t), "written behind": behindKernel(t)} {
		t.Run(name, func(t *testing.T) {
			k.Close()
			k.Close()
		})
	}
}

// A failure or a chained success needs the job's row in the database while
// the write-behind may be writing it that very moment: it waits for that
// write instead of updating a row that is not there yet (which lost the
// follow-up of a chain and the history of a failure).
func TestWriteBehindSettlesRowsBeingWritten(t *testing.T) {
	k := behindKernel(t)
	var mu sync.Mutex
	failedOnce := map[string]bool{}
	k.Queue.Tasks("test").Handle("step", func(ctx context.Context, task *queue.Task) error { return nil })
	k.Queue.Tasks("test").Handle("once", func(ctx context.Context, task *queue.Task) error {
		mu.Lock()
		defer mu.Unlock()
		if !failedOnce[task.ID] {
			failedOnce[task.ID] = true
			return errors.New("once")
		}
		return nil
	})
	queue.SlowWriteBehind(k.Queue, 200*time.Millisecond)
	kerneltest.StartQueue(t, k)
	ctx := context.Background()
	const n = 60
	var chains, flaky []string
	for range n {
		chains = append(chains, enqueue(t, ctx, k, queue.Job{Type: "test:step", Then: &queue.Job{Type: "test:step", Data: "next"}}))
		flaky = append(flaky, enqueue(t, ctx, k, queue.Job{Type: "test:once", MaxRetry: 3}))
	}
	for _, id := range chains {
		waitState(t, k, id, queue.StateDone)
	}
	eventually(t, "every chain's follow-up to run", func() (bool, string) {
		var c int64
		k.DB.Conn(ctx).Table("kernel_jobs").Where("type = ? AND state = ?", "test:step", queue.StateDone).Count(&c)
		return c == 2*n, fmt.Sprint(c)
	})
	sys := security.WithPrincipal(ctx, security.System(""))
	for _, id := range flaky {
		if row := waitState(t, k, id, queue.StateDone); row.Attempts != 2 {
			t.Errorf("job %s: %d attempts, want 2", id, row.Attempts)
		}
		if info, err := k.Queue.Job(sys, id); err != nil || len(info.History) != 1 {
			t.Errorf("job %s: history %+v, %v; want its one failure", id, info, err)
		}
	}
}
