package security

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
)

// The optional second factor: TOTP as authenticator apps expect it (RFC
// 6238, 30-second steps, 6 digits, HMAC-SHA-1). A code of the step before or
// after the current one is accepted, for clock drift.
const (
	totpIssuer = "Platform"
	totpPeriod = 30
	totpSkew   = 1
	// totpSealPrefix marks a secret sealed with AES-GCM; the version lets
	// the key or cipher change later.
	totpSealPrefix = "v1:"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Errors of the second factor.
var (
	ErrTOTPCode       = errs.New(errs.Invalid, "auth.totp_code_wrong", "The code is wrong; check your device's clock and try again.")
	ErrTOTPSecret     = errs.New(errs.Invalid, "auth.totp_secret_invalid", "The secret is not a valid TOTP secret; start again.")
	ErrTOTPEnabled    = errs.New(errs.Conflict, "auth.totp_already_enabled", "Two-factor authentication is on already.")
	ErrTOTPNotEnabled = errs.New(errs.Conflict, "auth.totp_not_enabled", "Two-factor authentication is off.")
)

// TOTPSetup is a new secret for the signed-in user, not yet stored: it
// turns on only when EnableTOTP confirms it with a code.
type TOTPSetup struct {
	Secret string // base32, as an app takes it when typed in
	URL    string // otpauth://totp/..., as a QR code carries it
}

// BeginTOTP makes a new secret for the signed-in user. Nothing is stored,
// so an abandoned setup leaves nothing behind.
func (s *Service) BeginTOTP(ctx context.Context) (*TOTPSetup, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return nil, errs.ErrUnauthenticated
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: p.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: key.Secret(), URL: key.URL()}, nil
}

// TOTPURL is the otpauth URL of a secret for the signed-in user, for a page
// that shows a setup again (after a wrong confirmation code).
func (s *Service) TOTPURL(ctx context.Context, secret string) (string, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return "", errs.ErrUnauthenticated
	}
	if !validTOTPSecret(secret) {
		return "", ErrTOTPSecret
	}
	key, err := otp.NewKeyFromURL(fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&period=%d&digits=6&algorithm=SHA1",
		totpIssuer, p.Email, secret, totpIssuer, totpPeriod))
	if err != nil {
		return "", ErrTOTPSecret
	}
	return key.URL(), nil
}

func validTOTPSecret(secret string) bool {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	return err == nil && len(b) >= 10 && len(b) <= 64
}

// EnableTOTP turns the second factor on with secret (from BeginTOTP) once
// code proves the user's app has it, and returns the user's recovery codes,
// which are shown this once. The secret is stored sealed, and the
// confirming code's step is spent, so it cannot also sign in.
func (s *Service) EnableTOTP(ctx context.Context, secret, code string) ([]string, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return nil, errs.ErrUnauthenticated
	}
	secret = strings.ToUpper(strings.TrimSpace(secret))
	if !validTOTPSecret(secret) {
		return nil, ErrTOTPSecret
	}
	step, ok := matchTOTP(secret, code, s.now())
	if !ok {
		return nil, ErrTOTPCode.WithDetails(errs.Detail{Field: "code", Code: "wrong", Message: "is wrong"})
	}
	sealed, err := s.keys.sealTOTP(p.ID, secret)
	if err != nil {
		return nil, err
	}
	if err := s.spendTOTPStep(ctx, p.ID, step); err != nil {
		return nil, err
	}
	var codes []string
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		s.forgetUser(ctx, p.ID)
		res := s.db.Conn(ctx).Model(&User{}).Where("id = ? AND totp_secret IS NULL", p.ID).
			Updates(map[string]any{"totp_secret": sealed, "version": gorm.Expr("version + 1"), "updated_at": s.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrTOTPEnabled
		}
		var err error
		if codes, err = s.replaceRecoveryCodes(ctx, p.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "auth.totp_enabled", TargetType: "user", TargetID: p.ID, TenantID: p.TenantID})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns the second factor off and deletes the recovery codes.
// It needs the password and a current code, so that neither a stolen
// session nor a stolen password is enough; wrong guesses count towards the
// sign-in throttle. A recovery code does as well as an authenticator code,
// so that a user who lost the device can set up a new one.
func (s *Service) DisableTOTP(ctx context.Context, password, code string) error {
	u, err := s.reauthWithFactor(ctx, password, code, func(ctx context.Context, u *User, code string) error {
		_, err := s.checkSecondFactor(ctx, u, code) // a recovery code too: the device may be lost
		return err
	})
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		s.forgetUser(ctx, u.ID)
		if err := s.db.Conn(ctx).Model(&User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"totp_secret": nil, "version": gorm.Expr("version + 1"), "updated_at": s.now()}).Error; err != nil {
			return err
		}
		if err := s.deleteRecoveryCodes(ctx, u.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "auth.totp_disabled", TargetType: "user", TargetID: u.ID, TenantID: u.TenantID})
	})
}

