package contact

import "github.com/labstack/echo/v4"

// adminRoutes adds the backoffice pages.
func (m *Module) adminRoutes(g *echo.Group) {}
