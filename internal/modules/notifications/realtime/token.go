package realtime

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// serveToken is POST /admin/notifications/realtime-token: a short-lived
// access token of the signed-in backoffice user, for the bell's socket and
// its calls to the inbox API, which takes bearer tokens only. The admin
// group has checked the session cookie and the CSRF token; a bearer token
// is refused here, so that holding one cannot renew it for ever.
func (g *Gateway) serveToken(c echo.Context) error {
	p, ok := security.PrincipalFrom(c.Request().Context())
	if _, session := security.SessionFrom(c); !ok || !session {
		return errs.ErrUnauthenticated
	}
	tok, ttl, err := g.k.Security.AccessTokenFor(p)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": ttl})
}
