package admin

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// The sign-in form has no session yet, so its CSRF token is a signed
// double-submit cookie: a random nonce and its HMAC, in an HttpOnly
// SameSite=Strict cookie and in the form. A cross-site page can neither
// read the cookie nor forge the signature of one it plants.
const loginCSRFCookie = "platform_login_csrf"

func (s *Shell) newLoginToken(c echo.Context) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	tok := nonce + "." + base64.RawURLEncoding.EncodeToString(s.sec.Sign("login-csrf", []byte(nonce)))
	c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/admin/", MaxAge: 3600, HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteStrictMode})
	return tok
}

// formToken is the CSRF token of a form that works with or without a
// session: the session's token when there is one (the kernel's CSRF check
// then demands it), the signed double-submit token otherwise.
func (s *Shell) formToken(c echo.Context) string {
	if sess, ok := security.SessionFrom(c); ok {
		return s.sec.CSRFToken(sess)
	}
	return s.newLoginToken(c)
}

// checkLoginToken checks a form made by formToken. With a session, the
// kernel's CSRF middleware has already checked the session's token.
func (s *Shell) checkLoginToken(c echo.Context) bool {
	if _, ok := security.SessionFrom(c); ok {
		return true
	}
	ck, err := c.Cookie(loginCSRFCookie)
	if err != nil {
		return false
	}
	form := c.FormValue(security.CSRFField)
	if form == "" || !hmac.Equal([]byte(form), []byte(ck.Value)) {
		return false
	}
	nonce, sig, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return false
	}
	want := base64.RawURLEncoding.EncodeToString(s.sec.Sign("login-csrf", []byte(nonce)))
	return hmac.Equal([]byte(sig), []byte(want))
}

type loginData struct {
	Email     string
	Next      string
	LoginCSRF string
	// OTP asks for the authenticator code: the password was right. The
	// form carries a short-lived signed ticket that stands for the password,
	// never the password itself.
	OTP    bool
	Ticket string
}

func (s *Shell) loginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if p, ok := security.PrincipalFrom(c.Request().Context()); ok && s.backofficeUser(p) {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.render(c, http.StatusOK, "login", "Sign in", nil, loginData{Next: next, LoginCSRF: s.formToken(c)})
}

func (s *Shell) login(c echo.Context) error {
	ctx := c.Request().Context()
	d := loginData{Email: strings.TrimSpace(c.FormValue("email")), Next: safeNext(c.FormValue("next"))}
	fail := func(status int, msg string) error {
		d.LoginCSRF = s.formToken(c)
		v := s.baseView(c, "Sign in", nil)
		v.Data, v.ErrorText = d, msg
		return s.write(c, status, "login", v)
	}
	if !s.checkLoginToken(c) {
		return fail(http.StatusForbidden, security.ErrCSRF.Message)
	}
	var (
		token string
		err   error
	)
	if ticket := c.FormValue("ticket"); ticket != "" {
		// The second step: the ticket stands for the password just checked.
		if len(ticket) > 300 || len(c.FormValue("otp")) > 32 {
			return fail(http.StatusUnprocessableEntity, security.ErrOTPTicket.Message)
		}
		token, _, err = s.sec.StartSessionWithTicket(ctx, ticket, c.FormValue("otp"))
		if errors.Is(err, security.ErrInvalidOTP) || errors.Is(err, security.ErrOTPRequired) {
			d.OTP, d.Ticket = true, ticket
			return fail(http.StatusUnauthorized, security.ErrInvalidOTP.Message)
		}
	} else {
		if d.Email == "" || c.FormValue("password") == "" {
			return fail(http.StatusUnprocessableEntity, "Enter your e-mail address and password.")
		}
		if len(d.Email) > 254 || len(c.FormValue("password")) > 200 {
			return fail(http.StatusUnprocessableEntity, security.ErrInvalidCredentials.Message)
		}
		token, _, err = s.sec.StartSession(ctx, d.Email, c.FormValue("password"), c.FormValue("otp"))
	}
	if err != nil {
		e, ok := errs.As(err)
		if !ok {
			return err
		}
		switch e.Kind {
		case errs.RateLimited:
			mins := int(e.RetryAfter.Minutes() + 0.999)
			c.Response().Header().Set("Retry-After", fmt.Sprint(max(int(e.RetryAfter.Seconds()+0.999), 1)))
			return fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d minute(s).", max(mins, 1)))
		case errs.Unauthenticated:
			if errors.Is(err, security.ErrOTPRequired) || errors.Is(err, security.ErrInvalidOTP) {
				// The password was right: the code form gets a ticket for it.
				ticket, terr := s.sec.OTPTicket(ctx, d.Email)
				if terr != nil {
					return fail(http.StatusUnauthorized, terr.Error())
				}
				d.OTP, d.Ticket = true, ticket
				if errors.Is(err, security.ErrOTPRequired) {
					d.LoginCSRF = s.formToken(c)
					return s.render(c, http.StatusOK, "login", "Sign in", nil, d)
				}
			}
			return fail(http.StatusUnauthorized, e.Message)
		}
		return err
	}
	// A session this browser had before ends: one browser, one session.
	if old, err := c.Cookie(security.SessionCookie); err == nil && old.Value != "" {
		if err := s.sec.EndSession(ctx, old.Value); err != nil {
			s.log.WarnContext(ctx, "ending the previous session failed", "error", err)
		}
	}
	security.SetSessionCookie(c, token)
	c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/admin/", MaxAge: -1, HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, d.Next)
}

