package security

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
)

// Config tunes the security layer.
type Config struct {
	Secret           string // the master key; empty: generated once and kept in the database
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	ServiceTTL       time.Duration
	LoginMaxFailures int
	LoginWindow      time.Duration
	PasswordMinLen   int
}

// Service is the security layer.
type Service struct {
	db      *db.DB
	audit   *audit.Log
	limiter *Limiter
	keys    keys
	tokens  *tokenCache
	users   *userCache
	apiKeys *keyCache
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
}

// New loads or creates the signing key and returns the service.
func New(ctx context.Context, d *db.DB, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	master := []byte(cfg.Secret)
	if len(master) == 0 {
		var err error
		master, err = loadOrCreateSecret(ctx, d, "master_key")
		if err != nil {
			return nil, fmt.Errorf("security: signing key: %w", err)
		}
	}
	s := &Service{
		db: d, keys: deriveKeys(master), tokens: newTokenCache(10000), users: newUserCache(10000), apiKeys: newKeyCache(10000),
		cfg: cfg, log: log,
		limiter: NewLimiter(rdb, cfg.LoginMaxFailures, cfg.LoginWindow),
		now:     func() time.Time { return time.Now().UTC() },
	}
	s.audit = audit.New(d, ActorFrom)
	return s, nil
}

// Audit is the audit log, which records the principal in ctx.
func (s *Service) Audit() *audit.Log { return s.audit }

// ActorFrom gives the audit log the caller in ctx.
func ActorFrom(ctx context.Context) (audit.Actor, bool) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return audit.Actor{}, false
	}
	return audit.Actor{Type: string(p.Kind), ID: p.ID, TenantID: p.Tenant()}, true
}

