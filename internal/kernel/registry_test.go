package kernel_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

// widgets is a module that uses every capability of the registry.
type widgets struct {
	k       *kernel.Kernel
	unwell  atomic.Bool
	ran     atomic.Int32
	ticks   atomic.Int32
	actor   atomic.Value // string: the principal a task ran as
	tenants atomic.Value // string: the tenant a task ran for
}

const permWidgetsWrite security.Permission = "widgets:write"

func (w *widgets) Name() string { return "widgets" }

func (w *widgets) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{
		security.RoleOwner: {permWidgetsWrite},
		security.RoleAgent: {permWidgetsWrite},
	}
}

func (w *widgets) Routes(r kernel.Routes) {
	r.Public.GET("/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") })
	r.API.GET("/items", func(c echo.Context) error {
		var names []string
		ctx := c.Request().Context()
		err := w.k.DB.Conn(ctx).Table("widgets_items").Scopes(security.Scope(ctx)).Order("name").Pluck("name", &names).Error
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, names)
	})
	r.API.POST("/items", func(c echo.Context) error {
		ctx := c.Request().Context()
		err := w.k.DB.InTx(ctx, func(ctx context.Context) error {
			if err := w.k.DB.Conn(ctx).Exec("INSERT INTO widgets_items (tenant_id, name) VALUES (?, ?)",
				security.TenantOf(ctx), c.QueryParam("name")).Error; err != nil {
				return err
			}
			_, err := w.k.Queue.Enqueue(ctx, queue.Job{Type: "widgets:count", Data: map[string]string{"name": c.QueryParam("name")}})
			return err
		})
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusCreated)
	}, security.Require(permWidgetsWrite))
	r.Admin.GET("/page", func(c echo.Context) error { return c.String(http.StatusOK, "admin page") })
	r.Member.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "member hello") })
}

func (w *widgets) Tasks(t *queue.Registry) {
	t.Handle("count", func(ctx context.Context, task *queue.Task) error {
		p, ok := security.PrincipalFrom(ctx)
		if !ok {
			return errors.New("no principal in task context")
		}
		w.actor.Store(p.String())
		w.tenants.Store(task.TenantID)
		w.ran.Add(1)
		return nil
	})
	t.Handle("tick", func(ctx context.Context, _ *queue.Task) error { w.ticks.Add(1); return nil })
}

func (w *widgets) Schedules(s *queue.Schedule) {
	s.Add("tick", "@every 1s", queue.Job{Type: "widgets:tick"})
}

func (w *widgets) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Widgets", Path: "/admin/widgets/page", Permission: permWidgetsWrite}}
}

func (w *widgets) HealthChecks() []kernel.HealthCheck {
	return []kernel.HealthCheck{{Name: "wellness", Check: func(context.Context) error {
		if w.unwell.Load() {
			return errors.New("widgets are unwell")
		}
		return nil
	}}}
}

// withMigrations adds Migrations() returning fs.FS, as kernel.Migrator wants.
type withMigrations struct{ *widgets }

func (m withMigrations) Migrations() fs.FS { return widgetMigrations }

var widgetMigrations = fstest.MapFS{
	"sqlite/0001_items.up.sql":   {Data: []byte("CREATE TABLE widgets_items (tenant_id TEXT NOT NULL, name TEXT NOT NULL);\n")},
	"sqlite/0001_items.down.sql": {Data: []byte("DROP TABLE widgets_items;\n")},
	"mysql/0001_items.up.sql":    {Data: []byte("CREATE TABLE widgets_items (tenant_id VARCHAR(36) NOT NULL, name VARCHAR(100) NOT NULL);\n")},
	"mysql/0001_items.down.sql":  {Data: []byte("DROP TABLE widgets_items;\n")},
}

