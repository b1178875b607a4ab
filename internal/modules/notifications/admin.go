package notifications

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/web"
)

// The backoffice page of the module, /admin/notifications: a form that
// notifies everyone with a role, or the whole tenant.

var sendTmpl = admin.ModulePage(web.FS, Name, "send.html")

// AdminMenu implements kernel.AdminNav.
func (m *Module) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Notifications", Path: "/admin/" + Name, Permission: PermSend, Order: 60}}
}

func (m *Module) adminRoutes(g *echo.Group) {
	admin.Handle(g, http.MethodGet, "", PermSend, m.sendPage)
	admin.Handle(g, http.MethodPost, "", PermSend, m.sendForm)
}

// sendFormData is what the form holds.
type sendFormData struct {
	Target, Role, Title, Body, Link, Category, Priority string
}

// roles are those a notification can go to.
var roles = []security.Role{security.RoleOwner, security.RolePartner, security.RoleAgent, security.RoleCustomer}

func (m *Module) renderSend(c echo.Context, status int, f *sendFormData, notice string, err error) error {
	d := map[string]any{"Form": f, "Roles": roles, "Priorities": priorities, "Notice": notice,
		"HasTenant": security.TenantOf(c.Request().Context()) != ""}
	fields := map[string]string{}
	if e, ok := errs.As(err); ok {
		d["Problem"] = e.Message
		for _, x := range e.Details {
			fields[x.Field] = x.Message
		}
	}
	d["Errors"] = fields
	return admin.Render(c, status, sendTmpl, "Send a notification",
		[]admin.Crumb{{Label: "Dashboard", Href: "/admin"}}, d)
}

func (m *Module) sendPage(c echo.Context) error {
	notice := ""
	if n, err := strconv.Atoi(c.QueryParam("sent")); err == nil && n >= 0 {
		notice = fmt.Sprintf("The notification went to %d %s.", n, plural(n, "person", "people"))
	}
	return m.renderSend(c, http.StatusOK, &sendFormData{Target: "role", Role: string(security.RoleAgent),
		Priority: string(contracts.PriorityNormal)}, notice, nil)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (m *Module) sendForm(c echo.Context) error {
	f := &sendFormData{Target: c.FormValue("target"), Role: c.FormValue("role"), Title: strings.TrimSpace(c.FormValue("title")),
		Body: strings.TrimSpace(c.FormValue("body")), Link: strings.TrimSpace(c.FormValue("link")),
		Category: strings.TrimSpace(c.FormValue("category")), Priority: c.FormValue("priority")}
	n := contracts.Notification{Title: f.Title, Body: f.Body, Link: f.Link, Category: f.Category,
		Priority: contracts.NotificationPriority(f.Priority)}
	switch f.Target {
	case "tenant":
		n.Recipient.Tenant = true
	case "role":
		n.Recipient.Role = f.Role
	}
	row, _, err := m.notify(c.Request().Context(), n)
	if err != nil {
		if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
			return m.renderSend(c, e.Kind.Status(), f, "", err)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/%s?sent=%d", Name, row.Recipients))
}
