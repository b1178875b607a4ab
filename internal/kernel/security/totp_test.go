package security_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// otpCode is the code of secret at now+offset; wrongCode is a code that is
// none of the codes the skew accepts around now.
func otpCode(t testing.TB, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wrongCode(t testing.TB, secret string) string {
	t.Helper()
	taken := map[string]bool{}
	for _, off := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		taken[otpCode(t, secret, off)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !taken[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// TestTOTP turns the second factor on for a user, signs in with and without
// codes, replays a code, is throttled by wrong codes, and turns it off.
func TestTOTP(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.LoginMaxFailures, cfg.Security.LoginWindow = 3, 10*time.Minute
	e := newEnv(t, kerneltest.NewWithConfig(t, cfg))
	sec := e.k.Security
	tenant := e.tenant(t, "acme")
	enable := func(t *testing.T, email string) (id, secret string, ctx context.Context) {
		t.Helper()
		id = e.user(t, tenant, email, "agent")
		ctx = security.WithPrincipal(context.Background(),
			&security.Principal{Kind: security.KindUser, ID: id, TenantID: tenant, Role: security.RoleAgent, Email: email})
		setup, err := sec.BeginTOTP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(setup.URL, "otpauth://totp/") || !strings.Contains(setup.URL, "secret="+setup.Secret) {
			t.Fatalf("setup URL = %q", setup.URL)
		}
		if _, err := sec.EnableTOTP(ctx, setup.Secret, wrongCode(t, setup.Secret)); !errors.Is(err, security.ErrTOTPCode) {
			t.Fatalf("enable with a wrong code: %v, want %v", err, security.ErrTOTPCode)
		}
		if n := count(t, e.k, "kernel_users", "id = ? AND totp_secret IS NOT NULL", id); n != 0 {
			t.Fatal("a refused confirmation turned TOTP on")
		}
		if _, err := sec.EnableTOTP(ctx, setup.Secret, otpCode(t, setup.Secret, 0)); err != nil {
			t.Fatalf("enable: %v", err)
		}
		if n := auditCount(t, e.k, "auth.totp_enabled", id); n != 1 {
			t.Fatalf("totp_enabled events: %d", n)
		}
		return id, setup.Secret, ctx
	}
	login := func(email, password, code string) *kerneltest.Response {
		body := map[string]string{"email": email, "password": password}
		if code != "" {
			body["otp"] = code
		}
		return e.do(t, "POST", "/api/v1/auth/login", "", body)
	}

	t.Run("sign-in needs the code, once", func(t *testing.T) {
		id, secret, _ := enable(t, "two@acme.test")
		var stored string
		if err := e.k.DB.Conn(context.Background()).Raw("SELECT totp_secret FROM kernel_users WHERE id = ?", id).Row().Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == "" || strings.Contains(stored, secret) || strings.Contains(strings.ToLower(stored), strings.ToLower(secret)) {
			t.Fatalf("the stored secret %q is the plain secret", stored)
		}
		if strings.Contains(rowsText(t, e.k, "kernel_audit_events"), secret) {
			t.Fatal("the secret is in the audit log")
		}
		me := e.must(t, http.StatusOK, "GET", "/api/v1/users/"+id, e.admin, nil)
		if me["totp_enabled"] != true {
			t.Fatalf("totp_enabled = %v", me["totp_enabled"])
		}

		wantError(t, login("two@acme.test", testPassword, ""), http.StatusUnauthorized, "auth.otp_required")
		if n := auditCount(t, e.k, "auth.login", id); n != 0 {
			t.Fatalf("a sign-in without the code was recorded: %d", n)
		}
		wantError(t, login("two@acme.test", testPassword, wrongCode(t, secret)), http.StatusUnauthorized, "auth.invalid_otp")
		// The confirming code is spent: it cannot also sign in.
		good := otpCode(t, secret, 30*time.Second)
		res := login("two@acme.test", testPassword, good)
		if res.Status != http.StatusOK {
			t.Fatalf("sign-in with the right code: %d %s", res.Status, res.Body)
		}
		if n := auditCount(t, e.k, "auth.login", id); n != 1 {
			t.Fatalf("login events: %d", n)
		}
		wantError(t, login("two@acme.test", testPassword, good), http.StatusUnauthorized, "auth.invalid_otp")
		wantError(t, login("two@acme.test", testPassword, otpCode(t, secret, 0)), http.StatusUnauthorized, "auth.invalid_otp")
		// A wrong password says nothing about the second factor.
		wantError(t, login("two@acme.test", "wrong-password", ""), http.StatusUnauthorized, "auth.invalid_credentials")
		// Wrong codes count like wrong passwords: after three failures since
		// the good sign-in, even the right password waits.
		wantError(t, login("two@acme.test", testPassword, wrongCode(t, secret)), http.StatusTooManyRequests, "auth.too_many_attempts")
	})

	t.Run("turning it off needs the password and a code", func(t *testing.T) {
		id, secret, ctx := enable(t, "off@acme.test")
		if err := sec.DisableTOTP(ctx, "wrong-password", otpCode(t, secret, 30*time.Second)); !errors.Is(err, security.ErrWrongPassword) {
			t.Fatalf("disable with a wrong password: %v", err)
		}
		if err := sec.DisableTOTP(ctx, testPassword, wrongCode(t, secret)); !errors.Is(err, security.ErrTOTPCode) {
			t.Fatalf("disable with a wrong code: %v", err)
		}
		if n := count(t, e.k, "kernel_users", "id = ? AND totp_secret IS NOT NULL", id); n != 1 {
			t.Fatal("a refused disable turned TOTP off")
		}
		if err := sec.DisableTOTP(ctx, testPassword, otpCode(t, secret, 30*time.Second)); err != nil {
			t.Fatalf("disable: %v", err)
		}
		if n := auditCount(t, e.k, "auth.totp_disabled", id); n != 1 {
			t.Fatalf("totp_disabled events: %d", n)
		}
		if err := sec.DisableTOTP(ctx, testPassword, otpCode(t, secret, 30*time.Second)); !errors.Is(err, security.ErrTOTPNotEnabled) {
			t.Fatalf("disable twice: %v", err)
		}
		if res := login("off@acme.test", testPassword, ""); res.Status != http.StatusOK {
			t.Fatalf("sign-in after disable: %d %s", res.Status, res.Body)
		}
	})
}