func TestRegistryCapabilities(t *testing.T) {
	w := &widgets{}
	mod := withMigrations{w}
	k := kerneltest.New(t, mod)
	w.k = k
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	admin := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)

	// Two tenants, an agent and a customer in the first.
	ta := c.CreateTenant(admin, "A", "tenant-a")
	tb := c.CreateTenant(admin, "B", "tenant-b")
	agentA := c.CreateUser(admin, ta, "agent@a.test", "agent")
	customerA := c.CreateUser(admin, ta, "customer@a.test", "customer")
	agentB := c.CreateUser(admin, tb, "agent@b.test", "agent")

	t.Run("migrations", func(t *testing.T) {
		st, err := k.Migrator().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range st {
			if m.ID() == "widgets/0001_items" && m.AppliedAt != nil {
				found = true
			}
		}
		if !found {
			t.Fatalf("widgets migration not applied: %+v", st)
		}
	})

	t.Run("routes", func(t *testing.T) {
		cases := []struct {
			name, method, path, token string
			want                      int
		}{
			{"public needs no auth", "GET", "/api/v1/widgets/ping", "", 200},
			{"api needs auth", "GET", "/api/v1/widgets/items", "", 401},
			{"admin group needs auth", "GET", "/admin/widgets/page", "", 401},
			{"member group needs auth", "GET", "/member/widgets/hello", "", 401},
			{"member group with auth", "GET", "/member/widgets/hello", customerA, 200},
			{"module permission granted to agent", "POST", "/api/v1/widgets/items?name=a1", agentA, 201},
			{"module permission not granted to customer", "POST", "/api/v1/widgets/items?name=c1", customerA, 403},
			{"other tenant's agent", "POST", "/api/v1/widgets/items?name=b1", agentB, 201},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if res := c.Do(tc.method, tc.path, tc.token, nil); res.Status != tc.want {
					t.Fatalf("%s %s: got %d, want %d: %s", tc.method, tc.path, res.Status, tc.want, res.Body)
				}
			})
		}
	})

	t.Run("store scope isolates tenants", func(t *testing.T) {
		var names []string
		c.Do("GET", "/api/v1/widgets/items", agentA, nil).Decode(t, &names)
		if strings.Join(names, ",") != "a1" {
			t.Fatalf("agent A sees %v, want [a1]", names)
		}
		c.Do("GET", "/api/v1/widgets/items", admin, nil).Decode(t, &names)
		if strings.Join(names, ",") != "a1,b1" {
			t.Fatalf("platform admin sees %v, want [a1 b1]", names)
		}
	})

	t.Run("tasks run with the enqueuer's principal", func(t *testing.T) {
		waitFor(t, func() bool { return w.ran.Load() >= 2 })
		if a, _ := w.actor.Load().(string); !strings.HasPrefix(a, "user:") {
			t.Fatalf("task ran as %q, want a user principal", a)
		}
	})

	t.Run("schedules fire", func(t *testing.T) {
		waitFor(t, func() bool { return w.ticks.Load() >= 1 })
	})

	t.Run("admin menu", func(t *testing.T) {
		menu := k.AdminMenu()
		if len(menu) != 1 || menu[0].Module != "widgets" || menu[0].Path != "/admin/widgets/page" {
			t.Fatalf("menu = %+v", menu)
		}
	})

	t.Run("health checks", func(t *testing.T) {
		if res := c.Do("GET", "/readyz", "", nil); res.Status != 200 {
			t.Fatalf("readyz: %d %s", res.Status, res.Body)
		}
		w.unwell.Store(true)
		res := c.Do("GET", "/readyz", "", nil)
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "widgets are unwell") ||
			!strings.Contains(string(res.Body), "widgets.wellness") {
			t.Fatalf("readyz with a failing check: %d %s", res.Status, res.Body)
		}
		w.unwell.Store(false)
	})

	t.Run("service credentials are bound to their audience", func(t *testing.T) {
		ctx := security.WithPrincipal(context.Background(), &security.Principal{Kind: security.KindUser, ID: "u1",
			TenantID: ta, Role: security.RoleAgent})
		good, err := k.Security.IssueServiceCredential(ctx, "helpdesk", "widgets", []string{string(permWidgetsWrite)})
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Do("POST", "/api/v1/widgets/items?name=svc", good, nil); res.Status != 201 {
			t.Fatalf("credential for widgets: %d %s", res.Status, res.Body)
		}
		other, err := k.Security.IssueServiceCredential(ctx, "helpdesk", "contact", []string{string(permWidgetsWrite)})
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Do("POST", "/api/v1/widgets/items?name=svc2", other, nil); res.Status != 403 {
			t.Fatalf("credential for contact used on widgets: %d %s", res.Status, res.Body)
		}
		if _, err := k.Security.IssueServiceCredential(ctx, "helpdesk", "widgets", []string{"tenants:write"}); err == nil {
			t.Fatal("a credential carried a scope the caller does not hold")
		}
	})

	t.Run("names are checked", func(t *testing.T) {
		if err := k.Register(named("widgets")); err == nil {
			t.Fatal("a second module named widgets was accepted")
		}
		for _, bad := range []string{"", "Widgets", "kernel", "a/b", "x"} {
			if err := k.Register(named(bad)); err == nil {
				t.Fatalf("module name %q was accepted", bad)
			}
		}
	})
}

type named string

func (n named) Name() string { return string(n) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
