package security_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// TestRefreshRotation covers refresh tokens: each works once, a spent one
// presented again revokes its whole family, logout revokes, and a role
// change ends the user's sessions.
func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, kerneltest.New(t))
	tenant := e.tenant(t, "acme")
	userID := e.user(t, tenant, "agent@acme.test", "agent")

	t.Run("rotation and reuse", func(t *testing.T) {
		first := e.login(t, "agent@acme.test", testPassword)
		other := e.login(t, "agent@acme.test", testPassword) // another device: another family
		res := e.refresh(t, first.Refresh)
		if res.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
		var second tokens
		res.Decode(t, &second)
		if second.Refresh == first.Refresh || second.Access == "" {
			t.Fatalf("refresh did not rotate: %s", res.Body)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", res.Header.Get("Cache-Control"))
		}
		e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", second.Access, nil)

		before := auditCount(t, e.k, "auth.refresh_reused", userID)
		wantError(t, e.refresh(t, first.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
		if got := auditCount(t, e.k, "auth.refresh_reused", userID); got != before+1 {
			t.Fatalf("refresh_reused events = %d, want %d", got, before+1)
		}
		// The reuse revoked the family: the newer token is spent too.
		wantError(t, e.refresh(t, second.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
		// The other family is untouched.
		if res := e.refresh(t, other.Refresh); res.Status != http.StatusOK {
			t.Fatalf("other device: %d %s", res.Status, res.Body)
		}
	})

	t.Run("logout revokes the family", func(t *testing.T) {
		toks := e.login(t, "agent@acme.test", testPassword)
		res := e.refresh(t, toks.Refresh)
		var next tokens
		res.Decode(t, &next)
		if res := e.do(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": next.Refresh}); res.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", res.Status, res.Body)
		}
		wantError(t, e.refresh(t, next.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
		wantError(t, e.refresh(t, toks.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
		if auditCount(t, e.k, "auth.logout", userID) != 1 {
			t.Fatal("no auth.logout event")
		}
		// Logging out twice, or with a token that is no token, is not an error.
		for _, rt := range []string{next.Refresh, "rt_garbage"} {
			if res := e.do(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": rt}); res.Status != http.StatusNoContent {
				t.Fatalf("logout %q: %d %s", rt, res.Status, res.Body)
			}
		}
	})

	t.Run("bad refresh tokens", func(t *testing.T) {
		toks := e.login(t, "agent@acme.test", testPassword)
		tampered := toks.Refresh[:len(toks.Refresh)-1] + "A"
		if tampered == toks.Refresh {
			tampered = toks.Refresh[:len(toks.Refresh)-1] + "B"
		}
		for _, rt := range []string{"rt_x", tampered, "pk_" + toks.Refresh[3:], "rt_" + strings.Repeat("0", 32) + toks.Refresh[35:]} {
			wantError(t, e.refresh(t, rt), http.StatusUnauthorized, "auth.invalid_refresh_token")
		}
		// None of those touched the real token.
		if res := e.refresh(t, toks.Refresh); res.Status != http.StatusOK {
			t.Fatalf("refresh after bad attempts: %d %s", res.Status, res.Body)
		}
	})

	t.Run("a role change ends the user's sessions", func(t *testing.T) {
		toks := e.login(t, "agent@acme.test", testPassword)
		e.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+userID, e.admin, map[string]any{"role": "customer"})
		wantError(t, e.refresh(t, toks.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
	})

	t.Run("a suspended user cannot refresh", func(t *testing.T) {
		toks := e.login(t, "agent@acme.test", testPassword)
		e.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+userID, e.admin, map[string]any{"status": "suspended"})
		wantError(t, e.refresh(t, toks.Refresh), http.StatusUnauthorized, "auth.invalid_refresh_token")
		e.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+userID, e.admin, map[string]any{"status": "active"})
	})
}

// TestRefreshConcurrent spends one refresh token from 20 requests at once:
// exactly one wins, the rest are refused (never a 500), and only the
// winner's new token is left in the database.
func TestRefreshConcurrent(t *testing.T) {
	e := newEnv(t, kerneltest.New(t))
	tenant := e.tenant(t, "acme")
	const n = 20
	for round := range 3 {
		email := "racer" + string(rune('a'+round)) + "@acme.test"
		userID := e.user(t, tenant, email, "agent")
		toks := e.login(t, email, testPassword)
		body, _ := json.Marshal(map[string]string{"refresh_token": toks.Refresh})

		statuses := make([]int, n)
		bodies := make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := http.Post(e.url+"/api/v1/auth/refresh", "application/json", bytes.NewReader(body))
				if err != nil {
					bodies[i] = err.Error()
					return
				}
				defer res.Body.Close()
				var b bytes.Buffer
				_, _ = b.ReadFrom(res.Body)
				statuses[i], bodies[i] = res.StatusCode, b.String()
			}()
		}
		close(start)
		wg.Wait()

		ok := 0
		for i, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Errorf("round %d: request %d: %d %s", round, i, s, bodies[i])
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d concurrent refreshes succeeded, want exactly 1", round, ok, n)
		}
		// The sign-in's token and the winner's: the losers left nothing.
		if got := count(t, e.k, "kernel_refresh_tokens", "user_id = ?", userID); got != 2 {
			t.Fatalf("round %d: %d refresh tokens for the user, want 2", round, got)
		}
		if got := count(t, e.k, "kernel_refresh_tokens", "user_id = ? AND revoked_at IS NULL AND replaced_by IS NOT NULL", userID); got != 0 {
			t.Fatalf("round %d: a replaced token is still live", round)
		}
		if got := count(t, e.k, "kernel_refresh_tokens", "user_id = ? AND replaced_by IS NOT NULL", userID); got != 1 {
			t.Fatalf("round %d: %d tokens were replaced, want 1", round, got)
		}
	}
}

// TestAdminPasswordResetEndsBrowserSessions checks that a password set by
// an admin ends the user's backoffice sessions as well as its refresh
// tokens, while /auth/me keeps answering from a fresh read.
func TestAdminPasswordResetEndsBrowserSessions(t *testing.T) {
	k := kerneltest.New(t)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	admin := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	var tenant struct{ ID string }
	c.Do("POST", "/api/v1/tenants", admin, map[string]any{"name": "Acme", "slug": "acme-sessions"}).Decode(t, &tenant)
	var u struct{ ID string }
	c.Do("POST", "/api/v1/tenants/"+tenant.ID+"/users", admin,
		map[string]any{"email": "owner@sessions.test", "password": "first-password-1", "role": "owner", "name": "Before"}).Decode(t, &u)

	ctx := audit.WithMeta(context.Background(), audit.Meta{IP: "127.0.0.1"})
	cookie, _, err := k.Security.StartSession(ctx, "owner@sessions.test", "first-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Security.SessionPrincipal(ctx, cookie); err != nil {
		t.Fatalf("fresh session refused: %v", err)
	}
	owner := c.Login("owner@sessions.test", "first-password-1")
	if got := c.Do("GET", "/api/v1/auth/me", owner, nil).JSON()["name"]; got != "Before" {
		t.Fatalf("me name = %v", got)
	}
	if res := c.Do("PATCH", "/api/v1/users/"+u.ID, admin, map[string]any{"password": "second-password-2", "name": "After"}); res.Status != 200 {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	if _, _, err := k.Security.SessionPrincipal(ctx, cookie); err == nil {
		t.Fatal("the browser session outlived a password set by an admin")
	}
	// The access token stays valid until it expires, and /me shows the change at once.
	if got := c.Do("GET", "/api/v1/auth/me", owner, nil).JSON()["name"]; got != "After" {
		t.Fatalf("me name after the change = %v, want After", got)
	}
}
