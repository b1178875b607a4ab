package security

import "time"

// Tenant is one customer of the platform. A franchise is a tenant whose
// members are its child tenants; Path ("/<root>/<child>/") makes "this
// tenant and everything under it" one indexed prefix match.
type Tenant struct {
	ID        string         `gorm:"primaryKey"`
	ParentID  *string        `gorm:"column:parent_id"`
	Path      string         `gorm:"column:path"`
	Name      string         `gorm:"column:name"`
	Slug      string         `gorm:"column:slug"`
	Status    string         `gorm:"column:status"`
	Settings  map[string]any `gorm:"column:settings;serializer:json"`
	Version   int            `gorm:"column:version"`
	CreatedAt time.Time      `gorm:"column:created_at"`
	UpdatedAt time.Time      `gorm:"column:updated_at"`
}

// TableName is the kernel's tenants table.
func (Tenant) TableName() string { return "kernel_tenants" }

// User is a person who signs in.
type User struct {
	ID           string     `gorm:"primaryKey"`
	TenantID     string     `gorm:"column:tenant_id"`
	Email        string     `gorm:"column:email"`
	Name         string     `gorm:"column:name"`
	PasswordHash string     `gorm:"column:password_hash"`
	Role         Role       `gorm:"column:role"`
	Status       string     `gorm:"column:status"`
	TOTPSecret   *string    `gorm:"column:totp_secret"`
	LastLoginAt  *time.Time `gorm:"column:last_login_at"`
	Version      int        `gorm:"column:version"`
	CreatedAt    time.Time  `gorm:"column:created_at"`
	UpdatedAt    time.Time  `gorm:"column:updated_at"`
}

// TableName is the kernel's users table.
func (User) TableName() string { return "kernel_users" }

type refreshToken struct {
	ID         string     `gorm:"primaryKey"`
	FamilyID   string     `gorm:"column:family_id"`
	UserID     string     `gorm:"column:user_id"`
	TenantID   string     `gorm:"column:tenant_id"`
	TokenHash  string     `gorm:"column:token_hash"`
	ExpiresAt  time.Time  `gorm:"column:expires_at"`
	RevokedAt  *time.Time `gorm:"column:revoked_at"`
	ReplacedBy *string    `gorm:"column:replaced_by"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
}

func (refreshToken) TableName() string { return "kernel_refresh_tokens" }

// APIKey is a tenant's machine credential.
type APIKey struct {
	ID         string     `gorm:"primaryKey"`
	TenantID   string     `gorm:"column:tenant_id"`
	Name       string     `gorm:"column:name"`
	Prefix     string     `gorm:"column:prefix"`
	KeyHash    string     `gorm:"column:key_hash"`
	Scopes     []string   `gorm:"column:scopes;serializer:json"`
	CreatedBy  *string    `gorm:"column:created_by"`
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
	ExpiresAt  *time.Time `gorm:"column:expires_at"`
	RevokedAt  *time.Time `gorm:"column:revoked_at"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
}

// TableName is the kernel's API keys table.
func (APIKey) TableName() string { return "kernel_api_keys" }

type secret struct {
	Name      string    `gorm:"primaryKey"`
	Value     string    `gorm:"column:value"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (secret) TableName() string { return "kernel_secrets" }

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleted   = "deleted"
)

// TenantView is a tenant as the API shows it.
type TenantView struct {
	ID        string         `json:"id"`
	ParentID  *string        `json:"parent_id"`
	Name      string         `json:"name"`
	Slug      string         `json:"slug"`
	Status    string         `json:"status"`
	Settings  map[string]any `json:"settings"`
	Version   int            `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// View renders t for the API.
func (t *Tenant) View() TenantView {
	s := t.Settings
	if s == nil {
		s = map[string]any{}
	}
	return TenantView{ID: t.ID, ParentID: t.ParentID, Name: t.Name, Slug: t.Slug, Status: t.Status, Settings: s,
		Version: t.Version, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

// UserView is a user as the API shows it: never the password hash.
type UserView struct {
	ID          string     `json:"id"`
	TenantID    string     `json:"tenant_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	Status      string     `json:"status"`
	TOTP        bool       `json:"totp_enabled"`
	LastLoginAt *time.Time `json:"last_login_at"`
	Version     int        `json:"version"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// View renders u for the API.
func (u *User) View() UserView {
	return UserView{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role, Status: u.Status,
		TOTP: u.TOTPSecret != nil, LastLoginAt: utcPtr(u.LastLoginAt), Version: u.Version,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

// APIKeyView is a key as the API shows it; Key is set only in the response
// that creates it.
type APIKeyView struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Key        string     `json:"key,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// View renders k for the API.
func (k *APIKey) View() APIKeyView {
	sc := k.Scopes
	if sc == nil {
		sc = []string{}
	}
	return APIKeyView{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, Scopes: sc,
		LastUsedAt: utcPtr(k.LastUsedAt), ExpiresAt: utcPtr(k.ExpiresAt), RevokedAt: utcPtr(k.RevokedAt), CreatedAt: k.CreatedAt.UTC()}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
