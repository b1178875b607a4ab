package contact

import "github.com/platform/platform/internal/kernel"

// protectionRoutes adds the suppression and provider callback routes.
func (m *Module) protectionRoutes(r kernel.Routes) {}
