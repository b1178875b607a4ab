package admin

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/security"
)

var usersCrumbs = []crumb{{Label: "Dashboard", Href: "/admin"}, {Label: "Users", Href: "/admin/users"}}

var roleLabels = map[security.Role]string{
	security.RolePlatformAdmin: "Platform admin",
	security.RoleOwner:         "Owner",
	security.RolePartner:       "Partner",
	security.RoleAgent:         "Agent",
	security.RoleCustomer:      "Customer",
}

func roleChoices() []Choice {
	out := make([]Choice, 0, len(security.Roles))
	for _, r := range security.Roles {
		out = append(out, Choice{Value: string(r), Label: roleLabels[r]})
	}
	return out
}

// grantable are the roles p may give.
func grantable(p *security.Principal) []Choice {
	var out []Choice
	for _, r := range security.Roles {
		if p.Kind == security.KindUser && p.Role.CanGrant(r) {
			out = append(out, Choice{Value: string(r), Label: roleLabels[r]})
		}
	}
	return out
}

func (s *Shell) userList(c echo.Context) *List {
	ctx := c.Request().Context()
	names, tenantChoices := s.tenantNames(ctx)
	p, _ := security.PrincipalFrom(ctx)
	canWrite := p.Can(security.PermUsersWrite)
	filters := []Filter{{Key: "role", Label: "Role", Options: roleChoices()},
		{Key: "status", Label: "Status", Options: statusChoices}}
	if len(tenantChoices) > 1 {
		filters = append(filters, Filter{Key: "tenant", Label: "Tenant", Options: tenantChoices})
	}
	return &List{
		ID: "users",
		Columns: []Column{{Key: "email", Label: "E-mail", Sort: "email"}, {Key: "name", Label: "Name", Sort: "name"},
			{Key: "role", Label: "Role", Sort: "role"}, {Key: "status", Label: "Status"}, {Key: "tenant", Label: "Tenant"},
			{Key: "totp", Label: "Two-factor"}, {Key: "last_login", Label: "Last sign-in", Sort: "last_login_at"}, {Key: "created", Label: "Created", Sort: "created_at"}},
		Sorts: map[string]string{"email": "email", "name": "name", "role": "role", "last_login_at": "last_login_at",
			"created_at": "created_at"},
		DefaultSort: "email",
		Filters:     filters,
		Search:      "Search e-mail or name",
		CSVName:     "users",
		Empty:       "No users match.",
		Fetch: func(ctx context.Context, q Query) ([]Row, int64, error) {
			us, total, err := s.sec.ListUsers(ctx, security.UserFilter{TenantID: q.Filters["tenant"], Role: q.Filters["role"],
				Status: q.Filters["status"], Q: q.Q, Offset: q.Offset, Limit: q.Limit, OrderBy: q.OrderBy()})
			if err != nil {
				return nil, 0, err
			}
			rows := make([]Row, 0, len(us))
			for _, u := range us {
				tn := names[u.TenantID]
				if tn == "" {
					tn = u.TenantID
				}
				r := Row{Cells: []Cell{{Text: u.Email, Href: "/admin/users/" + u.ID}, {Text: u.Name}, {Text: roleLabels[u.Role]},
					{Text: u.Status, Badge: statusBadge(u.Status)}, {Text: tn}, {Text: onOff(u.TOTPSecret != nil)}, {Text: when(u.LastLoginAt), Wrap: "nowrap"}, {Text: when(u.CreatedAt), Wrap: "nowrap"}}}
				if canWrite {
					r.Actions = append(r.Actions, Action{Label: "Edit", Href: "/admin/users/" + u.ID})
				}
				rows = append(rows, r)
			}
			return rows, total, nil
		},
	}
}

func (s *Shell) users(c echo.Context) error {
	t, done, err := s.userList(c).Run(c)
	if err != nil || done {
		return err
	}
	p, _ := security.PrincipalFrom(c.Request().Context())
	return s.render(c, http.StatusOK, "users", "Users", usersCrumbs[:1:1],
		map[string]any{"Table": t, "CanWrite": p.Can(security.PermUsersWrite)})
}

