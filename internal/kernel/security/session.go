package security

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
)

// Browser sessions, for the backoffice and the member area. The cookie holds
// an opaque "ss_<id>_<secret>"; only sha256(secret) is stored. Sessions are
// checked against the database on every request, so a role change, a
// suspension or a sign-out takes effect at once. They authenticate only
// /admin and /member, never /api, and every unsafe request they
// authenticate must carry the CSRF token.
const (
	SessionCookie = "platform_session"
	CSRFHeader    = "X-CSRF-Token"
	CSRFField     = "_csrf"

	sessionIdle    = 12 * time.Hour // a session unused this long ends
	sessionMaxLife = 7 * 24 * time.Hour
	sessionTouch   = 5 * time.Minute // last_seen_at is written at most this often
)

// Session is a browser session.
type Session struct {
	ID             string     `gorm:"primaryKey"`
	UserID         string     `gorm:"column:user_id"`
	TenantID       string     `gorm:"column:tenant_id"`
	ActingTenantID *string    `gorm:"column:acting_tenant_id"`
	TokenHash      string     `gorm:"column:token_hash"`
	IP             string     `gorm:"column:ip"`
	UserAgent      string     `gorm:"column:user_agent"`
	ExpiresAt      time.Time  `gorm:"column:expires_at"`
	LastSeenAt     time.Time  `gorm:"column:last_seen_at"`
	RevokedAt      *time.Time `gorm:"column:revoked_at"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
}

// TableName is the kernel's sessions table.
func (Session) TableName() string { return "kernel_sessions" }

// ErrSessionInvalid means the session cookie is missing, expired or revoked.
var ErrSessionInvalid = errs.New(errs.Unauthenticated, "auth.session_invalid", "Your session has ended; sign in again.")

// StartSession signs in with a password and, for a user with the second
// factor on, an authenticator code (otp), under the same throttle and audit
// as the API, and returns the cookie value.
func (s *Service) StartSession(ctx context.Context, email, password, otp string) (string, *User, error) {
	var token string
	u, err := s.signIn(ctx, email, password, otp, "backoffice", func(ctx context.Context, u *User) error {
		var err error
		token, err = s.newSession(ctx, u)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// newSession stores a session for u and returns its cookie value.
func (s *Service) newSession(ctx context.Context, u *User) (string, error) {
	now := s.now()
	id := uuid.Must(uuid.NewV7()).String()
	sec, hash := newSecret()
	m := audit.MetaFrom(ctx)
	ua := m.UserAgent
	if len(ua) > 255 {
		ua = ua[:255]
	}
	row := Session{ID: id, UserID: u.ID, TenantID: u.TenantID, TokenHash: hash, IP: m.IP, UserAgent: ua,
		ExpiresAt: now.Add(sessionIdle), LastSeenAt: now, CreatedAt: now}
	if err := s.db.Conn(ctx).Create(&row).Error; err != nil {
		return "", err
	}
	return "ss_" + compactID(id) + "_" + sec, nil
}

// SessionPrincipal resolves a session cookie to its user's principal, with
// the role as it is now and the tenant the session has switched to.
func (s *Service) SessionPrincipal(ctx context.Context, token string) (*Principal, *Session, error) {
	id, sec, ok := splitOpaque(token, "ss")
	if !ok {
		return nil, nil, ErrSessionInvalid
	}
	var sess Session
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&sess).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, ErrSessionInvalid
		}
		return nil, nil, err
	}
	now := s.now()
	if !constEq(sess.TokenHash, hashSecret(sec)) || sess.RevokedAt != nil || now.After(sess.ExpiresAt) ||
		now.Sub(sess.CreatedAt) > sessionMaxLife {
		return nil, nil, ErrSessionInvalid
	}
	var u User
	if err := s.db.Conn(ctx).Where("id = ?", sess.UserID).Take(&u).Error; err != nil {
		return nil, nil, ErrSessionInvalid
	}
	if u.Status != StatusActive || !s.tenantActive(ctx, u.TenantID) {
		return nil, nil, ErrSessionInvalid
	}
	p := u.principal()
	if sess.ActingTenantID != nil && *sess.ActingTenantID != u.TenantID {
		p.Acting = *sess.ActingTenantID
	}
	if now.Sub(sess.LastSeenAt) > sessionTouch {
		s.db.Conn(ctx).Model(&Session{}).Where("id = ?", sess.ID).
			Updates(map[string]any{"last_seen_at": now, "expires_at": now.Add(sessionIdle)})
	}
	return p, &sess, nil
}

// EndSession revokes the session; an unknown cookie is not an error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	p, sess, err := s.SessionPrincipal(ctx, token)
	if err != nil {
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.db.Conn(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", sess.ID).
			Update("revoked_at", s.now()).Error; err != nil {
			return err
		}
		return s.audit.Record(WithPrincipal(ctx, p), audit.Entry{Action: "auth.logout", TargetType: "user", TargetID: p.ID,
			Data: map[string]any{"channel": "backoffice"}})
	})
}

// SwitchTenant points the session at another tenant the user may see, or
// back home with tenantID "". The principal in ctx is the session's.
func (s *Service) SwitchTenant(ctx context.Context, sess *Session, tenantID string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser || p.ID != sess.UserID {
		return errs.ErrUnauthenticated
	}
	var acting *string
	if tenantID != "" && tenantID != p.TenantID {
		if !(p.Role == RolePlatformAdmin || p.Role == RoleOwner || p.Role == RolePartner) {
			return ErrTenantSwitch
		}
		home := *p
		home.Acting = ""
		t, err := s.VisibleTenant(WithPrincipal(ctx, &home), tenantID)
		if err != nil {
			return ErrTenantSwitch
		}
		acting = &t.ID
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.db.Conn(ctx).Model(&Session{}).Where("id = ?", sess.ID).Update("acting_tenant_id", acting).Error; err != nil {
			return err
		}
		target := p.TenantID
		if acting != nil {
			target = *acting
		}
		return s.audit.Record(ctx, audit.Entry{Action: "auth.tenant_switched", TargetType: "tenant", TargetID: target})
	})
}

// CSRFToken is the session's CSRF token: an HMAC of its id, so nothing more
// needs storing and it cannot be guessed without the server key.
func (s *Service) CSRFToken(sess *Session) string {
	m := hmac.New(sha256.New, s.keys.envelope)
	m.Write([]byte("csrf:" + sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

const sessionKey = "security.session"

// SessionFrom is the browser session of the request, when cookie-authenticated.
func SessionFrom(c echo.Context) (*Session, bool) {
	sess, ok := c.Get(sessionKey).(*Session)
	return sess, ok
}

// SessionAuth authenticates a request by its session cookie, unless a
// bearer credential already did. A bad cookie leaves the request anonymous:
// the page then asks to sign in.
func (s *Service) SessionAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		if _, ok := PrincipalFrom(ctx); ok {
			return next(c)
		}
		ck, err := c.Cookie(SessionCookie)
		if err != nil || ck.Value == "" {
			return next(c)
		}
		p, sess, err := s.SessionPrincipal(ctx, ck.Value)
		if err != nil {
			ClearSessionCookie(c)
			return next(c)
		}
		c.Set(sessionKey, sess)
		c.Set(httpx.PrincipalLogKey, p.String())
		c.SetRequest(c.Request().WithContext(WithPrincipal(ctx, p)))
		return next(c)
	}
}

// CSRF refuses an unsafe request authenticated by a session cookie unless it
// carries the session's token in the X-CSRF-Token header or the _csrf form
// field. Bearer-authenticated requests cannot be forged cross-site and pass.
func (s *Service) CSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		sess, ok := SessionFrom(c)
		if !ok {
			return next(c)
		}
		got := c.Request().Header.Get(CSRFHeader)
		if got == "" {
			got = formToken(c.Request())
		}
		if !hmac.Equal([]byte(got), []byte(s.CSRFToken(sess))) {
			return ErrCSRF
		}
		return next(c)
	}
}

// formToken is the _csrf field of a form. A multipart form (one that
// uploads files) is not parsed whole, which would read the files into
// memory under the server's body limit before the route could raise it:
// its token must be its first field, as a form's first hidden input is,
// and only the start of the body is read.
func formToken(r *http.Request) string {
	mt, params, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEMultipartForm {
		return r.FormValue(CSRFField)
	}
	head := httpx.PeekBody(r, 4096)
	p, err := multipart.NewReader(bytes.NewReader(head), params["boundary"]).NextPart()
	if err != nil || p.FormName() != CSRFField || p.FileName() != "" {
		return ""
	}
	tok, err := io.ReadAll(io.LimitReader(p, 256))
	if err != nil {
		return ""
	}
	return string(tok)
}

// ErrCSRF is a missing or wrong CSRF token.
var ErrCSRF = errs.New(errs.Forbidden, "auth.csrf_failed", "The form has expired or did not come from this site; reload the page and try again.")

// SetSessionCookie sets the session cookie: HttpOnly, SameSite=Lax, and
// Secure when the request came over TLS.
func SetSessionCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteLaxMode, MaxAge: int(sessionMaxLife.Seconds())})
}

// ClearSessionCookie removes the session cookie.
func ClearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func isTLS(c echo.Context) bool {
	return c.Request().TLS != nil || c.Scheme() == "https"
}
