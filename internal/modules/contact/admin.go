package contact

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/web"
)

// The backoffice pages of the module, under /admin/contact: the message
// log with its filters and CSV, a message with its status history, the
// providers with their forms and a "send test" button, and the log
// provider's outbox. Every page reads through the tenant-scoped store, so
// a tenant's owner sees only its own tenant; a platform admin who has not
// switched to a tenant sees every tenant's messages, with their names.
//
// Providers are seen and changed with PermManage, as in the API: their
// settings name accounts and hosts. Credentials are write-only: a form
// shows only whether each one is set, and an empty field keeps it.

// Each page is its own template set: every one defines "content".
var (
	messagesTmpl  = pageTemplate("messages.html")
	messageTmpl   = pageTemplate("message.html")
	providersTmpl = pageTemplate("providers.html")
	providerTmpl  = pageTemplate("provider.html")
	outboxTmpl    = pageTemplate("outbox.html")
	templatesTmpl = pageTemplate("templates.html")
	templateTmpl  = pageTemplate("template.html")
)

func pageTemplate(name string) *template.Template { return admin.ModulePage(web.FS, Name, name) }

// adminBase is where the pages live.
const adminBase = "/admin/" + Name

// notices are the messages a page shows after an action redirected to it
// with ?done=<key>; only these texts can appear.
var notices = map[string]string{
	"created":          "The provider is created.",
	"saved":            "The provider is saved.",
	"enabled":          "The provider is enabled: messages may go through it.",
	"disabled":         "The provider is disabled: no message goes through it.",
	"deleted":          "The provider is deleted.",
	"test_sent":        "The test message was sent through the provider.",
	"test_failed":      "The test message failed: the provider refused it or could not be reached. The history says why.",
	"template_saved":   "The template is saved.",
	"template_deleted": "The template is deleted.",
}

// AdminMenu implements kernel.AdminNav.
func (m *Module) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Contact", Path: adminBase, Permission: PermRead, Order: 60}}
}

// adminRoutes registers the pages on the module's /admin/contact group.
func (m *Module) adminRoutes(g *echo.Group) {
	admin.Handle(g, http.MethodGet, "", PermRead, m.messagesPage)
	admin.Handle(g, http.MethodGet, "/", PermRead, m.messagesPage)
	admin.Handle(g, http.MethodGet, "/messages/:id", PermRead, m.messagePage)
	admin.Handle(g, http.MethodGet, "/outbox", PermRead, m.outboxPage)
	admin.Handle(g, http.MethodGet, "/providers", PermManage, m.providersPage)
	admin.Handle(g, http.MethodGet, "/providers/new", PermManage, m.newProviderPage)
	admin.Handle(g, http.MethodPost, "/providers", PermManage, m.createProviderForm)
	admin.Handle(g, http.MethodGet, "/providers/:id", PermManage, m.providerPage)
	admin.Handle(g, http.MethodPost, "/providers/:id", PermManage, m.saveProviderForm)
	admin.Handle(g, http.MethodPost, "/providers/:id/enable", PermManage, m.switchProvider(true))
	admin.Handle(g, http.MethodPost, "/providers/:id/disable", PermManage, m.switchProvider(false))
	admin.Handle(g, http.MethodPost, "/providers/:id/delete", PermManage, m.deleteProviderForm)
	admin.Handle(g, http.MethodPost, "/providers/:id/test", PermManage, m.testProvider)
	admin.Handle(g, http.MethodGet, "/templates", PermRead, m.templatesPage)
	admin.Handle(g, http.MethodGet, "/templates/new", PermManage, m.newTemplatePage)
	admin.Handle(g, http.MethodPost, "/templates", PermManage, m.saveTemplateForm)
	admin.Handle(g, http.MethodGet, "/templates/:id", PermRead, m.templatePage)
	admin.Handle(g, http.MethodPost, "/templates/:id", PermManage, m.saveTemplateForm)
	admin.Handle(g, http.MethodPost, "/templates/:id/preview", PermRead, m.previewTemplateForm)
	admin.Handle(g, http.MethodPost, "/templates/:id/delete", PermManage, m.deleteTemplateForm)
}