type userForm struct {
	User     *security.User
	Email    string
	Name     string
	Role     string
	Status   string
	Tenant   string
	Tenants  []Choice
	Roles    []Choice
	Version  int
	Write    bool
	Self     bool
	TenantNm string
}

func (s *Shell) userNew(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	_, tenants := s.tenantNames(ctx)
	f := userForm{Tenants: tenants, Tenant: p.Tenant(), Roles: grantable(p), Role: string(security.RoleAgent), Write: true}
	return s.render(c, http.StatusOK, "user_form", "New user", usersCrumbs, f)
}

func (s *Shell) userCreate(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	f := userForm{Email: strings.TrimSpace(c.FormValue("email")), Name: c.FormValue("name"), Role: c.FormValue("role"),
		Tenant: c.FormValue("tenant_id"), Roles: grantable(p), Write: true}
	if f.Tenant == "" {
		f.Tenant = p.Tenant()
	}
	u, err := s.sec.CreateUser(ctx, f.Tenant, security.CreateUserInput{Email: f.Email, Name: f.Name,
		Role: security.Role(f.Role), Password: c.FormValue("password")})
	if err != nil {
		_, f.Tenants = s.tenantNames(ctx)
		return s.renderForm(c, "user_form", "New user", usersCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/users/"+u.ID, "ok", "User "+u.Email+" created.")
}

func (s *Shell) loadUserForm(c echo.Context) (*userForm, error) {
	ctx := c.Request().Context()
	u, err := s.sec.GetUser(ctx, c.Param("id"))
	if err != nil {
		return nil, err
	}
	p, _ := security.PrincipalFrom(ctx)
	names, _ := s.tenantNames(ctx)
	f := &userForm{User: u, Email: u.Email, Name: u.Name, Role: string(u.Role), Status: u.Status, Version: u.Version,
		Write: p.Can(security.PermUsersWrite) && p.Role.CanGrant(u.Role), Self: p.ID == u.ID, Roles: grantable(p),
		TenantNm: names[u.TenantID]}
	if f.TenantNm == "" {
		f.TenantNm = u.TenantID
	}
	return f, nil
}

func (s *Shell) userEdit(c echo.Context) error {
	f, err := s.loadUserForm(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "user_form", f.User.Email, usersCrumbs, f)
}

func (s *Shell) userUpdate(c echo.Context) error {
	f, err := s.loadUserForm(c)
	if err != nil {
		return err
	}
	f.Email, f.Name = strings.TrimSpace(c.FormValue("email")), c.FormValue("name")
	in := security.UpdateUserInput{Email: &f.Email, Name: &f.Name}
	if !f.Self {
		f.Role, f.Status = c.FormValue("role"), c.FormValue("status")
		role := security.Role(f.Role)
		in.Role, in.Status = &role, &f.Status
	}
	// One's own password changes on the account page, which asks for the
	// current one; a borrowed session must not be enough.
	if pw := c.FormValue("password"); pw != "" && !f.Self {
		in.Password = &pw
	}
	if v, ok := formInt(c, "version"); ok {
		in.Version = &v
	}
	u, err := s.sec.UpdateUser(c.Request().Context(), f.User.ID, in)
	if err != nil {
		return s.renderForm(c, "user_form", f.User.Email, usersCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/users/"+u.ID, "ok", "User "+u.Email+" saved.")
}

// userResetTOTP turns off another user's two-factor authentication, for
// a user who lost the device and the recovery codes.
func (s *Shell) userResetTOTP(c echo.Context) error {
	f, err := s.loadUserForm(c)
	if err != nil {
		return err
	}
	if err := s.sec.ResetTOTP(c.Request().Context(), f.User.ID); err != nil {
		return s.renderForm(c, "user_form", f.User.Email, usersCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/users/"+f.User.ID, "ok",
		"Two-factor authentication is off for "+f.User.Email+", who is signed out everywhere.")
}

func (s *Shell) userDelete(c echo.Context) error {
	f, err := s.loadUserForm(c)
	if err != nil {
		return err
	}
	if err := s.sec.DeleteUser(c.Request().Context(), f.User.ID); err != nil {
		return s.renderForm(c, "user_form", f.User.Email, usersCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/users", "ok", "User "+f.User.Email+" deleted.")
}

// onOff labels a yes/no setting in a list.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
