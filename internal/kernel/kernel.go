// Package kernel is the ground floor every module stands on: it opens the
// database and the queue, builds the security layer, applies migrations,
// mounts the modules' routes, tasks and schedules, and runs the process in
// the serve or worker role until it is told to stop.
package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/metrics"
	"github.com/platform/platform/internal/kernel/migrate"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/migrations"
)

// Version is set at build time with -ldflags "-X .../internal/kernel.Version=v1.2.3".
var Version = "dev"

// BuildVersion is Version, with the VCS revision when it is "dev".
func BuildVersion() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return Version
}

// Kernel holds the platform's shared services. Modules receive the parts
// they need from it when they are wired in cmd/platform.
type Kernel struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *db.DB
	Queue    *queue.Queue
	Security *security.Service
	Metrics  *metrics.Metrics

	modules  []Module
	started  time.Time
	draining atomic.Bool
	shell    Shell
	echoOnce sync.Once
	echo     *echo.Echo
	echoErr  error
	onDrain  []func()
}

// ErrNotMigrated stops start-up when migrations are pending and
// database.auto_migrate is off.
var ErrNotMigrated = errors.New("the database has pending migrations: run 'platform migrate up' first")

// OpenDB opens the configured database.
func OpenDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*db.DB, error) {
	return db.Open(ctx, db.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, DataDir: cfg.DataDir,
		MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxIdleConns,
		ConnMaxLifetime: cfg.Database.ConnMaxLifetime, Logger: log})
}

// KernelMigrations is the kernel's own migration source.
func KernelMigrations() migrate.Source {
	return migrate.Source{Module: "kernel", FS: migrations.For("kernel")}
}

// New opens the database and the queue and builds the security layer. The
// kernel's own migrations are applied first when auto-migrate is on.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Kernel, error) {
	k := &Kernel{Config: cfg, Log: log, Metrics: metrics.New(), started: time.Now()}
	var err error
	if k.DB, err = OpenDB(ctx, cfg, log); err != nil {
		return nil, err
	}
	k.Metrics.Registry.MustRegister(collectors.NewDBStatsCollector(k.DB.SQL(), "platform"))
	if k.DB.Dialect() == db.SQLite {
		k.Metrics.Registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "platform_db_sqlite_group_commits_total",
				Help: "Commits of SQLite transactions committed in groups (internal/kernel/db/group.go)."},
				func() float64 { c, _ := k.DB.GroupCommits(); return float64(c) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "platform_db_sqlite_grouped_transactions_total",
				Help: "Transactions in those commits; over the commits, the mean group size."},
				func() float64 { _, t := k.DB.GroupCommits(); return float64(t) }))
	}
	km := migrate.New(k.DB.SQL(), k.DB.Dialect(), KernelMigrations())
	if cfg.AutoMigrate() {
		if done, err := km.Up(ctx); err != nil {
			k.Close()
			return nil, err
		} else if len(done) > 0 {
			log.Info("applied kernel migrations", "count", len(done))
		}
	} else if n, err := km.Pending(ctx); err != nil || n > 0 {
		k.Close()
		if err != nil {
			return nil, err
		}
		return nil, ErrNotMigrated
	}
	k.Queue, err = queue.Open(ctx, k.DB, queue.Options{
		RedisAddr: cfg.Redis.Addr, RedisPassword: cfg.Redis.Password, RedisDB: cfg.Redis.DB,
		Concurrency: cfg.Queue.Concurrency, ShutdownTimeout: cfg.Queue.ShutdownTimeout,
		RelayInterval: cfg.Queue.RelayInterval, Lease: cfg.Queue.Lease, Retention: cfg.Queue.Retention,
		WriteBehind: cfg.Queue.WriteBehind, PollInterval: cfg.Queue.PollInterval, Dequeuers: cfg.Queue.Dequeuers,
		Logger: log, Metrics: k.Metrics,
	})
	if err != nil {
		k.Close()
		return nil, err
	}
	for name, l := range cfg.Queue.Limits {
		if err := k.Queue.SetLimits(name, queue.Limits{TenantRate: l.TenantRate, TenantBurst: l.TenantBurst,
			TenantConcurrency: l.TenantConcurrency, Concurrency: l.Concurrency}); err != nil {
			k.Close()
			return nil, err
		}
	}
	k.Metrics.Registry.MustRegister(queue.NewCollector(k.Queue))
	k.Security, err = security.New(ctx, k.DB, k.Queue.Redis(), security.Config{
		Secret: cfg.Security.JWTSecret, AccessTTL: cfg.Security.AccessTokenTTL, RefreshTTL: cfg.Security.RefreshTokenTTL,
		ServiceTTL: cfg.Security.ServiceTokenTTL, LoginMaxFailures: cfg.Security.LoginMaxFailures,
		LoginWindow: cfg.Security.LoginWindow, PasswordMinLen: cfg.Security.PasswordMinLen,
	}, log)
	if err != nil {
		k.Close()
		return nil, err
	}
	k.Queue.UseSigner(k.Security)
	return k, nil
}