func crumbs(extra ...admin.Crumb) []admin.Crumb {
	return append([]admin.Crumb{{Label: "Dashboard", Href: "/admin"}, {Label: "Contact", Href: adminBase}}, extra...)
}

// tab is a link of the contact pages' own navigation.
type tab struct {
	Label, Href string
	Current     bool
}

// pageData is what every contact page gives its template: the links
// between the pages (providers only for those who may manage them), the
// notice of a finished action, and the viewer's powers.
func pageData(c echo.Context, current string) map[string]any {
	manage := can(c, PermManage)
	var ts []tab
	for _, t := range []tab{{Label: "Messages", Href: adminBase}, {Label: "Providers", Href: adminBase + "/providers"},
		{Label: "Templates", Href: adminBase + "/templates"}, {Label: "Outbox", Href: adminBase + "/outbox"}} {
		if t.Label == "Providers" && !manage {
			continue
		}
		t.Current = t.Label == current
		ts = append(ts, t)
	}
	return map[string]any{"Tabs": ts, "Notice": notices[c.QueryParam("done")], "CanManage": manage,
		"Platform": unrestricted(c)}
}

func can(c echo.Context, perm security.Permission) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Can(perm)
}

func unrestricted(c echo.Context) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Unrestricted()
}

// tenantNamer names tenants by id for a platform admin's pages, reading
// each tenant once; an id it cannot resolve stands for itself.
func (m *Module) tenantNamer(ctx context.Context) func(id string) string {
	names := map[string]string{"": "—"}
	return func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		names[id] = id
		if t, err := m.k.Security.GetTenant(ctx, id); err == nil {
			names[id] = t.Name
		}
		return names[id]
	}
}

func statusBadge(s string) string {
	switch s {
	case StatusSent, StatusDelivered:
		return "ok"
	case StatusFailed, StatusBounced, StatusSuppressed:
		return "warn"
	}
	return "muted"
}

func choices(values ...string) []admin.Choice {
	out := make([]admin.Choice, len(values))
	for i, v := range values {
		out[i] = admin.Choice{Value: v, Label: v}
	}
	return out
}

// logFilter narrows the message log.
type logFilter struct {
	Channel, Status, Category, To string
	From, Until                   time.Time // days, UTC; Until is inclusive
	Offset, Limit                 int
	Desc                          bool
}

// likeEscape makes s match itself in a LIKE pattern with ESCAPE '!'.
var likeEscape = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// messageLog is the message log's page of rows, without the bodies.
func (s *store) messageLog(ctx context.Context, f logFilter) ([]messageRow, int64, error) {
	q := s.conn(ctx).Model(&messageRow{})
	for col, v := range map[string]string{"channel": f.Channel, "status": f.Status, "category": f.Category} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if f.To != "" {
		q = q.Where("recipient LIKE ? ESCAPE '!'", "%"+likeEscape.Replace(f.To)+"%")
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From)
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.AddDate(0, 0, 1))
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	order := "created_at ASC, id ASC"
	if f.Desc {
		order = "created_at DESC, id DESC"
	}
	var rows []messageRow
	err := q.Omit("body", "html", "data").Order(order).Offset(f.Offset).Limit(f.Limit).Find(&rows).Error
	return rows, total, err
}

func (m *Module) messagesPage(c echo.Context) error {
	return listPage(c, m.messageList(c), messagesTmpl, "Messages")
}

// listPage answers a list page: its CSV, or the page titled as its tab.
func listPage(c echo.Context, l *admin.List, tmpl *template.Template, title string) error {
	t, done, err := l.Run(c)
	if err != nil || done {
		return err
	}
	d := pageData(c, title)
	d["Table"] = t
	return admin.Render(c, http.StatusOK, tmpl, title, crumbs(), d)
}

