package admin

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/security"
)

var tenantsCrumbs = []crumb{{Label: "Dashboard", Href: "/admin"}, {Label: "Tenants", Href: "/admin/tenants"}}

var statusChoices = []Choice{{Value: security.StatusActive, Label: "Active"}, {Value: security.StatusSuspended, Label: "Suspended"}}

func statusBadge(st string) string {
	if st == security.StatusActive {
		return "ok"
	}
	return "warn"
}

// tenantNames maps the visible tenants' ids to names, for list columns and
// selects; it is capped, and an id beyond the cap shows as itself.
func (s *Shell) tenantNames(ctx context.Context) (map[string]string, []Choice) {
	names := map[string]string{}
	var choices []Choice
	p, ok := security.PrincipalFrom(ctx)
	if !ok || !p.Can(security.PermTenantsRead) {
		return names, nil
	}
	ts, _, err := s.sec.ListTenants(ctx, security.TenantFilter{Limit: 500, OrderBy: "name ASC"})
	if err != nil {
		return names, nil
	}
	for _, t := range ts {
		names[t.ID] = t.Name
		choices = append(choices, Choice{Value: t.ID, Label: t.Name})
	}
	return names, choices
}

func (s *Shell) tenantList(c echo.Context) *List {
	names, _ := s.tenantNames(c.Request().Context())
	p, _ := security.PrincipalFrom(c.Request().Context())
	canWrite := p.Can(security.PermTenantsWrite)
	return &List{
		ID: "tenants",
		Columns: []Column{{Key: "name", Label: "Name", Sort: "name"}, {Key: "slug", Label: "Slug", Sort: "slug"},
			{Key: "parent", Label: "Parent"}, {Key: "status", Label: "Status"}, {Key: "created", Label: "Created", Sort: "created_at"}},
		Sorts:       map[string]string{"name": "name", "slug": "slug", "created_at": "created_at"},
		DefaultSort: "name",
		Filters:     []Filter{{Key: "status", Label: "Status", Options: statusChoices}},
		Search:      "Search name or slug",
		CSVName:     "tenants",
		Empty:       "No tenants match.",
		Fetch: func(ctx context.Context, q Query) ([]Row, int64, error) {
			ts, total, err := s.sec.ListTenants(ctx, security.TenantFilter{Status: q.Filters["status"], Q: q.Q,
				Offset: q.Offset, Limit: q.Limit, OrderBy: q.OrderBy()})
			if err != nil {
				return nil, 0, err
			}
			rows := make([]Row, 0, len(ts))
			for _, t := range ts {
				parent := ""
				if t.ParentID != nil {
					parent = names[*t.ParentID]
					if parent == "" {
						parent = *t.ParentID
					}
				}
				r := Row{Cells: []Cell{{Text: t.Name, Href: "/admin/tenants/" + t.ID}, {Text: t.Slug, Mono: true}, {Text: parent},
					{Text: t.Status, Badge: statusBadge(t.Status)}, {Text: when(t.CreatedAt)}}}
				if canWrite {
					r.Actions = append(r.Actions, Action{Label: "Edit", Href: "/admin/tenants/" + t.ID})
				}
				rows = append(rows, r)
			}
			return rows, total, nil
		},
	}
}

func (s *Shell) tenants(c echo.Context) error {
	t, done, err := s.tenantList(c).Run(c)
	if err != nil || done {
		return err
	}
	p, _ := security.PrincipalFrom(c.Request().Context())
	return s.render(c, http.StatusOK, "tenants", "Tenants", tenantsCrumbs[:1:1],
		map[string]any{"Table": t, "CanWrite": p.Can(security.PermTenantsWrite)})
}

// treeNode is a tenant with its member tenants.
type treeNode struct {
	Tenant   security.Tenant
	Children []*treeNode
}

// treeLimit caps the tenants drawn in the tree.
const treeLimit = 1000

