// Package admin is the backoffice shell: the server-rendered /admin pages
// (sign-in, dashboard, tenants, users, API keys, audit log, system health,
// settings), the layout every module's admin pages share, and the guard in
// front of them. Pages are html/template files from web/ with htmx; there
// is no front-end build.
//
// Every route is registered through Handle (or the shell's own page helper)
// with the permission it needs. The permission is recorded in the echo
// route's name, so that Inventory, and the test built on it, can prove that
// no /admin route is left without one.
//
// A module adds a page with one file: a List for the shared table, a
// template defining "content", a handler and one Handle call, plus an
// AdminMenu entry for the navigation:
//
//	var ticketsPage = template.Must(template.New("").Funcs(admin.Funcs).ParseFS(files, "admin/tickets.html"))
//
//	func (m *Module) Routes(r kernel.Routes) {
//		admin.Handle(r.Admin, http.MethodGet, "/tickets", PermTicketsRead, m.ticketsPage)
//	}
//
//	func (m *Module) ticketsPage(c echo.Context) error {
//		t, done, err := m.ticketList().Run(c) // pagination, sort, filters, search, CSV
//		if err != nil || done {
//			return err
//		}
//		return admin.Render(c, http.StatusOK, ticketsPage, "Tickets", nil, map[string]any{"Table": t})
//	}
//
// The modules' admin groups already carry the session, CSRF and the Guard
// (a signed-in backoffice user); Handle adds the page's own permission.
// Modules add dashboard figures by implementing DashboardProvider.
package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/web"
)

// Permission markers for routes that need no specific permission.
const (
	// Public routes need no sign-in: the sign-in page and static assets.
	Public security.Permission = "public"
	// SignedIn routes need a signed-in backoffice user and nothing more.
	SignedIn security.Permission = "signed_in"
)

// CSP is the Content-Security-Policy of every /admin response: scripts and
// styles from the binary only, no inline code, no framing. Images may come
// from https too, for tenant logos.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// Card is one figure on the dashboard.
type Card struct {
	Label string
	Value string
	Href  string // optional link to the page behind the figure
	Note  string // optional small print
}

// DashboardProvider is an optional module capability: the figures the
// module shows on the dashboard. It runs with the viewer's principal in ctx
// and should show only what that principal may see.
type DashboardProvider interface {
	DashboardCards(ctx context.Context) []Card
}

// ResetMailer sends password reset links. Until the contact module lands,
// LogMailer is wired, which writes the link to the log.
type ResetMailer interface {
	SendPasswordReset(ctx context.Context, email, link string) error
}

// LogMailer is a ResetMailer that logs the link instead of sending it.
type LogMailer struct{ Log *slog.Logger }

// SendPasswordReset logs the link.
func (m LogMailer) SendPasswordReset(ctx context.Context, email, link string) error {
	m.Log.WarnContext(ctx, "password reset requested; no mail module is wired, so the link is logged", "email", email, "link", link)
	return nil
}

// Shell is the backoffice. It implements kernel.Shell and kernel.ShellFrame.
type Shell struct {
	k       *kernel.Kernel
	sec     *security.Service
	log     *slog.Logger
	mailer  ResetMailer
	views   *views
	static  http.Handler
	baseURL string

	bellOnce sync.Once
	bell     bool
}

// RealtimePath is the Socket.IO endpoint that the topbar's notification
// bell connects to. The bell is shown only when a module serves it.
const RealtimePath = "/socket.io/"

// realtime reports whether a module mounted RealtimePath.
func (s *Shell) realtime() bool {
	s.bellOnce.Do(func() {
		e, err := s.k.HTTP()
		if err != nil {
			return
		}
		for _, r := range e.Routes() {
			s.bell = s.bell || r.Path == RealtimePath
		}
	})
	return s.bell
}

// Option configures New.
type Option func(*Shell)

// WithMailer sends password reset mail through m.
func WithMailer(m ResetMailer) Option { return func(s *Shell) { s.mailer = m } }

// WithBaseURL is the backoffice's public address ("https://example.com"),
// for links in mail. Without it, reset links are relative.
func WithBaseURL(u string) Option { return func(s *Shell) { s.baseURL = strings.TrimRight(u, "/") } }

