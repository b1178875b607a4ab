package security

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
)

// TenantHeader switches a platform admin or a franchise owner to one of the
// tenants it may see.
const TenantHeader = "X-Tenant-ID"

// Authenticate reads the bearer credential, if any, and puts the principal
// and the request's audit metadata into the request context. A credential
// that is present but bad is a 401 at once, even on a public route.
func (s *Service) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := audit.WithMeta(req.Context(), audit.Meta{IP: c.RealIP(), UserAgent: req.UserAgent(), RequestID: httpx.RequestID(c)})
		h := req.Header.Get(echo.HeaderAuthorization)
		if h != "" && actsForPrincipal(req.URL.Path) {
			scheme, tok, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
				return ErrInvalidToken.WithMessage("Send credentials as Authorization: Bearer <token>.")
			}
			p, err := s.AuthenticateToken(ctx, strings.TrimSpace(tok))
			if err != nil {
				return err
			}
			if sw := req.Header.Get(TenantHeader); sw != "" && sw != p.TenantID {
				ctx = WithPrincipal(ctx, p)
				if p.Kind != KindUser || !(p.Role == RolePlatformAdmin || p.Role == RoleOwner || p.Role == RolePartner) {
					return ErrTenantSwitch
				}
				t, err := s.VisibleTenant(ctx, sw)
				if err != nil {
					return ErrTenantSwitch
				}
				cp := *p
				cp.Acting = t.ID
				p = &cp
			}
			ctx = WithPrincipal(ctx, p)
			c.Set(httpx.PrincipalLogKey, p.String())
		}
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// actsForPrincipal reports whether a path is one where requests act for a
// principal: the API, the backoffice and the member area. Elsewhere, such as
// /metrics with its own bearer token, the Authorization header is not ours.
func actsForPrincipal(path string) bool {
	for _, p := range []string{"/api", "/admin", "/member"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// RequireAuth refuses a request without a principal.
func RequireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := PrincipalFrom(c.Request().Context()); !ok {
			return errs.ErrUnauthenticated
		}
		return next(c)
	}
}

// Require refuses a principal without perm: 401 without one, 403 otherwise.
func Require(perm Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := PrincipalFrom(c.Request().Context())
			if !ok {
				return errs.ErrUnauthenticated
			}
			if err := serviceBound(c, p); err != nil {
				return err
			}
			if !p.Can(perm) {
				return errs.ErrForbidden
			}
			return next(c)
		}
	}
}

// audienceKey marks a request whose route belongs to the module that a
// service credential was made for.
const audienceKey = "security.audience"

// errServiceCredential refuses a service credential where no module has
// claimed it: it is not an access token, and the kernel's own routes take
// none.
var errServiceCredential = ErrInvalidToken.WithMessage("A service credential is good only on the routes of the module it was made for.")

// serviceBound refuses a service principal that no Audience middleware has
// accepted. Module routes run Audience before Require, so only the kernel's
// own routes (and any route outside a module group) refuse it.
func serviceBound(c echo.Context, p *Principal) error {
	if p.Kind == KindService && c.Get(audienceKey) != p.Audience {
		return errServiceCredential
	}
	return nil
}

// RequireUser refuses a request without a principal, and a service
// credential: for routes such as /auth/me that need no permission but are
// the kernel's own.
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := PrincipalFrom(c.Request().Context())
		if !ok {
			return errs.ErrUnauthenticated
		}
		if err := serviceBound(c, p); err != nil {
			return err
		}
		return next(c)
	}
}

// Audience refuses service credentials minted for another module, so that a
// credential for one module cannot be replayed against another.
func Audience(module string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p, ok := PrincipalFrom(c.Request().Context()); ok && p.Kind == KindService {
				if p.Audience != module {
					return ErrWrongAudience
				}
				c.Set(audienceKey, module)
			}
			return next(c)
		}
	}
}
