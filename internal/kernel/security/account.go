package security

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
)

// ErrWrongPassword is a wrong current password on a password change.
var ErrWrongPassword = errs.New(errs.Invalid, "auth.wrong_password", "The current password is wrong.")

// ChangePassword sets the signed-in user's password after checking the
// current one. Wrong guesses count towards the sign-in throttle, so that a
// stolen session cannot be used to find the password. Every other session
// and refresh token of the user ends; keepSession (the caller's browser
// session id, or "") stays.
func (s *Service) ChangePassword(ctx context.Context, keepSession, current, next string) error {
	u, err := s.reauthUser(ctx)
	if err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, u, "current_password", current); err != nil {
		return err
	}
	return s.setPassword(ctx, u, next, keepSession, "user.password_changed", ErrVersionConflict)
}

// reauthUser loads the signed-in user for an action that asks for the
// password again, and refuses while the sign-in throttle is tripped.
func (s *Service) reauthUser(ctx context.Context) (*User, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return nil, errs.ErrUnauthenticated
	}
	if wait := s.limiter.Blocked(ctx, p.Email, audit.MetaFrom(ctx).IP); wait > 0 {
		return nil, ErrTooManyAttempts.WithRetryAfter(wait)
	}
	var u User
	if err := s.db.Conn(ctx).Where("id = ?", p.ID).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, errs.ErrUnauthenticated
		}
		return nil, err
	}
	return &u, nil
}

// confirmPassword checks the password of a re-authenticating action; a
// wrong one counts towards the sign-in throttle.
func (s *Service) confirmPassword(ctx context.Context, u *User, field, pw string) error {
	if ok, _ := CheckPassword(u.PasswordHash, pw); !ok {
		s.limiter.Fail(ctx, u.Email, audit.MetaFrom(ctx).IP)
		return ErrWrongPassword.WithDetails(errs.Detail{Field: field, Code: "wrong", Message: "is wrong"})
	}
	return nil
}

// setPassword stores a new password if the user's hash is still the one
// read (stale otherwise), ends every refresh token and every browser
// session but keepSession, and records action.
func (s *Service) setPassword(ctx context.Context, u *User, next, keepSession, action string, stale error) error {
	if err := s.checkPassword("new_password", next); err != nil {
		return err
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		s.forgetUser(ctx, u.ID)
		res := s.db.Conn(ctx).Model(&User{}).Where("id = ? AND password_hash = ?", u.ID, u.PasswordHash).
			Updates(map[string]any{"password_hash": hash, "version": gorm.Expr("version + 1"), "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return stale
		}
		if err := s.endSessions(ctx, u.ID, keepSession); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: action, TargetType: "user", TargetID: u.ID, TenantID: u.TenantID})
	})
}

// endSessions ends every refresh token of a user and every browser session
// but keepSession (or "").
func (s *Service) endSessions(ctx context.Context, userID, keepSession string) error {
	if err := s.revokeUserSessions(ctx, userID); err != nil {
		return err
	}
	return s.db.Conn(ctx).Model(&Session{}).Where("user_id = ? AND id <> ? AND revoked_at IS NULL", userID, keepSession).
		Update("revoked_at", s.now()).Error
}

// SetTenantSettings merges patch into the settings of the caller's acting
// tenant; a nil value removes a key. It needs settings:write, not
// tenants:write, so that an owner can brand its own tenant.
func (s *Service) SetTenantSettings(ctx context.Context, patch map[string]any) (*Tenant, error) {
	p, err := require(ctx, PermSettings)
	if err != nil {
		return nil, err
	}
	var out *Tenant
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		var t Tenant
		if err := s.db.Conn(ctx).Where("id = ? AND status <> ?", p.Tenant(), StatusDeleted).Take(&t).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrTenantNotFound
			}
			return err
		}
		merged := map[string]any{}
		for k, v := range t.Settings {
			merged[k] = v
		}
		changed := []string{}
		for k, v := range patch {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
			changed = append(changed, k)
		}
		b, err := json.Marshal(merged)
		if err != nil {
			return errs.ErrInvalid.WithDetails(errs.Detail{Field: "settings", Code: "json", Message: "must be a JSON object"})
		}
		res := s.db.Conn(ctx).Model(&Tenant{}).Where("id = ? AND version = ?", t.ID, t.Version).
			Updates(map[string]any{"settings": string(b), "version": gorm.Expr("version + 1"), "updated_at": s.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrVersionConflict
		}
		if err := s.audit.Record(ctx, audit.Entry{Action: "tenant.settings_changed", TargetType: "tenant", TargetID: t.ID, TenantID: t.ID,
			Data: map[string]any{"keys": changed}}); err != nil {
			return err
		}
		out = &Tenant{}
		return s.db.Conn(ctx).Where("id = ?", t.ID).Take(out).Error
	})
	return out, err
}