// loadOrCreateSecret returns the named random secret, creating it on first
// use. Concurrent first starts agree: the insert that loses the race reads
// the winner's value.
func loadOrCreateSecret(ctx context.Context, d *db.DB, name string) ([]byte, error) {
	var sec secret
	err := d.Conn(ctx).Where("name = ?", name).Take(&sec).Error
	if err == nil {
		return base64.RawStdEncoding.DecodeString(sec.Value)
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	sec = secret{Name: name, Value: base64.RawStdEncoding.EncodeToString(b), CreatedAt: time.Now().UTC()}
	if err := d.Conn(ctx).Create(&sec).Error; err != nil {
		if !db.IsUniqueViolation(err) {
			return nil, err
		}
		return loadOrCreateSecret(ctx, d, name)
	}
	return b, nil
}

// Tokens is the response of a sign-in or refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Login checks an e-mail and password, and the authenticator code (otp)
// of a user with the second factor on, and issues tokens. Failures count
// towards the throttle; when it trips, even a right password waits.
func (s *Service) Login(ctx context.Context, email, password, otp string) (*Tokens, *User, error) {
	var toks *Tokens
	u, err := s.signIn(ctx, email, password, otp, "api", func(ctx context.Context, u *User) error {
		var err error
		toks, err = s.issue(ctx, u, uuid.NewString())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return toks, u, nil
}

// signIn checks the credentials under the shared throttle, records the
// outcome in the audit log and, on success, runs issue in the transaction
// that records the sign-in. channel ("api", "backoffice") goes to the audit
// entry. A user with the second factor on also needs code, an
// authenticator or recovery code: without one the answer is ErrOTPRequired
// (the attempt counts, nothing is recorded), with a wrong or spent one
// ErrInvalidOTP, a failed attempt.
func (s *Service) signIn(ctx context.Context, email, password, code, channel string, issue func(context.Context, *User) error) (*User, error) {
	return s.signInWith(ctx, email, func(u *User, found bool) bool {
		hash := dummyHash
		if found {
			hash = u.PasswordHash
		}
		ok, herr := CheckPassword(hash, password)
		if herr != nil {
			s.log.ErrorContext(ctx, "password hash unreadable", "user_id", u.ID, "error", herr)
		}
		return found && ok
	}, code, channel, issue)
}

// signInWith is signIn with the first factor checked by firstFactor: the
// password, or a ticket that says the password was checked a moment ago.
func (s *Service) signInWith(ctx context.Context, email string, firstFactor func(u *User, found bool) bool, code, channel string, issue func(context.Context, *User) error) (*User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	ip := audit.MetaFrom(ctx).IP
	if wait := s.limiter.Attempt(ctx, email, ip); wait > 0 {
		_ = s.audit.Record(ctx, audit.Entry{Action: "auth.login_throttled", TargetType: "user",
			Data: map[string]any{"email": email, "channel": channel}})
		return nil, ErrTooManyAttempts.WithRetryAfter(wait)
	}
	var u User
	err := s.db.Conn(ctx).Where("email = ?", email).Take(&u).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, err
	}
	found := err == nil
	if !firstFactor(&u, found) || u.Status != StatusActive || !s.tenantActive(ctx, u.TenantID) {
		s.limiter.FailAttempt(ctx, ip)
		e := audit.Entry{Action: "auth.login_failed", TargetType: "user", Data: map[string]any{"email": email, "channel": channel}}
		if found {
			e.TargetID, e.TenantID = u.ID, u.TenantID
		}
		_ = s.audit.Record(ctx, e)
		return nil, ErrInvalidCredentials
	}
	recovered := false
	if u.TOTPSecret != nil {
		if strings.TrimSpace(code) == "" {
			return nil, ErrOTPRequired
		}
		var err error
		if recovered, err = s.checkSecondFactor(ctx, &u, code); err != nil {
			if !errors.Is(err, ErrInvalidOTP) {
				return nil, err
			}
			s.limiter.FailAttempt(ctx, ip)
			_ = s.audit.Record(ctx, audit.Entry{Action: "auth.login_failed", TargetType: "user", TargetID: u.ID, TenantID: u.TenantID,
				Data: map[string]any{"email": email, "channel": channel, "reason": "otp"}})
			return nil, ErrInvalidOTP
		}
	}
	s.limiter.Succeed(ctx, email, ip)
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		if err := s.db.Conn(ctx).Model(&User{}).Where("id = ?", u.ID).Update("last_login_at", now).Error; err != nil {
			return err
		}
		s.forgetUser(ctx, u.ID)
		if err := issue(ctx, &u); err != nil {
			return err
		}
		pctx := WithPrincipal(ctx, u.principal())
		if recovered {
			if err := s.recordRecoveryUse(pctx, &u, channel); err != nil {
				return err
			}
		}
		return s.audit.Record(pctx, audit.Entry{Action: "auth.login", TargetType: "user", TargetID: u.ID,
			Data: map[string]any{"channel": channel}})
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// forgetUser drops a user from the Me cache now and again after the
// transaction in ctx commits, so that no read in between brings it back.
func (s *Service) forgetUser(ctx context.Context, id string) {
	s.users.forget(id)
	db.AfterCommit(ctx, func() { s.users.forget(id) })
}

func (u *User) principal() *Principal {
	return &Principal{Kind: KindUser, ID: u.ID, TenantID: u.TenantID, Role: u.Role, Email: u.Email}
}

func (s *Service) tenantActive(ctx context.Context, id string) bool {
	var n int64
	s.db.Conn(ctx).Model(&Tenant{}).Where("id = ? AND status = ?", id, StatusActive).Count(&n)
	return n == 1
}

// issue makes an access token and a refresh token of the given family.
func (s *Service) issue(ctx context.Context, u *User, family string) (*Tokens, error) {
	now := s.now()
	access, err := s.keys.signAccess(u.principal(), s.cfg.AccessTTL, now)
	if err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7()).String()
	sec, hash := newSecret()
	rt := refreshToken{ID: id, FamilyID: family, UserID: u.ID, TenantID: u.TenantID, TokenHash: hash,
		ExpiresAt: now.Add(s.cfg.RefreshTTL), CreatedAt: now}
	if err := s.db.Conn(ctx).Create(&rt).Error; err != nil {
		return nil, err
	}
	return &Tokens{AccessToken: access, RefreshToken: "rt_" + compactID(id) + "_" + sec, TokenType: "Bearer",
		ExpiresIn: int(s.cfg.AccessTTL.Seconds())}, nil
}

// Refresh rotates a refresh token: the old one is spent and a new pair is
// issued. Presenting a spent token again means it was stolen, so its whole
// family is revoked.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	id, sec, ok := splitOpaque(token, "rt")
	if !ok {
		return nil, ErrInvalidRefresh
	}
	hash := hashSecret(sec)
	var toks *Tokens
	var reused *refreshToken
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		// Spend the token before anything else, in one atomic UPDATE: of
		// concurrent refreshes exactly one matches, and the row lock it takes
		// makes the others wait for its commit instead of racing it (or, on
		// MariaDB, deadlocking on the family's new rows). On SQLite the write
		// comes first, so the transaction never upgrades a read lock.
		spent := s.db.Conn(ctx).Model(&refreshToken{}).
			Where("id = ? AND token_hash = ? AND revoked_at IS NULL", id, hash).Update("revoked_at", now)
		if spent.Error != nil {
			return spent.Error
		}
		var rt refreshToken
		if err := s.db.Conn(ctx).Where("id = ?", id).Take(&rt).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrInvalidRefresh
			}
			return err
		}
		if !constEq(rt.TokenHash, hash) {
			return ErrInvalidRefresh
		}
		if spent.RowsAffected != 1 {
			reused = &rt // spent or revoked already: a replay
			return ErrInvalidRefresh
		}
		if now.After(rt.ExpiresAt) {
			return ErrInvalidRefresh
		}
		var u User
		if err := s.db.Conn(ctx).Where("id = ?", rt.UserID).Take(&u).Error; err != nil {
			return ErrInvalidRefresh
		}
		if u.Status != StatusActive || !s.tenantActive(ctx, u.TenantID) {
			return ErrInvalidRefresh
		}
		var err error
		toks, err = s.issue(ctx, &u, rt.FamilyID)
		if err != nil {
			return err
		}
		newID, _, _ := splitOpaque(toks.RefreshToken, "rt")
		return s.db.Conn(ctx).Model(&refreshToken{}).Where("id = ?", rt.ID).Update("replaced_by", newID).Error
	})
	if reused != nil {
		// Outside the refused transaction, which rolls back.
		rerr := s.db.InTx(ctx, func(ctx context.Context) error {
			if err := s.revokeFamily(ctx, reused.FamilyID); err != nil {
				return err
			}
			pctx := WithPrincipal(ctx, &Principal{Kind: KindUser, ID: reused.UserID, TenantID: reused.TenantID})
			return s.audit.Record(pctx, audit.Entry{Action: "auth.refresh_reused", TargetType: "user", TargetID: reused.UserID})
		})
		if rerr != nil {
			s.log.ErrorContext(ctx, "revoking a replayed refresh token's family failed", "family_id", reused.FamilyID, "error", rerr)
			return nil, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	return toks, nil
}

func (s *Service) revokeFamily(ctx context.Context, family string) error {
	return s.db.Conn(ctx).Model(&refreshToken{}).Where("family_id = ? AND revoked_at IS NULL", family).
		Update("revoked_at", s.now()).Error
}

// Logout revokes the refresh token's family. An unknown token is not an
// error: the caller is signed out either way.
func (s *Service) Logout(ctx context.Context, token string) error {
	id, sec, ok := splitOpaque(token, "rt")
	if !ok {
		return nil
	}
	var rt refreshToken
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&rt).Error; err != nil || !constEq(rt.TokenHash, hashSecret(sec)) {
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.revokeFamily(ctx, rt.FamilyID); err != nil {
			return err
		}
		pctx := WithPrincipal(ctx, &Principal{Kind: KindUser, ID: rt.UserID, TenantID: rt.TenantID})
		return s.audit.Record(pctx, audit.Entry{Action: "auth.logout", TargetType: "user", TargetID: rt.UserID})
	})
}

