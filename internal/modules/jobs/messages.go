package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of topics and subscriptions.
var (
	ErrBadTopicName      = errs.New(errs.Invalid, "jobs.bad_topic_name", "A topic is named <module>.<event>, in lower-case letters, digits and underscores.")
	ErrBadSubscriberName = errs.New(errs.Invalid, "jobs.bad_subscriber_name", "A subscriber is named <module> or <module>.<purpose>, in lower-case letters, digits and underscores.")
	ErrDuplicateSub      = errs.New(errs.Conflict, "jobs.duplicate_subscription", "This subscriber already subscribes to the topic.")
	ErrTopicNotPublic    = errs.New(errs.Invalid, "jobs.topic_not_public", "The topic cannot be published through the API.")
)

var (
	topicName      = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}(\.[a-z0-9_]{1,60})+$`)
	subscriberName = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}(\.[a-z0-9_]{1,60})?$`)
)

// subscription is one subscriber of one topic, delivered as task type
// jobs:deliver:<topic>:<name>.
type subscription struct {
	topic, name string
	opts        contracts.SubscribeOptions
	h           contracts.MessageHandler
}

func (s *subscription) taskType() string { return Name + ":" + s.taskName() }
func (s *subscription) taskName() string { return "deliver:" + s.topic + ":" + s.name }

// module is the part of the subscriber's name before the dot: the module
// its service principal is made out to.
func (s *subscription) module() string { mod, _, _ := strings.Cut(s.name, "."); return mod }

// RegisterTopic allows publishing on t. Registering the same topic again
// replaces its version and visibility.
func (m *Module) RegisterTopic(t contracts.Topic) error {
	if !topicName.MatchString(t.Name) {
		return ErrBadTopicName.WithDetails(errs.Detail{Field: "topic", Code: "invalid", Message: t.Name})
	}
	if t.Version <= 0 {
		t.Version = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.topics[t.Name] = t
	return nil
}

// topic looks a topic up among the registered ones and those that the
// kernel's modules declare (contracts.TopicDeclarer).
func (m *Module) topic(name string) (contracts.Topic, bool) {
	m.mu.RLock()
	t, ok := m.topics[name]
	m.mu.RUnlock()
	if ok {
		return t, true
	}
	for _, t := range m.declared() {
		if t.Name == name {
			if t.Version <= 0 {
				t.Version = 1
			}
			return t, true
		}
	}
	return contracts.Topic{}, false
}

// declared lists the topics the kernel's modules declare.
func (m *Module) declared() []contracts.Topic {
	if m.k == nil {
		return nil
	}
	var out []contracts.Topic
	for _, mod := range m.k.Modules() {
		if d, ok := mod.(contracts.TopicDeclarer); ok {
			for _, t := range d.Topics() {
				if topicName.MatchString(t.Name) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// Subscribe implements contracts.Subscriber. The topic need not be
// registered yet: its publisher may be wired later.
func (m *Module) Subscribe(topic, name string, h contracts.MessageHandler, opts ...contracts.SubscribeOption) error {
	if !topicName.MatchString(topic) {
		return ErrBadTopicName.WithDetails(errs.Detail{Field: "topic", Code: "invalid", Message: topic})
	}
	if !subscriberName.MatchString(name) {
		return ErrBadSubscriberName.WithDetails(errs.Detail{Field: "name", Code: "invalid", Message: name})
	}
	if h == nil {
		return errors.New("jobs: subscribe " + topic + " " + name + ": nil handler")
	}
	s := &subscription{topic: topic, name: name, h: h}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.Queue != "" {
		if _, ok := queue.Queues[s.opts.Queue]; !ok {
			return queue.ErrUnknownQueue
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.subs[topic] {
		if o.name == name {
			return ErrDuplicateSub
		}
	}
	m.subs[topic] = append(m.subs[topic], s)
	if m.tasks != nil {
		m.tasks.Handle(s.taskName(), m.deliver(s))
	}
	return nil
}

// Publish implements contracts.Publisher: one delivery job per subscriber,
// all written in one transaction (the caller's, when there is one).
func (m *Module) Publish(ctx context.Context, topic string, data any) error {
	_, err := m.publish(ctx, topic, data)
	return err
}

// publish returns the message's id.
func (m *Module) publish(ctx context.Context, topic string, data any) (string, error) {
	t, ok := m.topic(topic)
	if !ok {
		return "", contracts.ErrUnknownTopic.WithDetails(errs.Detail{Field: "topic", Code: "unknown", Message: topic})
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("jobs: encode %s: %w", topic, err)
	}
	p, _ := security.PrincipalFrom(ctx)
	msg := contracts.Message{ID: uuid.Must(uuid.NewV7()).String(), Topic: topic, TenantID: security.TenantOf(ctx),
		Principal: p, OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Data: raw, Version: t.Version}
	m.mu.RLock()
	subs := append([]*subscription(nil), m.subs[topic]...)
	m.mu.RUnlock()
	if len(subs) == 0 {
		return msg.ID, nil
	}
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		for _, s := range subs {
			_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: s.taskType(), Data: &msg, Queue: s.opts.Queue,
				MaxRetry: s.opts.MaxRetry, Timeout: s.opts.Timeout, TenantID: msg.TenantID})
			if err != nil {
				return fmt.Errorf("jobs: publish %s to %s: %w", topic, s.name, err)
			}
		}
		return nil
	})
	return msg.ID, err
}

// deliver runs one subscriber's handler. The kernel has restored the
// publisher's principal; the handler runs as a service principal made out
// by the kernel to the subscriber's module, on behalf of the publisher's
// tenant and user, so that the subscriber's stores see that tenant only.
func (m *Module) deliver(s *subscription) queue.Handler {
	return func(ctx context.Context, t *queue.Task) error {
		var msg contracts.Message
		if err := t.Decode(&msg); err != nil {
			return fmt.Errorf("jobs: decode message for %s: %v: %w", s.name, err, queue.SkipRetry)
		}
		from, _, _ := strings.Cut(msg.Topic, ".")
		ctx, err := m.asModule(ctx, from, s.module())
		if err != nil {
			return fmt.Errorf("jobs: %s: %w", s.name, err)
		}
		return s.h(ctx, &msg)
	}
}

// asModule is ctx under a service principal that the kernel makes out
// from module from to module to, for the tenant and user of the principal
// in ctx: what a handler of module to runs as.
func (m *Module) asModule(ctx context.Context, from, to string) (context.Context, error) {
	tok, err := m.k.Security.IssueServiceCredential(ctx, from, to, nil)
	if err != nil {
		return nil, fmt.Errorf("credential for %s: %w", to, err)
	}
	sp, err := m.k.Security.VerifyServiceCredential(tok, to)
	if err != nil {
		return nil, fmt.Errorf("credential for %s: %w", to, err)
	}
	return security.WithPrincipal(ctx, sp), nil
}
