package helpdesk

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// Saved views: an agent's named ticket list (filters, q, sort and order as
// the list's query parameters), private or shared with the tenant's staff.
// GET /tickets?view=<id> applies one.

// maxViews caps the views an agent owns.
const maxViews = 100

var (
	ErrViewNotFound = errs.New(errs.NotFound, "helpdesk.view_not_found", "The view does not exist.")
	ErrViewNotYours = errs.New(errs.Forbidden, "helpdesk.view_not_yours",
		"Only the agent who saved a shared view, or an owner of the tenant, may change it.")
	ErrInvalidView = errs.New(errs.Invalid, "helpdesk.invalid_view", "The view has invalid fields.")
)

type viewRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	OwnerID   string    `gorm:"column:owner_id"`
	Name      string    `gorm:"column:name"`
	Params    string    `gorm:"column:params"` // URL-encoded list parameters
	Shared    bool      `gorm:"column:shared"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (viewRow) TableName() string { return "helpdesk_views" }

func (s *store) createView(ctx context.Context, v *viewRow) error {
	return s.db.Conn(ctx).Create(v).Error
}

func (s *store) view(ctx context.Context, id string) (*viewRow, error) {
	var v viewRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&v).Error; err != nil {
		return nil, notFound(err, ErrViewNotFound)
	}
	return &v, nil
}

// views are the caller's own views and the tenant's shared ones, by name.
func (s *store) views(ctx context.Context, owner string) ([]viewRow, error) {
	var out []viewRow
	return out, s.conn(ctx).Where("owner_id = ? OR shared = ?", owner, true).Order("name, id").Find(&out).Error
}

func (s *store) countViews(ctx context.Context, owner string) (int, error) {
	var n int64
	return int(n), s.conn(ctx).Model(&viewRow{}).Where("owner_id = ?", owner).Count(&n).Error
}

func (s *store) updateView(ctx context.Context, id string, set map[string]any) error {
	return s.conn(ctx).Model(&viewRow{}).Where("id = ?", id).Updates(set).Error
}

func (s *store) deleteView(ctx context.Context, id string) error {
	return s.conn(ctx).Where("id = ?", id).Delete(&viewRow{}).Error
}

// visibleView is a view the caller may apply: their own or a shared one.
func (m *Module) visibleView(ctx context.Context, id string) (*viewRow, error) {
	if uuid.Validate(id) != nil || !staff(ctx) {
		return nil, ErrViewNotFound
	}
	v, err := m.store.view(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.Shared && v.OwnerID != principalID(ctx) {
		return nil, ErrViewNotFound
	}
	return v, nil
}

// ownView is a view the caller may change: their own, or a shared one
// when they manage the tenant's desk.
func (m *Module) ownView(ctx context.Context, id string) (*viewRow, error) {
	v, err := m.visibleView(ctx, id)
	if err != nil {
		return nil, err
	}
	p, _ := security.PrincipalFrom(ctx)
	if v.OwnerID != principalID(ctx) && !p.Can(PermManage) {
		return nil, ErrViewNotYours
	}
	return v, nil
}

// withView is vals with the view's parameters under them: a parameter of
// vals overrides the view's, even when empty.
func (m *Module) withView(ctx context.Context, vals url.Values) (url.Values, error) {
	v, err := m.visibleView(ctx, vals.Get("view"))
	if err != nil {
		return nil, err
	}
	out, _ := url.ParseQuery(v.Params)
	for k, x := range vals {
		if k != "view" {
			out[k] = x
		}
	}
	return out, nil
}

type viewRequest struct {
	Name    *string            `json:"name"`
	Filters *map[string]string `json:"filters"`
	Sort    *string            `json:"sort"`
	Order   *string            `json:"order"`
	Shared  *bool              `json:"shared"`
}

type viewView struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Filters   map[string]string `json:"filters"`
	Sort      string            `json:"sort"`
	Order     string            `json:"order"`
	Shared    bool              `json:"shared"`
	OwnerID   string            `json:"owner_id"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

func viewOfRow(v *viewRow) viewView {
	vals, _ := url.ParseQuery(v.Params)
	out := viewView{ID: v.ID, Name: v.Name, Filters: map[string]string{}, Sort: vals.Get("sort"), Order: vals.Get("order"),
		Shared: v.Shared, OwnerID: v.OwnerID, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
	for k := range vals {
		if k != "sort" && k != "order" {
			out.Filters[k] = strings.Join(vals[k], ",")
		}
	}
	return out
}

// viewParams checks a view's filters, sort and order as the ticket list
// would read them, and encodes them; q is them as the list reads them.
func viewParams(ctx context.Context, filters map[string]string, sort, order string) (params string, q ticketQuery, d []errs.Detail) {
	vals := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(filters)) {
		if k == "sort" || k == "order" || !slices.Contains(listParams, k) {
			d = append(d, invalid("filters."+k, "unknown", "is not a filter of the ticket list"))
			continue
		}
		if filters[k] != "" {
			vals.Set(k, filters[k])
		}
	}
	for k, x := range map[string]string{"sort": sort, "order": order} {
		if x != "" {
			vals.Set(k, x)
		}
	}
	if len(d) > 0 {
		return "", q, d
	}
	q, err := parseTicketQuery(vals, principalID(ctx))
	if err != nil {
		var e *errs.Error
		if !errors.As(err, &e) {
			return "", q, []errs.Detail{invalid("filters", "invalid", err.Error())}
		}
		for _, x := range e.Details {
			if x.Field != "sort" && x.Field != "order" {
				x.Field = "filters." + x.Field
			}
			d = append(d, x)
		}
	}
	return vals.Encode(), q, d
}

