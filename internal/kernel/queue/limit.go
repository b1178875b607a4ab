package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TenantLimit is a token bucket per tenant on one queue: Rate tasks a
// second on average, bursts of up to Burst.
type TenantLimit struct {
	Rate  float64
	Burst int
}

// LimitTenants caps how fast each tenant's tasks start on a queue, so that
// one noisy tenant cannot starve the others. A task over its tenant's
// limit goes back to wait for a token, without counting as an attempt.
// Tasks without a tenant are not limited. Call it before StartWorkers.
func (q *Queue) LimitTenants(queueName string, l TenantLimit) error {
	if _, ok := Queues[queueName]; !ok {
		return ErrUnknownQueue
	}
	if l.Rate <= 0 || l.Burst < 1 {
		return fmt.Errorf("queue: limit for %s: rate must be above 0 and burst at least 1", queueName)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limits == nil {
		q.limits = map[string]TenantLimit{}
	}
	q.limits[queueName] = l
	return nil
}

// throttled is a task put back because its tenant is over its limit. asynq
// retries it after wait and, through the server's IsFailure, does not count
// it as a failure. (RevokeTask would drop the task and SkipRetry archive it.)
type throttled struct{ wait time.Duration }

func (t *throttled) Error() string {
	return fmt.Sprintf("tenant over its rate limit; again in %v", t.wait)
}

func isThrottled(err error) (*throttled, bool) {
	var t *throttled
	return t, errors.As(err, &t)
}

// bucket takes a token from the tenant's bucket in Redis, shared by every
// worker process; it returns how long to wait when there is none.
var bucket = redis.NewScript(`
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(h[1]), tonumber(h[2])
if tokens == nil then tokens = burst end
if ts == nil or ts > now then ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return wait
`)

// admit checks the tenant's limit on the queue; nil means go.
func (q *Queue) admit(ctx context.Context, queueName, tenant string) error {
	if tenant == "" {
		return nil
	}
	q.mu.Lock()
	l, ok := q.limits[queueName]
	q.mu.Unlock()
	if !ok {
		return nil
	}
	key := "platform:limit:" + queueName + ":" + tenant
	wait, err := bucket.Run(ctx, q.rdb, []string{key}, l.Rate, l.Burst, q.now().UnixMilli()).Int64()
	if err != nil {
		// Redis is where the task came from; if it fails now, run the
		// task rather than lose time: the limit is a fairness aid.
		q.log.Warn("queue: tenant limit", "queue", queueName, "error", err)
		return nil
	}
	if wait <= 0 {
		return nil
	}
	return &throttled{wait: time.Duration(wait) * time.Millisecond}
}