func (s *Shell) logout(c echo.Context) error {
	if ck, err := c.Cookie(security.SessionCookie); err == nil && ck.Value != "" {
		if err := s.sec.EndSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	security.ClearSessionCookie(c)
	return s.redirectFlash(c, "/admin/login", "ok", "You are signed out.")
}

type passwordData struct {
	MinLen int
	TOTP   bool       // the second factor is on
	Setup  *totpSetup // a secret being set up, not yet confirmed
	// RecoveryLeft counts the unused recovery codes; RecoveryCodes is a new
	// set, in the one response that shows it.
	RecoveryLeft  int
	RecoveryCodes []string
}

// totpSetup shows a new secret: in groups of four to type in, and as an
// otpauth link and QR code (a data: URI, which the CSP's img-src allows).
type totpSetup struct {
	Secret  string
	Grouped string
	URL     template.URL
	QR      template.URL
}

var accountCrumbs = []crumb{{Label: "Dashboard", Href: "/admin"}}

func (s *Shell) passwordData(c echo.Context) passwordData {
	d := passwordData{MinLen: s.k.Config.Security.PasswordMinLen}
	if u, err := s.sec.Me(c.Request().Context()); err == nil {
		d.TOTP = u.TOTPSecret != nil
	}
	if d.TOTP {
		d.RecoveryLeft, _ = s.sec.RecoveryCodesLeft(c.Request().Context())
	}
	return d
}

func (s *Shell) passwordForm(c echo.Context) error {
	return s.render(c, http.StatusOK, "password", "Change password", accountCrumbs, s.passwordData(c))
}

func newTOTPSetup(secret, url string) (*totpSetup, error) {
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	var g strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			g.WriteByte(' ')
		}
		g.WriteRune(r)
	}
	return &totpSetup{Secret: secret, Grouped: g.String(), URL: template.URL(url),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))}, nil
}

// beginTOTP shows a new secret to confirm; nothing is stored yet.
func (s *Shell) beginTOTP(c echo.Context) error {
	setup, err := s.sec.BeginTOTP(c.Request().Context())
	if err != nil {
		return err
	}
	d := s.passwordData(c)
	if d.Setup, err = newTOTPSetup(setup.Secret, setup.URL); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "password", "Change password", accountCrumbs, d)
}

// enableTOTP confirms the secret with a code; a wrong code shows the same
// secret again.
func (s *Shell) enableTOTP(c echo.Context) error {
	ctx := c.Request().Context()
	secret, code := c.FormValue("secret"), c.FormValue("code")
	if len(secret) > 128 || len(code) > 10 {
		return errs.ErrBadRequest
	}
	codes, err := s.sec.EnableTOTP(ctx, secret, code)
	if err != nil {
		d := s.passwordData(c)
		if url, uerr := s.sec.TOTPURL(ctx, secret); uerr == nil && !d.TOTP {
			if d.Setup, uerr = newTOTPSetup(strings.ToUpper(strings.TrimSpace(secret)), url); uerr != nil {
				return uerr
			}
		}
		return s.renderForm(c, "password", "Change password", accountCrumbs, d, err)
	}
	return s.showRecoveryCodes(c, codes, "Two-factor authentication is on. You will need a code from your app to sign in.")
}

// showRecoveryCodes answers the POST that made a set of recovery codes with
// the page that shows them: they are in this response only, never in a
// cookie or a page that can be loaded again.
func (s *Shell) showRecoveryCodes(c echo.Context, codes []string, msg string) error {
	d := s.passwordData(c)
	d.RecoveryCodes = codes
	v := s.baseView(c, "Change password", accountCrumbs)
	v.Data, v.Flash = d, &flash{Kind: "ok", Text: msg}
	return s.write(c, http.StatusOK, "password", v)
}

