package security

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Scope is the tenant condition every store applies to a tenant-owned table:
// rows of the principal's acting tenant only, every row for an unrestricted
// principal, and none without a principal. It is the one place tenant
// isolation is enforced; handlers never build tenant filters.
//
//	s.db.Conn(ctx).Scopes(security.Scope(ctx)).First(&t, "id = ?", id)
func Scope(ctx context.Context) func(*gorm.DB) *gorm.DB {
	return ScopeColumn(ctx, "tenant_id")
}

// ScopeColumn is Scope for a table whose tenant column has another name.
func ScopeColumn(ctx context.Context, column string) func(*gorm.DB) *gorm.DB {
	return func(q *gorm.DB) *gorm.DB {
		p, ok := PrincipalFrom(ctx)
		if !ok {
			return q.Where("1 = 0")
		}
		if p.Unrestricted() {
			return q
		}
		return q.Where(clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: column}, Value: p.Tenant()})
	}
}

// TenantOf is the tenant a new row of the caller's belongs to.
func TenantOf(ctx context.Context) string {
	if p, ok := PrincipalFrom(ctx); ok {
		return p.Tenant()
	}
	return ""
}
