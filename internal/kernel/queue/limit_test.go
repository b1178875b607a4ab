package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

// A tenant over its limit waits for tokens without losing attempts, and
// another tenant's work goes on meanwhile.
func TestTenantLimitHoldsANoisyTenantBackAlone(t *testing.T) {
	k := kerneltest.New(t)
	if err := k.Queue.LimitTenants("urgent", queue.TenantLimit{Rate: 1, Burst: 1}); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("limit on an unknown queue: %v", err)
	}
	if err := k.Queue.LimitTenants(queue.DefaultQueue, queue.TenantLimit{Rate: 0, Burst: 1}); err == nil {
		t.Fatalf("a zero rate was accepted")
	}
	if err := k.Queue.LimitTenants(queue.DefaultQueue, queue.TenantLimit{Rate: 4, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	doneBy := map[string]int{}
	noisyDoneWhenQuietRan := -1
	k.Queue.Tasks("test").Handle("fair", func(_ context.Context, task *queue.Task) error {
		mu.Lock()
		defer mu.Unlock()
		doneBy[task.TenantID]++
		if task.TenantID == "quiet" && noisyDoneWhenQuietRan < 0 {
			noisyDoneWhenQuietRan = doneBy["noisy"]
		}
		return nil
	})
	ctx := context.Background()
	in := func(tenant string) context.Context { return security.WithPrincipal(ctx, security.System(tenant)) }

	// The noisy tenant's flood is in the ledger before the workers start.
	// MaxRetry -1: a throttled start that counted as an attempt would
	// archive the job.
	const flood = 16
	var noisy []string
	for range flood {
		noisy = append(noisy, enqueue(t, in("noisy"), k, queue.Job{Type: "test:fair", MaxRetry: -1}))
	}
	kerneltest.StartQueue(t, k)
	quiet := enqueue(t, in("quiet"), k, queue.Job{Type: "test:fair", MaxRetry: -1})
	waitState(t, k, quiet, queue.StateDone)
	for _, id := range noisy {
		row := waitState(t, k, id, queue.StateDone)
		if row.Attempts != 1 {
			t.Errorf("noisy job %s: %d attempts recorded, want 1", id, row.Attempts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if doneBy["noisy"] != flood || doneBy["quiet"] != 1 {
		t.Fatalf("ran %v, want %d noisy and 1 quiet", doneBy, flood)
	}
	// At 4 a second after a burst of 2, the flood needs more than three
	// seconds; the quiet tenant's job did not wait for it.
	if noisyDoneWhenQuietRan >= flood {
		t.Errorf("the quiet tenant's job ran after the whole flood (%d of %d noisy jobs done)", noisyDoneWhenQuietRan, flood)
	}
}
