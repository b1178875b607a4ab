package contact

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// breaker is a circuit breaker per provider, kept in Redis so that every
// worker process shares it. threshold failures within window open it for
// openFor; while it is open the provider is skipped. When openFor has
// passed the next attempt goes through (half-open): success closes the
// breaker, a failure opens it again at once.
type breaker struct {
	rdb       redis.UniversalClient
	threshold int
	window    time.Duration
	openFor   time.Duration
}

func breakerKey(providerID, part string) string { return "contact:breaker:" + providerID + ":" + part }

// open reports whether the provider is to be skipped. A Redis error keeps
// the breaker closed: better an attempt too many than a message held back.
func (b *breaker) open(ctx context.Context, providerID string) bool {
	n, err := b.rdb.Exists(ctx, breakerKey(providerID, "open")).Result()
	return err == nil && n > 0
}

// failure counts a failed attempt and opens the breaker at the threshold,
// or at once when it was open before (the half-open attempt failed). It
// reports whether the breaker is open now.
func (b *breaker) failure(ctx context.Context, providerID string) (bool, error) {
	fails, open, tripped := breakerKey(providerID, "fails"), breakerKey(providerID, "open"), breakerKey(providerID, "tripped")
	var n *redis.IntCmd
	var was *redis.IntCmd
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, fails)
		was = p.Exists(ctx, tripped)
		return nil
	})
	if err != nil {
		return false, err
	}
	if n.Val() == 1 {
		// The window starts at the first failure.
		if err := b.rdb.Expire(ctx, fails, b.window).Err(); err != nil {
			return false, err
		}
	}
	if n.Val() < int64(b.threshold) && was.Val() == 0 {
		return false, nil
	}
	_, err = b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, open, "1", b.openFor)
		// tripped outlives open, so the half-open attempt's failure is known.
		p.Set(ctx, tripped, "1", b.openFor+b.window)
		p.Del(ctx, fails)
		return nil
	})
	return err == nil, err
}

// success closes the breaker.
func (b *breaker) success(ctx context.Context, providerID string) error {
	return b.rdb.Del(ctx, breakerKey(providerID, "fails"), breakerKey(providerID, "open"),
		breakerKey(providerID, "tripped")).Err()
}
