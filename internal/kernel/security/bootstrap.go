package security

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/db"
)

// RootSlug is the slug of the platform's own tenant, home of the platform
// admins. It cannot be suspended or deleted.
const RootSlug = "platform"

// Bootstrap makes sure the platform tenant and a platform admin exist. On
// the first start it creates the admin from email and password; without a
// password it generates one and returns it, to be printed once. It returns
// "" when an admin already existed. Concurrent first starts are safe: the
// unique slug and e-mail make the loser a no-op.
func (s *Service) Bootstrap(ctx context.Context, email, password string) (generated string, err error) {
	var n int64
	if err := s.db.Conn(ctx).Model(&User{}).Where("role = ?", RolePlatformAdmin).Count(&n).Error; err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	if email == "" {
		email = "admin@localhost"
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	hash, err := HashPassword(password)
	if err != nil {
		return "", err
	}
	sys := WithPrincipal(ctx, System(""))
	err = s.db.InTx(sys, func(ctx context.Context) error {
		var root Tenant
		err := s.db.Conn(ctx).Where("slug = ?", RootSlug).Take(&root).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			now := s.now()
			root = Tenant{ID: uuid.Must(uuid.NewV7()).String(), Name: "Platform", Slug: RootSlug, Status: StatusActive,
				Version: 1, CreatedAt: now, UpdatedAt: now}
			root.Path = "/" + root.ID + "/"
			if err := s.db.Conn(ctx).Create(&root).Error; err != nil {
				return err
			}
			if err := s.audit.Record(ctx, audit.Entry{Action: "tenant.created", TargetType: "tenant", TargetID: root.ID, TenantID: root.ID,
				Data: map[string]any{"slug": RootSlug, "bootstrap": true}}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		now := s.now()
		u := User{ID: uuid.Must(uuid.NewV7()).String(), TenantID: root.ID, Email: strings.ToLower(email), Name: "Administrator",
			PasswordHash: hash, Role: RolePlatformAdmin, Status: StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := s.db.Conn(ctx).Create(&u).Error; err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "user.created", TargetType: "user", TargetID: u.ID, TenantID: root.ID,
			Data: map[string]any{"email": u.Email, "role": u.Role, "bootstrap": true}})
	})
	if err != nil {
		if db.IsUniqueViolation(err) {
			return "", nil // another process bootstrapped first
		}
		return "", err
	}
	return generated, nil
}
