package security_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// testJWTSecret is the master key of the token tests' kernel, so that the
// test can sign tokens of its own.
const testJWTSecret = "token-test-master-secret-0123456789abcdef"

// signingKey derives the access-token key from the master key as the
// security layer does. The "control" case below proves that it matches: a
// token this test signs with it is accepted.
func signingKey(master string) []byte {
	m := hmac.New(sha256.New, []byte(master))
	m.Write([]byte("jwt-signing"))
	return m.Sum(nil)
}

// TestForgedAndExpiredTokens sends bearer tokens that must never pass; each
// is a 401 with the envelope, while a well-made token is accepted.
func TestForgedAndExpiredTokens(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.JWTSecret = testJWTSecret
	e := newEnv(t, kerneltest.NewWithConfig(t, cfg))
	me := e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", e.admin, nil)
	adminID := me["id"].(string)
	tenant := e.tenant(t, "acme")
	e.user(t, tenant, "owner@acme.test", "owner")
	owner := e.login(t, "owner@acme.test", testPassword)
	key := e.must(t, http.StatusCreated, "POST", "/api/v1/api-keys", owner.Access,
		map[string]any{"name": "k", "scopes": []string{"users:read"}})["key"].(string)

	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "platform", "sub": adminID, "jti": uuid.NewString(), "iat": now.Unix(),
			"nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			"typ": "access", "tid": e.root, "role": "platform_admin", "email": kerneltest.AdminEmail}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return s
	}
	good := signingKey(testJWTSecret)
	hs256 := func(change func(jwt.MapClaims)) string { return sign(jwt.SigningMethodHS256, good, claims(change)) }

	t.Run("control: a token signed with the right key is accepted", func(t *testing.T) {
		if got := e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", hs256(nil), nil)["id"]; got != adminID {
			t.Fatalf("me = %v", got)
		}
	})

	// tamper replaces the payload of a real token and keeps its signature.
	tamper := func(tok string, change func(jwt.MapClaims)) string {
		parts := strings.Split(tok, ".")
		var c jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
			t.Fatal(err)
		}
		change(c)
		forged := sign(jwt.SigningMethodHS256, []byte("whatever"), c)
		return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
	}
	unsigned := func(c jwt.MapClaims) string {
		return sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, c)
	}
	rtID := strings.Split(owner.Refresh, "_")[1]

	cases := []struct{ name, token string }{
		{"wrong key", sign(jwt.SigningMethodHS256, []byte("some-other-key-of-thirty-two-bytes!!"), claims(nil))},
		{"the master key itself instead of the derived key", sign(jwt.SigningMethodHS256, []byte(testJWTSecret), claims(nil))},
		{"owner token tampered to platform admin", tamper(owner.Access, func(c jwt.MapClaims) { c["role"] = "platform_admin" })},
		{"owner token tampered to another tenant", tamper(owner.Access, func(c jwt.MapClaims) { c["tid"] = e.root })},
		{"owner token with a later expiry", tamper(owner.Access, func(c jwt.MapClaims) { c["exp"] = now.Add(24 * time.Hour).Unix() })},
		{"signature flipped", owner.Access[:len(owner.Access)-4] + flip(owner.Access[len(owner.Access)-4:])},
		{"signature removed", owner.Access[:strings.LastIndex(owner.Access, ".")+1]},
		{"expired an hour ago", hs256(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })},
		{"expired beyond the leeway", hs256(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() })},
		{"not yet valid", hs256(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })},
		{"no expiry", hs256(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"alg none", unsigned(claims(nil))},
		{"alg none on a real payload", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(owner.Access, ".")[1] + "."},
		{"HS512 with the right key", sign(jwt.SigningMethodHS512, good, claims(nil))},
		{"HS384 with the right key", sign(jwt.SigningMethodHS384, good, claims(nil))},
		{"wrong issuer", hs256(func(c jwt.MapClaims) { c["iss"] = "someone-else" })},
		{"no issuer", hs256(func(c jwt.MapClaims) { delete(c, "iss") })},
		{"refresh type", hs256(func(c jwt.MapClaims) { c["typ"] = "refresh" })},
		{"service type without an audience", hs256(func(c jwt.MapClaims) { c["typ"] = "service" })},
		{"no type", hs256(func(c jwt.MapClaims) { delete(c, "typ") })},
		{"unknown role", hs256(func(c jwt.MapClaims) { c["role"] = "god" })},
		{"no subject", hs256(func(c jwt.MapClaims) { delete(c, "sub") })},
		{"refresh token as bearer", owner.Refresh},
		{"refresh token reshaped as an api key", "pk_" + strings.TrimPrefix(owner.Refresh, "rt_")},
		{"api key with another secret", key[:len(key)-43] + base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		{"api key id with a refresh token's secret", "pk_" + rtID + "_" + strings.Split(owner.Refresh, "_")[2]},
		{"truncated api key", key[:len(key)-1]},
		{"not a token", "hello"},
		{"three dots", "eyJ.eyJ.x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/auth/me", "/api/v1/users"} {
				res := e.do(t, "GET", path, c.token, nil)
				wantError(t, res, http.StatusUnauthorized, "auth.invalid_token")
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("no WWW-Authenticate challenge: %v", res.Header)
				}
			}
			// A bad credential is refused even on a public route.
			wantError(t, e.do(t, "POST", "/api/v1/auth/login", c.token, map[string]string{"email": "x@example.com", "password": "x"}),
				http.StatusUnauthorized, "auth.invalid_token")
		})
	}

	t.Run("a token from a kernel with a short TTL has expired", func(t *testing.T) {
		cfg := kerneltest.Config(t)
		cfg.Security.AccessTokenTTL = -time.Minute // issued already expired, beyond the leeway
		short := newEnvNoLogin(t, kerneltest.NewWithConfig(t, cfg))
		toks := short.login(t, kerneltest.AdminEmail, kerneltest.AdminPassword)
		wantError(t, short.do(t, "GET", "/api/v1/auth/me", toks.Access, nil), http.StatusUnauthorized, "auth.invalid_token")
		// The refresh token of the same sign-in still works: only the access token expired.
		if res := short.refresh(t, toks.Refresh); res.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
	})
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
