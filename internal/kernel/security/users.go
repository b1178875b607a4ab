package security

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/validate"
)

// CreateUserInput is the body of POST /tenants/{id}/users.
type CreateUserInput struct {
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,max=200"`
	Role     Role   `json:"role" validate:"required"`
	Name     string `json:"name" validate:"max=200"`
}

// UpdateUserInput is the body of PATCH /users/{id}; absent fields stay.
type UpdateUserInput struct {
	Email    *string `json:"email" validate:"omitempty,email,max=254"`
	Name     *string `json:"name" validate:"omitempty,max=200"`
	Role     *Role   `json:"role"`
	Status   *string `json:"status" validate:"omitempty,oneof=active suspended"`
	Password *string `json:"password" validate:"omitempty,max=200"`
	Version  *int    `json:"version" validate:"omitempty,min=1"`
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	TenantID string
	Role     string
	Status   string
	Q        string
	Offset   int
	Limit    int
	OrderBy  string
}

// grantRole is the highest role the principal may give or manage.
func grantRole(p *Principal) Role {
	if p.Kind == KindUser {
		return p.Role
	}
	if p.Kind == KindSystem {
		return RolePlatformAdmin
	}
	return RoleOwner // keys and services never make platform admins
}

func (s *Service) checkPassword(field, pw string) error {
	if len([]rune(pw)) < s.cfg.PasswordMinLen {
		return errs.ErrInvalid.WithDetails(errs.Detail{Field: field, Code: "min",
			Message: "must be at least " + strconv.Itoa(s.cfg.PasswordMinLen) + " characters"})
	}
	return nil
}

func roleDetail(r Role) error {
	return errs.ErrInvalid.WithDetails(errs.Detail{Field: "role", Code: "oneof",
		Message: "must be one of: platform_admin, owner, partner, agent, customer"})
}

// CreateUser adds a user to a visible tenant, with a role the caller may give.
func (s *Service) CreateUser(ctx context.Context, tenantID string, in CreateUserInput) (*User, error) {
	p, err := require(ctx, PermUsersWrite)
	if err != nil {
		return nil, err
	}
	t, err := s.VisibleTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if err := validate.Struct(in); err != nil {
		return nil, err
	}
	if !in.Role.Valid() {
		return nil, roleDetail(in.Role)
	}
	if err := s.checkPassword("password", in.Password); err != nil {
		return nil, err
	}
	if !grantRole(p).CanGrant(in.Role) {
		return nil, ErrRoleNotGrantable
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{ID: uuid.Must(uuid.NewV7()).String(), TenantID: t.ID, Email: strings.ToLower(strings.TrimSpace(in.Email)),
		Name: strings.TrimSpace(in.Name), PasswordHash: hash, Role: in.Role, Status: StatusActive, Version: 1,
		CreatedAt: now, UpdatedAt: now}
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.db.Conn(ctx).Create(u).Error; err != nil {
			if db.IsUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "user.created", TargetType: "user", TargetID: u.ID, TenantID: t.ID,
			Data: map[string]any{"email": u.Email, "role": u.Role}})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// GetUser reads a user of the caller's tenant.
func (s *Service) GetUser(ctx context.Context, id string) (*User, error) {
	if _, err := require(ctx, PermUsersRead); err != nil {
		return nil, err
	}
	return s.scopedUser(ctx, id)
}

func (s *Service) scopedUser(ctx context.Context, id string) (*User, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrUserNotFound
	}
	var u User
	if err := s.db.Conn(ctx).Scopes(Scope(ctx)).Where("id = ?", id).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrUserNotFound
		}
		return nil, err
	}
	return &u, nil
}

// Me reads the signed-in user, whatever its permissions.
func (s *Service) Me(ctx context.Context) (*User, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return nil, errs.ErrUnauthenticated
	}
	now := time.Now()
	if u, ok := s.users.get(p.ID, now); ok {
		return u, nil
	}
	// A plain query: this is the hottest read of the API, and gorm's
	// reflection was most of its cost.
	var (
		u     User
		totp  sql.NullString
		login sql.NullTime
	)
	err := s.db.SQL().QueryRowContext(ctx, `SELECT id, tenant_id, email, name, role, status, totp_secret,
  last_login_at, version, created_at, updated_at FROM kernel_users WHERE id = ?`, p.ID).Scan(
		&u.ID, &u.TenantID, &u.Email, &u.Name, &u.Role, &u.Status, &totp, &login, &u.Version, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrInvalidToken
		}
		return nil, err
	}
	if totp.Valid {
		u.TOTPSecret = &totp.String
	}
	if login.Valid {
		t := login.Time
		u.LastLoginAt = &t
	}
	s.users.put(&u, now)
	return &u, nil
}

// ListUsers lists the users of the caller's tenant; a platform admin sees
// all, or one tenant's with TenantID. With TenantID set by a franchise owner,
// the tenant must be visible.
func (s *Service) ListUsers(ctx context.Context, f UserFilter) ([]User, int64, error) {
	if _, err := require(ctx, PermUsersRead); err != nil {
		return nil, 0, err
	}
	q := s.db.Conn(ctx).Model(&User{})
	if f.TenantID != "" {
		t, err := s.VisibleTenant(ctx, f.TenantID)
		if err != nil {
			return nil, 0, err
		}
		q = q.Where("tenant_id = ?", t.ID)
	} else {
		q = q.Scopes(Scope(ctx))
	}
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(LOWER(email) LIKE ? ESCAPE '!' OR LOWER(name) LIKE ? ESCAPE '!')", like, like)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []User
	err := q.Order(f.OrderBy).Order("id").Offset(f.Offset).Limit(f.Limit).Find(&out).Error
	return out, total, err
}

