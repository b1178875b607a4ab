package admin

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// views are the parsed templates: each page is the layout plus its own file.
type views struct {
	base    *template.Template // the layout and partials, for module pages
	pages   map[string]*template.Template
	modules sync.Map // *template.Template (a module's content) -> *template.Template (with the layout)
}

var funcs = template.FuncMap{
	"when": when,
	"join": strings.Join,
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

// when formats a time for a page, in UTC.
func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04") + " UTC"
	case *time.Time:
		if v == nil || v.IsZero() {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	return ""
}

// formInt reads a whole-number form field.
func formInt(c echo.Context, name string) (int, bool) {
	n, err := strconv.Atoi(c.FormValue(name))
	return n, err == nil
}

func parseViews(fsys fs.FS) (*views, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("admin: templates: %w", err)
	}
	files, err := fs.Glob(fsys, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{base: base, pages: map[string]*template.Template{}}
	for _, f := range files {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(fsys, f); err != nil {
			return nil, fmt.Errorf("admin: template %s: %w", f, err)
		}
		v.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return v, nil
}

// crumb is one breadcrumb; the last has no link.
type crumb struct{ Label, Href string }

// navItem is one entry of the navigation.
type navItem struct {
	Label  string
	Href   string
	Perm   security.Permission
	Active bool
}

// navSection is a titled group of entries.
type navSection struct {
	Title string
	Items []navItem
}

// kernelPages are the shell's own pages in the navigation.
var kernelPages = []navItem{
	{Label: "Dashboard", Href: "/admin", Perm: SignedIn},
	{Label: "Tenants", Href: "/admin/tenants", Perm: security.PermTenantsRead},
	{Label: "Users", Href: "/admin/users", Perm: security.PermUsersRead},
	{Label: "API keys", Href: "/admin/api-keys", Perm: security.PermKeysRead},
	{Label: "Audit log", Href: "/admin/audit", Perm: security.PermAuditRead},
	{Label: "Settings", Href: "/admin/settings", Perm: security.PermSettings},
	{Label: "System", Href: "/admin/system", Perm: security.PermSystem},
}

// nav is the navigation for p: the kernel's pages, then the modules'
// entries, each only when p holds its permission. A nil p gets every entry.
func (s *Shell) nav(p *security.Principal) []navSection {
	can := func(perm security.Permission) bool {
		return p == nil || perm == SignedIn || p.Can(perm)
	}
	var out []navSection
	sec := navSection{Title: "Platform"}
	for _, it := range kernelPages {
		if can(it.Perm) {
			sec.Items = append(sec.Items, it)
		}
	}
	out = append(out, sec)
	mods := navSection{Title: "Modules"}
	for _, l := range s.k.AdminMenu() {
		if l.Permission == "" || !can(l.Permission) {
			continue // an entry without a permission is shown to no one
		}
		mods.Items = append(mods.Items, navItem{Label: l.Label, Href: l.Path, Perm: l.Permission})
	}
	if len(mods.Items) > 0 {
		out = append(out, mods)
	}
	return out
}

// view is what the layout renders.
type view struct {
	Title     string
	Crumbs    []crumb
	Nav       []navSection
	User      *security.Principal
	CSRF      string
	Flash     *flash
	Switcher  *switcher
	Bell      bool // the topbar's notification bell, when a module serves realtime events
	Version   string
	Data      any
	Errors    map[string]string // field -> message, on a form that failed
	ErrorText string            // a message for the whole form
}

type switcher struct {
	Current string
	Home    string
	Options []Choice
	Back    string
}

// render writes a page inside the layout, with the navigation, switcher,
// CSRF token and flash message of the request.
func (s *Shell) render(c echo.Context, status int, name, title string, crumbs []crumb, data any) error {
	v := s.baseView(c, title, crumbs)
	v.Data = data
	return s.write(c, status, name, v)
}

// renderForm is render with the errors of a failed form.
func (s *Shell) renderForm(c echo.Context, name, title string, crumbs []crumb, data any, err error) error {
	v := s.baseView(c, title, crumbs)
	v.Data = data
	status, ok := formErrors(err, v)
	if !ok {
		return err
	}
	return s.write(c, status, name, v)
}

// formErrors puts a typed error's message and field details on the form;
// it reports false for errors a form cannot show (internal ones).
func formErrors(err error, v *view) (int, bool) {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.Unauthenticated {
		return 0, false
	}
	v.ErrorText = e.Message
	v.Errors = map[string]string{}
	for _, d := range e.Details {
		if d.Field != "" {
			v.Errors[d.Field] = d.Message
		}
	}
	return e.Kind.Status(), true
}

func (s *Shell) baseView(c echo.Context, title string, crumbs []crumb) *view {
	v := &view{Title: title, Crumbs: crumbs, Version: kernel.BuildVersion(), Flash: s.takeFlash(c)}
	p, ok := security.PrincipalFrom(c.Request().Context())
	if !ok {
		return v
	}
	v.User = p
	if sess, ok := security.SessionFrom(c); ok {
		v.CSRF = s.sec.CSRFToken(sess)
	}
	v.Nav = s.nav(p)
	cur := c.Request().URL.Path
	for i := range v.Nav {
		for j := range v.Nav[i].Items {
			h := v.Nav[i].Items[j].Href
			v.Nav[i].Items[j].Active = cur == h || (h != "/admin" && strings.HasPrefix(cur, h+"/"))
		}
	}
	v.Switcher = s.switcher(c, p)
	v.Bell = s.realtime()
	return v
}

func (s *Shell) write(c echo.Context, status int, name string, v *view) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("admin: no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("admin: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// renderError shows an error as a page: the sign-in page when the session
// ended, the message of a typed error, and for anything else only the
// request id, which ties it to the log line.
func (s *Shell) renderError(c echo.Context, err error) error {
	var he *echo.HTTPError
	e, ok := errs.As(err)
	switch {
	case ok:
	case errors.As(err, &he) && he.Code == http.StatusNotFound:
		e = errs.New(errs.NotFound, "not_found", "This page does not exist.")
	case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
		e = errs.ErrMethod
	case errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
		e = errs.ErrTooLarge
	case errors.As(err, &he) && he.Code < 500:
		e = errs.ErrBadRequest
	default:
		e = errs.ErrInternal
	}
	if e.Kind == errs.Unauthenticated {
		if _, signed := security.PrincipalFrom(c.Request().Context()); !signed {
			return toLogin(c)
		}
	}
	status := e.Kind.Status()
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "admin request failed", "request_id", httpx.RequestID(c),
			"method", c.Request().Method, "path", c.Request().URL.Path, "error", err.Error())
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(max(int(e.RetryAfter.Seconds()+0.999), 1)))
	}
	v := s.baseView(c, statusTitle(status), nil)
	v.Data = map[string]any{"Status": status, "Message": e.Message, "Code": e.Code, "RequestID": httpx.RequestID(c),
		"NoAccess": errors.Is(e, errNoBackoffice)}
	if errors.Is(e, errNoBackoffice) {
		v.Nav, v.Switcher = nil, nil
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return s.write(c, status, "error", v)
}

func statusTitle(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	case http.StatusConflict:
		return "Conflict"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return http.StatusText(status)
}

// Flash messages ride in a short-lived signed cookie to the next page.
const flashCookie = "platform_flash"

type flash struct {
	Kind string `json:"k"` // "ok" or "error"
	Text string `json:"t"`
}

func (s *Shell) setFlash(c echo.Context, kind, text string) {
	b, _ := json.Marshal(flash{Kind: kind, Text: text})
	val := base64.RawURLEncoding.EncodeToString(b)
	val += "." + base64.RawURLEncoding.EncodeToString(s.sec.Sign("flash", []byte(val)))
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: val, Path: "/admin", MaxAge: 60, HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteLaxMode})
}