// messageList is the table of the message log.
func (m *Module) messageList(c echo.Context) *admin.List {
	platform := unrestricted(c)
	cols := []admin.Column{{Key: "created", Label: "Created", Sort: "created_at"}, {Key: "channel", Label: "Channel"},
		{Key: "to", Label: "To"}, {Key: "subject", Label: "Subject"}, {Key: "category", Label: "Category"},
		{Key: "status", Label: "Status"}, {Key: "attempts", Label: "Attempts"}, {Key: "error", Label: "Last error"}}
	if platform {
		cols = append(cols, admin.Column{Key: "tenant", Label: "Tenant"})
	}
	return &admin.List{
		ID:          "messages",
		Columns:     cols,
		Sorts:       map[string]string{"created_at": "created_at"},
		DefaultSort: "-created_at",
		Filters: []admin.Filter{{Key: "channel", Label: "Channel", Options: choices(channels...)},
			{Key: "status", Label: "Status", Options: choices(statuses...)},
			{Key: "category", Label: "Category", Options: choices(string(contracts.CategoryTransactional), string(contracts.CategoryMarketing))},
			{Key: "to", Label: "To", Kind: admin.FilterText},
			{Key: "from", Label: "From date", Kind: admin.FilterDate}, {Key: "until", Label: "Until date", Kind: admin.FilterDate}},
		CSVName: "contact-messages",
		Empty:   "No messages match.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			msgs, total, err := m.store.messageLog(ctx, logFilter{Channel: q.Filters["channel"], Status: q.Filters["status"],
				Category: q.Filters["category"], To: q.Filters["to"], From: q.Date("from"), Until: q.Date("until"),
				Offset: q.Offset, Limit: q.Limit, Desc: q.Desc})
			if err != nil {
				return nil, 0, err
			}
			tenant := m.tenantNamer(ctx)
			rows := make([]admin.Row, 0, len(msgs))
			for _, r := range msgs {
				lastErr := ""
				if r.LastError != nil {
					lastErr = admin.Clip(*r.LastError, 200)
				}
				cells := []admin.Cell{{Text: admin.Stamp(r.CreatedAt), Wrap: "nowrap"}, {Text: r.Channel},
					{Text: r.Recipient, Wrap: "anywhere"}, {Text: admin.Clip(r.Subject, 80)}, {Text: r.Category},
					{Text: r.Status, Badge: statusBadge(r.Status)}, {Text: strconv.Itoa(r.Attempts)},
					{Text: lastErr, Wrap: "anywhere"}}
				if platform {
					cells = append(cells, admin.Cell{Text: tenant(r.TenantID)})
				}
				rows = append(rows, admin.Row{Cells: cells,
					Actions: []admin.Action{{Label: "Open", Href: adminBase + "/messages/" + url.PathEscape(r.ID)}}})
			}
			return rows, total, nil
		},
	}
}

// historyEntry is one line of a message's status history on its page.
type historyEntry struct {
	eventRow
	Provider string // the provider's name, or its kind when it is gone
	Badge    string
}