// UpdateUser changes a user the caller may manage. A role, status or
// password change ends the user's sessions.
func (s *Service) UpdateUser(ctx context.Context, id string, in UpdateUserInput) (*User, error) {
	p, err := require(ctx, PermUsersWrite)
	if err != nil {
		return nil, err
	}
	if err := validate.Struct(in); err != nil {
		return nil, err
	}
	if in.Role != nil && !in.Role.Valid() {
		return nil, roleDetail(*in.Role)
	}
	if in.Password != nil {
		if err := s.checkPassword("password", *in.Password); err != nil {
			return nil, err
		}
	}
	var out *User
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		u, err := s.scopedUser(ctx, id)
		if err != nil {
			return err
		}
		if !grantRole(p).CanGrant(u.Role) {
			return ErrRoleNotGrantable.WithMessage("You may not change a user with a higher role than yours.")
		}
		if in.Version != nil && *in.Version != u.Version {
			return ErrVersionConflict
		}
		changes := map[string]any{}
		data := map[string]any{}
		endSessions := false
		if in.Email != nil {
			if e := strings.ToLower(strings.TrimSpace(*in.Email)); e != u.Email {
				changes["email"], data["email"] = e, e
			}
		}
		if in.Name != nil && strings.TrimSpace(*in.Name) != u.Name {
			changes["name"], data["name"] = strings.TrimSpace(*in.Name), strings.TrimSpace(*in.Name)
		}
		if in.Role != nil && *in.Role != u.Role {
			if !grantRole(p).CanGrant(*in.Role) {
				return ErrRoleNotGrantable
			}
			if p.Kind == KindUser && p.ID == u.ID {
				return ErrRoleNotGrantable.WithMessage("You cannot change your own role.")
			}
			changes["role"], data["role"], data["old_role"] = *in.Role, *in.Role, u.Role
			endSessions = true
		}
		if in.Status != nil && *in.Status != u.Status {
			changes["status"], data["status"] = *in.Status, *in.Status
			endSessions = true
		}
		if in.Password != nil {
			h, err := HashPassword(*in.Password)
			if err != nil {
				return err
			}
			changes["password_hash"], data["password"] = h, "changed"
			endSessions = true
		}
		if len(changes) == 0 {
			out = u
			return nil
		}
		changes["version"] = gorm.Expr("version + 1")
		changes["updated_at"] = s.now()
		s.forgetUser(ctx, u.ID)
		res := s.db.Conn(ctx).Model(&User{}).Where("id = ? AND version = ?", u.ID, u.Version).Updates(changes)
		if res.Error != nil {
			if db.IsUniqueViolation(res.Error) {
				return ErrEmailTaken
			}
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrVersionConflict
		}
		if endSessions {
			if err := s.revokeUserSessions(ctx, u.ID); err != nil {
				return err
			}
		}
		if _, ok := changes["password_hash"]; ok {
			// Someone else set the password: browser sessions end too.
			if err := s.db.Conn(ctx).Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).
				Update("revoked_at", s.now()).Error; err != nil {
				return err
			}
		}
		action := "user.updated"
		if _, ok := data["role"]; ok {
			action = "user.role_changed"
		}
		if err := s.audit.Record(ctx, audit.Entry{Action: action, TargetType: "user", TargetID: u.ID, TenantID: u.TenantID, Data: data}); err != nil {
			return err
		}
		out = &User{}
		return s.db.Conn(ctx).Where("id = ?", u.ID).Take(out).Error
	})
	return out, err
}

// DeleteUser removes a user the caller may manage, and ends its sessions.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	p, err := require(ctx, PermUsersWrite)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		u, err := s.otherManagedUser(ctx, p, id, "delete", ErrSelfDelete)
		if err != nil {
			return err
		}
		if err := s.revokeUserSessions(ctx, u.ID); err != nil {
			return err
		}
		s.forgetUser(ctx, u.ID)
		if err := s.db.Conn(ctx).Where("id = ?", u.ID).Delete(&User{}).Error; err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "user.deleted", TargetType: "user", TargetID: u.ID, TenantID: u.TenantID,
			Data: map[string]any{"email": u.Email, "role": u.Role}})
	})
}

// otherManagedUser loads a user of the caller's scope for an action (verb)
// that p may take only on others (selfErr for itself) of a role at or
// below its own.
func (s *Service) otherManagedUser(ctx context.Context, p *Principal, id, verb string, selfErr error) (*User, error) {
	u, err := s.scopedUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Kind == KindUser && p.ID == u.ID {
		return nil, selfErr
	}
	if !grantRole(p).CanGrant(u.Role) {
		return nil, ErrRoleNotGrantable.WithMessage("You may not %s a user with a higher role than yours.", verb)
	}
	return u, nil
}
