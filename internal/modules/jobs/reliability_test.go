package jobs_test

// Reliability of messages between modules: what happens to a message whose
// subscriber always fails, and to a tenant's messages while another tenant
// floods the queue. A rollback and a topic without subscribers are covered
// by TestPublishFollowsTheTransaction and TestPublishChecksTheTopic; kill -9
// and SIGTERM by cmd/platform's TestMessagesSurviveAStop.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

// slowLimit bounds waits that go through retries with backoff or a
// tenant's rate limit on a slow, shared machine.
const slowLimit = 3 * time.Minute

// waitFor is eventually with a limit of its own.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-timeout:
			t.Fatalf("no %s within %v; last seen: %s", what, limit, last)
		case <-tick.C:
		}
	}
}

// A poison message, whose subscriber fails on every attempt, is archived
// after the subscription's retries, shows in the archived tasks with the
// handler's last error, and runs again when an admin retries it.
func TestPoisonMessageIsArchivedAndRetriedByHand(t *testing.T) {
	const retries = 2
	var calls atomic.Int32
	k, _ := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.order_placed", Public: true}))
		must(t, m.Subscribe("orders.order_placed", "alpha", func(_ context.Context, msg *contracts.Message) error {
			calls.Add(1)
			return fmt.Errorf("alpha cannot digest message %s", msg.ID)
		}, contracts.WithMaxRetry(retries)))
	})
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	admin := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	ta := c.CreateTenant(admin, "A", "tenant-a")
	owner := c.CreateUser(admin, ta, "owner@a.test", "owner")

	res := c.Do(http.MethodPost, "/api/v1/jobs/publish", owner,
		map[string]any{"topic": "orders.order_placed", "data": map[string]int{"order": 1}})
	if res.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", res.Status, res.Body)
	}
	var published struct{ ID string }
	res.Decode(t, &published)

	archived := func() (*queue.JobInfo, string) {
		res := c.Do(http.MethodGet, "/api/v1/jobs/tasks?state=archived", owner, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("archived tasks: %d %s", res.Status, res.Body)
		}
		var page struct{ Items []queue.JobInfo }
		res.Decode(t, &page)
		if len(page.Items) != 1 {
			return nil, string(res.Body)
		}
		return &page.Items[0], string(res.Body)
	}
	var task *queue.JobInfo
	waitFor(t, slowLimit, "archived delivery", func() (bool, string) {
		var body string
		task, body = archived()
		return task != nil, body
	})
	wantErr := "alpha cannot digest message " + published.ID
	if task.Type != "jobs:deliver:orders.order_placed:alpha" || task.TenantID != ta || task.Attempts != retries+1 ||
		task.MaxRetry != retries || !strings.Contains(task.LastError, wantErr) {
		t.Errorf("archived task = %+v, want alpha's delivery in tenant A after %d attempts, last error %q", task, retries+1, wantErr)
	}
	if n := calls.Load(); n != retries+1 {
		t.Errorf("the subscriber ran %d times before the archive, want %d", n, retries+1)
	}

	res = c.Do(http.MethodPost, "/api/v1/jobs/tasks/"+task.ID+"/retry", owner, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	// The retry runs the delivery again with its retries; it fails again and
	// goes back to the archive.
	waitFor(t, slowLimit, "second archive after the retry", func() (bool, string) {
		again, body := archived()
		return again != nil && again.ID == task.ID && again.Attempts == retries+1 && calls.Load() == 2*(retries+1),
			fmt.Sprintf("%d calls; %s", calls.Load(), body)
	})
}

// One tenant's flood on a queue with a per-tenant limit does not hold up
// another tenant's messages: they go through at their own tenant's pace,
// while most of the flood still waits for its tokens, and the flood waits
// without failing or spending its retries.
func TestTenantFloodDoesNotStallAnotherTenantsMessages(t *testing.T) {
	const flood, few = 1000, 10
	var mu sync.Mutex
	delivered := map[string]int{}
	floodWhenFewDone := -1
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.order_placed"}))
		must(t, m.Subscribe("orders.order_placed", "alpha", func(_ context.Context, msg *contracts.Message) error {
			mu.Lock()
			defer mu.Unlock()
			delivered[msg.TenantID]++
			if msg.TenantID == "tenant-b" && delivered["tenant-b"] == few {
				floodWhenFewDone = delivered["tenant-a"]
			}
			return nil
		}))
	})
	// The flood alone needs 200 seconds at this rate.
	must(t, k.Queue.LimitTenants(queue.DefaultQueue, queue.TenantLimit{Rate: 5, Burst: 5}))
	kerneltest.StartQueue(t, k)
	in := func(tenant string) context.Context {
		return security.WithPrincipal(context.Background(), security.System(tenant))
	}
	err := k.DB.InTx(in("tenant-a"), func(ctx context.Context) error {
		for i := range flood {
			if err := m.Publish(ctx, "orders.order_placed", map[string]int{"n": i}); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	// B publishes once the whole flood is in Redis, queued ahead of it.
	count := func(tenant, state string) int64 {
		var n int64
		must(t, k.DB.Conn(context.Background()).Table("kernel_jobs").
			Where("tenant_id = ? AND state = ?", tenant, state).Count(&n).Error)
		return n
	}
	waitFor(t, slowLimit, "flood handed to Redis", func() (bool, string) {
		n := count("tenant-a", queue.StatePending)
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	published := time.Now()
	for i := range few {
		must(t, m.Publish(in("tenant-b"), "orders.order_placed", map[string]int{"n": i}))
	}
	waitFor(t, slowLimit, "delivery of B's messages", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return delivered["tenant-b"] == few, fmt.Sprint(delivered)
	})
	mu.Lock()
	floodDone := floodWhenFewDone
	mu.Unlock()
	t.Logf("B's %d messages were delivered %v after they were published, when %d of A's %d were; %.0f starts put back by the limit",
		few, time.Since(published).Round(time.Millisecond), floodDone, flood,
		throttled(t, k))
	if floodDone >= flood/2 {
		t.Errorf("B's messages waited for %d of A's %d: the flood held them up", floodDone, flood)
	}
	if n := count("tenant-a", queue.StateArchived); n != 0 {
		t.Errorf("%d of the flood's deliveries were archived while they waited", n)
	}
	var spent int64
	must(t, k.DB.Conn(context.Background()).Table("kernel_jobs").
		Where("tenant_id = ? AND (attempts > 1 OR (attempts = 1 AND state <> ?))", "tenant-a", queue.StateDone).
		Count(&spent).Error)
	if spent != 0 {
		t.Errorf("%d of the flood's deliveries spent attempts waiting for tokens", spent)
	}
}

// throttled counts the task starts that the tenant limits put back.
func throttled(t *testing.T, k *kernel.Kernel) float64 {
	t.Helper()
	families, err := k.Metrics.Registry.Gather()
	must(t, err)
	var n float64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "throttled" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
