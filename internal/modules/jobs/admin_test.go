package jobs

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// newPageClient signs in to the backoffice with a test browser.
func newPageClient(t *testing.T, base, email, password string) *kerneltest.Browser {
	t.Helper()
	b := kerneltest.NewBrowser(t, base)
	b.Login(email, password)
	return b
}

var withoutCSRF = kerneltest.WithoutCSRF

func TestBackofficePages(t *testing.T) {
	ctx := context.Background()
	k, err := kernel.New(ctx, kerneltest.Config(t), kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	m := New(k)
	// A buffer whose batches fail for good while bufBroken is set, so
	// that its items become dead letters.
	var bufBroken atomic.Bool
	bufBroken.Store(true)
	handled := make(chan int, 16)
	err = m.RegisterBuffer(contracts.Buffer{Name: "probe.views", Schedule: "@hourly", Handler: func(_ context.Context, b *contracts.Batch) error {
		if bufBroken.Load() {
			return fmt.Errorf("sink down: %w", queue.SkipRetry)
		}
		handled <- len(b.Items)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Register(m); err != nil {
		t.Fatal(err)
	}
	if err := k.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	k.UseShell(admin.New(k))
	var broken atomic.Bool
	broken.Store(true)
	k.Queue.Tasks("probe").Handle("work", func(context.Context, *queue.Task) error { return nil })
	k.Queue.Tasks("probe").Handle("fail", func(context.Context, *queue.Task) error {
		if broken.Load() {
			return fmt.Errorf("bad input: %w", queue.SkipRetry)
		}
		return nil
	})
	k.Queue.Schedules("probe").Add("nightly", "0 3 * * *", queue.Job{Type: "probe:work"})
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	e, _ := k.HTTP()
	declared, undeclared := admin.Inventory(e)
	if len(undeclared) > 0 {
		t.Fatalf("admin routes without a declared permission: %v", undeclared)
	}
	for route, want := range map[string]security.Permission{"GET /admin/jobs": PermRead, "GET /admin/jobs/tasks/:id": PermRead,
		"POST /admin/jobs/tasks/:id/retry": PermManage, "POST /admin/jobs/queues/:name/pause": PermManage,
		"POST /admin/jobs/buffers/:name/:tenant": PermManage, "POST /admin/jobs/buffers/:name/:tenant/items/:id/delete": PermManage} {
		if got := declared[route]; got != want {
			t.Errorf("%s declares %q, want %q", route, got, want)
		}
	}
	api := kerneltest.NewClient(t, srv.URL)
	root := api.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	ta := api.CreateTenant(root, "Alpha Ltd", "alpha")
	tb := api.CreateTenant(root, "Beta Ltd", "beta")
	api.CreateUser(root, ta, "owner@a.test", "owner")
	api.CreateUser(root, ta, "agent@a.test", "agent")

	in := func(tenant string) context.Context {
		return security.WithPrincipal(ctx, security.System(tenant))
	}
	enq := func(tenant string, j queue.Job) string {
		id, err := k.Queue.Enqueue(in(tenant), j)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	later := time.Now().Add(time.Hour)
	laterA := enq(ta, queue.Job{Type: "probe:work", RunAt: later, Data: map[string]string{"note": "for alpha"}})
	failedA := enq(ta, queue.Job{Type: "probe:fail", Data: map[string]int{"order": 7}})
	doneA := enq(ta, queue.Job{Type: "probe:work"})
	laterB := enq(tb, queue.Job{Type: "probe:work", RunAt: later, Queue: "low", Data: map[string]string{"note": "for beta"}})
	state := func(id string) string {
		var s []string
		k.DB.Conn(ctx).Table("kernel_jobs").Where("id = ?", id).Pluck("state", &s)
		if len(s) == 0 {
			return "gone"
		}
		return s[0]
	}
	waitState := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for state(id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s, want %s", id, state(id), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for id, want := range map[string]string{laterA: queue.StateEnqueued, failedA: queue.StateArchived,
		doneA: queue.StateDone, laterB: queue.StateEnqueued} {
		waitState(id, want)
	}
	broken.Store(false) // a retry of failedA succeeds

	platform := newPageClient(t, srv.URL, kerneltest.AdminEmail, kerneltest.AdminPassword)
	owner := newPageClient(t, srv.URL, "owner@a.test", kerneltest.UserPassword)
	agent := newPageClient(t, srv.URL, "agent@a.test", kerneltest.UserPassword)
	paused := func(name string) bool {
		p, err := k.Queue.Paused(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	unchanged := func(id, want string) func() {
		return func() {
			if s := state(id); s != want {
				t.Errorf("job %s is %s, want it still %s", id, s, want)
			}
		}
	}

	steps := []pageStep{
		{name: "dashboard for a platform admin", as: platform, method: "GET", path: "/admin/jobs", want: 200,
			contains: []string{`id="queues"`, "<strong>critical</strong>", "<td>6</td>", `<span class="badge ok">running</span>`,
				"Pause default</button>", `id="throughput"`, "Jobs finished per minute", `href="/admin/jobs/tasks?queue=low&amp;state=enqueued">1</a>`}},
		{name: "dashboard for a tenant owner: own counts, no pause", as: owner, method: "GET", path: "/admin/jobs", want: 200,
			contains: []string{`id="queues"`, `href="/admin/jobs/tasks?queue=default&amp;state=archived">1</a>`,
				`href="/admin/jobs/tasks?queue=low&amp;state=enqueued">0</a>`, `id="throughput"`},
			lacks: []string{"Pause default", "badge ok\">running"}},
		{name: "dashboard refused to an agent", as: agent, method: "GET", path: "/admin/jobs", want: 403},
		{name: "the menu links the dashboard", as: owner, method: "GET", path: "/admin", want: 200,
			contains: []string{`<a href="/admin/jobs">Jobs</a>`}},

		{name: "tasks of the owner's tenant", as: owner, method: "GET", path: "/admin/jobs/tasks", want: 200,
			contains: []string{"/admin/jobs/tasks/" + laterA, "/admin/jobs/tasks/" + failedA, "Showing 1–3 of 3", "bad input"},
			lacks:    []string{laterB, "Beta Ltd"}},
		{name: "tasks by state", as: owner, method: "GET", path: "/admin/jobs/tasks?state=archived", want: 200,
			contains: []string{failedA, "Showing 1–1 of 1"}, lacks: []string{laterA}},
		{name: "tasks by queue", as: platform, method: "GET", path: "/admin/jobs/tasks?queue=low", want: 200,
			contains: []string{laterB, "Beta Ltd", "Showing 1–1 of 1"}, lacks: []string{laterA}},
		{name: "every tenant's tasks for a platform admin, paged", as: platform, method: "GET",
			path: "/admin/jobs/tasks?type=probe:work&per_page=2", want: 200,
			contains: []string{"Showing 1–2 of 3", `rel="next"`, "Alpha Ltd", "Beta Ltd"}},
		{name: "an unknown state filter is ignored", as: owner, method: "GET", path: "/admin/jobs/tasks?state=lost", want: 200,
			contains: []string{"Showing 1–3 of 3"}},
		{name: "tasks as CSV", as: owner, method: "GET", path: "/admin/jobs/tasks?format=csv&state=archived", want: 200,
			contains: []string{"Created,Type,Queue,State,Attempts,Last error\n", "probe:fail,default,archived"}},

		{name: "a task with its data, error and history", as: owner, method: "GET", path: "/admin/jobs/tasks/" + failedA, want: 200,
			contains: []string{`id="task-data"`, "&#34;order&#34;: 7", "bad input", `id="task-history"`, "Retry</button>", "Delete</button>"},
			lacks:    []string{"Archive</button>"}},
		{name: "a waiting task can be archived", as: owner, method: "GET", path: "/admin/jobs/tasks/" + laterA, want: 200,
			contains: []string{"for alpha", "Archive</button>", "No attempt has failed."}, lacks: []string{"Retry</button>"}},
		{name: "another tenant's task is not found", as: owner, method: "GET", path: "/admin/jobs/tasks/" + laterB, want: 404},
		{name: "an unknown task is not found", as: platform, method: "GET", path: "/admin/jobs/tasks/nope", want: 404},

		{name: "retry without the CSRF token", as: owner, method: "POST", path: "/admin/jobs/tasks/" + failedA + "/retry",
			form: withoutCSRF, want: 403, afterward: unchanged(failedA, queue.StateArchived)},
		{name: "retry another tenant's task", as: owner, method: "POST", path: "/admin/jobs/tasks/" + laterB + "/retry",
			want: 404, afterward: unchanged(laterB, queue.StateEnqueued)},
		{name: "retry a task that has not failed", as: owner, method: "POST", path: "/admin/jobs/tasks/" + laterA + "/retry",
			want: 409, contains: []string{"Only an archived job can be re-run."}, afterward: unchanged(laterA, queue.StateEnqueued)},
		{name: "archive a finished task", as: owner, method: "POST", path: "/admin/jobs/tasks/" + doneA + "/archive",
			want: 409, contains: []string{"The job has already finished."}, afterward: unchanged(doneA, queue.StateDone)},
		{name: "retry refused to an agent", as: agent, method: "POST", path: "/admin/jobs/tasks/" + failedA + "/retry",
			want: 403, afterward: unchanged(failedA, queue.StateArchived)},
		{name: "retry an archived task", as: owner, method: "POST", path: "/admin/jobs/tasks/" + failedA + "/retry",
			want: 303, location: "/admin/jobs/tasks/" + failedA + "?done=retried",
			afterward: func() { waitState(failedA, queue.StateDone) }},
		{name: "the retried task's page says so", as: owner, method: "GET", path: "/admin/jobs/tasks/" + failedA + "?done=retried",
			want: 200, contains: []string{"The task is queued again.", `id="task-history"`}},
		{name: "archive a waiting task", as: owner, method: "POST", path: "/admin/jobs/tasks/" + laterA + "/archive",
			want: 303, location: "/admin/jobs/tasks/" + laterA + "?done=archived", afterward: unchanged(laterA, queue.StateArchived)},
		{name: "delete a task", as: owner, method: "POST", path: "/admin/jobs/tasks/" + laterA + "/delete",
			want: 303, location: "/admin/jobs/tasks?done=deleted", afterward: unchanged(laterA, "gone")},

		{name: "pause refused to a tenant owner", as: owner, method: "POST", path: "/admin/jobs/queues/default/pause",
			want: 403, contains: []string{"Only a platform admin may do this."},
			afterward: func() {
				if paused("default") {
					t.Error("default was paused by a tenant owner")
				}
			}},
		{name: "pause an unknown queue", as: platform, method: "POST", path: "/admin/jobs/queues/urgent/pause", want: 404},
		{name: "pause without the CSRF token", as: platform, method: "POST", path: "/admin/jobs/queues/low/pause",
			form: withoutCSRF, want: 403,
			afterward: func() {
				if paused("low") {
					t.Error("low was paused without a CSRF token")
				}
			}},
		{name: "pause", as: platform, method: "POST", path: "/admin/jobs/queues/low/pause", want: 303, location: "/admin/jobs?done=paused",
			afterward: func() {
				if !paused("low") {
					t.Error("low is not paused")
				}
			}},
		{name: "a paused queue shows so", as: platform, method: "GET", path: "/admin/jobs?done=paused", want: 200,
			contains: []string{"The queue is paused", `<span class="badge warn">paused</span>`, "Resume low</button>"}},
		{name: "resume", as: platform, method: "POST", path: "/admin/jobs/queues/low/resume", want: 303, location: "/admin/jobs?done=resumed",
			afterward: func() {
				if paused("low") {
					t.Error("low is still paused")
				}
			}},

		{name: "schedules", as: owner, method: "GET", path: "/admin/jobs/schedules", want: 200,
			contains: []string{"probe:nightly", "<code>0 3 * * *</code>", "<code>probe:work</code>"}},
		{name: "schedules refused to an agent", as: agent, method: "GET", path: "/admin/jobs/schedules", want: 403},
	}
	runSteps(t, steps)

	// Two dead letters in tenant A's buffer, one item waiting in B's.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	buffer := func(tenant string) *BufferView {
		t.Helper()
		v, err := m.Buffer(in(tenant), "probe.views", tenant)
		must(err)
		return v
	}
	must(m.Append(in(ta), "probe.views", map[string]string{"page": "/home"}, map[string]string{"page": "/about"}))
	must(m.Append(in(tb), "probe.views", map[string]string{"page": "/beta"}))
	must(m.FlushBuffer(in(ta), "probe.views", ta))
	for deadline := time.Now().Add(10 * time.Second); buffer(ta).Dead != 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tenant a's buffer = %+v, want 2 dead letters", buffer(ta))
		}
	}
	dead, _, err := m.BufferItems(in(ta), "probe.views", ta, ItemDead, 0, 10)
	must(err)
	bufA, bufB := "/admin/jobs/buffers/probe.views/"+ta, "/admin/jobs/buffers/probe.views/"+tb
	settingsUnchanged := func() {
		if v := buffer(ta); v.Schedule != "@hourly" || v.BatchSize != DefaultBatchSize || v.Paused {
			t.Errorf("tenant a's buffer changed: %+v", v)
		}
	}

	runSteps(t, []pageStep{
		{name: "buffers of the owner's tenant", as: owner, method: "GET", path: "/admin/jobs/buffers", want: 200,
			contains: []string{`href="` + bufA + `"`, "<code>@hourly</code>", `?state=dead"><span class="badge warn">2</span>`},
			lacks:    []string{tb, "Beta Ltd"}},
		{name: "every tenant's buffers for a platform admin", as: platform, method: "GET", path: "/admin/jobs/buffers", want: 200,
			contains: []string{`href="` + bufA + `"`, `href="` + bufB + `"`, "Alpha Ltd", "Beta Ltd"}},
		{name: "buffers refused to an agent", as: agent, method: "GET", path: "/admin/jobs/buffers", want: 403},
		{name: "a buffer's dead letters", as: owner, method: "GET", path: bufA + "?state=dead", want: 200,
			contains: []string{"Showing 1–2 of 2", "sink down", "/home", bufA + "/items/" + dead[0].ID + "/retry",
				`value="@hourly"`, "Flush now</button>", "Retry all dead letters</button>"}},
		{name: "another tenant's buffer is not found", as: owner, method: "GET", path: bufB, want: 404},
		{name: "an unknown buffer is not found", as: platform, method: "GET", path: "/admin/jobs/buffers/probe.nope/" + ta, want: 404},

		{name: "a bad schedule is refused", as: owner, method: "POST", path: bufA,
			form: url.Values{"schedule": {"now and then"}, "batch_size": {"100"}}, want: 422,
			contains: []string{"The schedule must be five cron fields", `value="now and then"`}, afterward: settingsUnchanged},
		{name: "a batch size that is no number is refused", as: owner, method: "POST", path: bufA,
			form: url.Values{"schedule": {"*/15 * * * *"}, "batch_size": {"ten"}, "paused": {"on"}}, want: 422,
			contains: []string{"The batch size must be between 1 and 10000.", `value="ten"`}, afterward: settingsUnchanged},
		{name: "a batch size too large is refused", as: owner, method: "POST", path: bufA,
			form: url.Values{"schedule": {"@hourly"}, "batch_size": {"20000"}}, want: 422,
			contains: []string{"The batch size must be between 1 and 10000."}, afterward: settingsUnchanged},
		{name: "settings without the CSRF token", as: owner, method: "POST", path: bufA,
			form: url.Values{"_csrf": {""}, "schedule": {"*/15 * * * *"}, "batch_size": {"50"}}, want: 403, afterward: settingsUnchanged},
		{name: "settings refused to an agent", as: agent, method: "POST", path: bufA,
			form: url.Values{"schedule": {"*/15 * * * *"}, "batch_size": {"50"}}, want: 403, afterward: settingsUnchanged},
		{name: "settings of another tenant's buffer", as: owner, method: "POST", path: bufB,
			form: url.Values{"schedule": {"*/15 * * * *"}, "batch_size": {"50"}}, want: 404,
			afterward: func() {
				if v := buffer(tb); v.Custom {
					t.Errorf("tenant b's buffer changed: %+v", v)
				}
			}},
		{name: "save the settings", as: owner, method: "POST", path: bufA,
			form: url.Values{"schedule": {"*/15 * * * *"}, "batch_size": {"50"}, "paused": {"on"}}, want: 303, location: bufA + "?done=saved",
			afterward: func() {
				if v := buffer(ta); v.Schedule != "*/15 * * * *" || v.BatchSize != 50 || !v.Paused || !v.Custom {
					t.Errorf("tenant a's buffer = %+v", v)
				}
			}},
		{name: "the saved settings show", as: owner, method: "GET", path: bufA + "?done=saved", want: 200,
			contains: []string{"The buffer&#39;s settings are saved.", `value="*/15 * * * *"`, `value="50"`, `name="paused" checked`}},
		{name: "retry one dead letter", as: owner, method: "POST", path: bufA + "/items/" + dead[0].ID + "/retry", want: 303,
			location: bufA + "?done=requeued",
			afterward: func() {
				if v := buffer(ta); v.Ready != 1 || v.Dead != 1 {
					t.Errorf("tenant a's buffer = %+v, want 1 ready and 1 dead", v)
				}
			}},
		{name: "delete an item of another tenant's buffer", as: owner, method: "POST", path: bufB + "/items/" + dead[1].ID + "/delete", want: 404},
		{name: "delete a dead letter", as: owner, method: "POST", path: bufA + "/items/" + dead[1].ID + "/delete", want: 303,
			location: bufA + "?done=dropped",
			afterward: func() {
				if v := buffer(ta); v.Ready != 1 || v.Dead != 0 {
					t.Errorf("tenant a's buffer = %+v, want 1 ready and none dead", v)
				}
			}},
		{name: "flush now, paused or not", as: owner, method: "POST", path: bufA + "/flush", want: 303, location: bufA + "?done=flushed",
			// The sink is mended before the flush: a worker may take the
			// flush's task before the response is back.
			before: func() { bufBroken.Store(false) },
			afterward: func() {
				select {
				case n := <-handled:
					if n != 1 {
						t.Errorf("the flush handed over %d items, want 1", n)
					}
				case <-time.After(10 * time.Second):
					t.Error("the flush handed nothing over")
				}
			}},
	})
}

// pageStep is one request of a page test and what it must answer.
type pageStep struct {
	name      string
	as        *kerneltest.Browser
	method    string
	path      string
	form      url.Values
	want      int
	location  string   // the redirect's target
	contains  []string // in the body
	lacks     []string // not in the body
	before    func()
	afterward func()
}

// runSteps runs the steps in order, each as a subtest.
func runSteps(t *testing.T, steps []pageStep) {
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.as.In(t)
			if s.before != nil {
				s.before()
			}
			var p *kerneltest.Page
			if s.method == http.MethodGet {
				p = s.as.Get(s.path)
			} else {
				p = s.as.Post(s.path, s.form)
			}
			if p.Status != s.want {
				t.Fatalf("status %d, want %d; body:\n%s", p.Status, s.want, p.Body)
			}
			if s.location != "" && p.Location() != s.location {
				t.Errorf("redirect to %q, want %q", p.Location(), s.location)
			}
			for _, x := range s.contains {
				if !strings.Contains(p.Body, x) {
					t.Errorf("the page lacks %q:\n%s", x, p.Body)
				}
			}
			for _, x := range s.lacks {
				if strings.Contains(p.Body, x) {
					t.Errorf("the page shows %q", x)
				}
			}
			if s.afterward != nil {
				s.afterward()
			}
		})
	}
}
