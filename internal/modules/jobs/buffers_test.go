package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

// sink is a batch handler that remembers what it got, and fails while
// told to.
type sink struct {
	mu      sync.Mutex
	batches []contracts.Batch
	as      []security.Principal
	failing error
}

func (s *sink) handle(ctx context.Context, b *contracts.Batch) error {
	p, _ := security.PrincipalFrom(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, *b)
	if p != nil {
		s.as = append(s.as, *p)
	}
	return s.failing
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = err
}

// items returns the numbers carried by the items of the successful
// batches, in the order handled, and how many batches ran in all.
func (s *sink) got() (batches []contracts.Batch, principals []security.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.Batch(nil), s.batches...), append([]security.Principal(nil), s.as...)
}

func itemCount(t *testing.T, m *jobs.Module, ctx context.Context, name, tenant, state string) int64 {
	t.Helper()
	_, n, err := m.BufferItems(ctx, name, tenant, state, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Items appended in a transaction follow it; the tenant's schedule hands
// them over in batches of its size, oldest first, under a service principal
// of the buffer's module for the tenant, and a success deletes them. A
// paused tenant's items wait.
func TestBufferHandsItemsOverInBatchesOnTheTenantsSchedule(t *testing.T) {
	var s sink
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterBuffer(contracts.Buffer{Name: "stats.pageviews", Handler: s.handle, Schedule: "@every 1s", BatchSize: 3}))
	})
	if err := m.RegisterBuffer(contracts.Buffer{Name: "stats.pageviews", Handler: s.handle}); !errors.Is(err, jobs.ErrDuplicateBuf) {
		t.Errorf("second registration: %v", err)
	}
	for _, b := range []contracts.Buffer{
		{Name: "nodot", Handler: s.handle},
		{Name: "stats.x", Handler: s.handle, Schedule: "@every 100ms"},
		{Name: "stats.y", Handler: s.handle, Schedule: "every minute"},
		{Name: "stats.z", Handler: s.handle, BatchSize: jobs.MaxBatchSize + 1},
		{Name: "stats.w"},
	} {
		if err := m.RegisterBuffer(b); err == nil {
			t.Errorf("buffer %+v was accepted", b)
		}
	}
	ctx := context.Background()
	a := security.WithPrincipal(ctx, security.System("tenant-a"))
	b := security.WithPrincipal(ctx, security.System("tenant-b"))
	if err := m.Append(a, "stats.unknown", 1); !errors.Is(err, contracts.ErrUnknownBuffer) {
		t.Errorf("append to an unknown buffer: %v", err)
	}

	// A rollback buffers nothing.
	boom := errors.New("boom")
	err := k.DB.InTx(a, func(ctx context.Context) error {
		must(t, m.Append(ctx, "stats.pageviews", map[string]int{"n": -1}))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := itemCount(t, m, a, "stats.pageviews", "", ""); n != 0 {
		t.Fatalf("%d items after a rollback", n)
	}
	paused := true
	if _, err := m.UpdateBuffer(b, "stats.pageviews", "", jobs.BufferPatch{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	err = k.DB.InTx(a, func(ctx context.Context) error {
		for i := range 7 {
			if err := m.Append(ctx, "stats.pageviews", map[string]int{"n": i}); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	must(t, m.Append(b, "stats.pageviews", map[string]int{"n": 100}))

	kerneltest.StartQueue(t, k)
	eventually(t, "tenant A's items to be handed over and acknowledged", func() (bool, string) {
		n := itemCount(t, m, a, "stats.pageviews", "", "")
		return n == 0, fmt.Sprintf("%d items left", n)
	})
	batches, as := s.got()
	var sizes []int
	var seen []int
	for _, bt := range batches {
		sizes = append(sizes, len(bt.Items))
		if bt.TenantID != "tenant-a" || bt.Buffer != "stats.pageviews" || bt.ID == "" {
			t.Errorf("batch %+v", bt)
		}
		for _, it := range bt.Items {
			var v struct{ N int }
			must(t, it.Decode(&v))
			seen = append(seen, v.N)
		}
	}
	if fmt.Sprint(sizes) != "[3 3 1]" && fmt.Sprint(sizes) != "[3 1 3]" && fmt.Sprint(sizes) != "[1 3 3]" {
		t.Errorf("batch sizes %v, want two of 3 and one of 1", sizes)
	}
	if len(seen) != 7 {
		t.Errorf("items handed over: %v", seen)
	}
	for _, p := range as {
		if p.Kind != security.KindService || p.Tenant() != "tenant-a" || p.Audience != "stats" {
			t.Errorf("handler ran as %+v, want the stats module's service principal for tenant A", p)
		}
	}
	if n := itemCount(t, m, b, "stats.pageviews", "", jobs.ItemReady); n != 1 {
		t.Errorf("paused tenant B has %d ready items, want 1", n)
	}

	// Resuming hands B's item over on B's next tick.
	paused = false
	if _, err := m.UpdateBuffer(b, "stats.pageviews", "", jobs.BufferPatch{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tenant B's item after resuming", func() (bool, string) {
		n := itemCount(t, m, b, "stats.pageviews", "", "")
		return n == 0, fmt.Sprintf("%d items left", n)
	})
}

// A failing batch retries under the same batch id, then its items become
// dead letters with the error; retried by hand they go through.
func TestFailedBatchesBecomeDeadLettersThatCanBeRetried(t *testing.T) {
	var s sink
	s.fail(errors.New("warehouse is down"))
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterBuffer(contracts.Buffer{Name: "imports.rows", Handler: s.handle, Schedule: "@every 1s", MaxRetry: 1}))
	})
	a := security.WithPrincipal(context.Background(), security.System("tenant-a"))
	must(t, m.Append(a, "imports.rows", "r1", "r2"))
	kerneltest.StartQueue(t, k)
	eventually(t, "the items to be dead letters", func() (bool, string) {
		n := itemCount(t, m, a, "imports.rows", "", jobs.ItemDead)
		return n == 2, fmt.Sprintf("%d dead", n)
	})
	items, _, err := m.BufferItems(a, "imports.rows", "", jobs.ItemDead, 0, 10)
	must(t, err)
	for _, it := range items {
		if it.Attempts != 2 || it.LastError != "warehouse is down" || it.BatchID != "" {
			t.Errorf("dead item %+v, want 2 attempts and the error", it)
		}
	}
	batches, _ := s.got()
	if len(batches) != 2 || batches[0].ID != batches[1].ID || batches[0].Attempt != 0 || batches[1].Attempt != 1 {
		t.Fatalf("got %d runs of the batch; want 2, under one id, attempts 0 and 1: %+v", len(batches), batches)
	}

	s.fail(nil)
	n, err := m.RetryDead(a, "imports.rows", "")
	must(t, err)
	if n != 2 {
		t.Fatalf("retried %d dead letters, want 2", n)
	}
	eventually(t, "the retried items to go through", func() (bool, string) {
		n := itemCount(t, m, a, "imports.rows", "", "")
		return n == 0, fmt.Sprintf("%d left", n)
	})
	// A panicking handler fails like an error.
	s.fail(nil)
	var once sync.Once
	must(t, m.RegisterBuffer(contracts.Buffer{Name: "imports.panics", Schedule: "@every 1s", MaxRetry: -1,
		Handler: func(context.Context, *contracts.Batch) error {
			once.Do(func() { panic("nil map") })
			return nil
		}}))
	must(t, m.Append(a, "imports.panics", 1))
	must(t, m.FlushBuffer(a, "imports.panics", ""))
	eventually(t, "the panicking batch to be a dead letter", func() (bool, string) {
		items, _, err := m.BufferItems(a, "imports.panics", "", jobs.ItemDead, 0, 1)
		if err != nil || len(items) != 1 {
			return false, fmt.Sprint(items, err)
		}
		return items[0].LastError == "panic: nil map", items[0].LastError
	})
}

// An admin who deletes a batch's job before it succeeded does not strand
// its items in a batch that never runs: they become dead letters, to be
// retried or deleted. Another tenant's batch is untouched.
func TestDeletingABatchJobMakesItsItemsDeadLetters(t *testing.T) {
	var s sink
	s.fail(errors.New("warehouse is down"))
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterBuffer(contracts.Buffer{Name: "imports.rows", Handler: s.handle, Schedule: "@hourly", MaxRetry: 10}))
	})
	a := security.WithPrincipal(context.Background(), security.System("tenant-a"))
	b := security.WithPrincipal(context.Background(), security.System("tenant-b"))
	must(t, m.Append(a, "imports.rows", "r1", "r2"))
	must(t, m.Append(b, "imports.rows", "r3"))
	kerneltest.StartQueue(t, k)
	must(t, m.FlushBuffer(a, "imports.rows", ""))
	must(t, m.FlushBuffer(b, "imports.rows", ""))
	// Each batch failed once and waits for its retry, seconds away.
	eventually(t, "both batches to have failed once", func() (bool, string) {
		batches, _ := s.got()
		return len(batches) == 2, fmt.Sprintf("%d runs", len(batches))
	})
	batchJob := func(ctx context.Context) string {
		t.Helper()
		list, _, err := k.Queue.ListJobs(ctx, queue.JobFilter{Type: "jobs:buffer.batch", Limit: 10})
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("%d batch jobs, want 1: %+v", len(list), list)
		}
		return list[0].ID
	}
	idA := batchJob(a)
	// Tenant B cannot delete A's batch job.
	if err := k.Queue.Delete(b, idA); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("tenant b deleting tenant a's batch job: %v, want not found", err)
	}
	if n := itemCount(t, m, a, "imports.rows", "", jobs.ItemBatched); n != 2 {
		t.Fatalf("%d batched items before the delete, want 2", n)
	}
	must(t, k.Queue.Delete(a, idA))
	if n := itemCount(t, m, a, "imports.rows", "", jobs.ItemBatched); n != 0 {
		t.Errorf("%d items still batched after their job was deleted", n)
	}
	items, _, err := m.BufferItems(a, "imports.rows", "", jobs.ItemDead, 0, 10)
	must(t, err)
	if len(items) != 2 {
		t.Fatalf("%d dead letters, want 2", len(items))
	}
	for _, it := range items {
		if it.LastError != "its batch job was deleted by hand" || it.BatchID != "" {
			t.Errorf("dead item %+v", it)
		}
	}
	if n := itemCount(t, m, b, "imports.rows", "", jobs.ItemBatched); n != 1 {
		t.Errorf("tenant b has %d batched items, want its 1 untouched", n)
	}
	// The dead letters go through once retried.
	s.fail(nil)
	n, err := m.RetryDead(a, "imports.rows", "")
	must(t, err)
	if n != 2 {
		t.Fatalf("retried %d dead letters, want 2", n)
	}
	must(t, m.FlushBuffer(a, "imports.rows", ""))
	eventually(t, "the retried items to go through", func() (bool, string) {
		n := itemCount(t, m, a, "imports.rows", "", "")
		return n == 0, fmt.Sprintf("%d left", n)
	})
}

