package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/web"
)

// The backoffice pages of the module, under /admin/jobs: the dashboard
// (queues, counts, the last hour's throughput), the task lists and a task's
// page with its actions, the periodic schedules, and the buffers with their
// settings and items. Every page reads through the queue's and the
// buffers' tenant-scoped methods, so a tenant's owner sees only its own
// tenant's work.

// throughputWindow is how far back the dashboard's chart reaches, in
// throughputStep buckets.
const (
	throughputWindow = time.Hour
	throughputStep   = time.Minute
)

// Each page is its own template set: every one defines "content".
var (
	dashboardTmpl = pageTemplate("dashboard.html")
	tasksTmpl     = pageTemplate("tasks.html")
	taskTmpl      = pageTemplate("task.html")
	schedulesTmpl = pageTemplate("schedules.html")
	buffersTmpl   = pageTemplate("buffers.html")
	bufferTmpl    = pageTemplate("buffer.html")
)

func pageTemplate(name string) *template.Template { return admin.ModulePage(web.FS, Name, name) }

// notices are the messages a page shows after an action redirected to it
// with ?done=<key>; only these texts can appear.
var notices = map[string]string{
	"paused":   "The queue is paused: workers take no new tasks from it.",
	"resumed":  "The queue is running again.",
	"retried":  "The task is queued again.",
	"archived": "The task is archived: it will not run unless it is retried.",
	"deleted":  "The task is deleted.",
	"saved":    "The buffer's settings are saved.",
	"flushed":  "The buffer's ready items are being handed over now.",
	"revived":  "The dead letters are back in line for the next flush.",
	"requeued": "The item is back in line for the next flush.",
	"dropped":  "The item is deleted.",
}

// AdminMenu implements kernel.AdminNav.
func (m *Module) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Jobs", Path: "/admin/" + Name, Permission: PermRead, Order: 50}}
}

// adminRoutes registers the pages on the module's /admin/jobs group.
func (m *Module) adminRoutes(g *echo.Group) {
	admin.Handle(g, http.MethodGet, "", PermRead, m.dashboardPage)
	admin.Handle(g, http.MethodGet, "/", PermRead, m.dashboardPage)
	admin.Handle(g, http.MethodPost, "/queues/:name/pause", PermManage, m.queueAction(true))
	admin.Handle(g, http.MethodPost, "/queues/:name/resume", PermManage, m.queueAction(false))
	admin.Handle(g, http.MethodGet, "/tasks", PermRead, m.tasksPage)
	admin.Handle(g, http.MethodGet, "/tasks/:id", PermRead, m.taskPage)
	admin.Handle(g, http.MethodPost, "/tasks/:id/retry", PermManage, m.taskFormAction("retried", m.k.Queue.Rerun))
	admin.Handle(g, http.MethodPost, "/tasks/:id/archive", PermManage, m.taskFormAction("archived", m.k.Queue.Archive))
	admin.Handle(g, http.MethodPost, "/tasks/:id/delete", PermManage, m.taskFormAction("deleted", m.k.Queue.Delete))
	admin.Handle(g, http.MethodGet, "/schedules", PermRead, m.schedulesPage)
	admin.Handle(g, http.MethodGet, "/buffers", PermRead, m.buffersPage)
	admin.Handle(g, http.MethodGet, "/buffers/:name/:tenant", PermRead, m.bufferPage)
	admin.Handle(g, http.MethodPost, "/buffers/:name/:tenant", PermManage, m.saveBuffer)
	admin.Handle(g, http.MethodPost, "/buffers/:name/:tenant/flush", PermManage, m.bufferAction("flushed", m.FlushBuffer))
	admin.Handle(g, http.MethodPost, "/buffers/:name/:tenant/retry", PermManage, m.bufferAction("revived",
		func(ctx context.Context, name, tenant string) error {
			_, err := m.RetryDead(ctx, name, tenant)
			return err
		}))
	admin.Handle(g, http.MethodPost, "/buffers/:name/:tenant/items/:id/retry", PermManage, m.itemAction("requeued",
		func(ctx context.Context, name, id string) error {
			_, err := m.RetryItem(ctx, name, id)
			return err
		}))
	admin.Handle(g, http.MethodPost, "/buffers/:name/:tenant/items/:id/delete", PermManage, m.itemAction("dropped", m.DeleteItem))
}

func dashboardCrumbs() []admin.Crumb { return []admin.Crumb{{Label: "Dashboard", Href: "/admin"}} }

