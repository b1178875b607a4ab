package contact

import "github.com/platform/platform/internal/kernel"

// templateRoutes adds the template routes.
func (m *Module) templateRoutes(r kernel.Routes) {}
