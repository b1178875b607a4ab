package admin_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

var (
	secretField  = regexp.MustCompile(`name="secret" value="([^"]+)"`)
	ticketField  = regexp.MustCompile(`name="ticket" value="([^"]+)"`)
	recoveryItem = regexp.MustCompile(`<li>([0-9a-z]{5}-[0-9a-z]{5})</li>`)
)

// recoveryCodes are the codes a page shows, checked to be ten and distinct.
func recoveryCodes(t *testing.T, p *page) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, m := range recoveryItem.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, m[1])
		seen[m[1]] = true
	}
	if len(out) != 10 || len(seen) != 10 {
		t.Fatalf("the page shows %d recovery codes (%d distinct), want 10:\n%s", len(out), len(seen), p.Body)
	}
	return out
}

func code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// notCode is a 6-digit code that none of the steps around now has.
func notCode(t *testing.T, secret string) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		ok := true
		for _, off := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
			if code(t, secret, off) == c {
				ok = false
			}
		}
		if ok {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// setUpTOTP turns the second factor on through the account page and
// returns the secret and the recovery codes, which that response shows
// once; a wrong confirmation code is refused first.
func setUpTOTP(t *testing.T, e *env, b *browser, email string) (string, []string) {
	t.Helper()
	b.Get("/admin/account/password").Must(t, http.StatusOK, "Two-factor authentication is <strong>off</strong>")
	p := b.Post("/admin/account/totp/begin", nil)
	p.Must(t, http.StatusOK, `id="totp-secret"`, `src="data:image/png;base64,`, `href="otpauth://totp/`)
	m := secretField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no secret in the setup form:\n%s", p.Body)
	}
	secret := m[1]
	if n := e.count("email = ? AND totp_secret IS NOT NULL", email); n != 0 {
		t.Fatalf("beginning the setup stored a secret (%d rows)", n)
	}
	b.Post("/admin/account/totp/enable", url.Values{"secret": {secret}, "code": {notCode(t, secret)}}).
		Must(t, http.StatusUnprocessableEntity, "Code is wrong", secret)
	if n := e.count("email = ? AND totp_secret IS NOT NULL", email); n != 0 {
		t.Fatal("a wrong confirmation code turned TOTP on")
	}
	on := b.Post("/admin/account/totp/enable", url.Values{"secret": {secret}, "code": {code(t, secret, 0)}})
	on.Must(t, http.StatusOK, "Two-factor authentication is on.", "Store these codes now", "<strong>10</strong> recovery codes left")
	codes := recoveryCodes(t, on)
	again := b.Get("/admin/account/password")
	again.Must(t, http.StatusOK, "Two-factor authentication is <strong>on</strong>", "<strong>10</strong> recovery codes left")
	for _, c := range codes {
		if strings.Contains(again.Body, c) {
			t.Fatalf("the recovery code %s is shown again", c)
		}
	}
	return secret, codes
}

