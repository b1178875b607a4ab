package security_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

// totpUser is a user with the second factor on: its id, secret, recovery
// codes, an access and refresh token from before it was turned on, and a
// principal ctx for service calls. The confirming code is the one of now.
type totpUser struct {
	id, email, secret string
	codes             []string
	tok               tokens
	ctx               context.Context
}

func enableTOTP(t *testing.T, e *env, tenant, email, role string) totpUser {
	t.Helper()
	u := totpUser{email: email, id: e.user(t, tenant, email, role)}
	u.tok = e.login(t, email, testPassword)
	u.ctx = security.WithPrincipal(context.Background(),
		&security.Principal{Kind: security.KindUser, ID: u.id, TenantID: tenant, Role: security.Role(role), Email: email})
	setup, err := e.k.Security.BeginTOTP(u.ctx)
	if err != nil {
		t.Fatal(err)
	}
	u.secret = setup.Secret
	if u.codes, err = e.k.Security.EnableTOTP(u.ctx, setup.Secret, otpCode(t, setup.Secret, 0)); err != nil {
		t.Fatalf("enable: %v", err)
	}
	return u
}

func (e *env) loginOTP(t *testing.T, email, code string) *kerneltest.Response {
	t.Helper()
	return e.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword, "otp": code})
}

// auditData is the data of the only audit event of an action about target.
func auditData(t *testing.T, e *env, action, target string) (actor string, data map[string]any) {
	t.Helper()
	var raw *string
	if err := e.k.DB.Conn(context.Background()).Raw("SELECT actor_id, data FROM kernel_audit_events WHERE action = ? AND target_id = ?",
		action, target).Row().Scan(&actor, &raw); err != nil {
		t.Fatalf("audit %s: %v", action, err)
	}
	if raw != nil {
		if err := json.Unmarshal([]byte(*raw), &data); err != nil {
			t.Fatal(err)
		}
	}
	return actor, data
}