// Shell is the backoffice shell: it serves the /admin pages itself and
// guards the modules' admin pages, for example by sending a browser without
// a session to the sign-in page. The group passed to Mount already
// authenticates session cookies and checks CSRF.
type Shell interface {
	Mount(admin *echo.Group)
	Guard() echo.MiddlewareFunc
}

// ShellFrame is an optional Shell capability: a middleware that wraps every
// /admin request outside the session and CSRF checks, so that the shell sets
// its headers on every response and renders even their errors as pages.
type ShellFrame interface {
	Frame() echo.MiddlewareFunc
}

// OnDrain registers fn to run when the process starts draining, before the
// HTTP server shuts down: the server's Shutdown neither closes hijacked
// connections (WebSockets) nor ends streaming responses, so their owners end
// them here.
func (k *Kernel) OnDrain(fn func()) { k.onDrain = append(k.onDrain, fn) }

// UseShell sets the backoffice shell; call it before HTTP.
func (k *Kernel) UseShell(s Shell) { k.shell = s }

// Close releases the database and the queue.
func (k *Kernel) Close() {
	if k.Queue != nil {
		k.Queue.Close()
	}
	if k.DB != nil {
		k.DB.Close()
	}
}

var moduleName = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// Register adds modules; names must be unique and URL-safe.
func (k *Kernel) Register(mods ...Module) error {
	for _, m := range mods {
		name := m.Name()
		if !moduleName.MatchString(name) || name == "kernel" {
			return fmt.Errorf("kernel: module name %q must be 2-31 lower-case letters or digits, not kernel", name)
		}
		for _, o := range k.modules {
			if o.Name() == name {
				return fmt.Errorf("kernel: module %q registered twice", name)
			}
		}
		if p, ok := m.(Permissioner); ok {
			for role, perms := range p.Permissions() {
				security.Grant(role, perms...)
			}
		}
		if w, ok := m.(Worker); ok {
			w.Tasks(k.Queue.Tasks(name))
		}
		if p, ok := m.(Periodic); ok {
			p.Schedules(k.Queue.Schedules(name))
		}
		k.modules = append(k.modules, m)
	}
	return nil
}

// Modules lists the registered modules in registration order.
func (k *Kernel) Modules() []Module { return append([]Module(nil), k.modules...) }

// Migrator covers the kernel and every registered module.
func (k *Kernel) Migrator() *migrate.Migrator {
	return migrate.New(k.DB.SQL(), k.DB.Dialect(), MigrationSources(k.modules)...)
}

// MigrationSources lists the kernel's and the modules' migrations in order.
func MigrationSources(mods []Module) []migrate.Source {
	srcs := []migrate.Source{KernelMigrations()}
	for _, m := range mods {
		if mg, ok := m.(Migrator); ok {
			srcs = append(srcs, migrate.Source{Module: m.Name(), FS: mg.Migrations()})
		}
	}
	return srcs
}