func (e *env) count(where string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.k.DB.Conn(context.Background()).Table("kernel_users").Where(where, args...).Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestTOTPBackoffice(t *testing.T) {
	e := newEnv(t)

	t.Run("sign-in asks for the code in a second step", func(t *testing.T) {
		ab := e.adminBrowser()
		secret, _ := setUpTOTP(t, e, ab, kerneltest.AdminEmail)
		list := ab.Get("/admin/users")
		list.Must(t, http.StatusOK, "Two-factor")
		if !regexp.MustCompile(`(?s)` + regexp.QuoteMeta(kerneltest.AdminEmail) + `.*?<td[^>]*>\s*on\s*</td>`).MatchString(list.Body) {
			t.Fatalf("the users list does not show TOTP on for the admin:\n%s", list.Body)
		}

		b := e.browser()
		p := b.TryLogin(kerneltest.AdminEmail, kerneltest.AdminPassword)
		p.Must(t, http.StatusOK, `name="otp"`, "Two-factor authentication is on", "recovery codes instead")
		// The code form carries a signed ticket for the password, never the password.
		if strings.Contains(p.Body, kerneltest.AdminPassword) {
			t.Fatalf("the second step carries the password:\n%s", p.Body)
		}
		m := ticketField.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("the second step has no ticket:\n%s", p.Body)
		}
		ticket := html.UnescapeString(m[1])
		if b.Get("/admin").Status == http.StatusOK {
			t.Fatal("signed in without the code")
		}
		b.Get("/admin/login")
		stepWith := func(csrf, ticket, otp string) *page {
			form := url.Values{"email": {kerneltest.AdminEmail}, "ticket": {ticket}, "next": {"/admin"}, "otp": {otp}}
			if csrf != "" {
				form.Set("_csrf", csrf)
			}
			return b.Post("/admin/login", form)
		}
		step := func(csrf, otp string) *page { return stepWith(csrf, ticket, otp) }
		// The second step keeps the form's CSRF protection.
		step("forged", code(t, secret, 30*time.Second)).Must(t, http.StatusForbidden)
		// A ticket that was tampered with is refused, even with a right code.
		forged := "A" + ticket[1:]
		if forged == ticket {
			forged = "B" + ticket[1:]
		}
		stepWith("", forged, code(t, secret, 30*time.Second)).Must(t, http.StatusUnauthorized)
		step("", notCode(t, secret)).Must(t, http.StatusUnauthorized, "authenticator code is wrong", `name="otp"`)
		good := code(t, secret, 30*time.Second)
		step("", good).Must(t, http.StatusSeeOther)
		b.Get("/admin").Must(t, http.StatusOK)

		// The same code does not sign in a second time.
		b2 := e.browser()
		m2 := ticketField.FindStringSubmatch(b2.TryLogin(kerneltest.AdminEmail, kerneltest.AdminPassword).Body)
		if m2 == nil {
			t.Fatal("no ticket in the second step")
		}
		b2.Post("/admin/login", url.Values{"email": {kerneltest.AdminEmail}, "ticket": {html.UnescapeString(m2[1])},
			"next": {"/admin"}, "otp": {good}}).Must(t, http.StatusUnauthorized, "authenticator code is wrong")
	})

	t.Run("turning it off needs the password and a code", func(t *testing.T) {
		e.user(e.rootID, "owner@totp.test", "owner")
		b := e.browser()
		b.Login("owner@totp.test", "user-password-123")
		secret, _ := setUpTOTP(t, e, b, "owner@totp.test")
		off := func(password, otp string) *page {
			return b.Post("/admin/account/totp/disable", url.Values{"password": {password}, "code": {otp}})
		}
		off("wrong-password-1", code(t, secret, 30*time.Second)).Must(t, http.StatusUnprocessableEntity, "Password is wrong")
		off("user-password-123", notCode(t, secret)).Must(t, http.StatusUnprocessableEntity, "Code is wrong")
		if n := e.count("email = 'owner@totp.test' AND totp_secret IS NOT NULL"); n != 1 {
			t.Fatal("a refused request turned TOTP off")
		}
		off("user-password-123", code(t, secret, 30*time.Second)).Must(t, http.StatusSeeOther)
		if n := e.count("email = 'owner@totp.test' AND totp_secret IS NOT NULL"); n != 0 {
			t.Fatal("TOTP is still on")
		}
		b.Get("/admin/account/password").Must(t, http.StatusOK, "Two-factor authentication is <strong>off</strong>")
		e.browser().Login("owner@totp.test", "user-password-123")
	})
}

// secondStep signs in with the password and then code, and returns the
// second step's answer.
func secondStep(t *testing.T, b *browser, email, password, otp string) *page {
	t.Helper()
	m := ticketField.FindStringSubmatch(b.TryLogin(email, password).Body)
	if m == nil {
		t.Fatal("no ticket in the second step")
	}
	return b.Post("/admin/login", url.Values{"email": {email}, "ticket": {html.UnescapeString(m[1])}, "next": {"/admin"}, "otp": {otp}})
}

