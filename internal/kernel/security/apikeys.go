package security

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/validate"
)

// CreateKeyInput is the body of POST /api-keys.
type CreateKeyInput struct {
	Name      string     `json:"name" validate:"required,min=1,max=200"`
	Scopes    []string   `json:"scopes" validate:"required,min=1,max=50,dive,min=1,max=100"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// KeyFilter narrows ListAPIKeys.
type KeyFilter struct {
	Revoked *bool
	Offset  int
	Limit   int
	OrderBy string
}

// CreateAPIKey makes a key for the caller's tenant. Its scopes must be
// permissions the caller holds. The secret is in the returned string only:
// it is never stored and cannot be shown again.
func (s *Service) CreateAPIKey(ctx context.Context, in CreateKeyInput) (*APIKey, string, error) {
	p, err := require(ctx, PermKeysWrite)
	if err != nil {
		return nil, "", err
	}
	if err := validate.Struct(in); err != nil {
		return nil, "", err
	}
	known := KnownPermissions()
	for i, sc := range in.Scopes {
		if !slices.Contains(known, sc) {
			return nil, "", errs.ErrInvalid.WithDetails(errs.Detail{Field: fmt.Sprintf("scopes[%d]", i), Code: "unknown_scope",
				Message: "is not a known permission"})
		}
		if !p.Can(Permission(sc)) {
			return nil, "", ErrScopeNotGrantable.WithMessage("You do not hold %q, so a key of yours cannot either.", sc)
		}
	}
	now := s.now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, "", errs.ErrInvalid.WithDetails(errs.Detail{Field: "expires_at", Code: "future", Message: "must be in the future"})
	}
	id := uuid.Must(uuid.NewV7()).String()
	sec, hash := newSecret()
	full := "pk_" + compactID(id) + "_" + sec
	var createdBy *string
	if p.Kind == KindUser {
		createdBy = &p.ID
	}
	k := &APIKey{ID: id, TenantID: p.Tenant(), Name: in.Name, Prefix: full[:12], KeyHash: hash,
		Scopes: slices.Compact(slices.Sorted(slices.Values(in.Scopes))), CreatedBy: createdBy, CreatedAt: now}
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC()
		k.ExpiresAt = &e
	}
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.db.Conn(ctx).Create(k).Error; err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "api_key.created", TargetType: "api_key", TargetID: k.ID,
			Data: map[string]any{"name": k.Name, "scopes": k.Scopes}})
	})
	if err != nil {
		return nil, "", err
	}
	return k, full, nil
}

// ListAPIKeys lists the keys of the caller's tenant.
func (s *Service) ListAPIKeys(ctx context.Context, f KeyFilter) ([]APIKey, int64, error) {
	if _, err := require(ctx, PermKeysRead); err != nil {
		return nil, 0, err
	}
	q := s.db.Conn(ctx).Model(&APIKey{}).Scopes(Scope(ctx))
	if f.Revoked != nil {
		if *f.Revoked {
			q = q.Where("revoked_at IS NOT NULL")
		} else {
			q = q.Where("revoked_at IS NULL")
		}
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []APIKey
	err := q.Order(f.OrderBy).Order("id").Offset(f.Offset).Limit(f.Limit).Find(&out).Error
	return out, total, err
}

// RevokeAPIKey revokes a key of the caller's tenant. Revoking twice is fine.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	if _, err := require(ctx, PermKeysWrite); err != nil {
		return err
	}
	if _, err := uuid.Parse(id); err != nil {
		return ErrKeyNotFound
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		var k APIKey
		if err := s.db.Conn(ctx).Scopes(Scope(ctx)).Where("id = ?", id).Take(&k).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrKeyNotFound
			}
			return err
		}
		if k.RevokedAt != nil {
			return nil
		}
		if err := s.db.Conn(ctx).Model(&APIKey{}).Where("id = ? AND revoked_at IS NULL", k.ID).Update("revoked_at", s.now()).Error; err != nil {
			return err
		}
		s.forgetKeys(ctx)
		return s.audit.Record(ctx, audit.Entry{Action: "api_key.revoked", TargetType: "api_key", TargetID: k.ID, TenantID: k.TenantID,
			Data: map[string]any{"name": k.Name}})
	})
}
