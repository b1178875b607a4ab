package security

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/validate"
)

// CreateTenantInput is the body of POST /tenants.
type CreateTenantInput struct {
	Name     string         `json:"name" validate:"required,min=1,max=200"`
	Slug     string         `json:"slug" validate:"required,slug"`
	ParentID *string        `json:"parent_id" validate:"omitempty,uuid"`
	Settings map[string]any `json:"settings"`
}

// UpdateTenantInput is the body of PATCH /tenants/{id}; absent fields stay.
type UpdateTenantInput struct {
	Name     *string        `json:"name" validate:"omitempty,min=1,max=200"`
	Slug     *string        `json:"slug" validate:"omitempty,slug"`
	Status   *string        `json:"status" validate:"omitempty,oneof=active suspended"`
	Settings map[string]any `json:"settings"`
	Version  *int           `json:"version" validate:"omitempty,min=1"`
}

// TenantFilter narrows ListTenants.
type TenantFilter struct {
	ParentID string
	Status   string
	Q        string
	Offset   int
	Limit    int
	OrderBy  string
}

// require returns the principal in ctx when it holds perm.
func require(ctx context.Context, perm Permission) (*Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errs.ErrUnauthenticated
	}
	if !p.Can(perm) {
		return nil, errs.ErrForbidden
	}
	return p, nil
}

// visible limits a tenants query to what the principal may see: every tenant
// for a platform admin, otherwise its tenant and the tenants under it.
func (s *Service) visible(ctx context.Context, p *Principal) (func(*gorm.DB) *gorm.DB, error) {
	if p.Unrestricted() {
		return func(q *gorm.DB) *gorm.DB { return q.Where("status <> ?", StatusDeleted) }, nil
	}
	var home Tenant
	if err := s.db.Conn(ctx).Where("id = ?", p.Tenant()).Take(&home).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return func(q *gorm.DB) *gorm.DB { return q.Where("1 = 0") }, nil
		}
		return nil, err
	}
	return func(q *gorm.DB) *gorm.DB {
		return q.Where("status <> ? AND path LIKE ?", StatusDeleted, home.Path+"%")
	}, nil
}

// VisibleTenant returns the tenant if the principal may see it; a tenant
// outside its reach is not found, never forbidden, so ids leak nothing.
func (s *Service) VisibleTenant(ctx context.Context, id string) (*Tenant, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errs.ErrUnauthenticated
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrTenantNotFound
	}
	vis, err := s.visible(ctx, p)
	if err != nil {
		return nil, err
	}
	var t Tenant
	if err := s.db.Conn(ctx).Scopes(vis).Where("id = ?", id).Take(&t).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrTenantNotFound
		}
		return nil, err
	}
	return &t, nil
}

// GetTenant reads a visible tenant.
func (s *Service) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	if _, err := require(ctx, PermTenantsRead); err != nil {
		return nil, err
	}
	return s.VisibleTenant(ctx, id)
}