// Sign is an HMAC of msg under a key derived from the server's secret for
// purpose, for values the browser keeps and sends back, such as the sign-in
// form's CSRF cookie and flash messages. Every process of an install agrees.
func (s *Service) Sign(purpose string, msg []byte) []byte {
	k := hmac.New(sha256.New, s.keys.envelope)
	k.Write([]byte("browser:" + purpose))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write(msg)
	return m.Sum(nil)
}

// passwordResetTTL is how long a reset link works.
const passwordResetTTL = time.Hour

// ErrResetInvalid is a reset link that is wrong, used or expired.
var ErrResetInvalid = errs.New(errs.Invalid, "auth.reset_invalid", "This reset link is invalid, used or expired; ask for a new one.")

// PasswordResetToken makes a reset token for the active user with email,
// or returns "" when there is none; the caller answers the same either way,
// so that the form tells nobody which addresses exist. The token is signed
// over the current password hash, so it stops working once it is used.
// Requests count towards the throttle, which caps the mail one can cause.
func (s *Service) PasswordResetToken(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	ip := audit.MetaFrom(ctx).IP
	if wait := s.limiter.Blocked(ctx, "reset:"+email, ip); wait > 0 {
		return "", ErrTooManyAttempts.WithRetryAfter(wait)
	}
	s.limiter.Fail(ctx, "reset:"+email, ip)
	var u User
	if err := s.db.Conn(ctx).Where("email = ?", email).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", nil
		}
		return "", err
	}
	if u.Status != StatusActive || !s.tenantActive(ctx, u.TenantID) {
		return "", nil
	}
	payload := u.ID + "." + strconv.FormatInt(s.now().Add(passwordResetTTL).Unix(), 10)
	tok := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(s.Sign("password-reset", []byte(payload+"|"+u.PasswordHash)))
	err := s.audit.Record(WithPrincipal(ctx, u.principal()), audit.Entry{Action: "auth.password_reset_requested",
		TargetType: "user", TargetID: u.ID})
	return tok, err
}

// ResetPassword sets a new password with a token from PasswordResetToken
// and ends every session and refresh token of the user.
func (s *Service) ResetPassword(ctx context.Context, token, next string) error {
	u, err := s.resetUser(ctx, token)
	if err != nil {
		return err
	}
	return s.setPassword(WithPrincipal(ctx, u.principal()), u, next, "", "user.password_reset", ErrResetInvalid)
}

// CheckResetToken reports whether a reset token is still good, so that the
// form can say so before the user types a new password.
func (s *Service) CheckResetToken(ctx context.Context, token string) error {
	_, err := s.resetUser(ctx, token)
	return err
}

func (s *Service) resetUser(ctx context.Context, token string) (*User, error) {
	p64, sig64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 300 {
		return nil, ErrResetInvalid
	}
	pb, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil {
		return nil, ErrResetInvalid
	}
	id, expS, ok := strings.Cut(string(pb), ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || s.now().Unix() > exp {
		return nil, ErrResetInvalid
	}
	var u User
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrResetInvalid
		}
		return nil, err
	}
	if !hmac.Equal(sig, s.Sign("password-reset", []byte(string(pb)+"|"+u.PasswordHash))) ||
		u.Status != StatusActive || !s.tenantActive(ctx, u.TenantID) {
		return nil, ErrResetInvalid
	}
	return &u, nil
}
