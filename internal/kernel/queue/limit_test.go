package queue_test

import (
	"context"
	"errors"
	"fmt"
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

// Concurrency limits hold across the queue and per tenant: a tenant never
// runs more than its share at once, the queue never more than its cap, and
// another tenant's work runs while the first one's waits. Waiting costs no
// attempt.
func TestConcurrencyLimitsHoldPerQueueAndPerTenant(t *testing.T) {
	k := kerneltest.New(t)
	if err := k.Queue.SetLimits("urgent", queue.Limits{Concurrency: 1}); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("limits on an unknown queue: %v", err)
	}
	if err := k.Queue.SetLimits(queue.DefaultQueue, queue.Limits{TenantConcurrency: -1}); err == nil {
		t.Fatalf("a negative limit was accepted")
	}
	if err := k.Queue.SetLimits(queue.DefaultQueue, queue.Limits{TenantConcurrency: 2, Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	running := map[string]int{}
	peak := map[string]int{}
	total, peakTotal := 0, 0
	release := make(chan struct{})
	k.Queue.Tasks("test").Handle("hold", func(_ context.Context, task *queue.Task) error {
		mu.Lock()
		running[task.TenantID]++
		total++
		peak[task.TenantID] = max(peak[task.TenantID], running[task.TenantID])
		peakTotal = max(peakTotal, total)
		mu.Unlock()
		<-release
		mu.Lock()
		running[task.TenantID]--
		total--
		mu.Unlock()
		return nil
	})
	ctx := context.Background()
	in := func(tenant string) context.Context { return security.WithPrincipal(ctx, security.System(tenant)) }
	var ids []string
	for range 6 {
		ids = append(ids, enqueue(t, in("noisy"), k, queue.Job{Type: "test:hold", MaxRetry: -1}))
	}
	kerneltest.StartQueue(t, k)
	quiet := enqueue(t, in("quiet"), k, queue.Job{Type: "test:hold", MaxRetry: -1})
	ids = append(ids, quiet)

	// The noisy tenant fills its two slots and the quiet one takes the
	// queue's third, while workers (10 by default) stand idle.
	eventually(t, "two noisy and one quiet job running", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return running["noisy"] == 2 && running["quiet"] == 1, fmt.Sprint(running)
	})
	close(release)
	for _, id := range ids {
		if row := waitState(t, k, id, queue.StateDone); row.Attempts != 1 {
			t.Errorf("job %s: %d attempts recorded, want 1", id, row.Attempts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if peak["noisy"] != 2 || peakTotal != 3 {
		t.Fatalf("peak running: %v and %d in all; want the noisy tenant at 2 and the queue at 3", peak, peakTotal)
	}
}