// reauthWithFactor is the signed-in user, with the second factor on, once
// the password and a code, checked by check, prove them again. Wrong
// codes count towards the sign-in throttle.
func (s *Service) reauthWithFactor(ctx context.Context, password, code string,
	check func(ctx context.Context, u *User, code string) error) (*User, error) {
	u, err := s.reauthUser(ctx)
	if err != nil {
		return nil, err
	}
	if u.TOTPSecret == nil {
		return nil, ErrTOTPNotEnabled
	}
	if err := s.confirmPassword(ctx, u, "password", password); err != nil {
		return nil, err
	}
	if err := check(ctx, u, code); err != nil {
		s.limiter.Fail(ctx, u.Email, audit.MetaFrom(ctx).IP)
		if errors.Is(err, ErrInvalidOTP) {
			return nil, ErrTOTPCode.WithDetails(errs.Detail{Field: "code", Code: "wrong", Message: "is wrong or was used already"})
		}
		return nil, err
	}
	return u, nil
}

// checkTOTP checks a code against the user's secret and spends its step:
// ErrInvalidOTP for a wrong code or one already used.
func (s *Service) checkTOTP(ctx context.Context, u *User, code string) error {
	secret, err := s.keys.openTOTP(u.ID, *u.TOTPSecret)
	if err != nil {
		s.log.ErrorContext(ctx, "TOTP secret unreadable", "user_id", u.ID, "error", err)
		return ErrInvalidOTP
	}
	step, ok := matchTOTP(secret, code, s.now())
	if !ok {
		return ErrInvalidOTP
	}
	return s.spendTOTPStep(ctx, u.ID, step)
}

// matchTOTP returns the time step whose code is code, within the skew.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// spendStepScript records the last accepted step of a user, refusing a step
// not later than it: a code can be used once, and an older one never after
// a newer. The key outlives the skew window, after which no old code works
// anyway.
var spendStepScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// spendTOTPStep spends a step in Redis, which every process of an install
// shares. Unlike the throttle it fails closed: without Redis a code could
// be replayed.
func (s *Service) spendTOTPStep(ctx context.Context, userID string, step int64) error {
	ttl := time.Duration(totpPeriod*(2*totpSkew+2)) * time.Second
	n, err := spendStepScript.Run(ctx, s.limiter.rdb, []string{"platform:totp:last:" + userID},
		strconv.FormatInt(step, 10), ttl.Milliseconds()).Int()
	if err != nil {
		s.log.ErrorContext(ctx, "recording a TOTP step failed", "user_id", userID, "error", err)
		return errs.ErrUnavailable
	}
	if n != 1 {
		return ErrInvalidOTP
	}
	return nil
}

// sealTOTP encrypts a secret with AES-256-GCM under the derived TOTP key,
// bound to the user's id so that a sealed secret copied to another row
// does not open.
func (k keys) sealTOTP(userID, secret string) (string, error) {
	aead, err := k.totpAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(secret), []byte("totp:"+userID))
	return totpSealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func (k keys) openTOTP(userID, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, totpSealPrefix)
	if !ok {
		return "", errors.New("unknown seal version")
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", err
	}
	aead, err := k.totpAEAD()
	if err != nil {
		return "", err
	}
	if len(b) < aead.NonceSize() {
		return "", errors.New("sealed secret too short")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte("totp:"+userID))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func (k keys) totpAEAD() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.totp)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// otpTicketTTL is how long the second step of a sign-in may take.
const otpTicketTTL = 5 * time.Minute

// ErrOTPTicket is a second-step ticket that is forged, expired, or stale
// because the password changed since.
var ErrOTPTicket = errs.New(errs.Unauthenticated, "auth.otp_ticket_invalid", "The sign-in took too long; enter your password again.")

// OTPTicket vouches, for the few minutes of a sign-in's second step, that
// the user with this e-mail has just given the right password, so that the
// code form need not carry the password. Call it only after StartSession
// answered ErrOTPRequired or ErrInvalidOTP for a password check that
// passed. The ticket is bound to the current password hash.
func (s *Service) OTPTicket(ctx context.Context, email string) (string, error) {
	var u User
	if err := s.db.Conn(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Take(&u).Error; err != nil {
		return "", ErrOTPTicket
	}
	exp := s.now().Add(otpTicketTTL).Unix()
	payload := u.ID + "|" + strconv.FormatInt(exp, 10)
	mac := s.Sign("otp-ticket", []byte(payload+"|"+u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac), nil
}

// StartSessionWithTicket is the second step of a backoffice sign-in: the
// ticket from OTPTicket stands for the password, and the code is checked as
// in StartSession, under the same throttle and audit.
func (s *Service) StartSessionWithTicket(ctx context.Context, ticket, code string) (string, *User, error) {
	b64, sig, ok := strings.Cut(ticket, ".")
	raw, err1 := base64.RawURLEncoding.DecodeString(b64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return "", nil, ErrOTPTicket
	}
	userID, expStr, ok := strings.Cut(string(raw), "|")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || s.now().Unix() > exp {
		return "", nil, ErrOTPTicket
	}
	var u User
	if err := s.db.Conn(ctx).Where("id = ?", userID).Take(&u).Error; err != nil {
		return "", nil, ErrOTPTicket
	}
	if !hmac.Equal(mac, s.Sign("otp-ticket", []byte(string(raw)+"|"+u.PasswordHash))) {
		return "", nil, ErrOTPTicket
	}
	var token string
	_, err = s.signInWith(ctx, u.Email, func(got *User, found bool) bool {
		return found && got.ID == u.ID && got.PasswordHash == u.PasswordHash
	}, code, "backoffice", func(ctx context.Context, u *User) error {
		var err error
		token, err = s.newSession(ctx, u)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return token, &u, nil
}
