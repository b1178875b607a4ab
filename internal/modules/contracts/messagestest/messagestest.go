// Package messagestest is an in-memory fake of the messaging contracts,
// for tests of modules that publish or subscribe.
package messagestest

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Bus records what is published and hands it, synchronously, to the
// subscribers: at once outside a transaction, and after the commit of the
// publisher's transaction inside one, like the real outbox. A publish
// inside a transaction that rolls back is neither recorded nor handed
// over. Sent keeps the order of the Publish calls, which concurrent
// commits may not.
type Bus struct {
	mu     sync.Mutex
	topics map[string]contracts.Topic
	subs   map[string]map[string]contracts.MessageHandler
	seq    int
	sent   []sent
	errs   []error
}

// sent is a recorded message and the place of its Publish call.
type sent struct {
	seq int
	m   contracts.Message
}

// New returns a bus that knows topics.
func New(topics ...string) *Bus {
	b := &Bus{topics: map[string]contracts.Topic{}, subs: map[string]map[string]contracts.MessageHandler{}}
	for _, t := range topics {
		b.topics[t] = contracts.Topic{Name: t, Version: 1}
	}
	return b
}

// RegisterTopic implements contracts.TopicRegistry.
func (b *Bus) RegisterTopic(t contracts.Topic) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.Version == 0 {
		t.Version = 1
	}
	b.topics[t.Name] = t
	return nil
}

// Subscribe implements contracts.Subscriber.
func (b *Bus) Subscribe(topic, name string, h contracts.MessageHandler, _ ...contracts.SubscribeOption) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[string]contracts.MessageHandler{}
	}
	b.subs[topic][name] = h
	return nil
}

// Publish implements contracts.Publisher: it records the message and runs
// every subscriber in turn, returning the first error; inside a
// transaction it does so after the commit, and returns nil.
func (b *Bus) Publish(ctx context.Context, topic string, data any) error {
	b.mu.Lock()
	t, ok := b.topics[topic]
	if !ok {
		b.mu.Unlock()
		return contracts.ErrUnknownTopic
	}
	raw, err := json.Marshal(data)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	p, _ := security.PrincipalFrom(ctx)
	m := contracts.Message{ID: uuid.NewString(), Topic: topic, TenantID: security.TenantOf(ctx), Principal: p,
		OccurredAt: time.Now().UTC(), Data: raw, Version: t.Version}
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	if db.InTx(ctx) {
		db.AfterCommit(ctx, func() { _ = b.deliver(db.WithoutTx(ctx), seq, m) })
		return nil
	}
	return b.deliver(ctx, seq, m)
}

// deliver records m and runs every subscriber in turn, up to the first
// error, which it also keeps for Errors.
func (b *Bus) deliver(ctx context.Context, seq int, m contracts.Message) error {
	b.mu.Lock()
	at, _ := slices.BinarySearchFunc(b.sent, seq, func(x sent, seq int) int { return cmp.Compare(x.seq, seq) })
	b.sent = slices.Insert(b.sent, at, sent{seq: seq, m: m})
	hs := make([]contracts.MessageHandler, 0, len(b.subs[m.Topic]))
	for _, h := range b.subs[m.Topic] {
		hs = append(hs, h)
	}
	b.mu.Unlock()
	for _, h := range hs {
		mc := m
		if err := h(ctx, &mc); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
			return err
		}
	}
	return nil
}

// Errors lists the subscribers' errors so far, those of deliveries after a
// commit included.
func (b *Bus) Errors() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.errs...)
}

// Sent lists the messages published so far, in the order of their Publish
// calls.
func (b *Bus) Sent() []contracts.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]contracts.Message, len(b.sent))
	for i, x := range b.sent {
		out[i] = x.m
	}
	return out
}
