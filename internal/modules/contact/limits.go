package contact

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/internal/kernel/errs"
)

// Errors of Send over the tenant's limits; both are 429 with Retry-After.
var (
	ErrRateLimited = errs.New(errs.RateLimited, "contact.rate_limited",
		"This tenant has sent as many messages as its rate a minute allows; try again shortly.")
	ErrQuotaExceeded = errs.New(errs.RateLimited, "contact.quota_exceeded",
		"This tenant has sent its daily quota of messages; try again tomorrow.")
)

// take counts one message against a tenant's rate and daily quota, both
// or neither, in Redis, which every process shares. The rate is a token
// bucket (KEYS[1]) of ARGV[1] tokens, refilled over a minute; the quota a
// count of the day (KEYS[2]) up to ARGV[2], kept ARGV[4] ms. ARGV[3] is
// now in ms. It returns {0, 0}, or {1, wait ms} over the rate, or
// {2, 0} over the quota.
var take = redis.NewScript(`
local rate, quota, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if quota > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= quota then
  return {2, 0}
end
if rate > 0 then
  local h = redis.call('HMGET', KEYS[1], 't', 'ts')
  local tokens, ts = tonumber(h[1]), tonumber(h[2])
  if tokens == nil then tokens = rate end
  if ts == nil or ts > now then ts = now end
  tokens = math.min(rate, tokens + (now - ts) * rate / 60000)
  if tokens < 1 then
    return {1, math.ceil((1 - tokens) * 60000 / rate)}
  end
  redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], 120000)
end
if quota > 0 then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {0, 0}
`)

// giveBack undoes take, for a message that was not stored after all.
var giveBack = redis.NewScript(`
if tonumber(ARGV[1]) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 't', 1)
end
if tonumber(ARGV[2]) > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 1
`)

// admit counts a new message against its tenant's rate a minute and
// quota a day (in the tenant's time zone), and returns the undo of that
// count, for a message that is not stored after all. A message whose
// idempotency key an earlier one holds is errDuplicateKey: a replay is
// neither counted nor refused. When Redis fails the message goes: the
// limits guard against floods, and a Redis outage is no flood.
func (m *Module) admit(ctx context.Context, row *messageRow, set *settings) (func(), error) {
	none := func() {}
	if set.rate == 0 && set.quota == 0 {
		return none, nil
	}
	if row.IdempotencyKey != nil {
		_, err := m.store.messageByKey(ctx, *row.IdempotencyKey)
		if err == nil {
			return none, errDuplicateKey
		}
		if !errors.Is(err, ErrMessageNotFound) {
			return none, err
		}
	}
	now := m.now()
	local := now.In(set.zone)
	y, mo, d := local.Date()
	tomorrow := time.Date(y, mo, d+1, 0, 0, 0, 0, set.zone)
	tag := "contact:limit:{" + row.TenantID + "}:"
	keys := []string{tag + "rate", tag + "day:" + local.Format(time.DateOnly)}
	ttl := tomorrow.Sub(now) + time.Hour
	rdb := m.k.Queue.Redis()
	res, err := take.Run(ctx, rdb, keys, set.rate, set.quota, now.UnixMilli(), ttl.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		m.k.Log.Warn("contact: rate and quota", "tenant_id", row.TenantID, "error", err)
		return none, nil
	}
	switch res[0] {
	case 1:
		return none, ErrRateLimited.WithRetryAfter(time.Duration(res[1]) * time.Millisecond)
	case 2:
		return none, ErrQuotaExceeded.WithRetryAfter(tomorrow.Sub(now))
	}
	var once sync.Once // both a failed store and the caller's rollback may give it back
	return func() { once.Do(func() { m.giveBack(ctx, rdb, keys, row.TenantID, set) }) }, nil
}

// giveBack undoes admit's count of one message.
func (m *Module) giveBack(ctx context.Context, rdb redis.UniversalClient, keys []string, tenant string, set *settings) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := giveBack.Run(ctx, rdb, keys, set.rate, set.quota).Err(); err != nil {
		m.k.Log.Warn("contact: give back rate and quota", "tenant_id", tenant, "error", err)
	}
}
