package helpdesk

import (
	"cmp"
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/web"
)

// The backoffice pages of the module, under /admin/helpdesk: the inbox of
// tickets with its views and filters, a ticket with its conversation,
// properties and history, and the customers. They call the same service
// methods as the API, with the viewer's principal, so they see and change
// only the viewer's tenant; a platform admin works a tenant's desk after
// switching to it.

// adminBase is where the pages live.
const adminBase = "/admin/" + Name

// Each page is its own template set: every one defines "content".
var (
	inboxTmpl     = pageTemplate("inbox.html")
	newTicketTmpl = pageTemplate("new_ticket.html")
	ticketTmpl    = pageTemplate("ticket.html")
	customersTmpl = pageTemplate("customers.html")
	customerTmpl  = pageTemplate("customer.html")
	switchTmpl    = pageTemplate("switch.html")
	settingsTmpl  = pageTemplate("settings.html")
	reportsTmpl   = pageTemplate("reports.html")
	calendarTmpl  = pageTemplate("calendar.html")
	policyTmpl    = pageTemplate("sla_policy.html")
)

func pageTemplate(name string) *template.Template { return admin.ModulePage(web.FS, Name, name) }

// notices are the messages a page shows after an action redirected to it
// with ?done=<key>; only these texts can appear.
var notices = map[string]string{
	"created":          "The ticket is open.",
	"saved":            "The ticket is saved.",
	"replied":          "Your reply is added to the conversation.",
	"noted":            "Your internal note is added. Only agents see it.",
	"macro":            "The macro is applied.",
	"assigned":         "The ticket is assigned to the next available agent of its group.",
	"merged":           "The other ticket is merged into this one: its conversation shows here, and it is closed.",
	"linked":           "The tickets are linked.",
	"unlinked":         "The tickets are no longer linked.",
	"calendar_saved":   "The calendar is saved. Tickets take up its hours at their next change.",
	"calendar_deleted": "The calendar is deleted.",
	"policy_saved":     "The SLA policy is saved. It applies to tickets opened or changed from now on.",
	"policy_deleted":   "The SLA policy is deleted. Its tickets keep their due times.",
	"customer_created": "The customer is created.",
	"customer_saved":   "The customer is saved.",
	"view_saved":       "The view is saved: it is in the list of views.",
	"group_saved":      "The group is saved.",
	"group_deleted":    "The group is deleted.",
	"macro_saved":      "The macro is saved.",
	"macro_deleted":    "The macro is deleted.",
	"canned_saved":     "The canned response is saved.",
	"canned_deleted":   "The canned response is deleted.",
	"away_saved":       "Your status is saved.",
	"view_deleted":     "The view is deleted.",
	"view_updated":     "The view is updated: it lists what the filters above select.",
}

// AdminMenu implements kernel.AdminNav.
func (m *Module) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Helpdesk", Path: adminBase, Permission: PermRead, Order: 40}}
}

