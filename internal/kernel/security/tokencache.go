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
