package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits bound how much of one queue's work runs, across every worker
// process, so that one noisy tenant cannot starve the others. Zero fields
// are off. Tasks without a tenant count towards Concurrency only.
type Limits struct {
	TenantRate        float64 // tasks a tenant may start a second, on average
	TenantBurst       int     // and in a burst; 0: the rate rounded up
	TenantConcurrency int     // tasks of one tenant running at once
	Concurrency       int     // tasks running at once on the queue
}

// TenantLimit is a token bucket per tenant on one queue: Rate tasks a
// second on average, bursts of up to Burst.
type TenantLimit struct {
	Rate  float64
	Burst int
}

// SetLimits sets a queue's limits, replacing what it had. A task over a
// limit goes back to wait, without counting as an attempt. Call it before
// StartWorkers.
func (q *Queue) SetLimits(queueName string, l Limits) error {
	if _, ok := Queues[queueName]; !ok {
		return ErrUnknownQueue
	}
	if l.TenantRate < 0 || l.TenantBurst < 0 || l.TenantConcurrency < 0 || l.Concurrency < 0 {
		return fmt.Errorf("queue: limits for %s must not be negative", queueName)
	}
	if l.TenantRate > 0 && l.TenantBurst == 0 {
		l.TenantBurst = max(1, int(l.TenantRate+0.999))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limits == nil {
		q.limits = map[string]Limits{}
	}
	q.limits[queueName] = l
	return nil
}

// LimitTenants sets only the per-tenant rate of a queue's limits.
func (q *Queue) LimitTenants(queueName string, l TenantLimit) error {
	if _, ok := Queues[queueName]; !ok {
		return ErrUnknownQueue
	}
	if l.Rate <= 0 || l.Burst < 1 {
		return fmt.Errorf("queue: limit for %s: rate must be above 0 and burst at least 1", queueName)
	}
	q.mu.Lock()
	cur := q.limits[queueName]
	q.mu.Unlock()
	cur.TenantRate, cur.TenantBurst = l.Rate, l.Burst
	return q.SetLimits(queueName, cur)
}

// LimitsOf returns a queue's limits.
func (q *Queue) LimitsOf(queueName string) Limits {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limits[queueName]
}

// throttled is a task put back because a limit is reached. asynq retries
// it after wait and, through the server's IsFailure, does not count it as
// a failure. (RevokeTask would drop the task and SkipRetry archive it.)
type throttled struct {
	wait time.Duration
	why  string
}

func (t *throttled) Error() string {
	return fmt.Sprintf("%s; again in %v", t.why, t.wait)
}

func isThrottled(err error) (*throttled, bool) {
	var t *throttled
	return t, errors.As(err, &t)
}

// bucket takes a token from the tenant's bucket in Redis, shared by every
// worker process, and returns 0, or how long the task must wait. A task
// that finds no token reserves the next one due: the bucket goes into debt
// and the task's reservation (KEYS[2]) records when its token is due, so
// the nth waiting task of a flood waits about n/rate and comes back once,
// instead of the whole backlog coming back every 1/rate and being sent away
// again. A task back for its reservation, up to a second early (asynq
// keeps due times in whole seconds), goes without taking another token.
var bucket = redis.NewScript(`
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = tonumber(redis.call('GET', KEYS[2]))
if due then
  if now >= due - 1000 then
    redis.call('DEL', KEYS[2])
    return 0
  end
  return due - now
end
local h = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(h[1]), tonumber(h[2])
if tokens == nil then tokens = burst end
if ts == nil or ts > now then ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000) - 1
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
local wait = 0
if tokens < 0 then
  wait = math.ceil(-tokens * 1000 / rate)
  redis.call('SET', KEYS[2], now + wait, 'PX', wait + 600000)
end
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - math.min(tokens, 0)) * 1000 / rate) + 60000)
return wait
`)

// slots takes a running slot in each of KEYS (sorted sets of task ids
// scored by lease expiry), each with its limit in ARGV[3+i], or none at
// all. Expired leases, of workers that died, are dropped first. A task
// that holds its slot already (a redelivery) keeps it.
var slots = redis.NewScript(`
local now, expiry, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if not redis.call('ZSCORE', k, member) and redis.call('ZCARD', k) >= tonumber(ARGV[3 + i]) then
    return 0
  end
end
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, expiry, member)
  redis.call('PEXPIRE', k, expiry - now + 60000)
end
return 1
`)

// renew extends the leases of a running task's slots it still holds.
var renew = redis.NewScript(`
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, 'XX', ARGV[1], ARGV[2])
  redis.call('PEXPIRE', k, tonumber(ARGV[1]) - tonumber(ARGV[3]) + 60000)
end
return 1
`)

// slotLease is how long a slot outlives its last renewal: a worker killed
// mid-task frees its slots this long after.
const slotLease = 30 * time.Second

// admit checks the queue's limits for a task; it returns a release func
// to call when the task ends, or a *throttled error.
func (q *Queue) admit(ctx context.Context, queueName, tenant, taskID string) (release func(), err error) {
	q.mu.Lock()
	l, ok := q.limits[queueName]
	q.mu.Unlock()
	release = func() {}
	if !ok {
		return release, nil
	}
	var keys []string
	var limits []any
	if l.Concurrency > 0 {
		keys, limits = append(keys, "platform:slots:"+queueName), append(limits, l.Concurrency)
	}
	if l.TenantConcurrency > 0 && tenant != "" {
		keys, limits = append(keys, "platform:slots:"+queueName+":"+tenant), append(limits, l.TenantConcurrency)
	}
	if len(keys) > 0 {
		now := q.now().UnixMilli()
		args := append([]any{now, now + slotLease.Milliseconds(), taskID}, limits...)
		got, err := slots.Run(ctx, q.rdb, keys, args...).Int()
		if err != nil {
			// The limits are a fairness aid: when Redis fails here, run
			// the task rather than hold it.
			q.log.Warn("queue: concurrency limit", "queue", queueName, "error", err)
			return release, nil
		}
		if got == 0 {
			// No slot: look again soon, with jitter so that the waiting
			// tasks do not all come back at once.
			return release, &throttled{wait: 500*time.Millisecond + rand.N(time.Second), why: "queue or tenant at its concurrency limit"}
		}
		release = q.holdSlots(keys, taskID)
	}
	if l.TenantRate > 0 && tenant != "" {
		key := "platform:limit:" + queueName + ":" + tenant
		keys := []string{key, key + ":res:" + taskID}
		wait, err := bucket.Run(ctx, q.rdb, keys, l.TenantRate, l.TenantBurst, q.now().UnixMilli()).Int64()
		if err != nil {
			q.log.Warn("queue: tenant limit", "queue", queueName, "error", err)
			return release, nil
		}
		if wait > 0 {
			release()
			return func() {}, &throttled{wait: time.Duration(wait) * time.Millisecond, why: "tenant over its rate limit"}
		}
	}
	return release, nil
}

// holdSlots renews the task's slots while it runs; the returned func stops
// that and frees them.
func (q *Queue) holdSlots(keys []string, taskID string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(slotLease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				now := q.now().UnixMilli()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := renew.Run(ctx, q.rdb, keys, now+slotLease.Milliseconds(), taskID, now).Err()
				cancel()
				if err != nil {
					q.log.Warn("queue: renew concurrency slots", "error", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pipe := q.rdb.Pipeline()
		for _, k := range keys {
			pipe.ZRem(ctx, k, taskID)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			q.log.Warn("queue: free concurrency slots", "error", err)
		}
	}
}
