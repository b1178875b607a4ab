// Package notifications keeps each user's in-app inbox and notifies people
// for every other module through contracts.Notifier. Notify resolves the
// recipient (users, a role or the whole tenant) to users, writes one inbox
// row per user and enqueues the delivery in one transaction; the delivery
// job pushes each row to the user's open browser tabs through the realtime
// gateway and, for a notification that asks for it, schedules the e-mail or
// SMS fallback that goes out through contracts.Sender when the user has
// not read it in time and is offline.
package notifications

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/notifications/realtime"
	"github.com/platform/platform/migrations"
)

// Name is the module's name: its URL segment, table and task prefix.
const Name = "notifications"

// PermSend lets a principal notify people through the API and the
// backoffice: a tenant's owner, platform admins, and services given a
// credential with this scope.
const PermSend security.Permission = "notifications:send"

// Config is modules.notifications.
type Config struct {
	// TTL is how long a notification stays in the inboxes when Notify
	// gives no expiry.
	TTL time.Duration `mapstructure:"ttl"`
	// FallbackAfter is how long an unread notification that asks for a
	// fallback waits before it goes out by e-mail or SMS, when Notify
	// gives no delay.
	FallbackAfter time.Duration `mapstructure:"fallback_after"`
	// CleanupInterval is how often expired notifications are deleted.
	CleanupInterval time.Duration `mapstructure:"cleanup_interval"`
	// Queue is the queue deliveries run on.
	Queue string `mapstructure:"queue"`
}

// DefaultConfig is the configuration without any modules.notifications keys.
func DefaultConfig() Config {
	return Config{TTL: 90 * 24 * time.Hour, FallbackAfter: 15 * time.Minute, CleanupInterval: 10 * time.Minute,
		Queue: queue.DefaultQueue}
}

func (c *Config) validate() error {
	key := func(k string) string { return "modules." + Name + "." + k }
	switch {
	case c.TTL < time.Hour || c.TTL > maxTTL:
		return &config.Error{Key: key("ttl"), Msg: "must be from 1h to 8760h (a year)"}
	case c.FallbackAfter < time.Minute || c.FallbackAfter > maxFallbackAfter:
		return &config.Error{Key: key("fallback_after"), Msg: "must be from 1m to 168h"}
	case c.CleanupInterval < time.Second:
		return &config.Error{Key: key("cleanup_interval"), Msg: "must be a duration of at least 1s, such as 10m"}
	}
	if _, ok := queue.Queues[c.Queue]; !ok {
		return &config.Error{Key: key("queue"), Msg: fmt.Sprintf("must be critical, default or low, got %q", c.Queue)}
	}
	return nil
}

// Event is one message to the users' open browser tabs: to Users of
// Tenant, or to all of the tenant's connected users when Users is empty.
type Event = realtime.Event

// Gateway is what the module needs of the realtime gateway: a push to
// connected users, and whether a user is connected at all.
type Gateway interface {
	Publish(ctx context.Context, ev Event) error
	Online(ctx context.Context, tenantID, userID string) (bool, error)
}

// Module is the notifications module.
type Module struct {
	k      *kernel.Kernel
	cfg    Config
	store  *store
	sender contracts.Sender // nil: no e-mail or SMS fallback
	sub    contracts.Subscriber
	gw     Gateway
	rt     *realtime.Gateway // the gateway New made, which Routes mounts and starts
	now    func() time.Time
}

var _ contracts.Notifier = (*Module)(nil)

// Option configures the module.
type Option func(*Module)

// WithSender sends the e-mail and SMS fallback through the contact module.
func WithSender(s contracts.Sender) Option { return func(m *Module) { m.sender = s } }

// WithSubscriber subscribes the module to the events it turns into
// notifications, such as the helpdesk's ticket_assigned.
func WithSubscriber(s contracts.Subscriber) Option { return func(m *Module) { m.sub = s } }

// WithGateway pushes notifications to connected users through g instead of
// the realtime gateway that New makes, for tests.
func WithGateway(g Gateway) Option { return func(m *Module) { m.gw = g } }

// WithClock replaces time.Now, for tests of expiry, snoozing and quiet hours.
func WithClock(now func() time.Time) Option { return func(m *Module) { m.now = now } }

// New makes the module on the kernel's database, queue and configuration.
// With a nil kernel it serves only its migrations.
func New(k *kernel.Kernel, opts ...Option) (*Module, error) {
	m := &Module{k: k, cfg: DefaultConfig(), now: time.Now}
	for _, o := range opts {
		o(m)
	}
	if k == nil {
		return m, nil
	}
	if err := k.Config.Sub(Name, &m.cfg); err != nil {
		return nil, err
	}
	if err := m.cfg.validate(); err != nil {
		return nil, err
	}
	m.store = &store{db: k.DB}
	if m.gw == nil {
		m.rt = realtime.New(k, m)
		m.gw = m.rt
	}
	if m.sub != nil {
		if err := m.subscribe(m.sub); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return Name }

// Migrations implements kernel.Migrator.
func (m *Module) Migrations() fs.FS { return migrations.For(Name) }

// Tasks implements kernel.Worker: the delivery of a notification, the
// fallback check of one recipient, and the return of a snoozed one.
func (m *Module) Tasks(t *queue.Registry) {
	t.Handle(taskDeliver, m.deliver)
	t.Handle(taskFallback, m.fallback)
	t.Handle(taskReturn, m.snoozeEnded)
}

// Schedules implements kernel.Periodic: expired notifications are deleted
// in every process that runs the scheduler; a delete is its own claim.
func (m *Module) Schedules(s *queue.Schedule) {
	s.Every("cleanup", m.cfg.CleanupInterval, func(ctx context.Context) error {
		_, err := m.Cleanup(ctx)
		return err
	})
}

// Permissions implements kernel.Permissioner: a tenant's owner notifies
// people of the tenant; every signed-in user has an inbox without any
// permission.
func (m *Module) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{security.RoleOwner: {PermSend}}
}

// clock is the module's time in UTC, to the microsecond as both databases
// keep it.
func (m *Module) clock() time.Time { return m.now().UTC().Truncate(time.Microsecond) }
