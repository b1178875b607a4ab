package security

import "github.com/platform/platform/internal/kernel/errs"

// Errors of the security layer.
var (
	ErrInvalidCredentials = errs.New(errs.Unauthenticated, "auth.invalid_credentials", "The e-mail or password is wrong.")
	ErrInvalidToken       = errs.New(errs.Unauthenticated, "auth.invalid_token", "The token is invalid or has expired.")
	ErrInvalidRefresh     = errs.New(errs.Unauthenticated, "auth.invalid_refresh_token", "The refresh token is invalid, expired or already used.")
	ErrOTPRequired        = errs.New(errs.Unauthenticated, "auth.otp_required", "Enter the code from your authenticator app.")
	ErrInvalidOTP         = errs.New(errs.Unauthenticated, "auth.invalid_otp", "The authenticator code is wrong or was used already.")
	ErrTooManyAttempts    = errs.New(errs.RateLimited, "auth.too_many_attempts", "Too many failed sign-ins; try again later.")
	ErrWrongAudience      = errs.New(errs.Forbidden, "auth.wrong_audience", "This service credential is not for this module.")
	ErrTenantNotFound     = errs.New(errs.NotFound, "tenants.not_found", "The tenant does not exist.")
	ErrTenantSlugTaken    = errs.New(errs.Conflict, "tenants.slug_taken", "Another tenant has this slug.")
	ErrTenantHasChildren  = errs.New(errs.Conflict, "tenants.has_children", "Delete or move the tenant's member tenants first.")
	ErrTenantRoot         = errs.New(errs.Forbidden, "tenants.root", "The platform tenant cannot be changed this way.")
	ErrTenantCycle        = errs.New(errs.Invalid, "tenants.parent_cycle", "A tenant cannot be placed under itself or its members.")
	ErrUserNotFound       = errs.New(errs.NotFound, "users.not_found", "The user does not exist.")
	ErrEmailTaken         = errs.New(errs.Conflict, "users.email_taken", "A user with this e-mail address exists.")
	ErrRoleNotGrantable   = errs.New(errs.Forbidden, "users.role_not_grantable", "You may not give this role.")
	ErrSelfDelete         = errs.New(errs.Conflict, "users.self_delete", "You cannot delete your own account.")
	ErrVersionConflict    = errs.New(errs.Conflict, "version_conflict", "The resource was changed since you read it; reload and try again.")
	ErrKeyNotFound        = errs.New(errs.NotFound, "api_keys.not_found", "The API key does not exist.")
	ErrScopeNotGrantable  = errs.New(errs.Forbidden, "api_keys.scope_not_grantable", "You may not give a key a permission you do not hold.")
	ErrTenantSwitch       = errs.New(errs.NotFound, "tenants.not_found", "The tenant in X-Tenant-ID does not exist or is not yours.")
)
