package helpdesk

import "github.com/platform/platform/internal/kernel"

// slaRoutes serves calendars and SLA policies.
func (m *Module) slaRoutes(r kernel.Routes) {}
