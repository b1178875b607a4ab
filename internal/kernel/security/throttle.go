package security

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter counts failed sign-ins in Redis, so that every process of an
// install (API and backoffice alike) shares one count.
type Limiter struct {
	rdb    redis.UniversalClient
	max    int
	window time.Duration
}

// NewLimiter allows max failures per e-mail and address within window, and
// ten times as many per address alone.
func NewLimiter(rdb redis.UniversalClient, max int, window time.Duration) *Limiter {
	return &Limiter{rdb: rdb, max: max, window: window}
}

func (l *Limiter) keys(email, ip string) (pair, addr string) {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "platform:login:pair:" + hex.EncodeToString(h[:12]) + ":" + ip, "platform:login:ip:" + ip
}

// Blocked returns how long the caller must wait, or 0. If Redis cannot be
// reached the login proceeds: locking everyone out is worse than a gap in
// throttling, and readyz reports the outage.
func (l *Limiter) Blocked(ctx context.Context, email, ip string) time.Duration {
	pair, addr := l.keys(email, ip)
	for _, k := range []struct {
		key string
		max int
	}{{pair, l.max}, {addr, l.max * 10}} {
		n, err := l.rdb.Get(ctx, k.key).Int()
		if err != nil || n < k.max {
			continue
		}
		ttl, err := l.rdb.PTTL(ctx, k.key).Result()
		if err != nil || ttl <= 0 {
			ttl = l.window
		}
		return ttl
	}
	return 0
}

// attemptScript refuses an attempt when the address or the pair is over its
// limit and otherwise counts it for the pair, in one step: an attempt is
// counted before its password is checked, so that concurrent guesses cannot
// all pass the check while none has failed yet. It returns the wait in
// milliseconds, or 0.
var attemptScript = redis.NewScript(`
local function wait(k)
  local ttl = redis.call('PTTL', k)
  if ttl <= 0 then return tonumber(ARGV[1]) end
  return ttl
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return wait(KEYS[2]) end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return wait(KEYS[1]) end
return 0`)

// Attempt counts a sign-in attempt for the e-mail and address and returns
// how long the caller must wait, or 0 when the attempt may go ahead. A
// failed attempt then calls FailAttempt, a good one Succeed. If Redis cannot
// be reached the attempt goes ahead, as in Blocked.
func (l *Limiter) Attempt(ctx context.Context, email, ip string) time.Duration {
	pair, addr := l.keys(email, ip)
	ms, err := attemptScript.Run(ctx, l.rdb, []string{pair, addr}, l.window.Milliseconds(), l.max, l.max*10).Int64()
	if err != nil || ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// FailAttempt counts a failed attempt against the address; Attempt has
// counted it for the pair already.
func (l *Limiter) FailAttempt(ctx context.Context, ip string) {
	_, addr := l.keys("", ip)
	_ = incrScript.Run(ctx, l.rdb, []string{addr}, l.window.Milliseconds()).Err()
}

// incrScript counts and starts the window on the first failure, atomically,
// so that a key can never be left without its expiry.
var incrScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then redis.call('PEXPIRE', k, ARGV[1]) end
end
return 1`)

// Fail counts one failure.
func (l *Limiter) Fail(ctx context.Context, email, ip string) {
	pair, addr := l.keys(email, ip)
	_ = incrScript.Run(ctx, l.rdb, []string{pair, addr}, l.window.Milliseconds()).Err()
}

// Succeed clears the e-mail's count after a good sign-in.
func (l *Limiter) Succeed(ctx context.Context, email, ip string) {
	pair, _ := l.keys(email, ip)
	l.rdb.Del(ctx, pair)
}