func (s *Shell) tenantTree(c echo.Context) error {
	ctx := c.Request().Context()
	ts, total, err := s.sec.ListTenants(ctx, security.TenantFilter{Limit: treeLimit, OrderBy: "name ASC"})
	if err != nil {
		return err
	}
	byID := map[string]*treeNode{}
	for _, t := range ts {
		byID[t.ID] = &treeNode{Tenant: t}
	}
	var roots []*treeNode
	for _, t := range ts {
		n := byID[t.ID]
		if t.ParentID != nil && byID[*t.ParentID] != nil {
			parent := byID[*t.ParentID]
			parent.Children = append(parent.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return s.render(c, http.StatusOK, "tenant_tree", "Tenant tree", tenantsCrumbs,
		map[string]any{"Roots": roots, "Truncated": total > int64(len(ts))})
}

type tenantForm struct {
	Tenant  *security.Tenant
	Name    string
	Slug    string
	Parent  string
	Status  string
	Parents []Choice
	Kids    []security.Tenant
	IsRoot  bool
	Write   bool
	Version int
}

func (s *Shell) tenantNew(c echo.Context) error {
	_, parents := s.tenantNames(c.Request().Context())
	f := tenantForm{Parents: parents, Parent: c.QueryParam("parent"), Write: true}
	return s.render(c, http.StatusOK, "tenant_form", "New tenant", tenantsCrumbs, f)
}

func (s *Shell) tenantCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := tenantForm{Name: c.FormValue("name"), Slug: strings.TrimSpace(c.FormValue("slug")), Parent: c.FormValue("parent_id"), Write: true}
	in := security.CreateTenantInput{Name: f.Name, Slug: f.Slug}
	if f.Parent != "" {
		in.ParentID = &f.Parent
	}
	t, err := s.sec.CreateTenant(ctx, in)
	if err != nil {
		_, f.Parents = s.tenantNames(ctx)
		return s.renderForm(c, "tenant_form", "New tenant", tenantsCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/tenants/"+t.ID, "ok", "Tenant "+t.Name+" created.")
}

func (s *Shell) loadTenantForm(c echo.Context) (*tenantForm, error) {
	ctx := c.Request().Context()
	t, err := s.sec.GetTenant(ctx, c.Param("id"))
	if err != nil {
		return nil, err
	}
	p, _ := security.PrincipalFrom(ctx)
	f := &tenantForm{Tenant: t, Name: t.Name, Slug: t.Slug, Status: t.Status, IsRoot: t.Slug == security.RootSlug,
		Write: p.Can(security.PermTenantsWrite), Version: t.Version}
	kids, _, err := s.sec.ListTenants(ctx, security.TenantFilter{ParentID: t.ID, Limit: 100, OrderBy: "name ASC"})
	if err != nil {
		return nil, err
	}
	f.Kids = kids
	return f, nil
}

func (s *Shell) tenantEdit(c echo.Context) error {
	f, err := s.loadTenantForm(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "tenant_form", f.Tenant.Name, tenantsCrumbs, f)
}

func (s *Shell) tenantUpdate(c echo.Context) error {
	f, err := s.loadTenantForm(c)
	if err != nil {
		return err
	}
	f.Name, f.Slug, f.Status = c.FormValue("name"), strings.TrimSpace(c.FormValue("slug")), c.FormValue("status")
	in := security.UpdateTenantInput{Name: &f.Name, Slug: &f.Slug}
	if !f.IsRoot && f.Status != "" {
		in.Status = &f.Status
	}
	if v, ok := formInt(c, "version"); ok {
		in.Version = &v
	}
	t, err := s.sec.UpdateTenant(c.Request().Context(), f.Tenant.ID, in)
	if err != nil {
		return s.renderForm(c, "tenant_form", f.Tenant.Name, tenantsCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/tenants/"+t.ID, "ok", "Tenant "+t.Name+" saved.")
}

func (s *Shell) tenantDelete(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.sec.GetTenant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.sec.DeleteTenant(ctx, t.ID); err != nil {
		if f, ferr := s.loadTenantForm(c); ferr == nil {
			return s.renderForm(c, "tenant_form", f.Tenant.Name, tenantsCrumbs, f, err)
		}
		return err
	}
	return s.redirectFlash(c, "/admin/tenants", "ok", "Tenant "+t.Name+" deleted.")
}
