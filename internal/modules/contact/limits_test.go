package contact_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// putSettings sets a tenant's settings as its owner.
func (f *fixture) putSettings(t *testing.T, owner string, body map[string]any) {
	t.Helper()
	if res := f.c.Do(http.MethodPut, "/api/v1/contact/settings", owner, body); res.Status != http.StatusOK {
		t.Fatalf("put settings: %d %s", res.Status, res.Body)
	}
}

// messages counts a tenant's stored messages.
func (f *fixture) messages(t *testing.T, tenant string) int64 {
	t.Helper()
	var n int64
	if err := f.k.DB.Conn(context.Background()).Table("contact_messages").Where("tenant_id = ?", tenant).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Over its rate a minute, or its quota a day in its time zone, a tenant's
// sends get 429 with Retry-After, through the API and the module alike,
// and store nothing; another tenant is not held back, and a replay of an
// accepted message is neither counted nor refused.
func TestRateLimitAndQuota(t *testing.T) {
	f := newFixture(t, "    log_fallback: \"true\"\n")
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := useClock(f, t0)
	sms := func(body, key string) map[string]any {
		m := map[string]any{"channel": "sms", "to": "+14155550123", "body": body}
		if key != "" {
			m["idempotency_key"] = key
		}
		return m
	}
	type step struct {
		name, token string
		body        map[string]any
		want        int
		code        string
		retryAfter  string // the header on a 429
		replayed    bool
	}
	run := func(t *testing.T, steps []step) {
		for _, s := range steps {
			res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", s.token, s.body)
			if res.Status != s.want || res.ErrorCode() != s.code {
				t.Fatalf("%s: %d %s, want %d %s", s.name, res.Status, res.Body, s.want, s.code)
			}
			if got := res.Header.Get("Retry-After"); got != s.retryAfter {
				t.Errorf("%s: Retry-After %q, want %q", s.name, got, s.retryAfter)
			}
			if got := res.Header.Get("Idempotent-Replayed") == "true"; got != s.replayed {
				t.Errorf("%s: replayed %v, want %v", s.name, got, s.replayed)
			}
		}
	}

	t.Run("rate", func(t *testing.T) {
		f.putSettings(t, f.ownerA, map[string]any{"rate_per_minute": 3})
		// Three a minute: a token every 20 seconds, and the clock stands still.
		run(t, []step{
			{name: "first", token: f.agentA, body: sms("1", "r-1"), want: 202},
			{name: "second", token: f.agentA, body: sms("2", ""), want: 202},
			{name: "third", token: f.agentA, body: sms("3", ""), want: 202},
			{name: "fourth is over the rate", token: f.agentA, body: sms("4", "r-4"), want: 429, code: "contact.rate_limited", retryAfter: "20"},
			{name: "a replay of the first is not refused", token: f.agentA, body: sms("1", "r-1"), want: 202, replayed: true},
			{name: "the same key with another message is a mismatch, not a 429", token: f.agentA, body: sms("other", "r-1"),
				want: 422, code: "contact.idempotency_mismatch"},
			{name: "tenant B is not held back", token: f.ownerB, body: sms("b", ""), want: 202},
		})
		if n := f.messages(t, f.ta); n != 3 {
			t.Errorf("tenant A has %d messages, want 3: a refused send stores nothing", n)
		}
		if _, err := f.m.Send(asTenant(f.ta), contracts.ContactMessage{Channel: "sms", To: "+14155550123", Body: "x"}); !errors.Is(err, contact.ErrRateLimited) {
			t.Errorf("Send over the rate: %v", err)
		}
		clock.set(t0.Add(20 * time.Second))
		run(t, []step{
			{name: "a token 20 seconds on", token: f.agentA, body: sms("5", "r-4"), want: 202},
			{name: "and only one", token: f.agentA, body: sms("6", ""), want: 429, code: "contact.rate_limited", retryAfter: "20"},
		})
	})

	t.Run("quota", func(t *testing.T) {
		// Auckland's day: the quota is counted afresh at its midnight.
		f.putSettings(t, f.ownerA, map[string]any{"daily_quota": 2, "time_zone": "Pacific/Auckland"})
		now := t0.Add(time.Hour)
		clock.set(now)
		akl, _ := time.LoadLocation("Pacific/Auckland")
		y, m, d := now.In(akl).Date()
		midnight := time.Date(y, m, d+1, 0, 0, 0, 0, akl)
		wait := retryAfter(now, akl)
		run(t, []step{
			{name: "first", token: f.agentA, body: sms("q1", "q-1"), want: 202},
			{name: "a replay", token: f.agentA, body: sms("q1", "q-1"), want: 202, replayed: true},
			{name: "another replay", token: f.agentA, body: sms("q1", "q-1"), want: 202, replayed: true},
			{name: "second", token: f.agentA, body: sms("q2", ""), want: 202},
			{name: "third is over the quota", token: f.agentA, body: sms("q3", ""), want: 429, code: "contact.quota_exceeded",
				retryAfter: wait},
			{name: "a replay over the quota", token: f.agentA, body: sms("q1", "q-1"), want: 202, replayed: true},
			{name: "tenant B is not held back", token: f.ownerB, body: sms("b", ""), want: 202},
		})
		if _, err := f.m.Send(asTenant(f.ta), contracts.ContactMessage{Channel: "sms", To: "+14155550123", Body: "x"}); !errors.Is(err, contact.ErrQuotaExceeded) {
			t.Errorf("Send over the quota: %v", err)
		}
		if n := f.messages(t, f.ta); n != 6 {
			t.Errorf("tenant A has %d messages, want 6", n)
		}
		clock.set(midnight)
		run(t, []step{{name: "a new day in Auckland", token: f.agentA, body: sms("q4", ""), want: 202}})
	})

	t.Run("a message not stored gives its count back", func(t *testing.T) {
		f.putSettings(t, f.ownerB, map[string]any{"daily_quota": 1})
		run(t, []step{
			{name: "an unknown template is refused after counting", token: f.ownerB,
				body: map[string]any{"channel": "sms", "to": "+14155550123", "template": "no.such"}, want: 422,
				code: "contact.unknown_template"},
			{name: "the quota's one message still goes", token: f.ownerB, body: sms("b1", ""), want: 202},
			{name: "and then no more", token: f.ownerB, body: sms("b2", ""), want: 429, code: "contact.quota_exceeded",
				retryAfter: retryAfter(clock.now(), time.UTC)},
		})
	})

	t.Run("a send in a transaction that rolls back gives its count back", func(t *testing.T) {
		// Tenant A has one message of its Auckland day left.
		errBoom := errors.New("boom")
		msg := contracts.ContactMessage{Channel: "sms", To: "+14155550123", Body: "in a transaction"}
		for range 3 {
			err := f.k.DB.InTx(asTenant(f.ta), func(ctx context.Context) error {
				if _, err := f.m.Send(ctx, msg); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("the send in the transaction: %v", err)
			}
		}
		before := f.messages(t, f.ta)
		if _, err := f.m.Send(asTenant(f.ta), msg); err != nil {
			t.Fatalf("the day's last message, after three rolled back: %v", err)
		}
		if _, err := f.m.Send(asTenant(f.ta), msg); !errors.Is(err, contact.ErrQuotaExceeded) {
			t.Errorf("one more: %v, want over the quota", err)
		}
		if n := f.messages(t, f.ta); n != before+1 {
			t.Errorf("tenant A has %d messages, want %d", n, before+1)
		}
	})
}

// retryAfter is the Retry-After of a quota refused at now: the seconds to
// the next midnight in loc (now is on a whole second).
func retryAfter(now time.Time, loc *time.Location) string {
	y, m, d := now.In(loc).Date()
	return strconv.Itoa(int(time.Date(y, m, d+1, 0, 0, 0, 0, loc).Sub(now).Seconds()))
}