func (e *env) audits(action, target string) int64 {
	e.t.Helper()
	var n int64
	if err := e.k.DB.Conn(context.Background()).Table("kernel_audit_events").Where("action = ? AND target_id = ?", action, target).
		Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) userID(email string) string {
	e.t.Helper()
	var id string
	if err := e.k.DB.Conn(context.Background()).Raw("SELECT id FROM kernel_users WHERE email = ?", email).Row().Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestRecoveryCodesBackoffice(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.LoginMaxFailures = 50 // every step of each sign-in here counts
	e := newEnvWithConfig(t, cfg)
	e.user(e.rootID, "agent@recovery.test", "agent")
	b := e.browser()
	b.Login("agent@recovery.test", "user-password-123")
	secret, codes := setUpTOTP(t, e, b, "agent@recovery.test")

	t.Run("a recovery code signs in once in the second step", func(t *testing.T) {
		b2 := e.browser()
		secondStep(t, b2, "agent@recovery.test", "user-password-123", strings.ToUpper(codes[0])).Must(t, http.StatusSeeOther)
		b2.Get("/admin/account/password").Must(t, http.StatusOK, "<strong>9</strong> recovery codes left")
		secondStep(t, e.browser(), "agent@recovery.test", "user-password-123", codes[0]).
			Must(t, http.StatusUnauthorized, "authenticator code is wrong")
		if n := e.audits("auth.recovery_code_used", e.userID("agent@recovery.test")); n != 1 {
			t.Fatalf("recovery_code_used events: %d", n)
		}
	})

	t.Run("new codes need the password and a code, and void the old", func(t *testing.T) {
		regen := func(password, otp string) *page {
			return b.Post("/admin/account/totp/recovery-codes", url.Values{"password": {password}, "code": {otp}})
		}
		regen("wrong-password-1", code(t, secret, 30*time.Second)).Must(t, http.StatusUnprocessableEntity, "Password is wrong")
		regen("user-password-123", notCode(t, secret)).Must(t, http.StatusUnprocessableEntity, "Code is wrong")
		b.Get("/admin/account/password").Must(t, http.StatusOK, "<strong>9</strong> recovery codes left")
		p := regen("user-password-123", code(t, secret, 30*time.Second))
		p.Must(t, http.StatusOK, "New recovery codes are made", "<strong>10</strong> recovery codes left")
		fresh := recoveryCodes(t, p)
		secondStep(t, e.browser(), "agent@recovery.test", "user-password-123", codes[1]).Must(t, http.StatusUnauthorized)
		secondStep(t, e.browser(), "agent@recovery.test", "user-password-123", fresh[1]).Must(t, http.StatusSeeOther)
		// Without the CSRF token nothing changes.
		bare := b.Do(http.MethodPost, "/admin/account/totp/recovery-codes", url.Values{"_csrf": {"forged"},
			"password": {"user-password-123"}, "code": {code(t, secret, 60*time.Second)}})
		bare.Must(t, http.StatusForbidden)
		if n := e.audits("auth.recovery_codes_regenerated", e.userID("agent@recovery.test")); n != 1 {
			t.Fatalf("recovery_codes_regenerated events: %d", n)
		}
	})
}

func TestResetTOTPBackoffice(t *testing.T) {
	e := newEnv(t)
	acme := e.tenant("Acme", "acme", "")
	other := e.tenant("Other", "other", "")
	e.user(acme, "owner@acme.test", "owner")
	e.user(acme, "agent@acme.test", "agent")
	e.user(acme, "lost@acme.test", "agent")
	e.user(other, "owner@other.test", "owner")
	lost := e.browser()
	lost.Login("lost@acme.test", "user-password-123")
	setUpTOTP(t, e, lost, "lost@acme.test")
	lostID := e.userID("lost@acme.test")
	path := "/admin/users/" + lostID + "/totp-reset"

	owner := e.browser()
	owner.Login("owner@acme.test", "user-password-123")
	owner.Get("/admin/users/"+lostID).Must(t, http.StatusOK, `action="`+path+`"`, "Turn off two-factor authentication")

	agent := e.browser()
	agent.Login("agent@acme.test", "user-password-123")
	agent.Get("/admin/users")
	agent.Post(path, url.Values{}).Must(t, http.StatusForbidden)
	stranger := e.browser()
	stranger.Login("owner@other.test", "user-password-123")
	stranger.Get("/admin/users")
	stranger.Post(path, url.Values{}).Must(t, http.StatusNotFound)
	owner.Do(http.MethodPost, path, url.Values{"_csrf": {"forged"}}).Must(t, http.StatusForbidden)
	if n := e.count("id = ? AND totp_secret IS NOT NULL", lostID); n != 1 {
		t.Fatal("a refused reset turned TOTP off")
	}

	owner.Post(path, url.Values{}).Must(t, http.StatusSeeOther)
	owner.Get("/admin/users/"+lostID).Must(t, http.StatusOK, "Two-factor authentication is off for lost@acme.test")
	if n := e.count("id = ? AND totp_secret IS NOT NULL", lostID); n != 0 {
		t.Fatal("TOTP is still on after the reset")
	}
	if n := e.audits("auth.totp_reset", lostID); n != 1 {
		t.Fatalf("totp_reset events: %d", n)
	}
	// The user's session ended; the password alone signs in again.
	if p := lost.Get("/admin/account/password"); p.Status != http.StatusSeeOther {
		t.Fatalf("the user's session survived the reset: %d", p.Status)
	}
	e.browser().Login("lost@acme.test", "user-password-123")
}
