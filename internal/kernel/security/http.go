package security

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
)

// Routes registers the kernel's security API under v1 (/api/v1).
func (s *Service) Routes(v1 *echo.Group) {
	v1.POST("/auth/login", s.handleLogin)
	v1.POST("/auth/refresh", s.handleRefresh)
	v1.POST("/auth/logout", s.handleLogout)
	v1.GET("/auth/me", s.handleMe, RequireUser)
	v1.POST("/auth/totp/recovery-codes", s.handleRegenerateRecoveryCodes, RequireUser)

	v1.GET("/tenants", s.handleListTenants, Require(PermTenantsRead))
	v1.POST("/tenants", s.handleCreateTenant, Require(PermTenantsWrite))
	v1.GET("/tenants/:id", s.handleGetTenant, Require(PermTenantsRead))
	v1.PATCH("/tenants/:id", s.handleUpdateTenant, Require(PermTenantsWrite))
	v1.DELETE("/tenants/:id", s.handleDeleteTenant, Require(PermTenantsWrite))
	v1.GET("/tenants/:id/users", s.handleListTenantUsers, Require(PermUsersRead))
	v1.POST("/tenants/:id/users", s.handleCreateUser, Require(PermUsersWrite))

	v1.GET("/users", s.handleListUsers, Require(PermUsersRead))
	v1.GET("/users/:id", s.handleGetUser, Require(PermUsersRead))
	v1.PATCH("/users/:id", s.handleUpdateUser, Require(PermUsersWrite))
	v1.DELETE("/users/:id", s.handleDeleteUser, Require(PermUsersWrite))
	v1.DELETE("/users/:id/totp", s.handleResetTOTP, Require(PermUsersWrite))

	v1.GET("/api-keys", s.handleListKeys, Require(PermKeysRead))
	v1.POST("/api-keys", s.handleCreateKey, Require(PermKeysWrite))
	v1.DELETE("/api-keys/:id", s.handleRevokeKey, Require(PermKeysWrite))

	v1.GET("/audit-events", s.handleListAudit, Require(PermAuditRead))
}

type loginInput struct {
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=200"`
	OTP      string `json:"otp" validate:"max=32"` // an authenticator or recovery code
}

func (s *Service) handleLogin(c echo.Context) error {
	var in loginInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	toks, _, err := s.Login(c.Request().Context(), in.Email, in.Password, in.OTP)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, toks)
}

type refreshInput struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=200"`
}

func (s *Service) handleRefresh(c echo.Context) error {
	var in refreshInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	toks, err := s.Refresh(c.Request().Context(), in.RefreshToken)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, toks)
}

func (s *Service) handleLogout(c echo.Context) error {
	var in refreshInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	if err := s.Logout(c.Request().Context(), in.RefreshToken); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type meView struct {
	UserView
	Kind        Kind     `json:"kind"`
	ActingAs    string   `json:"acting_tenant_id,omitempty"`
	Permissions []string `json:"permissions"`
	// RecoveryLeft is the count of unused recovery codes, with TOTP on.
	RecoveryLeft *int `json:"recovery_codes_left,omitempty"`
}

type principalView struct {
	Kind     Kind     `json:"kind"`
	ID       string   `json:"id"`
	TenantID string   `json:"tenant_id"`
	Scopes   []string `json:"scopes"`
}

func (s *Service) handleMe(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := PrincipalFrom(ctx)
	if p.Kind != KindUser {
		return c.JSON(http.StatusOK, principalView{Kind: p.Kind, ID: p.ID, TenantID: p.TenantID, Scopes: p.Scopes})
	}
	u, err := s.Me(ctx)
	if err != nil {
		return err
	}
	v := meView{UserView: u.View(), Kind: KindUser, ActingAs: p.Acting, Permissions: PermissionsOf(u.Role)}
	if u.TOTPSecret != nil {
		n, err := s.RecoveryCodesLeft(ctx)
		if err != nil {
			return err
		}
		v.RecoveryLeft = &n
	}
	return c.JSON(http.StatusOK, v)
}

type regenerateInput struct {
	Password string `json:"password" validate:"required,max=200"`
	Code     string `json:"code" validate:"required,max=10"`
}

type recoveryCodesView struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Service) handleRegenerateRecoveryCodes(c echo.Context) error {
	var in regenerateInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	codes, err := s.RegenerateRecoveryCodes(c.Request().Context(), in.Password, in.Code)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, recoveryCodesView{RecoveryCodes: codes})
}

