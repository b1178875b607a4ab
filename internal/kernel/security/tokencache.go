package security

import (
	"sync"
	"time"
)

// tokenCache remembers access tokens that verified, until they expire, so
// that a client sending the same token again skips the signature check and
// the claims' JSON decoding. Access tokens cannot be revoked before they
// expire anyway, so the cache changes no answer. It is bounded: when full it
// starts over.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[string]cachedToken
	max int
}

type cachedToken struct {
	p   Principal
	exp time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[string]cachedToken, 64), max: max}
}

func (c *tokenCache) get(tok string, now time.Time) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[tok]
	c.mu.RUnlock()
	if !ok || !now.Before(e.exp) {
		return nil, false
	}
	p := e.p // a copy: callers may change theirs
	return &p, true
}

func (c *tokenCache) put(tok string, p *Principal, exp time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]cachedToken, 64)
	}
	c.m[tok] = cachedToken{p: *p, exp: exp}
	c.mu.Unlock()
}

// userCache keeps user rows read by Me for a moment. Writes through this
// service forget the row when they commit, so this process never serves a
// row older than its own last change; another process's change shows within
// userTTL.
type userCache struct {
	mu  sync.RWMutex
	m   map[string]cachedUser
	max int
}

type cachedUser struct {
	u  User
	at time.Time
}

const userTTL = 2 * time.Second

func newUserCache(max int) *userCache { return &userCache{m: map[string]cachedUser{}, max: max} }

func (c *userCache) get(id string, now time.Time) (*User, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= userTTL {
		return nil, false
	}
	u := e.u
	return &u, true
}

func (c *userCache) put(u *User, at time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = map[string]cachedUser{}
	}
	c.m[u.ID] = cachedUser{u: *u, at: at}
	c.mu.Unlock()
}

func (c *userCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// keyCache keeps API keys that verified for a moment, by key id, with the
// hash of their secret, so that a busy key costs no query (the key row and
// its tenant's status) on most requests. Revoking a key or changing or
// deleting a tenant through this service empties it when the change
// commits, so this process never accepts a key after its own revocation;
// another process's revocation takes effect within keyTTL.
type keyCache struct {
	mu  sync.RWMutex
	m   map[string]cachedKey
	max int
}

type cachedKey struct {
	p    Principal
	hash string
	exp  time.Time // keyTTL after the read, or the key's expiry if sooner
}

const keyTTL = 2 * time.Second

func newKeyCache(max int) *keyCache { return &keyCache{m: map[string]cachedKey{}, max: max} }

func (c *keyCache) get(id string, now time.Time) (cachedKey, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	return e, ok && now.Before(e.exp)
}

func (c *keyCache) put(id string, e cachedKey) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = map[string]cachedKey{}
	}
	c.m[id] = e
	c.mu.Unlock()
}

func (c *keyCache) clear() {
	c.mu.Lock()
	c.m = map[string]cachedKey{}
	c.mu.Unlock()
}
