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