// New builds the shell over the kernel's services. It panics if the
// embedded templates do not parse, which a test catches before a release.
func New(k *kernel.Kernel, opts ...Option) *Shell {
	s := &Shell{k: k, sec: k.Security, log: k.Log, mailer: LogMailer{Log: k.Log}}
	for _, o := range opts {
		o(s)
	}
	v, err := parseViews(web.FS)
	if err != nil {
		panic(err)
	}
	s.views = v
	st, err := fs.Sub(web.FS, "static")
	if err != nil {
		panic(err)
	}
	s.static = http.StripPrefix("/admin/static/", staticFiles(st))
	return s
}

// staticFiles serves the embedded assets with an ETag of their content, so
// that a browser revalidates cheaply, and a short max-age, so that a new
// release's assets are picked up within minutes.
func staticFiles(fsys fs.FS) http.Handler {
	etags := map[string]string{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	files := http.FileServer(http.FS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tag, ok := etags[path.Clean("/"+r.URL.Path)]; ok {
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(w, r)
	})
}

// routeNamePrefix marks a route's declared permission in its echo name.
const routeNamePrefix = "admin-permission:"

// Handle registers a backoffice route that needs perm, and records perm in
// the route's name for Inventory. Modules register their admin pages with
// it on the Admin group they are given:
//
//	admin.Handle(r.Admin, http.MethodGet, "/tickets", helpdesk.PermTicketsRead, h.list)
func Handle(g *echo.Group, method, path string, perm security.Permission, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	if perm == "" {
		panic("admin: route " + method + " " + path + " declares no permission")
	}
	if perm != Public && perm != SignedIn {
		m = append([]echo.MiddlewareFunc{requirePermission(perm)}, m...)
	}
	r := g.Add(method, path, h, m...)
	r.Name = routeNamePrefix + string(perm)
	return r
}

// Inventory lists every route under /admin as "METHOD /path" with its
// declared permission, and the routes that declare none. Echo's own
// not-found catch-alls are left out.
func Inventory(e *echo.Echo) (declared map[string]security.Permission, undeclared []string) {
	declared = map[string]security.Permission{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || !(r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/")) {
			continue
		}
		key := r.Method + " " + r.Path
		if p, ok := strings.CutPrefix(r.Name, routeNamePrefix); ok && p != "" {
			declared[key] = security.Permission(p)
		} else {
			undeclared = append(undeclared, key)
		}
	}
	return declared, undeclared
}

// requirePermission refuses a principal without perm; the frame renders
// the refusal as a page.
func requirePermission(perm security.Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := security.PrincipalFrom(c.Request().Context())
			if !ok {
				return toLogin(c)
			}
			if !p.Can(perm) {
				return errs.ErrForbidden
			}
			return next(c)
		}
	}
}

// Frame wraps every /admin request, outside the session and CSRF checks:
// it sets the CSP and caching headers and renders errors as pages.
func (s *Shell) Frame() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(shellKey, s)
			h := c.Response().Header()
			h.Set("Content-Security-Policy", CSP)
			if !strings.HasPrefix(c.Request().URL.Path, "/admin/static/") {
				h.Set("Cache-Control", "no-store")
			}
			err := next(c)
			if err == nil || c.Response().Committed {
				return err
			}
			return s.renderError(c, err)
		}
	}
}

// Guard admits to the modules' admin pages a signed-in backoffice user;
// a browser without a session goes to the sign-in page.
func (s *Shell) Guard() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := security.PrincipalFrom(c.Request().Context())
			if !ok {
				return toLogin(c)
			}
			if !s.backofficeUser(p) {
				return errNoBackoffice
			}
			return next(c)
		}
	}
}

var errNoBackoffice = errs.New(errs.Forbidden, "admin.no_access", "Your account has no access to the backoffice.")

// page registers one of the shell's own routes: the guard first, then the
// permission.
func (s *Shell) page(g *echo.Group, method, path string, perm security.Permission, h echo.HandlerFunc) {
	var m []echo.MiddlewareFunc
	if perm != Public {
		m = append(m, s.Guard())
	}
	Handle(g, method, path, perm, h, m...)
}

// backofficeUser reports whether p is a user who holds at least one
// permission of a backoffice page: customers, and any role a deployment
// gives no admin permission, are kept out.
func (s *Shell) backofficeUser(p *security.Principal) bool {
	if p.Kind != security.KindUser {
		return false
	}
	for _, l := range s.nav(nil) {
		for _, it := range l.Items {
			if it.Perm != SignedIn && p.Can(it.Perm) {
				return true
			}
		}
	}
	return false
}

