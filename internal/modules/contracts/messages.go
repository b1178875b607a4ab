package contracts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Topic is a named stream of messages between modules, such as
// "helpdesk.ticket_created": the publishing module's name, a dot, and the
// event in the past tense.
type Topic struct {
	Name    string
	Version int  // the data's version, carried in every envelope; 0 means 1
	Public  bool // may be published by front ends through POST /api/v1/jobs/publish
}

// Publisher sends a message on a topic to every subscriber. Inside a
// transaction (db.InTx) the message is written in that transaction: a
// rollback publishes nothing. A topic nobody subscribes to is fine; a topic
// nobody registered is ErrUnknownTopic.
type Publisher interface {
	Publish(ctx context.Context, topic string, data any) error
}

// MessageHandler receives one message. Delivery is at least once: use
// Message.ID (with the subscriber's name) as the idempotency key. Return an
// error wrapping queue.SkipRetry for a permanent failure.
type MessageHandler func(ctx context.Context, m *Message) error

// SubscribeOptions tune one subscription's delivery.
type SubscribeOptions struct {
	MaxRetry int           // 0: the queue's default; -1: no retry
	Queue    string        // critical, default or low; "": default
	Timeout  time.Duration // per attempt; 0: the queue's default
}

// SubscribeOption sets a SubscribeOptions field.
type SubscribeOption func(*SubscribeOptions)

// WithMaxRetry sets how often a failed delivery is retried before it is
// archived.
func WithMaxRetry(n int) SubscribeOption { return func(o *SubscribeOptions) { o.MaxRetry = n } }

// WithQueue sets the queue deliveries run on.
func WithQueue(q string) SubscribeOption { return func(o *SubscribeOptions) { o.Queue = q } }

// WithTimeout bounds one delivery attempt.
func WithTimeout(d time.Duration) SubscribeOption { return func(o *SubscribeOptions) { o.Timeout = d } }

// Subscriber registers handlers for topics. name identifies the subscriber:
// its module's name, or "<module>.<purpose>" when a module subscribes twice
// to one topic. Each (topic, name) is delivered as its own job, with its own
// retries, so a failing subscriber never holds up another. Subscribe at
// wiring time, before the workers start.
type Subscriber interface {
	Subscribe(topic, name string, h MessageHandler, opts ...SubscribeOption) error
}

// TopicRegistry declares topics, so that publishing to them is allowed.
type TopicRegistry interface {
	RegisterTopic(t Topic) error
}

// TopicDeclarer is a module capability: the topics a module publishes,
// registered with the messaging module when it looks them up.
type TopicDeclarer interface {
	Topics() []Topic
}

// Message is the versioned envelope a subscriber receives.
type Message struct {
	ID         string              `json:"id"`
	Topic      string              `json:"topic"`
	TenantID   string              `json:"tenant_id,omitempty"`
	Principal  *security.Principal `json:"principal,omitempty"` // who published it
	OccurredAt time.Time           `json:"occurred_at"`
	Data       json.RawMessage     `json:"data"`
	Version    int                 `json:"version"`
}

// Decode unmarshals the message's data.
func (m *Message) Decode(v any) error { return json.Unmarshal(m.Data, v) }

// ErrUnknownTopic is a publish to a topic nobody registered.
var ErrUnknownTopic = errs.New(errs.Invalid, "jobs.unknown_topic", "The topic is not registered.")