func jobsCrumbs() []admin.Crumb {
	return append(dashboardCrumbs(), admin.Crumb{Label: "Jobs", Href: "/admin/" + Name})
}

// tab is a link of the jobs pages' own navigation.
type tab struct {
	Label, Href string
	Current     bool
}

var tabs = []tab{{Label: "Overview", Href: "/admin/" + Name}, {Label: "Tasks", Href: "/admin/" + Name + "/tasks"},
	{Label: "Schedules", Href: "/admin/" + Name + "/schedules"}, {Label: "Buffers", Href: "/admin/" + Name + "/buffers"}}

// pageData is what every jobs page gives its template: the links between
// the pages with the current one, the notice of a finished action, and
// whether the viewer may act.
func pageData(c echo.Context, current string) map[string]any {
	ts := make([]tab, len(tabs))
	for i, t := range tabs {
		t.Current = t.Label == current
		ts[i] = t
	}
	return map[string]any{"Tabs": ts, "Notice": notices[c.QueryParam("done")],
		"CanManage": canManage(c), "Platform": unrestricted(c)}
}

func canManage(c echo.Context) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Can(PermManage)
}

// queueRow is one queue on the dashboard. Paused and the Redis counts span
// every tenant and are shown to platform admins only.
type queueRow struct {
	Name   string
	Weight int
	Counts []stateCount
	Paused bool
	Active int
	Retry  int
}

type stateCount struct {
	State string
	N     int64
	Href  string
}

func (m *Module) dashboardPage(c echo.Context) error {
	ctx := c.Request().Context()
	d := pageData(c, "Overview")
	counts, err := m.k.Queue.CountJobs(ctx)
	if err != nil {
		return err
	}
	rows := make([]queueRow, 0, len(queue.Queues))
	var waiting int64
	for name, w := range queue.Queues {
		r := queueRow{Name: name, Weight: w}
		waiting += counts[name][queue.StatePending] + counts[name][queue.StateEnqueued]
		for _, s := range queue.States {
			r.Counts = append(r.Counts, stateCount{State: s, N: counts[name][s], Href: tasksHref(name, s)})
		}
		if d["Platform"].(bool) {
			info, err := m.k.Queue.QueueInfo(ctx, name)
			if err != nil {
				return err
			}
			r.Paused, r.Active, r.Retry = info.Paused, info.Active, info.Retry
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Weight > rows[j].Weight })
	now := time.Now().UTC()
	pts, err := m.k.Queue.Throughput(ctx, now.Truncate(throughputStep).Add(throughputStep-throughputWindow), throughputStep)
	if err != nil {
		return err
	}
	d["Queues"], d["States"], d["Waiting"] = rows, queue.States, waiting
	d["Chart"], d["Done"], d["Archived"] = throughputChart(pts)
	return admin.Render(c, http.StatusOK, dashboardTmpl, "Jobs", dashboardCrumbs(), d)
}

func tasksHref(queueName, state string) string {
	v := url.Values{}
	if queueName != "" {
		v.Set("queue", queueName)
	}
	if state != "" {
		v.Set("state", state)
	}
	return "/admin/" + Name + "/tasks?" + v.Encode()
}

// throughput is the dashboard's chart: the layout of admin.BarChart over
// the jobs finished per step, each bar split into done and archived.
type throughput struct {
	admin.Chart
	Bars []throughputBar
}

type throughputBar struct {
	admin.Bar
	Done, Archived int64
	DoneY, DoneH   float64 // the done part, below the archived part
	ArchH          float64 // the archived part, from the bar's top
	ShowLabel      bool    // whole ten minutes are labelled, but not at the edges, where the text would be cut
}

func throughputChart(pts []queue.Point) (ch *throughput, done, archived int64) {
	labels := make([]string, len(pts))
	totals := make([]int64, len(pts))
	for i, p := range pts {
		labels[i] = p.At.Format("15:04")
		totals[i] = p.Done + p.Archived
		done += p.Done
		archived += p.Archived
	}
	ch = &throughput{Chart: admin.BarChart("Jobs finished per minute, last hour (UTC)", labels, totals)}
	for i, b := range ch.Chart.Bars {
		tb := throughputBar{Bar: b, Done: pts[i].Done, Archived: pts[i].Archived, DoneY: b.Y, DoneH: b.H,
			ShowLabel: pts[i].At.Minute()%10 == 0 && i > 0 && i < len(pts)-2}
		if totals[i] > 0 {
			archH := b.H * float64(pts[i].Archived) / float64(totals[i])
			tb.ArchH, tb.DoneY, tb.DoneH = archH, b.Y+archH, b.H-archH
		}
		ch.Bars = append(ch.Bars, tb)
	}
	return ch, done, archived
}