// AdminMenu is the backoffice navigation of every module, in order.
func (k *Kernel) AdminMenu() []AdminLink {
	var out []AdminLink
	for _, m := range k.modules {
		if n, ok := m.(AdminNav); ok {
			for _, l := range n.AdminMenu() {
				l.Module = m.Name()
				out = append(out, l)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// Prepare applies module migrations when auto-migrate is on, refuses to run
// on a database with pending migrations, and bootstraps the first admin.
func (k *Kernel) Prepare(ctx context.Context) error {
	m := k.Migrator()
	if k.Config.AutoMigrate() {
		done, err := m.Up(ctx)
		if err != nil {
			return err
		}
		if len(done) > 0 {
			k.Log.Info("applied migrations", "count", len(done))
		}
	} else {
		n, err := m.Pending(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrNotMigrated
		}
	}
	pw, err := k.Security.Bootstrap(ctx, k.Config.Bootstrap.AdminEmail, k.Config.Bootstrap.AdminPassword)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if pw != "" {
		email := k.Config.Bootstrap.AdminEmail
		if email == "" {
			email = "admin@localhost"
		}
		// Printed once: it is stored only as a hash.
		k.Log.Warn("created the first platform admin with a generated password; change it after signing in",
			"email", email, "password", pw)
	}
	// Start-up work (migrations, a password hash) leaves garbage an idle
	// process would otherwise hold on to for minutes.
	debug.FreeOSMemory()
	return nil
}

// HTTP builds the echo server with the kernel's and the modules' routes.
func (k *Kernel) HTTP() (*echo.Echo, error) {
	k.echoOnce.Do(func() { k.echo, k.echoErr = k.buildHTTP() })
	return k.echo, k.echoErr
}

func (k *Kernel) buildHTTP() (*echo.Echo, error) {
	e, err := httpx.New(httpx.Options{Logger: k.Log, Metrics: k.Metrics, BodyLimit: k.Config.BodyLimitBytes(),
		AccessLog: k.Config.HTTP.AccessLog, TrustedProxies: k.Config.HTTP.TrustedProxies,
		CORSOrigins: k.Config.HTTP.CORSOrigins})
	if err != nil {
		return nil, err
	}
	e.GET("/healthz", k.handleHealthz)
	e.HEAD("/healthz", k.handleHealthz)
	e.GET("/readyz", k.handleReadyz)
	e.GET("/metrics", k.handleMetrics)

	e.Use(k.Security.Authenticate)
	v1 := e.Group("/api/v1")
	k.Security.Routes(v1)
	v1.GET("/system", k.handleSystem, security.Require(security.PermSystem))

	// Browser pages authenticate by session cookie as well as bearer, and
	// check CSRF on unsafe requests; the API never takes the cookie.
	browser := []echo.MiddlewareFunc{k.Security.SessionAuth, k.Security.CSRF}
	guard := echo.MiddlewareFunc(security.RequireAuth)
	adminMW := browser
	if k.shell != nil {
		guard = k.shell.Guard()
		if f, ok := k.shell.(ShellFrame); ok {
			adminMW = append([]echo.MiddlewareFunc{f.Frame()}, browser...)
		}
		k.shell.Mount(e.Group("/admin", adminMW...))
	}
	for _, m := range k.modules {
		r, ok := m.(Router)
		if !ok {
			continue
		}
		name := m.Name()
		aud := security.Audience(name)
		r.Routes(Routes{
			API:    e.Group("/api/v1/"+name, security.RequireAuth, aud),
			Public: publicGroup(e, "/api/v1/"+name, aud),
			Admin:  e.Group("/admin/"+name, append(append([]echo.MiddlewareFunc{}, adminMW...), guard, aud)...),
			Member: e.Group("/member/"+name, append(browser, security.RequireAuth, aud)...),
			Root:   publicGroup(e, "", aud),
		})
	}
	// Unknown paths and methods under /api get the JSON envelope from the
	// error handler; say so explicitly for the bare prefix too.
	e.RouteNotFound("/api/*", func(c echo.Context) error { return errs.ErrRouteNotFound })
	return e, nil
}

// publicGroup is a group without the catch-all routes that Group.Use adds,
// so that it can share its prefix with the authenticated API group.
func publicGroup(e *echo.Echo, prefix string, m ...echo.MiddlewareFunc) *echo.Group {
	g := e.Group(prefix)
	return g.Group("", m...)
}

func (k *Kernel) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	MS     int64  `json:"duration_ms"`
}

// Ready runs every readiness check.
func (k *Kernel) Ready(ctx context.Context) (bool, []check) {
	checks := []HealthCheck{
		{Name: "database", Check: k.DB.Ping},
		{Name: "queue", Check: k.Queue.Ping},
	}
	for _, m := range k.modules {
		if h, ok := m.(HealthChecker); ok {
			for _, c := range h.HealthChecks() {
				c.Name = m.Name() + "." + c.Name
				checks = append(checks, c)
			}
		}
	}
	out := make([]check, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			start := time.Now()
			err := c.Check(cctx)
			out[i] = check{Name: c.Name, Status: "ok", MS: time.Since(start).Milliseconds()}
			if err != nil {
				out[i].Status, out[i].Error = "fail", err.Error()
			}
		}()
	}
	wg.Wait()
	ok := true
	for _, c := range out {
		ok = ok && c.Status == "ok"
	}
	return ok, out
}

func (k *Kernel) handleReadyz(c echo.Context) error {
	if k.draining.Load() {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "draining", "checks": []check{}})
	}
	ok, checks := k.Ready(c.Request().Context())
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	return c.JSON(code, map[string]any{"status": status, "checks": checks})
}