// adminRoutes registers the pages on the module's /admin/helpdesk group.
func (m *Module) adminRoutes(r kernel.Routes) {
	g := r.Admin
	if g == nil {
		return
	}
	page := func(method, path string, perm security.Permission, h echo.HandlerFunc) {
		admin.Handle(g, method, path, perm, h, tenantOnly)
	}
	page(http.MethodGet, "", PermRead, m.inboxPage)
	page(http.MethodGet, "/", PermRead, m.inboxPage)
	page(http.MethodPost, "/views", PermWrite, m.saveViewForm)
	page(http.MethodPost, "/views/:id", PermWrite, m.updateViewForm)
	page(http.MethodPost, "/views/:id/delete", PermWrite, m.deleteViewForm)
	page(http.MethodGet, "/tickets/new", PermWrite, m.newTicketPage)
	page(http.MethodPost, "/tickets", PermWrite, m.createTicketForm)
	page(http.MethodGet, "/tickets/:id", PermRead, m.ticketPage)
	page(http.MethodGet, "/tickets/:id/history", PermRead, m.ticketPage)
	page(http.MethodPost, "/tickets/:id", PermWrite, m.saveTicketForm)
	admin.Handle(g, http.MethodPost, "/tickets/:id/messages", PermWrite, m.replyForm, tenantOnly, m.uploadLimit())
	page(http.MethodGet, "/tickets/:id/attachments/:aid", PermRead, m.getAttachment)
	page(http.MethodPost, "/tickets/:id/macro", PermWrite, m.actionForm("macro", m.applyMacroForm))
	page(http.MethodPost, "/tickets/:id/assign", PermWrite, m.actionForm("assigned", m.assignForm))
	page(http.MethodPost, "/tickets/:id/merge", PermWrite, m.mergeForm)
	page(http.MethodPost, "/tickets/:id/links", PermWrite, m.linkForm)
	page(http.MethodPost, "/tickets/:id/links/:other/delete", PermWrite, m.unlinkForm)
	page(http.MethodGet, "/customers", PermRead, m.customersPage)
	page(http.MethodGet, "/customers/new", PermWrite, m.newCustomerPage)
	page(http.MethodPost, "/customers", PermWrite, m.createCustomerForm)
	page(http.MethodGet, "/customers/:id", PermRead, m.customerPage)
	page(http.MethodPost, "/customers/:id", PermWrite, m.saveCustomerForm)
	page(http.MethodGet, "/reports", PermRead, m.reportsPage)
	page(http.MethodGet, "/settings", PermRead, m.settingsPage)
	page(http.MethodGet, "/settings/calendars/new", PermManage, m.newCalendarPage)
	page(http.MethodPost, "/settings/calendars", PermManage, m.saveCalendarForm)
	page(http.MethodGet, "/settings/calendars/:id", PermRead, m.calendarPage)
	page(http.MethodPost, "/settings/calendars/:id", PermManage, m.saveCalendarForm)
	page(http.MethodPost, "/settings/calendars/:id/delete", PermManage, m.deleteCalendarForm)
	page(http.MethodGet, "/settings/sla-policies/new", PermManage, m.newPolicyPage)
	page(http.MethodPost, "/settings/sla-policies", PermManage, m.savePolicyForm)
	page(http.MethodGet, "/settings/sla-policies/:id", PermRead, m.policyPage)
	page(http.MethodPost, "/settings/sla-policies/:id", PermManage, m.savePolicyForm)
	page(http.MethodPost, "/settings/sla-policies/:id/delete", PermManage, m.deletePolicyForm)
	for _, r := range []struct {
		path                       string
		newPage, page, save, erase echo.HandlerFunc
	}{
		{"/settings/groups", m.newGroupPage, m.groupPage, m.saveGroupForm, m.deleteGroupForm},
		{"/settings/macros", m.newMacroPage, m.macroPage, m.saveMacroForm, m.deleteMacroForm},
		{"/settings/canned-responses", m.newCannedPage, m.cannedPage, m.saveCannedForm, m.deleteCannedForm},
	} {
		page(http.MethodGet, r.path+"/new", PermManage, r.newPage)
		page(http.MethodPost, r.path, PermManage, r.save)
		page(http.MethodGet, r.path+"/:id", PermRead, r.page)
		page(http.MethodPost, r.path+"/:id", PermManage, r.save)
		page(http.MethodPost, r.path+"/:id/delete", PermManage, r.erase)
	}
	page(http.MethodPost, "/settings/away", PermWrite, m.awayForm)
	page(http.MethodPost, "/settings/inbound-secret", PermManage, m.inboundSecretForm)
}

// tenantOnly shows a platform admin who has not switched to a tenant a
// page that asks them to: the desk is always one tenant's.
func tenantOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p, ok := security.PrincipalFrom(c.Request().Context()); ok && p.Unrestricted() {
			return admin.Render(c, http.StatusOK, switchTmpl, "Helpdesk", crumbs(), pageData(c, ""))
		}
		return next(c)
	}
}