// revokeUserSessions ends every refresh token of a user, after a role change,
// a suspension or a password change.
func (s *Service) revokeUserSessions(ctx context.Context, userID string) error {
	return s.db.Conn(ctx).Model(&refreshToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).
		Update("revoked_at", s.now()).Error
}

// AuthenticateToken resolves a bearer credential: an access token, an API
// key or a service credential.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	switch {
	case strings.HasPrefix(token, "pk_"):
		return s.authenticateKey(ctx, token)
	case looksLikeJWT(token):
		now := time.Now()
		if p, ok := s.tokens.get(token, now); ok {
			return p, nil
		}
		if p, exp, err := s.keys.parseAccess(token); err == nil {
			s.tokens.put(token, p, exp)
			return p, nil
		}
		if p, err := s.keys.parseService(token, ""); err == nil {
			return p, nil
		}
	}
	return nil, ErrInvalidToken
}

func (s *Service) authenticateKey(ctx context.Context, token string) (*Principal, error) {
	id, sec, ok := splitOpaque(token, "pk")
	if !ok {
		return nil, ErrInvalidToken
	}
	now := s.now()
	hash := hashSecret(sec)
	if e, ok := s.apiKeys.get(id, now); ok {
		if !constEq(e.hash, hash) {
			return nil, ErrInvalidToken
		}
		p := e.p // a copy: callers may change theirs
		return &p, nil
	}
	var k APIKey
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&k).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrInvalidToken
		}
		return nil, err
	}
	if !constEq(k.KeyHash, hash) || k.RevokedAt != nil || (k.ExpiresAt != nil && now.After(*k.ExpiresAt)) {
		return nil, ErrInvalidToken
	}
	if !s.tenantActive(ctx, k.TenantID) {
		return nil, ErrInvalidToken
	}
	// Record the last use at most once a minute per key, so that a busy key
	// does not turn every read into a write.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		s.db.Conn(ctx).Model(&APIKey{}).Where("id = ?", k.ID).Update("last_used_at", now)
	}
	p := Principal{Kind: KindAPIKey, ID: k.ID, TenantID: k.TenantID, Scopes: k.Scopes}
	exp := now.Add(keyTTL)
	if k.ExpiresAt != nil && k.ExpiresAt.Before(exp) {
		exp = *k.ExpiresAt
	}
	s.apiKeys.put(id, cachedKey{p: p, hash: k.KeyHash, exp: exp})
	return &p, nil
}

