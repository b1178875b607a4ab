// Package security is the platform's central security layer: tenants,
// users, roles and permissions, passwords, access and refresh tokens, API
// keys, signed service credentials for module-to-module calls, login
// throttling and the tenant scope that every store applies.
package security

import (
	"context"
	"slices"
)

// Kind is what a principal is.
type Kind string

// Kinds of principal.
const (
	KindUser    Kind = "user"
	KindAPIKey  Kind = "api_key"
	KindService Kind = "service"
	KindSystem  Kind = "system"
)

// Principal is the authenticated caller. It rides in the request context and
// in every queued task, so a store call sees the same identity wherever it
// runs.
type Principal struct {
	Kind     Kind     `json:"kind"`
	ID       string   `json:"id"`                  // user id, key id, module name, or "system"
	TenantID string   `json:"tenant_id"`           // the home tenant
	Acting   string   `json:"acting,omitempty"`    // the tenant operated on, when switched
	Role     Role     `json:"role,omitempty"`      // users only
	Scopes   []string `json:"scopes,omitempty"`    // api keys and service credentials
	Email    string   `json:"email,omitempty"`     // users only
	Audience string   `json:"audience,omitempty"`  // service credentials: the callee module
	Subject  string   `json:"on_behalf,omitempty"` // service credentials: the user the call is for
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// System is the principal of work the platform does on its own, such as a
// periodic task, within one tenant or (with an empty tenant) all of them.
func System(tenantID string) *Principal {
	return &Principal{Kind: KindSystem, ID: "system", TenantID: tenantID}
}

// Tenant is the tenant the principal operates on: the switched-to tenant, or
// its home tenant.
func (p *Principal) Tenant() string {
	if p.Acting != "" {
		return p.Acting
	}
	return p.TenantID
}

// Unrestricted reports whether the principal sees every tenant's rows: a
// platform admin who has not switched to a tenant, or the system acting
// platform-wide.
func (p *Principal) Unrestricted() bool {
	if p.Acting != "" {
		return false
	}
	return p.Role == RolePlatformAdmin || (p.Kind == KindSystem && p.TenantID == "")
}

// Can reports whether the principal holds perm. Users get their role's
// permissions; API keys and service credentials get their scopes.
func (p *Principal) Can(perm Permission) bool {
	switch p.Kind {
	case KindSystem:
		return true
	case KindUser:
		return RoleCan(p.Role, perm)
	default:
		return slices.Contains(p.Scopes, string(perm)) || slices.Contains(p.Scopes, string(PermAll))
	}
}

// String is a short label for logs: "user:<id>".
func (p *Principal) String() string { return string(p.Kind) + ":" + p.ID }