func (k *Kernel) handleMetrics(c echo.Context) error {
	if tok := k.Config.Metrics.Token; tok != "" && c.Request().Header.Get("Authorization") != "Bearer "+tok {
		return errs.ErrUnauthenticated
	}
	k.Metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

type systemView struct {
	Version    string               `json:"version"`
	Started    time.Time            `json:"started_at"`
	Database   string               `json:"database"`
	Queue      string               `json:"queue"`
	Modules    []string             `json:"modules"`
	Migrations []migrationView      `json:"migrations"`
	Checks     []check              `json:"checks"`
	Schedules  []queue.ScheduleInfo `json:"schedules"`
}

type migrationView struct {
	ID        string     `json:"id"`
	AppliedAt *time.Time `json:"applied_at"`
}

func (k *Kernel) handleSystem(c echo.Context) error {
	ctx := c.Request().Context()
	v := systemView{Version: BuildVersion(), Started: k.started.UTC(), Database: k.DB.Dialect(), Queue: "redis"}
	if k.Queue.Embedded() {
		v.Queue = "embedded"
	}
	for _, m := range k.modules {
		v.Modules = append(v.Modules, m.Name())
	}
	st, err := k.Migrator().Status(ctx)
	if err != nil {
		return err
	}
	for _, m := range st {
		v.Migrations = append(v.Migrations, migrationView{ID: m.ID(), AppliedAt: m.AppliedAt})
	}
	_, v.Checks = k.Ready(ctx)
	if v.Schedules, err = k.Queue.ListSchedules(ctx); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// Role is what a process runs.
type Role string

// Roles.
const (
	RoleServe  Role = "serve"  // HTTP, workers and scheduler
	RoleWorker Role = "worker" // workers and scheduler only
)

// startQueue starts the relay, the scheduler and the workers.
func (k *Kernel) startQueue(ctx context.Context) error {
	if err := k.Queue.StartRelay(ctx); err != nil {
		return err
	}
	if err := k.Queue.StartScheduler(ctx); err != nil {
		return err
	}
	return k.Queue.StartWorkers(ctx)
}

// Run prepares the database, starts the role's parts and blocks until ctx
// ends, then drains: readiness turns 503, requests in flight finish, running
// tasks finish or go back to the queue.
func (k *Kernel) Run(ctx context.Context, role Role, ln net.Listener) error {
	if err := k.Prepare(ctx); err != nil {
		return err
	}
	var srv *http.Server
	if role == RoleServe {
		e, err := k.HTTP()
		if err != nil {
			return err
		}
		c := k.Config.HTTP
		srv = httpx.Server(e, c.Addr, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout)
		// Listen before any work starts: a port in use stops start-up
		// before a worker has taken a job.
		if ln == nil {
			if ln, err = net.Listen("tcp", c.Addr); err != nil {
				return fmt.Errorf("http: listen on %s: %w", c.Addr, err)
			}
		}
	}
	if err := k.startQueue(ctx); err != nil {
		if srv != nil {
			ln.Close()
		}
		k.Queue.Shutdown()
		return err
	}
	serveErr := make(chan error, 1)
	if srv != nil {
		go func() { serveErr <- srv.Serve(ln) }()
		k.Log.Info("platform ready", "role", role, "addr", ln.Addr().String(), "version", BuildVersion(),
			"database", k.DB.Dialect(), "queue_embedded", k.Queue.Embedded(), "startup_ms", time.Since(k.started).Milliseconds())
	} else {
		k.Log.Info("platform ready", "role", role, "version", BuildVersion(), "database", k.DB.Dialect(),
			"queue_embedded", k.Queue.Embedded())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	k.draining.Store(true)
	k.Log.Info("draining", "role", role)
	for _, fn := range k.onDrain {
		fn()
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), k.Config.HTTP.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			k.Log.Warn("http shutdown", "error", err)
		}
		cancel()
	}
	k.Queue.Shutdown()
	k.Log.Info("stopped", "role", role)
	return runErr
}