// forgetKeys empties the API key cache now and again after the transaction
// in ctx commits, so that no read in between brings a revoked key back.
func (s *Service) forgetKeys(ctx context.Context) {
	s.apiKeys.clear()
	db.AfterCommit(ctx, s.apiKeys.clear)
}

// AccessTokenFor signs an access token for a user principal, with the
// configured lifetime in seconds. It is for a browser session that calls
// the API from its own pages (the backoffice's notification bell): the
// caller has authenticated the session and checked its CSRF token.
func (s *Service) AccessTokenFor(p *Principal) (string, int, error) {
	if p == nil || p.Kind != KindUser {
		return "", 0, errs.ErrUnauthenticated
	}
	tok, err := s.keys.signAccess(p, s.cfg.AccessTTL, s.now())
	return tok, int(s.cfg.AccessTTL.Seconds()), err
}

// IssueServiceCredential signs a short-lived credential for a call from
// module from to module to, carrying the tenant and the user the call is
// made for. Only scopes the caller holds are passed on.
func (s *Service) IssueServiceCredential(ctx context.Context, from, to string, scopes []string) (string, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return "", errs.ErrUnauthenticated
	}
	for _, sc := range scopes {
		if !p.Can(Permission(sc)) {
			return "", ErrScopeNotGrantable.WithMessage("The caller does not hold %q.", sc)
		}
	}
	onBehalf := ""
	if p.Kind == KindUser {
		onBehalf = p.ID
	}
	return s.keys.signService(from, to, p.Tenant(), onBehalf, scopes, s.cfg.ServiceTTL, s.now())
}

// VerifyServiceCredential checks a credential meant for module audience.
func (s *Service) VerifyServiceCredential(token, audience string) (*Principal, error) {
	p, err := s.keys.parseService(token, audience)
	if err != nil {
		return nil, ErrInvalidToken
	}
	return p, nil
}

// SignEnvelope and VerifyEnvelope protect task envelopes in the queue.
func (s *Service) SignEnvelope(b []byte) string { return s.keys.signEnvelope(b) }

// VerifyEnvelope checks a signature made by SignEnvelope.
func (s *Service) VerifyEnvelope(b []byte, sig string) bool { return s.keys.verifyEnvelope(b, sig) }

func constEq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