// queueAction pauses or resumes a queue; like the API, only for platform
// admins, as a queue carries every tenant's work.
func (m *Module) queueAction(pause bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !unrestricted(c) {
			return ErrPlatformOnly
		}
		ctx, name := c.Request().Context(), c.Param("name")
		if _, ok := queue.Queues[name]; !ok {
			return errs.ErrNotFound
		}
		op, done := m.k.Queue.Resume, "resumed"
		if pause {
			op, done = m.k.Queue.Pause, "paused"
		}
		if err := op(ctx, name); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/admin/"+Name+"?done="+done)
	}
}

func (m *Module) tasksPage(c echo.Context) error {
	t, done, err := m.taskList(c).Run(c)
	if err != nil || done {
		return err
	}
	d := pageData(c, "Tasks")
	d["Table"] = t
	return admin.Render(c, http.StatusOK, tasksTmpl, "Tasks", jobsCrumbs(), d)
}

// taskList is the table of tasks; the queue's ListJobs scopes it to the
// viewer's tenant.
func (m *Module) taskList(c echo.Context) *admin.List {
	states := make([]admin.Choice, 0, len(queue.States))
	for _, s := range queue.States {
		states = append(states, admin.Choice{Value: s, Label: s})
	}
	names := make([]string, 0, len(queue.Queues))
	for n := range queue.Queues {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return queue.Queues[names[i]] > queue.Queues[names[j]] })
	queues := make([]admin.Choice, 0, len(names))
	for _, n := range names {
		queues = append(queues, admin.Choice{Value: n, Label: n})
	}
	cols := []admin.Column{{Key: "created", Label: "Created", Sort: "created_at"}, {Key: "type", Label: "Type"},
		{Key: "queue", Label: "Queue"}, {Key: "state", Label: "State"}, {Key: "attempts", Label: "Attempts"},
		{Key: "error", Label: "Last error"}}
	platform := unrestricted(c)
	if platform {
		cols = append(cols, admin.Column{Key: "tenant", Label: "Tenant"})
	}
	return &admin.List{
		ID:          "tasks",
		Columns:     cols,
		Sorts:       map[string]string{"created_at": "created_at"},
		DefaultSort: "-created_at",
		Filters: []admin.Filter{{Key: "state", Label: "State", Options: states}, {Key: "queue", Label: "Queue", Options: queues},
			{Key: "type", Label: "Type", Kind: admin.FilterText}},
		CSVName: "tasks",
		Empty:   "No tasks match.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			jobs, total, err := m.k.Queue.ListJobs(ctx, queue.JobFilter{Queue: q.Filters["queue"], State: q.Filters["state"],
				Type: q.Filters["type"], Offset: q.Offset, Limit: q.Limit, Desc: q.Desc})
			if err != nil {
				return nil, 0, err
			}
			var tenants map[string]string
			if platform {
				ids := make([]string, len(jobs))
				for i, j := range jobs {
					ids[i] = j.TenantID
				}
				tenants = m.tenantNames(ctx, ids...)
			}
			rows := make([]admin.Row, 0, len(jobs))
			for _, j := range jobs {
				cells := []admin.Cell{{Text: admin.Stamp(j.CreatedAt), Wrap: "nowrap"},
					{Text: j.Type, Mono: true},
					{Text: j.Queue}, {Text: j.State, Badge: stateBadge(j.State)},
					{Text: strconv.Itoa(j.Attempts) + " of " + strconv.Itoa(j.MaxRetry+1)},
					{Text: admin.Clip(j.LastError, 200), Wrap: "anywhere"}}
				if platform {
					cells = append(cells, admin.Cell{Text: tenants[j.TenantID]})
				}
				rows = append(rows, admin.Row{Cells: cells,
					Actions: []admin.Action{{Label: "Open", Href: "/admin/" + Name + "/tasks/" + j.ID}}})
			}
			return rows, total, nil
		},
	}
}

// tenantNames names tenants by id, for a platform admin's pages; an id it
// cannot resolve stands for itself. It reads each tenant once, and a page
// names at most a page's worth.
func (m *Module) tenantNames(ctx context.Context, ids ...string) map[string]string {
	out := map[string]string{"": "—"}
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		out[id] = id
		if t, err := m.k.Security.GetTenant(ctx, id); err == nil {
			out[id] = t.Name
		}
	}
	return out
}