// The buffers API: each tenant sees and sets its own schedule; bad input
// is refused and changes nothing.
func TestBuffersAPI(t *testing.T) {
	var s sink
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterBuffer(contracts.Buffer{Name: "stats.pageviews", Handler: s.handle, Schedule: "@every 1h", Public: true}))
		must(t, m.RegisterBuffer(contracts.Buffer{Name: "stats.internal", Handler: s.handle, Schedule: "@every 1h"}))
	})
	kerneltest.StartQueue(t, k)
	f := newFixture(t, k)
	c, admin, ta, tb, ownerA, agentA, ownerB := f.c, f.admin, f.ta, f.tb, f.ownerA, f.agentA, f.ownerB
	const base = "/api/v1/jobs/buffers"

	do := func(method, path, token string, body any, want int, code string) *kerneltest.Response {
		t.Helper()
		res := c.Do(method, path, token, body)
		if res.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, res.Status, want, res.Body)
		}
		if code != "" && res.ErrorCode() != code {
			t.Fatalf("%s %s: error %q, want %q: %s", method, path, res.ErrorCode(), code, res.Body)
		}
		return res
	}
	do("POST", base+"/stats.pageviews/items", ownerA, map[string]any{"items": []any{map[string]string{"path": "/"}, "x"}}, 202, "")
	do("POST", base+"/stats.pageviews/items", ownerB, map[string]any{"items": []any{1}}, 202, "")
	for _, bad := range []struct {
		body any
		want int
		code string
	}{
		{map[string]any{"items": []any{}}, 422, ""},
		{map[string]any{"items": []any{1, nil}}, 422, "jobs.null_item"},
		{map[string]any{"items": []any{1}, "tenant_id": tb}, 400, "unknown_field"},
		{`{"items": [1,`, 400, ""},
	} {
		do("POST", base+"/stats.pageviews/items", ownerA, bad.body, bad.want, bad.code)
	}
	do("POST", base+"/stats.internal/items", ownerA, map[string]any{"items": []any{1}}, 422, "jobs.buffer_not_public")
	do("POST", base+"/stats.nothing/items", ownerA, map[string]any{"items": []any{1}}, 404, "jobs.buffer_not_found")
	do("POST", base+"/stats.pageviews/items", agentA, map[string]any{"items": []any{1}}, 403, "")

	var views []jobs.BufferView
	do("GET", base, ownerA, nil, 200, "").Decode(t, &views)
	if len(views) != 2 {
		t.Fatalf("tenant A sees %d buffers, want its 2: %+v", len(views), views)
	}
	for _, v := range views {
		if v.TenantID != ta {
			t.Errorf("tenant A sees %+v", v)
		}
		if v.Name == "stats.pageviews" && (v.Ready != 2 || v.Schedule != "@every 1h" || v.BatchSize != jobs.DefaultBatchSize) {
			t.Errorf("pageviews for A: %+v", v)
		}
	}
	do("GET", base, admin, nil, 200, "").Decode(t, &views)
	tenants := map[string]bool{}
	for _, v := range views {
		tenants[v.TenantID] = true
	}
	if !tenants[ta] || !tenants[tb] {
		t.Errorf("the platform admin sees the buffers of %v, want A's and B's", tenants)
	}

	// Bad patches are refused and change nothing.
	for _, bad := range []struct {
		body any
		code string
	}{
		{map[string]any{"schedule": "every so often"}, "jobs.bad_schedule"},
		{map[string]any{"schedule": "@every 10ms"}, "jobs.bad_schedule"},
		{map[string]any{"batch_size": jobs.MaxBatchSize + 1}, "jobs.bad_batch_size"},
		{map[string]any{"batch_size": -1}, "jobs.bad_batch_size"},
		{map[string]any{}, "jobs.empty_patch"},
	} {
		do("PATCH", base+"/stats.pageviews", ownerA, bad.body, 422, bad.code)
	}
	do("PATCH", base+"/stats.pageviews", agentA, map[string]any{"paused": true}, 403, "")
	do("PATCH", base+"/stats.pageviews?tenant_id="+tb, ownerA, map[string]any{"paused": true}, 404, "")
	var v jobs.BufferView
	do("GET", base+"/stats.pageviews", ownerA, nil, 200, "").Decode(t, &v)
	if v.Custom || v.Paused || v.Schedule != "@every 1h" {
		t.Fatalf("after refused patches: %+v", v)
	}

	do("PATCH", base+"/stats.pageviews", ownerA, map[string]any{"schedule": "*/5 * * * *", "batch_size": 50}, 200, "").Decode(t, &v)
	if !v.Custom || v.Schedule != "*/5 * * * *" || v.BatchSize != 50 || v.NextFlushAt == nil || v.NextFlushAt.Minute()%5 != 0 {
		t.Errorf("after the patch: %+v", v)
	}
	do("GET", base+"/stats.pageviews", ownerB, nil, 200, "").Decode(t, &v)
	if v.Custom || v.Schedule != "@every 1h" {
		t.Errorf("A's patch changed B's schedule: %+v", v)
	}
	// A platform admin sets another tenant's.
	do("PATCH", base+"/stats.pageviews?tenant_id="+tb, admin, map[string]any{"schedule": "@daily"}, 200, "").Decode(t, &v)
	if v.TenantID != tb || v.Schedule != "@daily" {
		t.Errorf("admin's patch of B: %+v", v)
	}

	// Flush now, whatever the schedule says.
	do("POST", base+"/stats.pageviews/flush", ownerA, nil, 202, "")
	eventually(t, "A's items to be flushed", func() (bool, string) {
		var page struct{ Total int64 }
		c.Do("GET", base+"/stats.pageviews/items", ownerA, nil).Decode(t, &page)
		return page.Total == 0, fmt.Sprint(page.Total)
	})
	var page struct {
		Items []jobs.BufferItem
		Total int64
	}
	do("GET", base+"/stats.pageviews/items?state=ready", ownerB, nil, 200, "").Decode(t, &page)
	if page.Total != 1 || len(page.Items) != 1 || string(page.Items[0].Data) != "1" {
		t.Fatalf("B's items: %+v", page)
	}
	do("GET", base+"/stats.pageviews/items?state=lost", ownerB, nil, 422, "jobs.unknown_item_state")
	itemB := page.Items[0].ID
	do("DELETE", base+"/stats.pageviews/items/"+itemB, ownerA, nil, 404, "jobs.item_not_found")
	do("POST", base+"/stats.pageviews/items/"+itemB+"/retry", ownerA, nil, 404, "jobs.item_not_found")
	do("DELETE", base+"/stats.pageviews/items/"+itemB, ownerB, nil, http.StatusNoContent, "")
	if n := itemCount(t, m, security.WithPrincipal(context.Background(), security.System(tb)), "stats.pageviews", "", ""); n != 0 {
		t.Errorf("B has %d items after deleting its one", n)
	}
	do("POST", base+"/stats.pageviews/retry", ownerB, nil, 200, "")
}