// viewRoutes serves saved views.
func (m *Module) viewRoutes(r kernel.Routes) {
	read, write := security.Require(PermRead), security.Require(PermWrite)
	r.API.GET("/views", m.listViews, read)
	r.API.POST("/views", m.postView, write)
	r.API.GET("/views/:id", m.getView, read)
	r.API.PATCH("/views/:id", m.patchView, write)
	r.API.DELETE("/views/:id", m.deleteViewHTTP, write)
}

func (m *Module) listViews(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := m.store.views(ctx, principalID(ctx))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": views(rows, viewOfRow)})
}

func (m *Module) getView(c echo.Context) error {
	v, err := m.visibleView(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOfRow(v))
}

// viewColumns checks a view request against the view it changes (nil for
// a new one) and returns the columns it sets. Filters of a sound request
// must name the tenant's own groups, agents and customers (viewRefs).
func (m *Module) viewColumns(ctx context.Context, req *viewRequest, old *viewRow) (map[string]any, error) {
	var d []errs.Detail
	set := map[string]any{}
	if req.Name != nil || old == nil {
		name := ""
		if req.Name != nil {
			name = strings.TrimSpace(*req.Name)
		}
		if name == "" || utf8.RuneCountInString(name) > 100 {
			d = append(d, invalid("name", "required", "must be 1 to 100 characters"))
		}
		set["name"] = name
	}
	if req.Shared != nil {
		set["shared"] = *req.Shared
	}
	if req.Filters != nil || req.Sort != nil || req.Order != nil || old == nil {
		cur := viewView{Filters: map[string]string{}}
		if old != nil {
			cur = viewOfRow(old)
		}
		if req.Filters != nil {
			cur.Filters = *req.Filters
		}
		if req.Sort != nil {
			cur.Sort = *req.Sort
		}
		if req.Order != nil {
			cur.Order = *req.Order
		}
		params, q, pd := viewParams(ctx, cur.Filters, cur.Sort, cur.Order)
		d = append(d, pd...)
		set["params"] = params
		if len(d) == 0 {
			rd, err := m.viewRefs(ctx, q)
			if err != nil {
				return nil, err
			}
			d = rd
		}
	}
	if len(d) > 0 {
		return nil, ErrInvalidView.WithDetails(d...)
	}
	return set, nil
}

func (m *Module) postView(c echo.Context) error {
	var req viewRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	v, err := m.createView(c.Request().Context(), &req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewOfRow(v))
}

// createView saves a view of the caller's, checked as viewColumns does; an
// agent keeps at most maxViews.
func (m *Module) createView(ctx context.Context, req *viewRequest) (*viewRow, error) {
	set, err := m.viewColumns(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	at := now()
	v := &viewRow{ID: newID(), TenantID: security.TenantOf(ctx), OwnerID: principalID(ctx), Name: set["name"].(string),
		Params: set["params"].(string), Shared: req.Shared != nil && *req.Shared, CreatedAt: at, UpdatedAt: at}
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		n, err := m.store.countViews(ctx, v.OwnerID)
		if err != nil {
			return err
		}
		if n >= maxViews {
			return ErrInvalidView.WithDetails(invalid("name", "max", "an agent keeps at most 100 views; delete one first"))
		}
		return m.store.createView(ctx, v)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (m *Module) patchView(c echo.Context) error {
	var req viewRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	v, err := m.changeView(c.Request().Context(), c.Param("id"), &req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOfRow(v))
}

// changeView changes what req names of a view the caller may change (see
// ownView), checked as viewColumns does, and returns the view as it is now.
func (m *Module) changeView(ctx context.Context, id string, req *viewRequest) (*viewRow, error) {
	v, err := m.ownView(ctx, id)
	if err != nil {
		return nil, err
	}
	set, err := m.viewColumns(ctx, req, v)
	if err != nil {
		return nil, err
	}
	if len(set) > 0 {
		set["updated_at"] = now()
		if err := m.store.updateView(ctx, v.ID, set); err != nil {
			return nil, err
		}
	}
	return m.store.view(ctx, v.ID)
}

// viewRefs are the details of filters that name a group, an assignee or
// a requester this desk does not have: such a view would list nothing, and
// another tenant's id is not for this one to keep.
func (m *Module) viewRefs(ctx context.Context, q ticketQuery) ([]errs.Detail, error) {
	var d []errs.Detail
	if groups := slices.DeleteFunc(slices.Clone(q.Groups), func(g string) bool { return g == filterNone }); len(groups) > 0 {
		gs, err := m.Groups(ctx)
		if err != nil {
			return nil, err
		}
		known := groupNames(gs)
		for _, g := range groups {
			if known[g] == "" {
				d = append(d, invalid("filters.group", "exists", "names no group of this desk: "+g))
			}
		}
	}
	for _, a := range q.Assignees {
		if a == filterNone || a == principalID(ctx) {
			continue
		}
		if err := m.checkAssignee(ctx, a); errs.KindOf(err) == errs.Invalid {
			d = append(d, invalid("filters.assignee", "exists", "names no owner or agent of this tenant: "+a))
		} else if err != nil {
			return nil, err
		}
	}
	if len(q.Requesters) > 0 {
		found, err := m.store.customersByID(ctx, q.Requesters)
		if err != nil {
			return nil, err
		}
		for _, r := range q.Requesters {
			if found[r] == nil {
				d = append(d, invalid("filters.requester", "exists", "names no customer of this desk: "+r))
			}
		}
	}
	return d, nil
}

func (m *Module) deleteViewHTTP(c echo.Context) error {
	if err := m.removeView(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// removeView deletes a view the caller may change (see ownView).
func (m *Module) removeView(ctx context.Context, id string) error {
	v, err := m.ownView(ctx, id)
	if err != nil {
		return err
	}
	return m.store.deleteView(ctx, v.ID)
}