func (m *Module) messagePage(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := m.store.message(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	evs, err := m.store.events(ctx, r.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	history := make([]historyEntry, len(evs))
	for i, e := range evs {
		h := historyEntry{eventRow: e, Badge: statusBadge(e.Status)}
		if e.ProviderKind != nil {
			h.Provider = *e.ProviderKind
		}
		if e.ProviderID != nil {
			name, ok := names[*e.ProviderID]
			if !ok {
				if p, err := m.store.provider(ctx, *e.ProviderID); err == nil {
					name = p.Name + " (" + p.Kind + ")"
				}
				names[*e.ProviderID] = name
			}
			if name != "" {
				h.Provider = name
			}
		}
		history[i] = h
	}
	d := pageData(c, "Messages")
	v := viewMessage(r)
	d["Message"], d["Badge"], d["History"], d["Body"], d["HTML"] = v, statusBadge(r.Status), history, r.Body, r.HTML
	if r.Data != nil {
		d["Data"] = *r.Data
	}
	if d["Platform"].(bool) {
		d["Tenant"] = m.tenantNamer(ctx)(r.TenantID)
	}
	return admin.Render(c, http.StatusOK, messageTmpl, "Message", crumbs(admin.Crumb{Label: "Messages", Href: adminBase}), d)
}

func (m *Module) outboxPage(c echo.Context) error {
	platform := unrestricted(c)
	cols := []admin.Column{{Key: "created", Label: "Written", Sort: "created_at"}, {Key: "channel", Label: "Channel"},
		{Key: "to", Label: "To"}, {Key: "subject", Label: "Subject"}, {Key: "body", Label: "Body"}}
	if platform {
		cols = append(cols, admin.Column{Key: "tenant", Label: "Tenant"})
	}
	l := &admin.List{
		ID: "outbox", Columns: cols, Sorts: map[string]string{"created_at": "created_at"}, DefaultSort: "-created_at",
		CSVName: "contact-outbox",
		Empty:   "The log provider has written nothing yet.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			items, total, err := m.store.outbox(ctx, q.Offset, q.Limit)
			if err != nil {
				return nil, 0, err
			}
			tenant := m.tenantNamer(ctx)
			rows := make([]admin.Row, 0, len(items))
			for _, it := range items {
				cells := []admin.Cell{{Text: admin.Stamp(it.CreatedAt), Wrap: "nowrap"}, {Text: it.Channel},
					{Text: it.Recipient, Wrap: "anywhere"}, {Text: admin.Clip(it.Subject, 80)},
					{Text: admin.Clip(it.Body, 200), Wrap: "anywhere"}}
				if platform {
					cells = append(cells, admin.Cell{Text: tenant(it.TenantID)})
				}
				rows = append(rows, admin.Row{Cells: cells,
					Actions: []admin.Action{{Label: "Message", Href: adminBase + "/messages/" + url.PathEscape(it.MessageID)}}})
			}
			return rows, total, nil
		},
	}
	return listPage(c, l, outboxTmpl, "Outbox")
}

// kindNames are the provider kinds in the order the pages offer them.
var kindNames = []string{"smtp", "twilio", "vonage", "webhook", "log"}

func (m *Module) providersPage(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := m.store.providers(ctx, "")
	if err != nil {
		return err
	}
	d := pageData(c, "Providers")
	d["Providers"], d["Kinds"], d["HasTenant"] = rows, kindNames, security.TenantOf(ctx) != ""
	if d["Platform"].(bool) {
		tenant, names := m.tenantNamer(ctx), map[string]string{}
		for _, r := range rows {
			names[r.TenantID] = tenant(r.TenantID)
		}
		d["Tenants"] = names
	}
	return admin.Render(c, http.StatusOK, providersTmpl, "Providers", crumbs(), d)
}

// providerForm is the provider form as shown or as entered. Credentials
// are never in it: only whether each one is set.
type providerForm struct {
	ID           string
	Name         string
	Channel      string
	Kind         string
	Priority     string
	Enabled      bool
	AllowPrivate bool
	Settings     string
	Channels     []string
	Secrets      []secretField
}

type secretField struct {
	Name string
	Set  bool
}

// newForm is the empty form of a kind.
func newForm(kindName string) *providerForm {
	f := &providerForm{Kind: kindName, Priority: "0", Enabled: true, Settings: "{}"}
	for _, ch := range kinds[kindName].channels {
		f.Channels = append(f.Channels, string(ch))
	}
	if len(f.Channels) > 0 {
		f.Channel = f.Channels[0]
	}
	for _, s := range kinds[kindName].secrets {
		f.Secrets = append(f.Secrets, secretField{Name: s})
	}
	return f
}

// formOf is the form of a stored provider.
func (m *Module) formOf(r *providerRow) *providerForm {
	f := newForm(r.Kind)
	f.ID, f.Name, f.Channel, f.Priority, f.Enabled, f.AllowPrivate = r.ID, r.Name, r.Channel, strconv.Itoa(r.Priority),
		r.Enabled, r.AllowPrivate
	f.Settings = indentJSON(r.Settings)
	if creds, err := m.credentials(r); err == nil {
		for i := range f.Secrets {
			f.Secrets[i].Set = creds[f.Secrets[i].Name] != ""
		}
	}
	return f
}

func indentJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// readForm reads the posted form over f, and the request it makes: only
// credentials that were typed in, and allow_private only from a platform
// admin. Problems it finds are field details.
func readForm(c echo.Context, f *providerForm) (*providerRequest, []errs.Detail) {
	var d []errs.Detail
	f.Name = strings.TrimSpace(c.FormValue("name"))
	f.Priority = strings.TrimSpace(c.FormValue("priority"))
	f.Enabled = c.FormValue("enabled") == "on"
	f.Settings = strings.TrimSpace(c.FormValue("settings"))
	if f.ID == "" {
		f.Channel = c.FormValue("channel")
	}
	req := &providerRequest{Name: &f.Name, Channel: f.Channel, Kind: f.Kind, Enabled: &f.Enabled,
		Credentials: map[string]string{}}
	if f.Name == "" || len(f.Name) > 100 {
		d = append(d, errs.Detail{Field: "name", Code: "required", Message: "is required, at most 100 characters"})
	}
	if f.Priority == "" {
		f.Priority = "0"
	}
	if n, err := strconv.Atoi(f.Priority); err != nil || n < 0 || n > 1000 {
		d = append(d, errs.Detail{Field: "priority", Code: "range", Message: "must be a whole number from 0 to 1000"})
	} else {
		req.Priority = &n
	}
	if f.Settings == "" {
		f.Settings = "{}"
	}
	req.Settings = json.RawMessage(f.Settings)
	for _, s := range f.Secrets {
		if v := c.FormValue("credentials." + s.Name); v != "" {
			req.Credentials[s.Name] = v
		}
	}
	if platformAdmin(c) {
		f.AllowPrivate = c.FormValue("allow_private") == "on"
		req.AllowPrivate = &f.AllowPrivate
	}
	return req, d
}

func (m *Module) newProviderPage(c echo.Context) error {
	k := c.QueryParam("kind")
	if _, ok := kinds[k]; !ok {
		return c.Redirect(http.StatusSeeOther, adminBase+"/providers")
	}
	return m.renderProvider(c, http.StatusOK, newForm(k), nil, nil)
}

// renderProvider shows the provider form (with what was entered and why
// it was refused, after a failed save) and, for a stored provider, its
// actions and the test form.
func (m *Module) renderProvider(c echo.Context, status int, f *providerForm, err error, test map[string]string) error {
	d := pageData(c, "Providers")
	d["Form"], d["Kinds"], d["Test"] = f, kindNames, test
	d["HasTenant"] = f.ID != "" || security.TenantOf(c.Request().Context()) != ""
	d["CanAllowPrivate"] = platformAdmin(c)
	d["Locked"] = f.AllowPrivate && !platformAdmin(c)
	formProblems(d, err)
	title := "New " + f.Kind + " provider"
	if f.ID != "" {
		title = f.Name
	}
	return admin.Render(c, status, providerTmpl, title, crumbs(admin.Crumb{Label: "Providers", Href: adminBase + "/providers"}), d)
}

// formProblems puts a refused form's message (Problem) and its fields'
// messages (Errors, by field) in a page's data.
func formProblems(d map[string]any, err error) {
	fields := map[string]string{}
	if e, ok := errs.As(err); ok {
		d["Problem"] = e.Message
		for _, x := range e.Details {
			fields[x.Field] = x.Message
		}
	}
	d["Errors"] = fields
}

// formError shows a form again through show for an error a form can show,
// with its status, and hands any other error to the frame.
func formError(err error, show func(status int, err error) error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
		return err
	}
	return show(e.Kind.Status(), err)
}

