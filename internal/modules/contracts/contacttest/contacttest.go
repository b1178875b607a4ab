// Package contacttest is an in-memory contracts.Sender for the tests of
// modules that send messages: it records what is sent, honours
// idempotency keys as the contact module does, and can be told to fail.
package contacttest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// ErrNoTenant is the contact module's answer to a Send without a tenant
// in ctx, with the same code.
var ErrNoTenant = errs.New(errs.Invalid, "contact.no_tenant",
	"A message belongs to a tenant: act as one (X-Tenant-ID) to send it.")

// Sent is one accepted message.
type Sent struct {
	ID      contracts.MessageID
	Tenant  string
	Message contracts.ContactMessage
}

// Sender records messages instead of sending them. The zero value is
// ready to use; it is safe for concurrent use. Unlike the real one it
// does not join the caller's transaction: a rollback does not take a
// recorded message back.
type Sender struct {
	mu    sync.Mutex
	sent  []Sent
	keys  map[string]int // tenant + "\x00" + key -> index in sent
	hash  map[string]string
	fail  error
	fails int // how many sends fail with fail; -1: every one
}

var _ contracts.Sender = (*Sender)(nil)

// Send implements contracts.Sender. A repeated idempotency key of the
// tenant returns the first message's id without recording it again, or
// contracts.ErrIdempotencyMismatch when the message differs.
func (s *Sender) Send(ctx context.Context, m contracts.ContactMessage) (contracts.MessageID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails != 0 {
		if s.fails > 0 {
			s.fails--
		}
		return "", s.fail
	}
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return "", ErrNoTenant
	}
	if m.Category == "" {
		m.Category = contracts.CategoryTransactional
	}
	h := payload(m)
	key := tenant + "\x00" + m.IdempotencyKey
	if m.IdempotencyKey != "" {
		if i, ok := s.keys[key]; ok {
			if s.hash[key] != h {
				return "", contracts.ErrIdempotencyMismatch
			}
			return s.sent[i].ID, nil
		}
	}
	id := contracts.MessageID(fmt.Sprintf("msg-%d", len(s.sent)+1))
	s.sent = append(s.sent, Sent{ID: id, Tenant: tenant, Message: m})
	if m.IdempotencyKey != "" {
		if s.keys == nil {
			s.keys, s.hash = map[string]int{}, map[string]string{}
		}
		s.keys[key], s.hash[key] = len(s.sent)-1, h
	}
	return id, nil
}

// payload is what decides whether a repeated key is a replay: the fields
// the contact module hashes, in JSON, so that 1 and 1.0 in Data are equal.
func payload(m contracts.ContactMessage) string {
	b, _ := json.Marshal(map[string]any{"channel": m.Channel, "to": m.To, "template": m.Template, "data": m.Data,
		"subject": m.Subject, "body": m.Body, "html": m.HTML, "locale": m.Locale, "category": m.Category,
		"metadata": m.Metadata})
	return string(b)
}

// FailWith makes every following Send fail with err, until FailWith(nil).
func (s *Sender) FailWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.fails = err, 0
	if err != nil {
		s.fails = -1
	}
}

// FailNext makes the next n sends fail with err.
func (s *Sender) FailNext(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.fails = err, n
}

// Messages are the recorded messages, oldest first.
func (s *Sender) Messages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Reset forgets every message and key, and stops failing.
func (s *Sender) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.keys, s.hash, s.fail, s.fails = nil, nil, nil, nil, 0
}