func crumbs(extra ...admin.Crumb) []admin.Crumb {
	return append([]admin.Crumb{{Label: "Dashboard", Href: "/admin"}, {Label: "Helpdesk", Href: adminBase}}, extra...)
}

// tab is a link of the helpdesk pages' own navigation.
type tab struct {
	Label, Href string
	Current     bool
}

// splitTags reads a comma-separated list of tags.
func splitTags(s string) []string {
	tags := []string{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// pageData is what every helpdesk page gives its template: the links
// between the pages, the notice of a finished action, and whether the
// viewer may change things.
func pageData(c echo.Context, current string) map[string]any {
	var ts []tab
	for _, t := range []tab{{Label: "Inbox", Href: adminBase}, {Label: "Customers", Href: adminBase + "/customers"},
		{Label: "Reports", Href: adminBase + "/reports"}, {Label: "Settings", Href: adminBase + "/settings"}} {
		t.Current = t.Label == current
		ts = append(ts, t)
	}
	return map[string]any{"Tabs": ts, "Notice": notices[c.QueryParam("done")], "CanWrite": can(c, PermWrite)}
}

func can(c echo.Context, perm security.Permission) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Can(perm)
}

// problem is what a refused form shows: the error's message and the
// message of each field it names. An error a form cannot show (a fault)
// is returned, for the error page.
type problem struct {
	Text   string
	Fields map[string]string
	List   []errs.Detail // the details in order, for forms that list them
}

func formProblem(err error) (*problem, int, error) {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.Unauthenticated {
		return nil, 0, err
	}
	p := &problem{Text: e.Message, Fields: map[string]string{}, List: e.Details}
	for _, d := range e.Details {
		p.Fields[d.Field] = d.Message
	}
	return p, e.Kind.Status(), nil
}

// Field is the message of one field, for templates.
func (p *problem) Field(name string) string {
	if p == nil {
		return ""
	}
	return p.Fields[name]
}

// person is a user the desk names: an owner or agent of the tenant.
type person struct {
	ID, Label string
	Away      bool // skipped by round-robin assignment
}

// agents are the owners and agents of the viewer's tenant, whom tickets
// may be assigned to, by e-mail address, marked when away.
func (m *Module) agents(ctx context.Context) ([]person, error) {
	as, err := m.Agents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]person, len(as))
	for i, a := range as {
		out[i] = person{ID: a.ID, Label: a.Email, Away: a.Away}
		if a.Name != "" {
			out[i].Label = a.Name + " (" + a.Email + ")"
		}
	}
	return out, nil
}

// names maps agents' ids to their labels.
func names(people []person) map[string]string {
	out := make(map[string]string, len(people))
	for _, p := range people {
		out[p.ID] = p.Label
	}
	return out
}

// groupNames names groups by id.
func groupNames(groups []Group) map[string]string {
	out := make(map[string]string, len(groups))
	for _, g := range groups {
		out[g.ID] = g.Name
	}
	return out
}