func (m *Module) formError(c echo.Context, f *providerForm, err error) error {
	return formError(err, func(status int, err error) error { return m.renderProvider(c, status, f, err, nil) })
}

func (m *Module) createProviderForm(c echo.Context) error {
	ctx := c.Request().Context()
	kindName := c.FormValue("kind")
	k, ok := kinds[kindName]
	if !ok {
		return ErrInvalidProvider.WithDetails(errs.Detail{Field: "kind", Code: "oneof", Message: "must be smtp, twilio, vonage, webhook or log"})
	}
	f := newForm(kindName)
	req, d := readForm(c, f)
	if !slices.Contains(k.channels, contracts.Channel(f.Channel)) {
		d = append(d, errs.Detail{Field: "channel", Code: "oneof", Message: "is not a channel this kind serves"})
	}
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return m.formError(c, f, ErrNoTenant.WithMessage("A provider belongs to a tenant: switch to one to configure it."))
	}
	if len(d) > 0 {
		return m.formError(c, f, ErrInvalidProvider.WithDetails(d...))
	}
	now := m.now()
	r := &providerRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, Name: f.Name, Channel: f.Channel,
		Kind: kindName, Enabled: true, Settings: "{}", CreatedAt: now, UpdatedAt: now}
	if err := m.apply(r, req, nil); err != nil {
		return m.formError(c, f, err)
	}
	if err := m.store.saveProvider(ctx, r, true); err != nil {
		return m.formError(c, f, err)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/providers/"+url.PathEscape(r.ID)+"?done=created")
}

