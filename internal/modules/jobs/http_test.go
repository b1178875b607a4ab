package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

// fixture is a served kernel with two tenants: A with an owner and an
// agent, B with an owner, and the tokens of each.
type fixture struct {
	c                                     *kerneltest.Client
	admin, ta, tb, ownerA, agentA, ownerB string
}

func newFixture(t *testing.T, k *kernel.Kernel) fixture {
	t.Helper()
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	f := fixture{c: c, admin: c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)}
	f.ta = c.CreateTenant(f.admin, "A", "tenant-a")
	f.tb = c.CreateTenant(f.admin, "B", "tenant-b")
	f.ownerA = c.CreateUser(f.admin, f.ta, "owner@a.test", "owner")
	f.agentA = c.CreateUser(f.admin, f.ta, "agent@a.test", "agent")
	f.ownerB = c.CreateUser(f.admin, f.tb, "owner@b.test", "owner")
	return f
}

func TestJobsAPI(t *testing.T) {
	var alpha inbox
	k, _ := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.order_placed", Public: true}))
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.internal_audit"}))
		must(t, m.Subscribe("orders.order_placed", "alpha", alpha.handle))
	})
	k.Queue.Tasks("probe").Handle("work", func(context.Context, *queue.Task) error { return nil })
	k.Queue.Tasks("probe").Handle("fail", func(context.Context, *queue.Task) error {
		return fmt.Errorf("bad input: %w", queue.SkipRetry)
	})
	kerneltest.StartQueue(t, k)
	f := newFixture(t, k)
	c, admin, ta, tb, ownerA, agentA, ownerB := f.c, f.admin, f.ta, f.tb, f.ownerA, f.agentA, f.ownerB

	// Work in each tenant: one job for later, one that failed for good.
	in := func(tenant string) context.Context {
		return security.WithPrincipal(context.Background(), security.System(tenant))
	}
	enq := func(ctx context.Context, j queue.Job) string {
		id, err := k.Queue.Enqueue(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	later := time.Now().Add(time.Hour)
	laterA := enq(in(ta), queue.Job{Type: "probe:work", RunAt: later, Data: map[string]string{"note": "for a"}})
	failedA := enq(in(ta), queue.Job{Type: "probe:fail"})
	laterB := enq(in(tb), queue.Job{Type: "probe:work", RunAt: later, Queue: "low"})
	state := func(id string) string {
		var s []string
		k.DB.Conn(context.Background()).Table("kernel_jobs").Where("id = ?", id).Pluck("state", &s)
		if len(s) == 0 {
			return "gone"
		}
		return s[0]
	}
	for id, want := range map[string]string{laterA: queue.StateEnqueued, failedA: queue.StateArchived, laterB: queue.StateEnqueued} {
		eventually(t, "job "+id+" "+want, func() (bool, string) { s := state(id); return s == want, s })
	}
	deliveries := func() int {
		var n int64
		k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type LIKE ?", "jobs:deliver:%").Count(&n)
		return int(n)
	}

	steps := []struct {
		name, method, path, token string
		body                      any
		want                      int
		code                      string                     // the error envelope's code
		check                     func(*kerneltest.Response) // more checks on the body
	}{
		{name: "queues need a session", method: "GET", path: "/api/v1/jobs/queues", want: 401},
		{name: "queues refused to an agent", method: "GET", path: "/api/v1/jobs/queues", token: agentA, want: 403},
		{name: "queues for a platform admin", method: "GET", path: "/api/v1/jobs/queues", token: admin, want: 200,
			check: func(r *kerneltest.Response) {
				s := string(r.Body)
				if !strings.Contains(s, `"name":"critical"`) || !strings.Contains(s, `"redis":`) || !strings.Contains(s, `"paused":false`) ||
					!strings.Contains(s, `"enqueued":1`) {
					t.Errorf("queues = %s", s)
				}
			}},
		{name: "queues for a tenant owner: own counts, no redis", method: "GET", path: "/api/v1/jobs/queues", token: ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				var qs []struct {
					Name   string
					Ledger map[string]int
					Redis  map[string]int
				}
				r.Decode(t, &qs)
				got := map[string]map[string]int{}
				for _, q := range qs {
					if q.Redis != nil {
						t.Errorf("tenant owner sees redis counts of every tenant: %s", r.Body)
					}
					got[q.Name] = q.Ledger
				}
				if len(qs) != 3 || got["default"]["enqueued"] != 1 || got["default"]["archived"] != 1 || got["low"]["enqueued"] != 0 {
					t.Errorf("owner A's queues = %s", r.Body)
				}
			}},
		{name: "pause refused to a tenant owner", method: "POST", path: "/api/v1/jobs/queues/low/pause", token: ownerA, want: 403, code: "jobs.platform_only"},
		{name: "pause refused to an agent", method: "POST", path: "/api/v1/jobs/queues/low/pause", token: agentA, want: 403},
		{name: "pause an unknown queue", method: "POST", path: "/api/v1/jobs/queues/urgent/pause", token: admin, want: 404},
		{name: "pause", method: "POST", path: "/api/v1/jobs/queues/low/pause", token: admin, want: 200,
			check: func(*kerneltest.Response) {
				if p, _ := k.Queue.Paused(context.Background(), "low"); !p {
					t.Errorf("low is not paused")
				}
			}},
		{name: "resume", method: "POST", path: "/api/v1/jobs/queues/low/resume", token: admin, want: 200,
			check: func(*kerneltest.Response) {
				if p, _ := k.Queue.Paused(context.Background(), "low"); p {
					t.Errorf("low is still paused")
				}
			}},
		{name: "tasks of tenant a", method: "GET", path: "/api/v1/jobs/tasks?sort=created_at", token: ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				var p struct {
					Items []queue.JobInfo
					Total int
				}
				r.Decode(t, &p)
				if p.Total != 2 || len(p.Items) != 2 || p.Items[0].ID != laterA || p.Items[1].ID != failedA {
					t.Errorf("owner A's tasks = %s", r.Body)
				}
			}},
		{name: "tasks by state", method: "GET", path: "/api/v1/jobs/tasks?state=archived", token: ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if n := strings.Count(string(r.Body), `"id":`); n != 1 || !strings.Contains(string(r.Body), failedA) {
					t.Errorf("archived tasks = %s", r.Body)
				}
			}},
		{name: "tasks of every tenant for the admin", method: "GET", path: "/api/v1/jobs/tasks?type=probe:work&per_page=1", token: admin, want: 200,
			check: func(r *kerneltest.Response) {
				if !strings.Contains(string(r.Body), `"total":2`) || strings.Count(string(r.Body), `"id":`) != 1 {
					t.Errorf("admin's page = %s", r.Body)
				}
			}},
		{name: "tasks with an unknown state", method: "GET", path: "/api/v1/jobs/tasks?state=lost", token: ownerA, want: 422, code: "queue.unknown_state"},
		{name: "tasks with an unknown queue", method: "GET", path: "/api/v1/jobs/tasks?queue=urgent", token: ownerA, want: 422, code: "queue.unknown_queue"},
		{name: "tasks with a bad page size", method: "GET", path: "/api/v1/jobs/tasks?per_page=0", token: ownerA, want: 422},
		{name: "tasks refused to an agent", method: "GET", path: "/api/v1/jobs/tasks", token: agentA, want: 403},
		{name: "a task with its data", method: "GET", path: "/api/v1/jobs/tasks/" + laterA, token: ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if !strings.Contains(string(r.Body), `"data":{"note":"for a"}`) || !strings.Contains(string(r.Body), `"state":"enqueued"`) {
					t.Errorf("task = %s", r.Body)
				}
			}},
		{name: "another tenant's task", method: "GET", path: "/api/v1/jobs/tasks/" + laterB, token: ownerA, want: 404},
		{name: "no such task", method: "GET", path: "/api/v1/jobs/tasks/nope", token: admin, want: 404, code: "queue.job_not_found"},
		{name: "retry another tenant's task", method: "POST", path: "/api/v1/jobs/tasks/" + failedA + "/retry", token: ownerB, want: 404},
		{name: "retry refused to an agent", method: "POST", path: "/api/v1/jobs/tasks/" + failedA + "/retry", token: agentA, want: 403},
		{name: "retry a task that is not archived", method: "POST", path: "/api/v1/jobs/tasks/" + laterA + "/retry", token: ownerA, want: 409},
		{name: "retry", method: "POST", path: "/api/v1/jobs/tasks/" + failedA + "/retry", token: ownerA, want: 200,
			check: func(*kerneltest.Response) {
				eventually(t, "the retried job to run and fail again", func() (bool, string) {
					var a []int
					k.DB.Conn(context.Background()).Table("kernel_jobs").Where("id = ?", failedA).Pluck("attempts", &a)
					s := state(failedA)
					return s == queue.StateArchived && len(a) == 1 && a[0] == 1, s
				})
			}},
		{name: "archive another tenant's task", method: "POST", path: "/api/v1/jobs/tasks/" + laterB + "/archive", token: ownerA, want: 404},
		{name: "archive", method: "POST", path: "/api/v1/jobs/tasks/" + laterA + "/archive", token: ownerA, want: 200,
			check: func(*kerneltest.Response) {
				if s := state(laterA); s != queue.StateArchived {
					t.Errorf("archived task is %s", s)
				}
			}},
		{name: "archive twice", method: "POST", path: "/api/v1/jobs/tasks/" + laterA + "/archive", token: ownerA, want: 409, code: "queue.job_finished"},
		{name: "delete another tenant's task", method: "DELETE", path: "/api/v1/jobs/tasks/" + laterB, token: ownerA, want: 404,
			check: func(*kerneltest.Response) {
				if s := state(laterB); s != queue.StateEnqueued {
					t.Errorf("B's task is %s after A tried to delete it", s)
				}
			}},
		{name: "delete", method: "DELETE", path: "/api/v1/jobs/tasks/" + laterB, token: ownerB, want: 204,
			check: func(*kerneltest.Response) {
				if s := state(laterB); s != "gone" {
					t.Errorf("deleted task is %s", s)
				}
			}},
		{name: "schedules", method: "GET", path: "/api/v1/jobs/schedules", token: admin, want: 200,
			check: func(r *kerneltest.Response) {
				if string(r.Body) != "[]\n" && string(r.Body) != "[]" {
					t.Errorf("schedules = %s", r.Body)
				}
			}},
		{name: "publish refused to an agent", method: "POST", path: "/api/v1/jobs/publish", token: agentA,
			body: map[string]any{"topic": "orders.order_placed", "data": map[string]int{"n": 1}}, want: 403},
		{name: "publish an unknown topic", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"topic": "orders.unheard_of", "data": map[string]int{"n": 1}}, want: 422, code: "jobs.unknown_topic"},
		{name: "publish a topic that is not public", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"topic": "orders.internal_audit", "data": map[string]int{"n": 1}}, want: 422, code: "jobs.topic_not_public"},
		{name: "publish without data", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"topic": "orders.order_placed"}, want: 422, code: "jobs.no_data"},
		{name: "publish without a topic", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"data": 1}, want: 422},
		{name: "publish with an unknown field", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"topic": "orders.order_placed", "data": 1, "tenant_id": tb}, want: 400, code: "unknown_field"},
		{name: "publish bad JSON", method: "POST", path: "/api/v1/jobs/publish", token: ownerA, body: `{"topic":`, want: 400},
		{name: "publish", method: "POST", path: "/api/v1/jobs/publish", token: ownerA,
			body: map[string]any{"topic": "orders.order_placed", "data": map[string]int{"n": 7}}, want: 202,
			check: func(r *kerneltest.Response) {
				eventually(t, "alpha to get the published message", func() (bool, string) {
					msgs, _ := alpha.got()
					return len(msgs) == 1, fmt.Sprint(len(msgs))
				})
				msgs, _ := alpha.got()
				if msgs[0].TenantID != ta || string(msgs[0].Data) != `{"n":7}` || !strings.Contains(string(r.Body), msgs[0].ID) {
					t.Errorf("message = %+v; response %s", msgs[0], r.Body)
				}
			}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := deliveries()
			res := c.Do(s.method, s.path, s.token, s.body)
			if res.Status != s.want {
				t.Fatalf("%s %s: %d, want %d: %s", s.method, s.path, res.Status, s.want, res.Body)
			}
			if s.code != "" && res.ErrorCode() != s.code {
				t.Errorf("error code %q, want %q: %s", res.ErrorCode(), s.code, res.Body)
			}
			if s.want >= 400 && deliveries() != before {
				t.Errorf("a refused request wrote %d deliveries", deliveries()-before)
			}
			if s.check != nil {
				s.check(res)
			}
		})
	}
}
