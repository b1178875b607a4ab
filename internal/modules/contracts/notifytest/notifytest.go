// Package notifytest is an in-memory contracts.Notifier for the tests of
// modules that notify people: it records what is notified and honours
// idempotency keys as the notifications module does.
package notifytest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// ErrNoTenant is the notifications module's answer to a Notify without a
// tenant in ctx, with the same code.
var ErrNoTenant = errs.New(errs.Invalid, "notifications.no_tenant",
	"A notification belongs to a tenant: act as one (X-Tenant-ID) to send it.")

// Notified is one accepted notification.
type Notified struct {
	ID           contracts.NotificationID
	Tenant       string
	Notification contracts.Notification
}

// Notifier records notifications instead of delivering them. The zero
// value is ready to use and safe for concurrent use. It does not join the
// caller's transaction: a rollback does not take a recorded one back.
type Notifier struct {
	mu    sync.Mutex
	sent  []Notified
	keys  map[string]int // tenant + "\x00" + key -> index in sent
	hash  map[string]string
	fail  error
	fails int
}

var _ contracts.Notifier = (*Notifier)(nil)

// Notify implements contracts.Notifier.
func (n *Notifier) Notify(ctx context.Context, x contracts.Notification) (contracts.NotificationID, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fails != 0 {
		if n.fails > 0 {
			n.fails--
		}
		return "", n.fail
	}
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return "", ErrNoTenant
	}
	b, _ := json.Marshal(x)
	key := tenant + "\x00" + x.IdempotencyKey
	if x.IdempotencyKey != "" {
		if i, ok := n.keys[key]; ok {
			if n.hash[key] != string(b) {
				return "", contracts.ErrNotificationMismatch
			}
			return n.sent[i].ID, nil
		}
	}
	id := contracts.NotificationID(fmt.Sprintf("ntf-%d", len(n.sent)+1))
	n.sent = append(n.sent, Notified{ID: id, Tenant: tenant, Notification: x})
	if x.IdempotencyKey != "" {
		if n.keys == nil {
			n.keys, n.hash = map[string]int{}, map[string]string{}
		}
		n.keys[key], n.hash[key] = len(n.sent)-1, string(b)
	}
	return id, nil
}

// Notified returns a copy of what was notified, oldest first.
func (n *Notifier) Notified() []Notified {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notified(nil), n.sent...)
}

// FailNext makes the next count Notify calls fail with err; -1: every one.
func (n *Notifier) FailNext(count int, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fails, n.fail = count, err
}
