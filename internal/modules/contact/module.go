// Package contact sends every module's messages: e-mail, SMS, voice calls
// and webhooks. Send stores the message and its delivery job in one
// transaction and returns at once; the job tries the tenant's providers
// for the channel in order, with retries and backoff, fails over to the
// next provider, skips a provider whose circuit breaker is open, and stops
// at once on a permanent failure. Every change and every attempt is kept
// in the message's status history.
package contact

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/migrations"
)

// Name is the module's name: its URL segment, table and task prefix.
const Name = "contact"

// Permissions of the module.
const (
	PermSend   security.Permission = "contact:send"   // send messages through the API
	PermRead   security.Permission = "contact:read"   // see messages, their history and the outbox
	PermManage security.Permission = "contact:manage" // configure providers
)

// Config is modules.contact.
type Config struct {
	// SecretKey encrypts provider credentials: 32 bytes, base64. Empty:
	// derived from the kernel's master secret.
	SecretKey string `mapstructure:"secret_key"`
	// LogFallback sends through the log provider when a tenant has no
	// provider for a channel: auto (only on the embedded queue, as in
	// development), true or false.
	LogFallback string `mapstructure:"log_fallback"`
	// AttemptsPerProvider is how often one provider is tried before the
	// next one takes over.
	AttemptsPerProvider int `mapstructure:"attempts_per_provider"`
	// MaxAttempts bounds a message's attempts over all its providers.
	MaxAttempts int `mapstructure:"max_attempts"`
	// SendTimeout bounds one provider call.
	SendTimeout time.Duration `mapstructure:"send_timeout"`
	// BreakerThreshold failures of a provider within BreakerWindow open its
	// breaker for BreakerOpenFor, across every worker process.
	BreakerThreshold int           `mapstructure:"breaker_threshold"`
	BreakerWindow    time.Duration `mapstructure:"breaker_window"`
	BreakerOpenFor   time.Duration `mapstructure:"breaker_open_for"`
	// Queue is the queue deliveries run on.
	Queue string `mapstructure:"queue"`
}

// DefaultConfig is the configuration without any modules.contact keys.
func DefaultConfig() Config {
	return Config{LogFallback: "auto", AttemptsPerProvider: 3, MaxAttempts: 10, SendTimeout: 30 * time.Second,
		BreakerThreshold: 5, BreakerWindow: time.Minute, BreakerOpenFor: time.Minute, Queue: queue.DefaultQueue}
}

func (c *Config) validate() error {
	key := func(k string) string { return "modules." + Name + "." + k }
	switch {
	case c.LogFallback != "auto" && c.LogFallback != "true" && c.LogFallback != "false":
		return &config.Error{Key: key("log_fallback"), Msg: fmt.Sprintf("must be auto, true or false, got %q", c.LogFallback)}
	case c.AttemptsPerProvider < 1:
		return &config.Error{Key: key("attempts_per_provider"), Msg: "must be at least 1"}
	case c.MaxAttempts < 1 || c.MaxAttempts > 50:
		return &config.Error{Key: key("max_attempts"), Msg: "must be from 1 to 50"}
	case c.SendTimeout <= 0:
		return &config.Error{Key: key("send_timeout"), Msg: "must be a positive duration such as 30s"}
	case c.BreakerThreshold < 1:
		return &config.Error{Key: key("breaker_threshold"), Msg: "must be at least 1"}
	case c.BreakerWindow <= 0:
		return &config.Error{Key: key("breaker_window"), Msg: "must be a positive duration such as 1m"}
	case c.BreakerOpenFor <= 0:
		return &config.Error{Key: key("breaker_open_for"), Msg: "must be a positive duration such as 1m"}
	}
	if _, ok := queue.Queues[c.Queue]; !ok {
		return &config.Error{Key: key("queue"), Msg: fmt.Sprintf("must be critical, default or low, got %q", c.Queue)}
	}
	return nil
}

// secretKey is the credentials key: the configured one, or one derived
// from the kernel's master secret.
func (c *Config) secretKey(k *kernel.Kernel) ([]byte, error) {
	if c.SecretKey == "" {
		// The kernel exposes no key derivation; Sign is an HMAC under a key
		// derived from the master secret, the same in every process.
		return deriveKey(k.Security.Sign("contact.credentials-key", nil))
	}
	s := strings.TrimSpace(c.SecretKey)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != 32 {
		return nil, &config.Error{Key: "modules." + Name + ".secret_key",
			Msg: "must be 32 bytes in base64 (openssl rand -base64 32), or empty to derive one from the master secret"}
	}
	return b, nil
}

// Module is the contact module.
type Module struct {
	k       *kernel.Kernel
	cfg     Config
	store   *store
	sealer  *sealer
	breaker *breaker
	client  *http.Client // for providers' APIs at fixed, configured addresses
	now     func() time.Time
}

var _ contracts.Sender = (*Module)(nil)

// New makes the module on the kernel's database, queue and configuration.
// With a nil kernel it serves only its migrations.
func New(k *kernel.Kernel) (*Module, error) {
	m := &Module{k: k, cfg: DefaultConfig(), now: func() time.Time { return time.Now().UTC() }}
	if k == nil {
		return m, nil
	}
	if err := k.Config.Sub(Name, &m.cfg); err != nil {
		return nil, err
	}
	if err := m.cfg.validate(); err != nil {
		return nil, err
	}
	key, err := m.cfg.secretKey(k)
	if err != nil {
		return nil, err
	}
	if m.sealer, err = newSealer(key); err != nil {
		return nil, fmt.Errorf("contact: %w", err)
	}
	m.store = &store{db: k.DB}
	m.breaker = &breaker{rdb: k.Queue.Redis(), threshold: m.cfg.BreakerThreshold, window: m.cfg.BreakerWindow,
		openFor: m.cfg.BreakerOpenFor}
	m.client = &http.Client{Timeout: m.cfg.SendTimeout}
	return m, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return Name }

// Migrations implements kernel.Migrator.
func (m *Module) Migrations() fs.FS { return migrations.For(Name) }

// Tasks implements kernel.Worker: one delivery task per message.
func (m *Module) Tasks(t *queue.Registry) { t.Handle(taskDeliver, m.deliver) }

// Permissions implements kernel.Permissioner: a tenant's owner sends,
// reads and configures; agents send and read.
func (m *Module) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{
		security.RoleOwner: {PermSend, PermRead, PermManage},
		security.RoleAgent: {PermSend, PermRead},
	}
}

// logFallback reports whether a channel without providers goes to the log
// provider.
func (m *Module) logFallback() bool {
	switch m.cfg.LogFallback {
	case "true":
		return true
	case "false":
		return false
	}
	return m.k.Queue.Embedded()
}