func (s *Service) handleResetTOTP(c echo.Context) error {
	if err := s.ResetTOTP(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var tenantSorts = map[string]string{"created_at": "created_at", "name": "name", "slug": "slug"}

func (s *Service) handleListTenants(c echo.Context) error {
	lp, err := httpx.ParseList(c, tenantSorts, "created_at")
	if err != nil {
		return err
	}
	f := TenantFilter{ParentID: c.QueryParam("parent_id"), Status: c.QueryParam("status"), Q: lp.Q,
		Offset: lp.Offset(), Limit: lp.PerPage, OrderBy: lp.OrderBy()}
	ts, total, err := s.ListTenants(c.Request().Context(), f)
	if err != nil {
		return err
	}
	views := make([]TenantView, len(ts))
	for i := range ts {
		views[i] = ts[i].View()
	}
	return c.JSON(http.StatusOK, httpx.NewPage(views, total, lp))
}

func (s *Service) handleCreateTenant(c echo.Context) error {
	var in CreateTenantInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	t, err := s.CreateTenant(c.Request().Context(), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/tenants/"+t.ID)
	return c.JSON(http.StatusCreated, t.View())
}

func (s *Service) handleGetTenant(c echo.Context) error {
	t, err := s.GetTenant(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	setETag(c, t.Version)
	return c.JSON(http.StatusOK, t.View())
}

func (s *Service) handleUpdateTenant(c echo.Context) error {
	var in UpdateTenantInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	byHeader, err := ifMatch(c, &in.Version)
	if err != nil {
		return err
	}
	t, err := s.UpdateTenant(c.Request().Context(), c.Param("id"), in)
	if err != nil {
		return preconditionFailed(err, byHeader)
	}
	setETag(c, t.Version)
	return c.JSON(http.StatusOK, t.View())
}

func (s *Service) handleDeleteTenant(c echo.Context) error {
	if err := s.DeleteTenant(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var userSorts = map[string]string{"created_at": "created_at", "email": "email", "name": "name", "role": "role"}

func (s *Service) listUsers(c echo.Context, tenantID string) error {
	lp, err := httpx.ParseList(c, userSorts, "created_at")
	if err != nil {
		return err
	}
	f := UserFilter{TenantID: tenantID, Role: c.QueryParam("role"), Status: c.QueryParam("status"), Q: lp.Q,
		Offset: lp.Offset(), Limit: lp.PerPage, OrderBy: lp.OrderBy()}
	us, total, err := s.ListUsers(c.Request().Context(), f)
	if err != nil {
		return err
	}
	views := make([]UserView, len(us))
	for i := range us {
		views[i] = us[i].View()
	}
	return c.JSON(http.StatusOK, httpx.NewPage(views, total, lp))
}

func (s *Service) handleListUsers(c echo.Context) error {
	return s.listUsers(c, c.QueryParam("tenant_id"))
}

func (s *Service) handleListTenantUsers(c echo.Context) error {
	if _, err := s.VisibleTenant(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return s.listUsers(c, c.Param("id"))
}

func (s *Service) handleCreateUser(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.VisibleTenant(ctx, c.Param("id")); err != nil {
		return err
	}
	var in CreateUserInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	u, err := s.CreateUser(ctx, c.Param("id"), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/users/"+u.ID)
	return c.JSON(http.StatusCreated, u.View())
}

func (s *Service) handleGetUser(c echo.Context) error {
	u, err := s.GetUser(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	setETag(c, u.Version)
	return c.JSON(http.StatusOK, u.View())
}

func (s *Service) handleUpdateUser(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.GetUser(ctx, c.Param("id")); err != nil {
		return err
	}
	var in UpdateUserInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	byHeader, err := ifMatch(c, &in.Version)
	if err != nil {
		return err
	}
	u, err := s.UpdateUser(ctx, c.Param("id"), in)
	if err != nil {
		return preconditionFailed(err, byHeader)
	}
	setETag(c, u.Version)
	return c.JSON(http.StatusOK, u.View())
}

func (s *Service) handleDeleteUser(c echo.Context) error {
	if err := s.DeleteUser(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var keySorts = map[string]string{"created_at": "created_at", "name": "name", "last_used_at": "last_used_at"}

func (s *Service) handleListKeys(c echo.Context) error {
	lp, err := httpx.ParseList(c, keySorts, "-created_at")
	if err != nil {
		return err
	}
	f := KeyFilter{Offset: lp.Offset(), Limit: lp.PerPage, OrderBy: lp.OrderBy()}
	switch c.QueryParam("revoked") {
	case "":
	case "true", "false":
		b := c.QueryParam("revoked") == "true"
		f.Revoked = &b
	default:
		return errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.").
			WithDetails(errs.Detail{Field: "revoked", Code: "bool", Message: "must be true or false"})
	}
	ks, total, err := s.ListAPIKeys(c.Request().Context(), f)
	if err != nil {
		return err
	}
	views := make([]APIKeyView, len(ks))
	for i := range ks {
		views[i] = ks[i].View()
	}
	return c.JSON(http.StatusOK, httpx.NewPage(views, total, lp))
}

func (s *Service) handleCreateKey(c echo.Context) error {
	var in CreateKeyInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	k, full, err := s.CreateAPIKey(c.Request().Context(), in)
	if err != nil {
		return err
	}
	v := k.View()
	v.Key = full
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/api-keys/"+k.ID)
	return c.JSON(http.StatusCreated, v)
}

func (s *Service) handleRevokeKey(c echo.Context) error {
	if err := s.RevokeAPIKey(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var auditSorts = map[string]string{"created_at": "created_at"}

func (s *Service) handleListAudit(c echo.Context) error {
	lp, err := httpx.ParseList(c, auditSorts, "-created_at")
	if err != nil {
		return err
	}
	f := audit.Filter{TenantID: c.QueryParam("tenant_id"), Action: c.QueryParam("action"), ActorID: c.QueryParam("actor_id"),
		TargetType: c.QueryParam("target_type"), TargetID: c.QueryParam("target_id"),
		Offset: lp.Offset(), Limit: lp.PerPage, OrderBy: lp.OrderBy()}
	var details []errs.Detail
	for _, k := range []string{"from", "to"} {
		v := c.QueryParam(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			details = append(details, errs.Detail{Field: k, Code: "rfc3339", Message: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"})
			continue
		}
		if k == "from" {
			f.From = t
		} else {
			f.To = t
		}
	}
	if len(details) > 0 {
		return errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.").WithDetails(details...)
	}
	ctx := c.Request().Context()
	if f.TenantID != "" {
		// A platform admin reads every tenant's trail, a deleted tenant's
		// too: that is what the trail is kept for. Anyone else names a
		// tenant it can see.
		if p, ok := PrincipalFrom(ctx); ok && p.Unrestricted() {
			if _, err := uuid.Parse(f.TenantID); err != nil {
				return ErrTenantNotFound
			}
		} else if _, err := s.VisibleTenant(ctx, f.TenantID); err != nil {
			return err
		}
	}
	evs, total, err := s.audit.List(ctx, Scope(ctx), f)
	if err != nil {
		return err
	}
	for i := range evs {
		if evs[i].Data == nil {
			evs[i].Data = map[string]any{}
		}
		evs[i].CreatedAt = evs[i].CreatedAt.UTC()
	}
	return c.JSON(http.StatusOK, httpx.NewPage(evs, total, lp))
}

func setETag(c echo.Context, version int) {
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(version)+`"`)
}

// ifMatch takes the version from an If-Match header when the body has none,
// and reports whether it did; a body version and a header that disagree are
// a failed precondition.
func ifMatch(c echo.Context, version **int) (bool, error) {
	h := c.Request().Header.Get("If-Match")
	if h == "" || h == "*" {
		return false, nil
	}
	v, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(h, "W/"), `"`))
	if err != nil || v < 1 {
		return false, errs.ErrPrecondition.WithMessage("If-Match must be an ETag from a previous response.")
	}
	if *version != nil && **version != v {
		return false, errs.ErrPrecondition
	}
	*version = &v
	return true, nil
}

// preconditionFailed turns a version conflict into 412 when the version came
// from If-Match: HTTP says a false precondition is a 412, whatever the body.
func preconditionFailed(err error, byHeader bool) error {
	if byHeader && errors.Is(err, ErrVersionConflict) {
		return errs.ErrPrecondition
	}
	return err
}