func stateBadge(state string) string {
	switch state {
	case queue.StateDone:
		return "ok"
	case queue.StateArchived:
		return "warn"
	}
	return "muted"
}

func (m *Module) taskPage(c echo.Context) error {
	j, err := m.k.Queue.Job(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	d := pageData(c, "Tasks")
	d["Task"], d["Badge"], d["Data"], d["MaxAttempts"] = j, stateBadge(j.State), prettyJSON(j.Data), j.MaxRetry+1
	if d["Platform"].(bool) {
		d["Tenant"] = m.tenantNames(c.Request().Context(), j.TenantID)[j.TenantID]
	}
	d["CanRetry"] = j.State == queue.StateArchived
	d["CanArchive"] = j.State == queue.StatePending || j.State == queue.StateEnqueued
	return admin.Render(c, http.StatusOK, taskTmpl, "Task",
		append(jobsCrumbs(), admin.Crumb{Label: "Tasks", Href: "/admin/" + Name + "/tasks"}), d)
}

// prettyJSON indents a task's data for reading; data that is not JSON is
// shown as it is.
func prettyJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// taskFormAction runs op on a task the viewer sees (the queue's re-run
// itself does not check the tenant) and goes back to the task, or to the
// list when it is gone.
func (m *Module) taskFormAction(done string, op func(ctx context.Context, id string) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, id := c.Request().Context(), c.Param("id")
		if _, err := m.k.Queue.Job(ctx, id); err != nil {
			return err
		}
		if err := op(ctx, id); err != nil {
			return err
		}
		target := "/admin/" + Name + "/tasks/" + url.PathEscape(id)
		if done == "deleted" {
			target = "/admin/" + Name + "/tasks"
		}
		return c.Redirect(http.StatusSeeOther, target+"?done="+done)
	}
}

func (m *Module) schedulesPage(c echo.Context) error {
	s, err := m.k.Queue.ListSchedules(c.Request().Context())
	if err != nil {
		return err
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	d := pageData(c, "Schedules")
	d["Schedules"] = s
	return admin.Render(c, http.StatusOK, schedulesTmpl, "Schedules", jobsCrumbs(), d)
}

func (m *Module) buffersPage(c echo.Context) error {
	ctx := c.Request().Context()
	views, err := m.ListBuffers(ctx)
	if err != nil {
		return err
	}
	d := pageData(c, "Buffers")
	d["Buffers"] = views
	if d["Platform"].(bool) {
		ids := make([]string, len(views))
		for i, v := range views {
			ids[i] = v.TenantID
		}
		d["Tenants"] = m.tenantNames(ctx, ids...)
	}
	return admin.Render(c, http.StatusOK, buffersTmpl, "Buffers", jobsCrumbs(), d)
}

// bufferHref is the page of one tenant's buffer.
func bufferHref(name, tenant string) string {
	return "/admin/" + Name + "/buffers/" + url.PathEscape(name) + "/" + url.PathEscape(tenant)
}

// bufferForm is the settings form as entered.
type bufferForm struct {
	Schedule, BatchSize string
	Paused              bool
}

func (m *Module) bufferPage(c echo.Context) error {
	return m.renderBuffer(c, http.StatusOK, nil, "")
}

// renderBuffer shows one tenant's buffer: its settings form (with what was
// entered and why it was refused, after a failed save), its actions and
// its items by state.
func (m *Module) renderBuffer(c echo.Context, status int, form *bufferForm, problem string) error {
	ctx, name, tenant := c.Request().Context(), c.Param("name"), c.Param("tenant")
	v, err := m.Buffer(ctx, name, tenant)
	if err != nil {
		return err
	}
	t, done, err := m.itemList(c, v).Run(c)
	if err != nil || done {
		return err
	}
	if form == nil {
		form = &bufferForm{Schedule: v.Schedule, BatchSize: strconv.Itoa(v.BatchSize), Paused: v.Paused}
	}
	d := pageData(c, "Buffers")
	d["Buffer"], d["Href"], d["Table"], d["Form"], d["Problem"], d["MaxBatchSize"] =
		v, bufferHref(v.Name, v.TenantID), t, form, problem, MaxBatchSize
	if d["Platform"].(bool) {
		d["Tenant"] = m.tenantNames(ctx, v.TenantID)[v.TenantID]
	}
	return admin.Render(c, status, bufferTmpl, v.Name, append(jobsCrumbs(),
		admin.Crumb{Label: "Buffers", Href: "/admin/" + Name + "/buffers"}), d)
}

// itemList is the table of a tenant's items of a buffer, dead letters
// with their actions.
func (m *Module) itemList(c echo.Context, v *BufferView) *admin.List {
	states := []admin.Choice{{Value: ItemReady, Label: ItemReady}, {Value: ItemBatched, Label: ItemBatched},
		{Value: ItemDead, Label: "dead letters"}}
	manage := canManage(c)
	href := bufferHref(v.Name, v.TenantID)
	return &admin.List{
		ID: "items",
		Columns: []admin.Column{{Key: "created", Label: "Added"}, {Key: "state", Label: "State"}, {Key: "attempts", Label: "Attempts"},
			{Key: "error", Label: "Last error"}, {Key: "data", Label: "Data"}},
		Filters: []admin.Filter{{Key: "state", Label: "State", Options: states}},
		CSVName: "buffer-items",
		Empty:   "No items match.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			items, total, err := m.BufferItems(ctx, v.Name, v.TenantID, q.Filters["state"], q.Offset, q.Limit)
			if err != nil {
				return nil, 0, err
			}
			rows := make([]admin.Row, 0, len(items))
			for _, it := range items {
				badge := "muted"
				if it.State == ItemDead {
					badge = "warn"
				}
				r := admin.Row{Cells: []admin.Cell{{Text: admin.Stamp(it.CreatedAt), Wrap: "nowrap"}, {Text: it.State, Badge: badge},
					{Text: strconv.Itoa(it.Attempts)}, {Text: admin.Clip(it.LastError, 200), Wrap: "anywhere"},
					{Text: admin.Clip(string(it.Data), 200), Mono: true, Wrap: "anywhere"}}}
				if manage && it.State != ItemBatched {
					item := href + "/items/" + url.PathEscape(it.ID)
					if it.State == ItemDead {
						r.Actions = append(r.Actions, admin.Action{Label: "Retry", Post: item + "/retry"})
					}
					r.Actions = append(r.Actions, admin.Action{Label: "Delete", Post: item + "/delete", Confirm: "Delete this item?", Danger: true})
				}
				rows = append(rows, r)
			}
			return rows, total, nil
		},
	}
}