func TestRecoveryCodes(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.LoginMaxFailures, cfg.Security.LoginWindow = 50, 10*time.Minute
	e := newEnv(t, kerneltest.NewWithConfig(t, cfg))
	tenant := e.tenant(t, "acme")

	t.Run("enable gives ten codes, stored as hashes", func(t *testing.T) {
		u := enableTOTP(t, e, tenant, "ten@acme.test", "agent")
		seen := map[string]bool{}
		for _, c := range u.codes {
			if !recoveryShape.MatchString(c) {
				t.Fatalf("code %q is not 10 characters in two groups", c)
			}
			seen[c] = true
		}
		if len(u.codes) != 10 || len(seen) != 10 {
			t.Fatalf("codes = %v, want 10 distinct", u.codes)
		}
		if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); n != 10 {
			t.Fatalf("stored codes: %d", n)
		}
		stored := rowsText(t, e.k, "kernel_totp_recovery_codes") + rowsText(t, e.k, "kernel_audit_events")
		for _, c := range u.codes {
			if strings.Contains(stored, c) || strings.Contains(stored, strings.ReplaceAll(c, "-", "")) {
				t.Fatalf("code %s is stored in clear", c)
			}
		}
		me := e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", u.tok.Access, nil)
		if me["totp_enabled"] != true || me["recovery_codes_left"] != float64(10) {
			t.Fatalf("me = %v", me)
		}
		if _, ok := e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", e.admin, nil)["recovery_codes_left"]; ok {
			t.Fatal("a user without TOTP is shown a count of recovery codes")
		}
	})

	t.Run("a code signs in once, typed in any case and grouping", func(t *testing.T) {
		u := enableTOTP(t, e, tenant, "once@acme.test", "agent")
		typed := strings.ToUpper(strings.ReplaceAll(u.codes[3], "-", " "))
		res := e.loginOTP(t, u.email, " "+typed+" ")
		if res.Status != http.StatusOK {
			t.Fatalf("sign-in with a recovery code: %d %s", res.Status, res.Body)
		}
		if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); n != 9 {
			t.Fatalf("codes left: %d", n)
		}
		actor, data := auditData(t, e, "auth.recovery_code_used", u.id)
		if actor != u.id || data["remaining"] != float64(9) || data["channel"] != "api" {
			t.Fatalf("recovery_code_used by %s with %v", actor, data)
		}
		if strings.Contains(rowsText(t, e.k, "kernel_audit_events"), strings.ReplaceAll(u.codes[3], "-", "")) {
			t.Fatal("the code is in the audit log")
		}
		wantError(t, e.loginOTP(t, u.email, u.codes[3]), http.StatusUnauthorized, "auth.invalid_otp")
		wantError(t, e.loginOTP(t, u.email, "zzzzz-zzzzz"), http.StatusUnauthorized, "auth.invalid_otp")
		// Another user's code is no code of this user's.
		other := enableTOTP(t, e, tenant, "other@acme.test", "agent")
		wantError(t, e.loginOTP(t, u.email, other.codes[0]), http.StatusUnauthorized, "auth.invalid_otp")
		if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", other.id); n != 10 {
			t.Fatalf("another user's code was spent: %d left", n)
		}
		me := e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", u.tok.Access, nil)
		if me["recovery_codes_left"] != float64(9) {
			t.Fatalf("recovery_codes_left = %v", me["recovery_codes_left"])
		}
	})

	t.Run("concurrent uses of one code sign in at most once", func(t *testing.T) {
		u := enableTOTP(t, e, tenant, "race@acme.test", "agent")
		const n = 8
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			statuses = make([]int, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = e.loginOTP(t, u.email, u.codes[0]).Status
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Fatalf("statuses = %v", statuses)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent sign-ins with one code succeeded, want 1 (statuses %v)", ok, n, statuses)
		}
		if got := auditCount(t, e.k, "auth.login", u.id); got != 2 { // the token login before TOTP, and one
			t.Fatalf("login events: %d", got)
		}
		if got := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); got != 9 {
			t.Fatalf("codes left: %d", got)
		}
	})

	t.Run("regenerate needs the password and a code, and voids the old codes", func(t *testing.T) {
		u := enableTOTP(t, e, tenant, "regen@acme.test", "agent")
		path := "/api/v1/auth/totp/recovery-codes"
		good := otpCode(t, u.secret, 30*time.Second)
		for _, c := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no code", map[string]string{"password": testPassword}, http.StatusUnprocessableEntity, ""},
			{"wrong password", map[string]string{"password": "wrong-password", "code": good}, http.StatusUnprocessableEntity, "auth.wrong_password"},
			{"wrong code", map[string]string{"password": testPassword, "code": wrongCode(t, u.secret)}, http.StatusUnprocessableEntity, "auth.totp_code_wrong"},
			{"a recovery code", map[string]string{"password": testPassword, "code": u.codes[0]}, http.StatusUnprocessableEntity, ""},
			{"not JSON", "[", http.StatusBadRequest, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, e.do(t, "POST", path, u.tok.Access, c.body), c.status, c.code)
			})
		}
		wantError(t, e.do(t, "POST", path, "", map[string]string{"password": testPassword, "code": good}), http.StatusUnauthorized, "")
		if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); n != 10 {
			t.Fatalf("a refused regenerate changed the codes: %d", n)
		}
		if n := auditCount(t, e.k, "auth.recovery_codes_regenerated", u.id); n != 0 {
			t.Fatalf("a refused regenerate was audited: %d", n)
		}
		res := e.do(t, "POST", path, u.tok.Access, map[string]string{"password": testPassword, "code": good})
		if res.Status != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("regenerate: %d %s %v", res.Status, res.Body, res.Header)
		}
		var out struct {
			Codes []string `json:"recovery_codes"`
		}
		res.Decode(t, &out)
		fresh := map[string]bool{}
		for _, c := range out.Codes {
			fresh[c] = recoveryShape.MatchString(c)
		}
		if len(fresh) != 10 {
			t.Fatalf("new codes = %v", out.Codes)
		}
		for _, c := range u.codes {
			if fresh[c] {
				t.Fatalf("old code %s is among the new", c)
			}
		}
		if n := auditCount(t, e.k, "auth.recovery_codes_regenerated", u.id); n != 1 {
			t.Fatalf("recovery_codes_regenerated events: %d", n)
		}
		wantError(t, e.loginOTP(t, u.email, u.codes[1]), http.StatusUnauthorized, "auth.invalid_otp")
		if res := e.loginOTP(t, u.email, out.Codes[1]); res.Status != http.StatusOK {
			t.Fatalf("sign-in with a new code: %d %s", res.Status, res.Body)
		}
		// The regenerating code's step is spent, as every accepted code's.
		if _, err := e.k.Security.RegenerateRecoveryCodes(u.ctx, testPassword, good); !errors.Is(err, security.ErrTOTPCode) {
			t.Fatalf("regenerate with a spent code: %v", err)
		}
	})

	t.Run("disable deletes the codes, and a recovery code may confirm it", func(t *testing.T) {
		u := enableTOTP(t, e, tenant, "lost@acme.test", "agent")
		if err := e.k.Security.DisableTOTP(u.ctx, "wrong-password", u.codes[0]); !errors.Is(err, security.ErrWrongPassword) {
			t.Fatalf("disable with a wrong password: %v", err)
		}
		if err := e.k.Security.DisableTOTP(u.ctx, testPassword, u.codes[0]); err != nil {
			t.Fatalf("disable with a recovery code: %v", err)
		}
		if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); n != 0 {
			t.Fatalf("codes left after disable: %d", n)
		}
		if _, err := e.k.Security.RegenerateRecoveryCodes(u.ctx, testPassword, otpCode(t, u.secret, 30*time.Second)); !errors.Is(err, security.ErrTOTPNotEnabled) {
			t.Fatalf("regenerate with TOTP off: %v", err)
		}
		if res := e.loginOTP(t, u.email, ""); res.Status != http.StatusOK {
			t.Fatalf("sign-in after disable: %d %s", res.Status, res.Body)
		}
	})
}

