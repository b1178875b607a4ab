package security

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
)

// Recovery codes stand in for the authenticator app when its device is
// lost: ten one-time codes of ten characters from Crockford's base32
// alphabet (no i, l, o or u, so none is read as another), 50 bits each.
// Only an HMAC of each code is stored, under a key derived from the master
// key and bound to the user's id.
const (
	recoveryCodeCount = 10
	recoveryCodeLen   = 10
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz"
)

// ErrSelfTOTPReset refuses the admin reset of one's own second factor: the
// account page turns it off with the password and a code.
var ErrSelfTOTPReset = errs.New(errs.Conflict, "users.self_totp_reset",
	"Turn off your own two-factor authentication on your account page.")

type recoveryCode struct {
	UserID    string    `gorm:"column:user_id;primaryKey"`
	CodeHash  string    `gorm:"column:code_hash;primaryKey"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (recoveryCode) TableName() string { return "kernel_totp_recovery_codes" }

// newRecoveryCodes makes a fresh set, each shown grouped as "abcde-fghij".
func newRecoveryCodes() ([]string, error) {
	out := make([]string, 0, recoveryCodeCount)
	seen := map[string]bool{}
	for len(out) < recoveryCodeCount {
		b := make([]byte, recoveryCodeLen)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		for i := range b {
			b[i] = recoveryAlphabet[b[i]&31] // 32 letters: no bias
		}
		c := string(b[:5]) + "-" + string(b[5:])
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// normalizeRecoveryCode reads a code as a person may type it: any case,
// with spaces or dashes, o for 0 and i or l for 1. It reports false for
// anything that is not a recovery code, such as a 6-digit TOTP code.
func normalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 127 || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
		if b.Len() > recoveryCodeLen {
			return "", false
		}
	}
	return b.String(), b.Len() == recoveryCodeLen
}

func (k keys) hashRecoveryCode(userID, normalized string) string {
	m := hmac.New(sha256.New, k.recovery)
	m.Write([]byte(userID + "|" + normalized))
	return hex.EncodeToString(m.Sum(nil))
}

// replaceRecoveryCodes deletes a user's codes and stores a new set; call it
// in a transaction that has locked the user's row.
func (s *Service) replaceRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.deleteRecoveryCodes(ctx, userID); err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]recoveryCode, len(codes))
	for i, c := range codes {
		n, _ := normalizeRecoveryCode(c)
		rows[i] = recoveryCode{UserID: userID, CodeHash: s.keys.hashRecoveryCode(userID, n), CreatedAt: now}
	}
	if err := s.db.Conn(ctx).Create(&rows).Error; err != nil {
		return nil, err
	}
	return codes, nil
}

func (s *Service) deleteRecoveryCodes(ctx context.Context, userID string) error {
	return s.db.Conn(ctx).Where("user_id = ?", userID).Delete(&recoveryCode{}).Error
}

func (s *Service) countRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.db.Conn(ctx).Model(&recoveryCode{}).Where("user_id = ?", userID).Count(&n).Error
	return int(n), err
}

// spendRecoveryCode deletes the code's row in one conditional statement:
// of two uses of one code, on any database, only one deletes it.
// ErrInvalidOTP for a code that is wrong or spent.
func (s *Service) spendRecoveryCode(ctx context.Context, userID, normalized string) error {
	res := s.db.Conn(ctx).Where("user_id = ? AND code_hash = ?", userID, s.keys.hashRecoveryCode(userID, normalized)).
		Delete(&recoveryCode{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrInvalidOTP
	}
	return nil
}

// checkSecondFactor checks a sign-in's code: a recovery code when it has
// the shape of one, the authenticator code otherwise. It reports whether a
// recovery code was spent; ErrInvalidOTP for a wrong or used code.
func (s *Service) checkSecondFactor(ctx context.Context, u *User, code string) (bool, error) {
	if n, ok := normalizeRecoveryCode(code); ok {
		return true, s.spendRecoveryCode(ctx, u.ID, n)
	}
	return false, s.checkTOTP(ctx, u, code)
}

// recordRecoveryUse audits a sign-in with a recovery code and how many
// codes are left, never the code.
func (s *Service) recordRecoveryUse(ctx context.Context, u *User, channel string) error {
	left, err := s.countRecoveryCodes(ctx, u.ID)
	if err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Entry{Action: "auth.recovery_code_used", TargetType: "user", TargetID: u.ID,
		TenantID: u.TenantID, Data: map[string]any{"remaining": left, "channel": channel}})
}

// RecoveryCodesLeft is how many unused recovery codes the signed-in user
// has.
func (s *Service) RecoveryCodesLeft(ctx context.Context) (int, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return 0, errs.ErrUnauthenticated
	}
	return s.countRecoveryCodes(ctx, p.ID)
}

// RegenerateRecoveryCodes replaces the signed-in user's recovery codes with
// a new set, which it returns; the old codes stop working. Like
// DisableTOTP it needs the password and a current authenticator code, and
// wrong guesses count towards the sign-in throttle.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, password, code string) ([]string, error) {
	u, err := s.reauthWithFactor(ctx, password, code, s.checkTOTP) // totp.go
	if err != nil {
		return nil, err
	}
	var codes []string
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		// Lock the user's row, and make sure the factor is still on.
		res := s.db.Conn(ctx).Model(&User{}).Where("id = ? AND totp_secret IS NOT NULL", u.ID).Update("updated_at", s.now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrTOTPNotEnabled
		}
		var err error
		if codes, err = s.replaceRecoveryCodes(ctx, u.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "auth.recovery_codes_regenerated", TargetType: "user", TargetID: u.ID,
			TenantID: u.TenantID, Data: map[string]any{"count": len(codes)}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetTOTP turns another user's second factor off, for a user who lost
// the device and its recovery codes: an owner for users of its tenant, a
// platform admin for anyone. The secret and recovery codes go, the user's
// version goes up, and every session and refresh token of the user ends,
// as after a password reset.
func (s *Service) ResetTOTP(ctx context.Context, id string) error {
	p, err := require(ctx, PermUsersWrite)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		u, err := s.otherManagedUser(ctx, p, id, "change", ErrSelfTOTPReset)
		if err != nil {
			return err
		}
		s.forgetUser(ctx, u.ID)
		res := s.db.Conn(ctx).Model(&User{}).Where("id = ? AND totp_secret IS NOT NULL", u.ID).
			Updates(map[string]any{"totp_secret": nil, "version": gorm.Expr("version + 1"), "updated_at": s.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrTOTPNotEnabled
		}
		if err := s.deleteRecoveryCodes(ctx, u.ID); err != nil {
			return err
		}
		if err := s.endSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "auth.totp_reset", TargetType: "user", TargetID: u.ID, TenantID: u.TenantID,
			Data: map[string]any{"email": u.Email}})
	})
}