func (m *Module) providerPage(c echo.Context) error {
	r, err := m.store.provider(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderProvider(c, http.StatusOK, m.formOf(r), nil, nil)
}

// saveProviderForm changes a provider as PATCH does: kind and channel stay,
// credentials typed in replace the stored ones and empty fields keep them,
// and a provider that may reach internal networks is a platform admin's
// to change.
func (m *Module) saveProviderForm(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := m.store.provider(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	f := m.formOf(r)
	req, d := readForm(c, f)
	if len(d) > 0 {
		return m.formError(c, f, ErrInvalidProvider.WithDetails(d...))
	}
	opening := req.AllowPrivate != nil && *req.AllowPrivate && !r.AllowPrivate
	if (opening || r.AllowPrivate) && !platformAdmin(c) {
		return m.formError(c, f, ErrAllowPrivate)
	}
	old, err := m.credentials(r)
	if err != nil {
		old = map[string]string{}
	}
	r.Name = f.Name
	if err := m.apply(r, req, old); err != nil {
		return m.formError(c, f, err)
	}
	r.UpdatedAt = m.now()
	if err := m.store.saveProvider(ctx, r, false); err != nil {
		return m.formError(c, f, err)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/providers/"+url.PathEscape(r.ID)+"?done=saved")
}

// switchProvider enables or disables a provider, leaving the rest as it is.
func (m *Module) switchProvider(on bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		r, err := m.store.provider(ctx, c.Param("id"))
		if err != nil {
			return err
		}
		done := "disabled"
		if on {
			done = "enabled"
		}
		res := m.store.conn(ctx).Model(&providerRow{}).Where("id = ?", r.ID).
			Updates(map[string]any{"enabled": on, "updated_at": m.now()})
		if res.Error != nil {
			return res.Error
		}
		return c.Redirect(http.StatusSeeOther, adminBase+"/providers?done="+done)
	}
}

func (m *Module) deleteProviderForm(c echo.Context) error {
	if err := m.store.deleteProvider(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/providers?done=deleted")
}

// Texts of a test message.
const (
	testSubject = "Test message from the platform"
	testBody    = "This is a test message, sent from the backoffice to check a provider's settings."
)

// testProvider sends one test message through the provider, now, whether
// it is enabled or not and with its breaker left out of it, and goes to
// the message's page, which shows the outcome. The message is an ordinary
// message of the log (metadata test=true) with its history, but it has no
// delivery job: a failed test is not retried.
func (m *Module) testProvider(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := m.store.provider(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	to := strings.TrimSpace(c.FormValue("to"))
	msg := contracts.ContactMessage{Channel: contracts.Channel(r.Channel), To: to, Body: testBody,
		Category: contracts.CategoryTransactional, Metadata: map[string]string{"test": "true", "provider": r.Name}}
	if r.Channel == string(contracts.ChannelEmail) {
		msg.Subject = testSubject
	}
	if err := m.check(ctx, &msg); err != nil {
		e, _ := errs.As(err)
		test := map[string]string{"To": to, "Problem": e.Message}
		for _, x := range e.Details {
			if x.Field == "to" {
				test["Problem"] = "The recipient " + x.Message + "."
			}
		}
		return m.renderProvider(c, http.StatusUnprocessableEntity, m.formOf(r), nil, test)
	}
	row, err := newMessageRow(r.TenantID, &msg, m.now())
	if err != nil {
		return err
	}
	row.Status, row.Attempts, row.ProviderID = StatusSending, 1, &r.ID
	if err := m.store.insertMessage(ctx, row, m.event(row, StatusSending, r, "", "test from the backoffice")); err != nil {
		return err
	}
	p, serr := m.build(r)
	var ref string
	if serr == nil {
		sctx, cancel := context.WithTimeout(ctx, m.cfg.SendTimeout)
		ref, serr = p.Send(sctx, m.outgoing(row))
		cancel()
	}
	if serr == nil {
		upd := map[string]any{"status": StatusSent, "provider_message_id": nullable(ref), "updated_at": m.now()}
		if err := m.store.setStatus(ctx, row.ID, upd, m.event(row, StatusSent, r, outcomeAccepted, ref)); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, adminBase+"/messages/"+url.PathEscape(row.ID)+"?done=test_sent")
	}
	status, ok := permanentStatus(serr)
	if !ok {
		status = StatusFailed
	}
	upd := map[string]any{"status": status, "last_error": serr.Error(), "updated_at": m.now()}
	if err := m.store.setStatus(ctx, row.ID, upd, m.event(row, status, r, outcomePermanent, serr.Error())); err != nil {
		return errors.Join(serr, err)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/messages/"+url.PathEscape(row.ID)+"?done=test_failed")
}

func (m *Module) templatesPage(c echo.Context) error {
	manage := can(c, PermManage)
	l := &admin.List{
		ID: "templates",
		Columns: []admin.Column{{Key: "key", Label: "Key"}, {Key: "locale", Label: "Locale"}, {Key: "channel", Label: "Channel"},
			{Key: "subject", Label: "Subject"}, {Key: "updated", Label: "Updated"}},
		Filters: []admin.Filter{{Key: "key", Label: "Key", Kind: admin.FilterText}},
		CSVName: "contact-templates",
		Empty:   "No templates match.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			ts, total, err := m.ListTemplates(ctx, q.Filters["key"], q.Offset, q.Limit)
			if err != nil {
				return nil, 0, err
			}
			rows := make([]admin.Row, 0, len(ts))
			for _, t := range ts {
				loc := t.Locale
				if loc == "" {
					loc = "default"
				}
				label := "Open"
				if manage {
					label = "Edit"
				}
				rows = append(rows, admin.Row{Cells: []admin.Cell{{Text: t.Key, Mono: true}, {Text: loc}, {Text: t.Channel},
					{Text: admin.Clip(t.Subject, 80)}, {Text: admin.Stamp(t.UpdatedAt), Wrap: "nowrap"}},
					Actions: []admin.Action{{Label: label, Href: adminBase + "/templates/" + url.PathEscape(t.ID)}}})
			}
			return rows, total, nil
		},
	}
	return listPage(c, l, templatesTmpl, "Templates")
}

// templateForm is the template form as shown or as entered, with the
// preview's data and result.
type templateForm struct {
	ID string
	TemplateInput
	PreviewLocale string
	Data          string
	Preview       *Rendered
	Used          *Template // the template the preview chose, which a locale may fall back from
	Channels      []string
}

func (m *Module) newTemplatePage(c echo.Context) error {
	return m.renderTemplate(c, http.StatusOK, &templateForm{TemplateInput: TemplateInput{Channel: "email"}, Data: "{}"}, nil)
}

func (m *Module) templatePage(c echo.Context) error {
	t, err := m.GetTemplate(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderTemplate(c, http.StatusOK, &templateForm{ID: t.ID, TemplateInput: TemplateInput{Key: t.Key, Locale: t.Locale,
		Channel: t.Channel, Subject: t.Subject, Text: t.Text, HTML: t.HTML}, PreviewLocale: t.Locale, Data: "{}"}, nil)
}

// renderTemplate shows the template form, with the error of a refused
// save or preview.
func (m *Module) renderTemplate(c echo.Context, status int, f *templateForm, err error) error {
	f.Channels = channels
	d := pageData(c, "Templates")
	d["Form"] = f
	formProblems(d, err)
	title := "New template"
	if f.ID != "" {
		title = "Template " + f.Key
	}
	return admin.Render(c, status, templateTmpl, title, crumbs(admin.Crumb{Label: "Templates", Href: adminBase + "/templates"}), d)
}

func (m *Module) templateFormError(c echo.Context, f *templateForm, err error) error {
	return formError(err, func(status int, err error) error { return m.renderTemplate(c, status, f, err) })
}

func readTemplateForm(c echo.Context, id string) *templateForm {
	return &templateForm{ID: id, TemplateInput: TemplateInput{Key: strings.TrimSpace(c.FormValue("key")),
		Locale: strings.TrimSpace(c.FormValue("locale")), Channel: c.FormValue("channel"), Subject: c.FormValue("subject"),
		Text: c.FormValue("text"), HTML: c.FormValue("html")}, Data: "{}"}
}

// saveTemplateForm creates a template (no id) or replaces one.
func (m *Module) saveTemplateForm(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	f := readTemplateForm(c, id)
	var t *Template
	var err error
	if id == "" {
		t, err = m.SaveTemplate(ctx, f.TemplateInput)
	} else {
		t, err = m.updateTemplate(ctx, id, f.TemplateInput, nil)
	}
	if err != nil {
		return m.templateFormError(c, f, err)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/templates/"+url.PathEscape(t.ID)+"?done=template_saved")
}

// previewTemplateForm renders what a message of the template's key and
// channel, in the locale asked for, would say with the data given; the
// stored template is shown in the form, unchanged.
func (m *Module) previewTemplateForm(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := m.GetTemplate(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	f := &templateForm{ID: t.ID, TemplateInput: TemplateInput{Key: t.Key, Locale: t.Locale, Channel: t.Channel, Subject: t.Subject,
		Text: t.Text, HTML: t.HTML}, Data: strings.TrimSpace(c.FormValue("data"))}
	if f.Data == "" {
		f.Data = "{}"
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(f.Data), &data); err != nil || data == nil {
		return m.renderTemplate(c, http.StatusUnprocessableEntity, f, ErrInvalidTemplate.WithDetails(
			errs.Detail{Field: "data", Code: "json", Message: "must be a JSON object"}))
	}
	f.PreviewLocale = strings.TrimSpace(c.FormValue("preview_locale"))
	out, used, err := m.PreviewTemplate(ctx, t.Key, f.PreviewLocale, t.Channel, data)
	if err != nil {
		return m.templateFormError(c, f, err)
	}
	f.Preview, f.Used = out, used
	return m.renderTemplate(c, http.StatusOK, f, nil)
}

func (m *Module) deleteTemplateForm(c echo.Context) error {
	if err := m.DeleteTemplate(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/templates?done=template_deleted")
}