// TestRecoveryCodeThrottle: wrong recovery codes count towards the sign-in
// throttle like wrong authenticator codes.
func TestRecoveryCodeThrottle(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.LoginMaxFailures, cfg.Security.LoginWindow = 3, 10*time.Minute
	e := newEnv(t, kerneltest.NewWithConfig(t, cfg))
	u := enableTOTP(t, e, e.tenant(t, "acme"), "guess@acme.test", "agent")
	for range 3 {
		wantError(t, e.loginOTP(t, u.email, "zzzzz-zzzzz"), http.StatusUnauthorized, "auth.invalid_otp")
	}
	wantError(t, e.loginOTP(t, u.email, u.codes[0]), http.StatusTooManyRequests, "auth.too_many_attempts")
	if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", u.id); n != 10 {
		t.Fatalf("a throttled sign-in spent a code: %d left", n)
	}
	if n := count(t, e.k, "kernel_audit_events", "action = 'auth.login_failed' AND target_id = ?", u.id); n != 3 {
		t.Fatalf("failed sign-ins recorded: %d", n)
	}
}

// TestResetTOTP: an owner or platform admin turns another user's second
// factor off; the user is signed out and signs in with the password alone.
func TestResetTOTP(t *testing.T) {
	e := newEnv(t, kerneltest.New(t))
	acme, other := e.tenant(t, "acme"), e.tenant(t, "other")
	ownerID := e.user(t, acme, "owner@acme.test", "owner")
	owner := e.login(t, "owner@acme.test", testPassword).Access
	e.user(t, acme, "agent@acme.test", "agent")
	agent := e.login(t, "agent@acme.test", testPassword).Access
	e.user(t, other, "owner@other.test", "owner")
	otherOwner := e.login(t, "owner@other.test", testPassword).Access
	target := enableTOTP(t, e, acme, "target@acme.test", "agent")
	reset := func(token, id string) *kerneltest.Response {
		return e.do(t, "DELETE", "/api/v1/users/"+id+"/totp", token, nil)
	}
	versionBefore := e.must(t, http.StatusOK, "GET", "/api/v1/users/"+target.id, e.admin, nil)["version"].(float64)

	for _, c := range []struct {
		name   string
		token  string
		id     string
		status int
		code   string
	}{
		{"no credential", "", target.id, http.StatusUnauthorized, ""},
		{"an agent", agent, target.id, http.StatusForbidden, ""},
		{"another tenant's owner", otherOwner, target.id, http.StatusNotFound, "users.not_found"},
		{"not an id", owner, "nope", http.StatusNotFound, "users.not_found"},
		{"oneself", target.tok.Access, target.id, http.StatusForbidden, ""},
	} {
		t.Run(c.name, func(t *testing.T) { wantError(t, reset(c.token, c.id), c.status, c.code) })
	}
	if n := count(t, e.k, "kernel_users", "id = ? AND totp_secret IS NOT NULL", target.id); n != 1 {
		t.Fatal("a refused reset turned TOTP off")
	}
	if n := auditCount(t, e.k, "auth.totp_reset", target.id); n != 0 {
		t.Fatalf("a refused reset was audited: %d", n)
	}

	if res := reset(owner, target.id); res.Status != http.StatusNoContent {
		t.Fatalf("reset by the owner: %d %s", res.Status, res.Body)
	}
	if n := count(t, e.k, "kernel_totp_recovery_codes", "user_id = ?", target.id); n != 0 {
		t.Fatalf("codes left after reset: %d", n)
	}
	actor, data := auditData(t, e, "auth.totp_reset", target.id)
	if actor != ownerID || data["email"] != target.email {
		t.Fatalf("totp_reset by %s with %v, want %s", actor, data, ownerID)
	}
	after := e.must(t, http.StatusOK, "GET", "/api/v1/users/"+target.id, e.admin, nil)
	if after["totp_enabled"] != false || after["version"].(float64) <= versionBefore {
		t.Fatalf("after reset: %v (version before %v)", after, versionBefore)
	}
	wantError(t, e.refresh(t, target.tok.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
	wantError(t, reset(owner, target.id), http.StatusConflict, "auth.totp_not_enabled")
	if res := e.loginOTP(t, target.email, ""); res.Status != http.StatusOK {
		t.Fatalf("sign-in with the password alone after reset: %d %s", res.Status, res.Body)
	}

	// A platform admin resets anyone's, an owner's of another tenant too;
	// an owner cannot reset its own through this path.
	otherUser := enableTOTP(t, e, other, "two@other.test", "owner")
	if res := reset(e.admin, otherUser.id); res.Status != http.StatusNoContent {
		t.Fatalf("reset by a platform admin: %d %s", res.Status, res.Body)
	}
	self := enableTOTP(t, e, acme, "self@acme.test", "owner")
	wantError(t, reset(self.tok.Access, self.id), http.StatusConflict, "users.self_totp_reset")
}
