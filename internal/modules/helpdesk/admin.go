package helpdesk

import "github.com/platform/platform/internal/kernel"

// adminRoutes serves the backoffice pages.
func (m *Module) adminRoutes(r kernel.Routes) {}
