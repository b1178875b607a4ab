package kernel

import (
	"context"
	"io/fs"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

// Module is one bounded context. Name() is its URL segment, table prefix,
// task-type prefix and config key: lower-case letters only.
type Module interface {
	Name() string
}

// Optional capabilities, discovered by type assertion.
type (
	// Router adds HTTP routes.
	Router interface{ Routes(r Routes) }
	// Worker registers task handlers; t.Handle("send", fn) registers "<module>:send".
	Worker interface{ Tasks(t *queue.Registry) }
	// Periodic registers cron-like schedules.
	Periodic interface{ Schedules(s *queue.Schedule) }
	// Migrator contributes versioned SQL, <dialect>/<version>_<name>.up.sql.
	Migrator interface{ Migrations() fs.FS }
	// AdminNav adds entries to the backoffice navigation.
	AdminNav interface{ AdminMenu() []AdminLink }
	// HealthChecker adds readiness checks to /readyz.
	HealthChecker interface{ HealthChecks() []HealthCheck }
	// Permissioner grants the module's permissions to roles.
	Permissioner interface {
		Permissions() map[security.Role][]security.Permission
	}
)

// Routes are a module's echo groups:
//   - API: /api/v1/<module>, authentication required
//   - Public: /api/v1/<module>, no authentication (webhooks, inbound mail)
//   - Admin: /admin/<module>, for the backoffice, authentication required
//   - Member: /member/<module>, the member area, authentication required
//   - Root: the server's root, unauthenticated, for protocol endpoints that
//     clients expect at a fixed path (Socket.IO's /socket.io/); a module
//     registers only paths it owns there
//
// Service credentials minted for another module are refused on all of them.
type Routes struct {
	API, Public, Admin, Member, Root *echo.Group
}

// AdminLink is one backoffice navigation entry. It is shown only to users
// who hold Permission.
type AdminLink struct {
	Module     string              `json:"module"`
	Label      string              `json:"label"`
	Path       string              `json:"path"`
	Icon       string              `json:"icon,omitempty"`
	Permission security.Permission `json:"permission"`
	Order      int                 `json:"order"`
}

// HealthCheck is one readiness check.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}
