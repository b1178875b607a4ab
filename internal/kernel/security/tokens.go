package security

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token types, in the "typ" claim, so that one kind of token can never be
// used as another.
const (
	typAccess  = "access"
	typService = "service"
	issuer     = "platform"
)

// accessClaims are an access token's claims.
type accessClaims struct {
	jwt.RegisteredClaims
	Type     string `json:"typ"`
	TenantID string `json:"tid"`
	Role     Role   `json:"role"`
	Email    string `json:"email"`
}

// serviceClaims are a service credential's claims: the caller module is the
// subject, the callee module the audience.
type serviceClaims struct {
	jwt.RegisteredClaims
	Type     string   `json:"typ"`
	TenantID string   `json:"tid"`
	Scopes   []string `json:"scopes"`
	OnBehalf string   `json:"obo,omitempty"`
}

// keys holds the signing key and the keys derived from it.
type keys struct {
	jwt      []byte
	envelope []byte
	totp     []byte // AES-256-GCM key of the TOTP secrets at rest
	recovery []byte // HMAC key of the stored recovery codes
}

func deriveKeys(master []byte) keys {
	d := func(label string) []byte {
		m := hmac.New(sha256.New, master)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return keys{jwt: d("jwt-signing"), envelope: d("task-envelope"), totp: d("totp-secret"),
		recovery: d("totp-recovery-code")}
}

var (
	errTokenInvalid = errors.New("invalid token")
	hs256Only       = jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()})
)

func (k keys) signAccess(p *Principal, ttl time.Duration, now time.Time) (string, error) {
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: p.ID, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Type: typAccess, TenantID: p.TenantID, Role: p.Role, Email: p.Email,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.jwt)
}

// parseAccess verifies an access token and returns its principal and expiry.
func (k keys) parseAccess(tok string) (*Principal, time.Time, error) {
	var c accessClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return k.jwt, nil },
		hs256Only, jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	if err != nil || c.Type != typAccess || c.Subject == "" || !c.Role.Valid() {
		return nil, time.Time{}, errTokenInvalid
	}
	return &Principal{Kind: KindUser, ID: c.Subject, TenantID: c.TenantID, Role: c.Role, Email: c.Email}, c.ExpiresAt.Time, nil
}

func (k keys) signService(from, to, tenant, onBehalf string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	c := serviceClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: from, Audience: jwt.ClaimStrings{to}, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Type: typService, TenantID: tenant, Scopes: scopes, OnBehalf: onBehalf,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.jwt)
}

// parseService checks a service credential; an empty audience accepts any
// callee (the HTTP layer then checks it against the route's module).
func (k keys) parseService(tok, audience string) (*Principal, error) {
	var c serviceClaims
	opts := []jwt.ParserOption{hs256Only, jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithLeeway(5 * time.Second)}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return k.jwt, nil }, opts...)
	if err != nil || c.Type != typService || c.Subject == "" || len(c.Audience) != 1 {
		return nil, errTokenInvalid
	}
	return &Principal{Kind: KindService, ID: c.Subject, TenantID: c.TenantID, Scopes: c.Scopes,
		Audience: c.Audience[0], Subject: c.OnBehalf}, nil
}

// looksLikeJWT tells a JWT from an opaque key without parsing it.
func looksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ")
}

// Opaque secrets: API keys are "pk_<id>_<secret>", refresh tokens
// "rt_<id>_<secret>". Only sha256(secret) is stored; the secret has 256 bits
// of entropy, so a fast hash is enough.
func newSecret() (string, string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s)
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func compactID(id string) string { return strings.ReplaceAll(id, "-", "") }

func expandID(c string) (string, bool) {
	if len(c) != 32 {
		return "", false
	}
	u, err := uuid.Parse(c)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// splitOpaque parses "<prefix>_<compact id>_<secret>".
func splitOpaque(tok, prefix string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(tok, prefix+"_")
	if !found || len(rest) < 34 || rest[32] != '_' {
		return "", "", false
	}
	id, ok = expandID(rest[:32])
	return id, rest[33:], ok && len(rest[33:]) == 43
}

// sign and verify task envelopes, so that a principal carried in a queued
// task cannot be forged by whoever can write to Redis.
func (k keys) signEnvelope(b []byte) string {
	m := hmac.New(sha256.New, k.envelope)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k keys) verifyEnvelope(b []byte, sig string) bool {
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, k.envelope)
	m.Write(b)
	return hmac.Equal(m.Sum(nil), want)
}
