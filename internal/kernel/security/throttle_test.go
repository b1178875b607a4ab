package security_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// TestLoginThrottle fails sign-ins up to security.login_max_failures; the
// next attempt, even with the right password, is a 429 with Retry-After.
// The count lives in Redis: on the real Redis two kernels share it, on the
// embedded one the kernel's own processes do.
func TestLoginThrottle(t *testing.T) {
	const maxFailures = 3
	const window = 10 * time.Minute
	cfgA := kerneltest.Config(t)
	cfgA.Security.LoginMaxFailures, cfgA.Security.LoginWindow = maxFailures, window
	a := newEnv(t, kerneltest.NewWithConfig(t, cfgA))
	b := a
	if kerneltest.RedisAddr() != "" {
		// A second kernel with its own database on the same Redis database.
		cfgB := kerneltest.Config(t)
		cfgB.Security.LoginMaxFailures, cfgB.Security.LoginWindow = maxFailures, window
		cfgB.Redis.DB = cfgA.Redis.DB
		b = newEnv(t, kerneltest.NewWithConfig(t, cfgB))
		if a.url == b.url {
			t.Fatal("the two kernels share a server")
		}
	}
	tenant := b.tenant(t, "acme")
	b.user(t, tenant, "bystander@acme.test", "agent")
	login := func(e *env, email, password string) *kerneltest.Response {
		return e.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}
	wantThrottled := func(res *kerneltest.Response) {
		t.Helper()
		wantError(t, res, http.StatusTooManyRequests, "auth.too_many_attempts")
		secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > int(window.Seconds()) {
			t.Fatalf("Retry-After = %q, want 1..%d seconds", res.Header.Get("Retry-After"), int(window.Seconds()))
		}
	}

	t.Run("failures on one kernel lock the account on the other", func(t *testing.T) {
		for i := range maxFailures {
			wantError(t, login(a, kerneltest.AdminEmail, "wrong-password-"+strconv.Itoa(i)), http.StatusUnauthorized, "auth.invalid_credentials")
		}
		if n := auditCount(t, a.k, "auth.login_failed", ""); n != maxFailures {
			t.Fatalf("login_failed events: %d, want %d", n, maxFailures)
		}
		wantThrottled(login(b, kerneltest.AdminEmail, kerneltest.AdminPassword))
		wantThrottled(login(a, kerneltest.AdminEmail, kerneltest.AdminPassword))
		// The e-mail is matched as the login matches it.
		wantThrottled(login(b, "  ADMIN@example.com ", kerneltest.AdminPassword))
		if n := auditCount(t, b.k, "auth.login_throttled", ""); n < 1 {
			t.Fatal("no auth.login_throttled event")
		}
		// Another account from the same address is not locked.
		if res := login(b, "bystander@acme.test", testPassword); res.Status != http.StatusOK {
			t.Fatalf("bystander: %d %s", res.Status, res.Body)
		}
	})

	t.Run("unknown e-mail addresses are throttled too", func(t *testing.T) {
		for range maxFailures {
			wantError(t, login(a, "nobody@acme.test", "whatever-password"), http.StatusUnauthorized, "auth.invalid_credentials")
		}
		wantThrottled(login(b, "nobody@acme.test", "whatever-password"))
	})

	t.Run("concurrent guesses are counted before they are checked", func(t *testing.T) {
		b.user(t, tenant, "target@acme.test", "agent")
		const n = 20
		statuses := make([]int, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				e := a
				if i%2 == 1 {
					e = b
				}
				body := strings.NewReader(`{"email":"target@acme.test","password":"guess-` + strconv.Itoa(i) + `"}`)
				res, err := http.Post(e.url+"/api/v1/auth/login", "application/json", body)
				if err != nil {
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		checked := 0
		for i, s := range statuses {
			switch s {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("guess %d: status %d", i, s)
			}
		}
		if checked != maxFailures {
			t.Fatalf("%d of %d concurrent guesses had their password checked, want %d", checked, n, maxFailures)
		}
		wantThrottled(login(b, "target@acme.test", testPassword))
	})

	t.Run("a good sign-in clears the count", func(t *testing.T) {
		b.user(t, tenant, "forgetful@acme.test", "agent")
		for range maxFailures - 1 {
			wantError(t, login(b, "forgetful@acme.test", "wrong-password"), http.StatusUnauthorized, "auth.invalid_credentials")
		}
		if res := login(b, "forgetful@acme.test", testPassword); res.Status != http.StatusOK {
			t.Fatalf("good sign-in: %d %s", res.Status, res.Body)
		}
		for range maxFailures - 1 {
			wantError(t, login(b, "forgetful@acme.test", "wrong-password"), http.StatusUnauthorized, "auth.invalid_credentials")
		}
		if res := login(b, "forgetful@acme.test", testPassword); res.Status != http.StatusOK {
			t.Fatalf("after clearing: %d %s", res.Status, res.Body)
		}
	})
}