// toLogin sends a browser to the sign-in page, coming back afterwards.
func toLogin(c echo.Context) error {
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet {
		next = "/admin"
	}
	target := "/admin/login?next=" + url.QueryEscape(next)
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// safeNext keeps a post-sign-in redirect inside the backoffice.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "/admin/login") {
		return "/admin"
	}
	return next
}

// Mount serves the shell's pages under /admin.
func (s *Shell) Mount(g *echo.Group) {
	staticH := echo.WrapHandler(s.static)
	s.page(g, http.MethodGet, "/static/*", Public, staticH)
	s.page(g, http.MethodHead, "/static/*", Public, staticH)

	s.page(g, http.MethodGet, "/login", Public, s.loginForm)
	s.page(g, http.MethodPost, "/login", Public, s.login)
	s.page(g, http.MethodGet, "/password-reset", Public, s.resetRequestForm)
	s.page(g, http.MethodPost, "/password-reset", Public, s.resetRequest)
	s.page(g, http.MethodGet, "/password-reset/:token", Public, s.resetForm)
	s.page(g, http.MethodPost, "/password-reset/:token", Public, s.reset)
	// Signing out needs no permission: a customer who signed in here must
	// be able to leave. With a session, the kernel's CSRF check applies.
	s.page(g, http.MethodPost, "/logout", Public, s.logout)
	s.page(g, http.MethodGet, "/account/password", SignedIn, s.passwordForm)
	s.page(g, http.MethodPost, "/account/password", SignedIn, s.changePassword)
	s.page(g, http.MethodPost, "/account/totp/begin", SignedIn, s.beginTOTP)
	s.page(g, http.MethodPost, "/account/totp/enable", SignedIn, s.enableTOTP)
	s.page(g, http.MethodPost, "/account/totp/disable", SignedIn, s.disableTOTP)
	s.page(g, http.MethodPost, "/account/totp/recovery-codes", SignedIn, s.regenerateRecoveryCodes)
	s.page(g, http.MethodPost, "/switch-tenant", SignedIn, s.switchTenant)

	s.page(g, http.MethodGet, "", SignedIn, s.dashboard)
	s.page(g, http.MethodGet, "/", SignedIn, s.dashboard)

	s.page(g, http.MethodGet, "/tenants", security.PermTenantsRead, s.tenants)
	s.page(g, http.MethodGet, "/tenants/tree", security.PermTenantsRead, s.tenantTree)
	s.page(g, http.MethodGet, "/tenants/new", security.PermTenantsWrite, s.tenantNew)
	s.page(g, http.MethodPost, "/tenants", security.PermTenantsWrite, s.tenantCreate)
	s.page(g, http.MethodGet, "/tenants/:id", security.PermTenantsRead, s.tenantEdit)
	s.page(g, http.MethodPost, "/tenants/:id", security.PermTenantsWrite, s.tenantUpdate)
	s.page(g, http.MethodPost, "/tenants/:id/delete", security.PermTenantsWrite, s.tenantDelete)

	s.page(g, http.MethodGet, "/users", security.PermUsersRead, s.users)
	s.page(g, http.MethodGet, "/users/new", security.PermUsersWrite, s.userNew)
	s.page(g, http.MethodPost, "/users", security.PermUsersWrite, s.userCreate)
	s.page(g, http.MethodGet, "/users/:id", security.PermUsersRead, s.userEdit)
	s.page(g, http.MethodPost, "/users/:id", security.PermUsersWrite, s.userUpdate)
	s.page(g, http.MethodPost, "/users/:id/delete", security.PermUsersWrite, s.userDelete)
	s.page(g, http.MethodPost, "/users/:id/totp-reset", security.PermUsersWrite, s.userResetTOTP)

	s.page(g, http.MethodGet, "/api-keys", security.PermKeysRead, s.keys)
	s.page(g, http.MethodGet, "/api-keys/new", security.PermKeysWrite, s.keyNew)
	s.page(g, http.MethodPost, "/api-keys", security.PermKeysWrite, s.keyCreate)
	s.page(g, http.MethodGet, "/api-keys/:id/created", security.PermKeysWrite, s.keyCreated)
	s.page(g, http.MethodPost, "/api-keys/:id/revoke", security.PermKeysWrite, s.keyRevoke)

	s.page(g, http.MethodGet, "/audit", security.PermAuditRead, s.audit)
	s.page(g, http.MethodGet, "/system", security.PermSystem, s.system)
	s.page(g, http.MethodGet, "/settings", security.PermSettings, s.settings)
	s.page(g, http.MethodPost, "/settings", security.PermSettings, s.saveSettings)
}