// customersByID reads the customers with ids, for naming requesters.
func (s *store) customersByID(ctx context.Context, ids []string) (map[string]*customerRow, error) {
	out := map[string]*customerRow{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []customerRow
	if err := s.conn(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, nil
}

// customerLabel names a customer: their name, else their e-mail address.
func customerLabel(c *customerRow) string {
	switch {
	case c == nil:
		return "—"
	case c.Name != "":
		return c.Name
	case c.Email != nil:
		return *c.Email
	}
	return "(no name)"
}

// ---- the inbox

// inboxQuery is the inbox's filters as the query string gives them; a
// value that is not one of the choices is dropped, as a list page does.
type inboxQuery struct {
	Status, Priority, Assignee, Group, Q, Cursor string
	Sort, Order                                  string // "" for the list's default: newest first, best match first with q
	View                                         string // a saved view's id, whose filters are under these
	Limit                                        int    // tickets a page: 1 to httpx.MaxPerPage, 0 for inboxPageSize
}

func readInbox(v url.Values) inboxQuery {
	q := inboxQuery{Status: v.Get("status"), Priority: v.Get("priority"), Assignee: v.Get("assignee"),
		Group: v.Get("group"), Q: strings.TrimSpace(v.Get("q")), Cursor: v.Get("cursor"), View: v.Get("view")}
	if !slices.Contains(Statuses, q.Status) {
		q.Status = ""
	}
	if !slices.Contains(Priorities, q.Priority) {
		q.Priority = ""
	}
	if q.Assignee != filterMe && q.Assignee != filterNone && uuid.Validate(q.Assignee) != nil {
		q.Assignee = ""
	}
	if q.Group != filterNone && uuid.Validate(q.Group) != nil {
		q.Group = ""
	}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	if uuid.Validate(q.View) != nil {
		q.View = ""
	}
	if q.Sort = v.Get("sort"); !slices.Contains([]string{SortCreated, SortUpdated, SortPriority}, q.Sort) &&
		(q.Sort != SortRelevance || q.Q == "") {
		q.Sort = ""
	}
	if q.Order = v.Get("order"); q.Order != "asc" && q.Order != "desc" {
		q.Order = ""
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && n >= 1 && n <= httpx.MaxPerPage && n != inboxPageSize {
		q.Limit = n
	}
	return q
}

// values is the query string of q, with overrides ("" removes a key).
func (q inboxQuery) values(over map[string]string) url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"status": q.Status, "priority": q.Priority, "assignee": q.Assignee, "group": q.Group,
		"q": q.Q, "cursor": q.Cursor, "view": q.View, "sort": q.Sort, "order": q.Order} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	for k, x := range over {
		if x == "" {
			v.Del(k)
		} else {
			v.Set(k, x)
		}
	}
	return v
}

func inboxHref(v url.Values) string {
	if len(v) == 0 {
		return adminBase
	}
	return adminBase + "?" + v.Encode()
}

// view is a link of the inbox's side list: a named set of filters; a
// saved view has its ID, and Mine when the viewer may delete it.
type view struct {
	Label, Href string
	Current     bool
	ID          string
	Shared      bool
	Mine        bool
}

// filters is the filters of q, without its place in the list and view.
func (q inboxQuery) filters() inboxQuery {
	return inboxQuery{Status: q.Status, Priority: q.Priority, Assignee: q.Assignee, Group: q.Group, Q: q.Q,
		Sort: q.Sort, Order: q.Order}
}

// inboxState is what the inbox shows besides the tickets: the save-view
// form as typed and why it was refused.
type inboxState struct {
	ViewName    string
	ViewShared  bool
	ViewProblem *problem
}

// builtinViews are the inbox's fixed views.
var builtinViews = []struct {
	Label string
	Query inboxQuery
}{
	{"All tickets", inboxQuery{}},
	{"My tickets", inboxQuery{Assignee: filterMe}},
	{"Unassigned", inboxQuery{Assignee: filterNone}},
	{"New", inboxQuery{Status: StatusNew}},
	{"Open", inboxQuery{Status: StatusOpen}},
	{"Pending", inboxQuery{Status: StatusPending}},
	{"On hold", inboxQuery{Status: StatusOnHold}},
	{"Solved", inboxQuery{Status: StatusSolved}},
	{"Urgent", inboxQuery{Priority: "urgent"}},
}

// inboxRow is one ticket of a ticket table.
type inboxRow struct {
	*ticketRow
	Href, Requester, Assignee, Group string
	Breached                         bool // an SLA target is breached
}

func (m *Module) inboxPage(c echo.Context) error {
	q := readInbox(c.QueryParams())
	if q.View != "" {
		// The view's filters, under those of the query, show in the form.
		vals, err := m.withView(c.Request().Context(), c.QueryParams())
		if err != nil {
			return err
		}
		q = readInbox(vals)
		q.View = c.QueryParam("view")
	}
	return m.renderInbox(c, http.StatusOK, q, inboxState{})
}

func (m *Module) renderInbox(c echo.Context, status int, q inboxQuery, st inboxState) error {
	ctx := c.Request().Context()
	vals := q.values(map[string]string{"limit": strconv.Itoa(cmp.Or(q.Limit, inboxPageSize))})
	page, err := m.ticketList(ctx, vals)
	if k := errs.KindOf(err); (k == errs.Invalid || k == errs.BadRequest) && q.Cursor != "" {
		q.Cursor = "" // a cursor of another order, or none at all: the first page
		vals.Del("cursor")
		page, err = m.ticketList(ctx, vals)
	}
	if err != nil {
		return err
	}
	rows := hitRows(page.Items)
	var next string
	if page.Next != nil {
		next = inboxHref(q.values(map[string]string{"cursor": *page.Next}))
	}
	people, err := m.agents(ctx)
	if err != nil {
		return err
	}
	table, err := m.ticketTable(ctx, rows, people)
	if err != nil {
		return err
	}
	d := pageData(c, "Inbox")
	views := make([]view, len(builtinViews))
	for i, bv := range builtinViews {
		views[i] = view{Label: bv.Label, Href: inboxHref(bv.Query.values(nil)), Current: q.View == "" && bv.Query == q.filters()}
	}
	saved, err := m.savedViews(ctx, q.View)
	if err != nil {
		return err
	}
	var editable *view // the saved view shown, when the viewer may change it
	for i := range saved {
		if saved[i].Current && saved[i].Mine {
			editable = &saved[i]
		}
	}
	d["Views"], d["Saved"], d["Editable"], d["Query"], d["Rows"], d["Agents"] = views, saved, editable, q, table, people
	d["Statuses"], d["Priorities"], d["State"] = Statuses, Priorities, st
	if d["Groups"], err = m.Groups(ctx); err != nil {
		return err
	}
	d["NextHref"] = next
	if q.Cursor != "" {
		d["FirstHref"] = inboxHref(q.values(map[string]string{"cursor": ""}))
	}
	return admin.Render(c, status, inboxTmpl, "Inbox", crumbs()[:1], d)
}

// savedViews are the viewer's views and the tenant's shared ones, as links
// of the inbox's side list; current is the id of the one shown.
func (m *Module) savedViews(ctx context.Context, current string) ([]view, error) {
	rows, err := m.store.views(ctx, principalID(ctx))
	if err != nil {
		return nil, err
	}
	manage := false
	if p, ok := security.PrincipalFrom(ctx); ok {
		manage = p.Can(PermManage)
	}
	out := make([]view, len(rows))
	for i, v := range rows {
		out[i] = view{Label: v.Name, Href: inboxHref(url.Values{"view": {v.ID}}), Current: v.ID == current, ID: v.ID,
			Shared: v.Shared, Mine: v.OwnerID == principalID(ctx) || manage}
	}
	return out, nil
}

// saveViewForm saves the inbox's current filters and sort, which the form
// carries, as a view of the viewer's, and shows it.
func (m *Module) saveViewForm(c echo.Context) error {
	q, req, err := viewForm(c)
	if err != nil {
		return err
	}
	v, err := m.createView(c.Request().Context(), req)
	if err != nil {
		return m.viewFormProblem(c, err, q, req)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"?view="+v.ID+"&done=view_saved")
}

// updateViewForm renames, shares or unshares a view the viewer may change,
// and gives it the inbox's current filters and sort.
func (m *Module) updateViewForm(c echo.Context) error {
	q, req, err := viewForm(c)
	if err != nil {
		return err
	}
	v, err := m.changeView(c.Request().Context(), c.Param("id"), req)
	if err != nil {
		q.View = c.Param("id")
		return m.viewFormProblem(c, err, q, req)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"?view="+v.ID+"&done=view_updated")
}

// viewForm reads a save-view form: the inbox's filters and sort, and the
// view's name and sharing, as a request to the API's checks.
func viewForm(c echo.Context) (inboxQuery, *viewRequest, error) {
	form, err := c.FormParams()
	if err != nil {
		return inboxQuery{}, nil, err
	}
	q := readInbox(form)
	q.View, q.Cursor, q.Limit = "", "", 0
	name, shared := c.FormValue("name"), c.FormValue("shared") == "on"
	filters := map[string]string{}
	for k, x := range q.values(map[string]string{"sort": "", "order": ""}) {
		filters[k] = x[0]
	}
	req := &viewRequest{Name: &name, Filters: &filters, Shared: &shared, Sort: &q.Sort, Order: &q.Order}
	return q, req, nil
}

// viewFormProblem shows the inbox again with why err refused the view form,
// or fails with err when it is not the form's fault.
func (m *Module) viewFormProblem(c echo.Context, err error, q inboxQuery, req *viewRequest) error {
	p, status, err := formProblem(err)
	if err != nil {
		return err
	}
	return m.renderInbox(c, status, q, inboxState{ViewName: *req.Name, ViewShared: *req.Shared, ViewProblem: p})
}

// deleteViewForm deletes a view the viewer may change.
func (m *Module) deleteViewForm(c echo.Context) error {
	if err := m.removeView(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"?done=view_deleted")
}

// inboxPageSize is how many tickets a page of the inbox shows.
const inboxPageSize = 25

// ticketTable names the requesters and assignees of rows.
func (m *Module) ticketTable(ctx context.Context, rows []ticketRow, people []person) ([]inboxRow, error) {
	ids := make([]string, 0, len(rows))
	for _, t := range rows {
		ids = append(ids, t.RequesterID)
	}
	reqs, err := m.store.customersByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	agents := names(people)
	groups, err := m.Groups(ctx)
	if err != nil {
		return nil, err
	}
	groupName := groupNames(groups)
	out := make([]inboxRow, len(rows))
	for i := range rows {
		t := &rows[i]
		out[i] = inboxRow{ticketRow: t, Href: adminBase + "/tickets/" + t.ID, Requester: customerLabel(reqs[t.RequesterID]),
			Assignee: "—", Group: groupName[deref(t.GroupID)],
			Breached: t.FirstResponseBreachedAt != nil || t.ResolutionBreachedAt != nil}
		if t.AssigneeID != nil {
			out[i].Assignee = agents[*t.AssigneeID]
			if out[i].Assignee == "" {
				out[i].Assignee = "(former agent)"
			}
		}
	}
	return out, nil
}

// ---- a new ticket

// ticketForm is the new-ticket form as entered.
type ticketForm struct {
	Subject, Email, Name, Priority, Message string
}

func (m *Module) newTicketPage(c echo.Context) error {
	return m.renderNewTicket(c, http.StatusOK, &ticketForm{Priority: "normal", Email: c.QueryParam("email")}, nil)
}

func (m *Module) renderNewTicket(c echo.Context, status int, f *ticketForm, p *problem) error {
	d := pageData(c, "Inbox")
	d["Form"], d["Problem"], d["Priorities"] = f, p, Priorities
	return admin.Render(c, status, newTicketTmpl, "New ticket", crumbs(), d)
}

// createTicketForm opens a ticket for a requester, found or made by e-mail
// address, with its first message written by the agent.
func (m *Module) createTicketForm(c echo.Context) error {
	ctx := c.Request().Context()
	f := &ticketForm{Subject: c.FormValue("subject"), Email: c.FormValue("email"), Name: c.FormValue("name"),
		Priority: c.FormValue("priority"), Message: c.FormValue("message")}
	in, err := checkTicket(ctx, &ticketRequest{Subject: f.Subject, Message: f.Message, Priority: f.Priority, Channel: "web",
		Requester: &requester{Email: f.Email, Name: f.Name}})
	var t *ticketRow
	if err == nil {
		t, err = m.createTicket(ctx, in)
	}
	if err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderNewTicket(c, status, f, p)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+t.ID+"?done=created")
}