// ListTenants lists visible tenants.
func (s *Service) ListTenants(ctx context.Context, f TenantFilter) ([]Tenant, int64, error) {
	p, err := require(ctx, PermTenantsRead)
	if err != nil {
		return nil, 0, err
	}
	vis, err := s.visible(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	q := s.db.Conn(ctx).Model(&Tenant{}).Scopes(vis)
	if f.ParentID != "" {
		q = q.Where("parent_id = ?", f.ParentID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '!' OR slug LIKE ? ESCAPE '!')", like, like)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Tenant
	err = q.Order(f.OrderBy).Order("id").Offset(f.Offset).Limit(f.Limit).Find(&out).Error
	return out, total, err
}

func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// CreateTenant makes a tenant, under a parent when one is named.
func (s *Service) CreateTenant(ctx context.Context, in CreateTenantInput) (*Tenant, error) {
	if _, err := require(ctx, PermTenantsWrite); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name) // before validation: a name of spaces is no name
	if err := validate.Struct(in); err != nil {
		return nil, err
	}
	now := s.now()
	t := &Tenant{ID: uuid.Must(uuid.NewV7()).String(), Name: strings.TrimSpace(in.Name), Slug: in.Slug,
		Status: StatusActive, Settings: in.Settings, Version: 1, CreatedAt: now, UpdatedAt: now}
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		t.Path = "/" + t.ID + "/"
		if in.ParentID != nil {
			parent, err := s.VisibleTenant(ctx, *in.ParentID)
			if err != nil {
				return errs.ErrInvalid.WithDetails(errs.Detail{Field: "parent_id", Code: "not_found", Message: "no such tenant"})
			}
			t.ParentID, t.Path = &parent.ID, parent.Path+t.ID+"/"
		}
		if err := s.db.Conn(ctx).Create(t).Error; err != nil {
			if db.IsUniqueViolation(err) {
				return ErrTenantSlugTaken
			}
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "tenant.created", TargetType: "tenant", TargetID: t.ID, TenantID: t.ID,
			Data: map[string]any{"name": t.Name, "slug": t.Slug, "parent_id": t.ParentID}})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTenant changes a tenant. A stale version is a conflict.
func (s *Service) UpdateTenant(ctx context.Context, id string, in UpdateTenantInput) (*Tenant, error) {
	if _, err := require(ctx, PermTenantsWrite); err != nil {
		return nil, err
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		in.Name = &name
	}
	if err := validate.Struct(in); err != nil {
		return nil, err
	}
	var out *Tenant
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		t, err := s.VisibleTenant(ctx, id)
		if err != nil {
			return err
		}
		if in.Version != nil && *in.Version != t.Version {
			return ErrVersionConflict
		}
		changes := map[string]any{}
		if in.Name != nil && strings.TrimSpace(*in.Name) != t.Name {
			changes["name"] = strings.TrimSpace(*in.Name)
		}
		if in.Slug != nil && *in.Slug != t.Slug {
			if t.Slug == RootSlug {
				return ErrTenantRoot // the slug is what marks the platform tenant
			}
			changes["slug"] = *in.Slug
		}
		if in.Status != nil && *in.Status != t.Status {
			if t.Slug == RootSlug {
				return ErrTenantRoot
			}
			changes["status"] = *in.Status
			s.forgetKeys(ctx) // a suspended tenant's keys stop at once
		}
		if in.Settings != nil {
			merged := map[string]any{}
			for k, v := range t.Settings {
				merged[k] = v
			}
			for k, v := range in.Settings {
				if v == nil {
					delete(merged, k)
				} else {
					merged[k] = v
				}
			}
			b, err := json.Marshal(merged)
			if err != nil {
				return errs.ErrInvalid.WithDetails(errs.Detail{Field: "settings", Code: "json", Message: "must be a JSON object"})
			}
			changes["settings"] = string(b)
		}
		if len(changes) == 0 {
			out = t
			return nil
		}
		changes["version"] = gorm.Expr("version + 1")
		changes["updated_at"] = s.now()
		res := s.db.Conn(ctx).Model(&Tenant{}).Where("id = ? AND version = ?", t.ID, t.Version).Updates(changes)
		if res.Error != nil {
			if db.IsUniqueViolation(res.Error) {
				return ErrTenantSlugTaken
			}
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrVersionConflict
		}
		delete(changes, "version")
		delete(changes, "updated_at")
		if _, ok := changes["settings"]; ok {
			changes["settings"] = "changed"
		}
		if err := s.audit.Record(ctx, audit.Entry{Action: "tenant.updated", TargetType: "tenant", TargetID: t.ID, TenantID: t.ID, Data: changes}); err != nil {
			return err
		}
		out = &Tenant{}
		return s.db.Conn(ctx).Where("id = ?", t.ID).Take(out).Error
	})
	return out, err
}

// DeleteTenant marks a tenant deleted: its users can no longer sign in and
// its keys stop working. Rows stay for the audit trail; the slug is freed.
func (s *Service) DeleteTenant(ctx context.Context, id string) error {
	if _, err := require(ctx, PermTenantsWrite); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		t, err := s.VisibleTenant(ctx, id)
		if err != nil {
			return err
		}
		if t.Slug == RootSlug {
			return ErrTenantRoot
		}
		var children int64
		if err := s.db.Conn(ctx).Model(&Tenant{}).Where("parent_id = ? AND status <> ?", t.ID, StatusDeleted).Count(&children).Error; err != nil {
			return err
		}
		if children > 0 {
			return ErrTenantHasChildren
		}
		now := s.now()
		if err := s.db.Conn(ctx).Model(&Tenant{}).Where("id = ?", t.ID).Updates(map[string]any{
			"status": StatusDeleted, "slug": t.Slug + "~" + t.ID, "version": gorm.Expr("version + 1"), "updated_at": now,
		}).Error; err != nil {
			return err
		}
		if err := s.db.Conn(ctx).Model(&APIKey{}).Where("tenant_id = ? AND revoked_at IS NULL", t.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		s.forgetKeys(ctx)
		if err := s.db.Conn(ctx).Model(&refreshToken{}).Where("tenant_id = ? AND revoked_at IS NULL", t.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "tenant.deleted", TargetType: "tenant", TargetID: t.ID, TenantID: t.ID,
			Data: map[string]any{"slug": t.Slug}})
	})
}