func (s *Shell) takeFlash(c echo.Context) *flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/admin", MaxAge: -1, HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteLaxMode})
	val, sig, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return nil
	}
	want := base64.RawURLEncoding.EncodeToString(s.sec.Sign("flash", []byte(val)))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(val)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Text == "" {
		return nil
	}
	return &f
}

// redirectFlash sends the browser to target with a message.
func (s *Shell) redirectFlash(c echo.Context, target, kind, text string) error {
	s.setFlash(c, kind, text)
	return c.Redirect(http.StatusSeeOther, target)
}

func isTLS(c echo.Context) bool {
	return c.Request().TLS != nil || c.Scheme() == "https"
}

const shellKey = "admin.shell"

// Render writes a module's page inside the backoffice layout, with the
// navigation, tenant switcher, breadcrumbs, flash message and CSRF token.
// content must define a template named "content"; it is parsed with
// Funcs and may use the shared partials, {{template "table" .}} for a
// List's Table in data["Table"] and {{template "chart" .}} for a Chart.
// In the template, .Data is data, .CSRF the token for forms and .User the
// principal. The module's templates are parsed once, by the module:
//
//	var pages = template.Must(template.New("").Funcs(admin.Funcs).ParseFS(files, "tickets.html"))
//	return admin.Render(c, http.StatusOK, pages, "Tickets", []admin.Crumb{{Label: "Dashboard", Href: "/admin"}}, data)
func Render(c echo.Context, status int, content *template.Template, title string, crumbs []Crumb, data any) error {
	s, ok := c.Get(shellKey).(*Shell)
	if !ok {
		return fmt.Errorf("admin: Render outside the backoffice")
	}
	t, err := s.views.withLayout(content)
	if err != nil {
		return err
	}
	v := s.baseView(c, title, crumbs)
	v.Data = data
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("admin: render %s: %w", title, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// Crumb is a breadcrumb: a page above the current one.
type Crumb = crumb

// Funcs are the template functions of the backoffice's templates, for
// module templates rendered with Render.
var Funcs = funcs

// ModulePage parses one page of a module's backoffice for Render:
// web/templates/pages/<module>/<name> with the module's nav.html, on Funcs.
// A bad template panics, at start-up.
func ModulePage(fsys fs.FS, module, name string) *template.Template {
	dir := "templates/pages/" + module + "/"
	return template.Must(template.New(name).Funcs(Funcs).ParseFS(fsys, dir+"nav.html", dir+name))
}

// Stamp is a time in a table cell: UTC, to the second.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// Clip cuts s to at most n runes, marking the cut with an ellipsis.
func Clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func (v *views) withLayout(content *template.Template) (*template.Template, error) {
	if t, ok := v.modules.Load(content); ok {
		return t.(*template.Template), nil
	}
	t, err := v.base.Clone()
	if err != nil {
		return nil, err
	}
	for _, ct := range content.Templates() {
		if ct.Tree == nil || ct.Name() == "" {
			continue
		}
		if _, err := t.AddParseTree(ct.Name(), ct.Tree); err != nil {
			return nil, fmt.Errorf("admin: module template %s: %w", ct.Name(), err)
		}
	}
	if t.Lookup("content") == nil {
		return nil, fmt.Errorf("admin: a module page must define a \"content\" template")
	}
	actual, _ := v.modules.LoadOrStore(content, t)
	return actual.(*template.Template), nil
}