// saveBuffer changes the schedule, batch size and pause switch of one
// tenant's buffer. A field left as it is is not sent, so that a default
// stays a default; a refused value shows the form again, unchanged.
func (m *Module) saveBuffer(c echo.Context) error {
	ctx, name, tenant := c.Request().Context(), c.Param("name"), c.Param("tenant")
	v, err := m.Buffer(ctx, name, tenant)
	if err != nil {
		return err
	}
	form := &bufferForm{Schedule: strings.TrimSpace(c.FormValue("schedule")), BatchSize: strings.TrimSpace(c.FormValue("batch_size")),
		Paused: c.FormValue("paused") == "on"}
	p := BufferPatch{Paused: &form.Paused}
	if form.Schedule != v.Schedule {
		p.Schedule = &form.Schedule
	}
	size, err := strconv.Atoi(form.BatchSize)
	if form.BatchSize == "" {
		size, err = 0, nil // back to the default
	}
	if err != nil {
		return m.renderBuffer(c, http.StatusUnprocessableEntity, form, ErrBadBatchSize.Message)
	}
	if size != v.BatchSize {
		p.BatchSize = &size
	}
	if _, err := m.UpdateBuffer(ctx, v.Name, v.TenantID, p); err != nil {
		if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
			return m.renderBuffer(c, http.StatusUnprocessableEntity, form, e.Message)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, bufferHref(v.Name, v.TenantID)+"?done=saved")
}

// bufferAction runs op on one tenant's buffer and goes back to its page.
func (m *Module) bufferAction(done string, op func(ctx context.Context, name, tenant string) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, tenant := c.Param("name"), c.Param("tenant")
		if err := op(c.Request().Context(), name, tenant); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, bufferHref(name, tenant)+"?done="+done)
	}
}

// itemAction runs op on one item of a buffer the viewer sees and goes back
// to the buffer's page.
func (m *Module) itemAction(done string, op func(ctx context.Context, name, id string) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, name, tenant := c.Request().Context(), c.Param("name"), c.Param("tenant")
		if _, err := m.Buffer(ctx, name, tenant); err != nil {
			return err
		}
		if err := op(ctx, name, c.Param("id")); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, bufferHref(name, tenant)+"?done="+done)
	}
}