// regenerateRecoveryCodes replaces the recovery codes, with the password
// and a current authenticator code.
func (s *Shell) regenerateRecoveryCodes(c echo.Context) error {
	pw, code := c.FormValue("password"), c.FormValue("code")
	if len(pw) > 200 || len(code) > 10 {
		return errs.ErrBadRequest
	}
	codes, err := s.sec.RegenerateRecoveryCodes(c.Request().Context(), pw, code)
	if err != nil {
		return s.renderForm(c, "password", "Change password", accountCrumbs, s.passwordData(c), err)
	}
	return s.showRecoveryCodes(c, codes, "New recovery codes are made; the old ones no longer work.")
}

// disableTOTP turns the second factor off with the password and a code.
func (s *Shell) disableTOTP(c echo.Context) error {
	pw, code := c.FormValue("password"), c.FormValue("code")
	if len(pw) > 200 || len(code) > 32 {
		return errs.ErrBadRequest
	}
	if err := s.sec.DisableTOTP(c.Request().Context(), pw, code); err != nil {
		return s.renderForm(c, "password", "Change password", accountCrumbs, s.passwordData(c), err)
	}
	return s.redirectFlash(c, "/admin/account/password", "ok", "Two-factor authentication is off.")
}

var errPasswordsDiffer = errs.ErrInvalid.WithDetails(errs.Detail{Field: "confirm_password", Code: "match", Message: "does not match the new password"})

func (s *Shell) changePassword(c echo.Context) error {
	data := s.passwordData(c)
	cur, next := c.FormValue("current_password"), c.FormValue("new_password")
	if next != c.FormValue("confirm_password") {
		return s.renderForm(c, "password", "Change password", accountCrumbs, data, errPasswordsDiffer)
	}
	if len(cur) > 200 || len(next) > 200 {
		return s.renderForm(c, "password", "Change password", accountCrumbs, data,
			errs.ErrInvalid.WithDetails(errs.Detail{Field: "new_password", Code: "max", Message: "must be at most 200 characters"}))
	}
	keep := ""
	if sess, ok := security.SessionFrom(c); ok {
		keep = sess.ID
	}
	if err := s.sec.ChangePassword(c.Request().Context(), keep, cur, next); err != nil {
		return s.renderForm(c, "password", "Change password", accountCrumbs, data, err)
	}
	return s.redirectFlash(c, "/admin", "ok", "Your password is changed. Your other sessions are signed out.")
}

// canSwitch reports whether p's role may work in other tenants.
func canSwitch(p *security.Principal) bool {
	return p.Kind == security.KindUser &&
		(p.Role == security.RolePlatformAdmin || p.Role == security.RoleOwner || p.Role == security.RolePartner)
}

// switcherLimit caps the tenants offered in the switcher.
const switcherLimit = 200

// switcher lists the tenants p may switch to, seen from its home tenant.
func (s *Shell) switcher(c echo.Context, p *security.Principal) *switcher {
	if !canSwitch(p) || !p.Can(security.PermTenantsRead) {
		return nil
	}
	if _, ok := security.SessionFrom(c); !ok {
		return nil
	}
	home := *p
	home.Acting = ""
	ts, _, err := s.sec.ListTenants(security.WithPrincipal(c.Request().Context(), &home),
		security.TenantFilter{Status: security.StatusActive, Limit: switcherLimit, OrderBy: "name ASC"})
	if err != nil || len(ts) < 2 {
		return nil
	}
	sw := &switcher{Current: p.Tenant(), Home: p.TenantID, Back: safeNext(c.Request().URL.RequestURI())}
	for _, t := range ts {
		sw.Options = append(sw.Options, Choice{Value: t.ID, Label: t.Name})
	}
	return sw
}

func (s *Shell) switchTenant(c echo.Context) error {
	sess, ok := security.SessionFrom(c)
	if !ok {
		return errs.ErrBadRequest.WithMessage("Switching tenants needs a browser session.")
	}
	ctx := c.Request().Context()
	id := c.FormValue("tenant_id")
	p, _ := security.PrincipalFrom(ctx)
	if id == p.TenantID {
		id = ""
	}
	back := safeNext(c.FormValue("back"))
	if err := s.sec.SwitchTenant(ctx, sess, id); err != nil {
		if errors.Is(err, security.ErrTenantSwitch) {
			return s.redirectFlash(c, back, "error", "That tenant does not exist or is not yours.")
		}
		return err
	}
	name := "your home tenant"
	if id != "" {
		home := *p
		home.Acting = ""
		if t, err := s.sec.VisibleTenant(security.WithPrincipal(ctx, &home), id); err == nil {
			name = t.Name
		}
	}
	// Ids on the page just left may belong to the old tenant: go back only
	// to list pages.
	if strings.Count(strings.TrimPrefix(back, "/admin/"), "/") > 0 {
		back = "/admin"
	}
	return s.redirectFlash(c, back, "ok", "You are now working in "+name+".")
}
