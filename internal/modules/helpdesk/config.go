package helpdesk

import (
	"fmt"
	"strings"
	"time"

	"github.com/platform/platform/internal/kernel/config"
)

// Config is modules.helpdesk.
type Config struct {
	// AttachmentMaxBytes bounds one attached file. A multipart request's
	// body limit is raised from http.body_limit to fit the largest upload.
	AttachmentMaxBytes int64 `mapstructure:"attachment_max_bytes"`
	// AttachmentMaxFiles bounds the files of one message.
	AttachmentMaxFiles int `mapstructure:"attachment_max_files"`
	// InboundRateLimit is how many e-mails one sender may send a tenant
	// within ten minutes; later ones are dropped as a loop.
	InboundRateLimit int `mapstructure:"inbound_rate_limit"`
	// OwnDomains are the domains of the desk's own addresses: mail from
	// them, or with a Message-ID in them, is our own coming back (a loop).
	OwnDomains []string `mapstructure:"own_domains"`
	// AttachmentLinkTTL is how long the download links in a reply's
	// e-mail work, from the reply.
	AttachmentLinkTTL time.Duration `mapstructure:"attachment_link_ttl"`
	// CloseSolvedAfter is how long a ticket stays solved before it is
	// closed (autoclose.go); 0 never closes one.
	CloseSolvedAfter time.Duration `mapstructure:"close_solved_after"`
}

// DefaultConfig is the configuration without any modules.helpdesk keys.
func DefaultConfig() Config {
	return Config{AttachmentMaxBytes: 10 << 20, AttachmentMaxFiles: 10, InboundRateLimit: 20, AttachmentLinkTTL: 30 * 24 * time.Hour,
		CloseSolvedAfter: 4 * 24 * time.Hour}
}

func (c *Config) validate() error {
	key := func(k string) string { return "modules." + Name + "." + k }
	switch {
	case c.AttachmentMaxBytes < 1:
		return &config.Error{Key: key("attachment_max_bytes"), Msg: "must be at least 1"}
	case c.AttachmentMaxFiles < 1 || c.AttachmentMaxFiles > 100:
		return &config.Error{Key: key("attachment_max_files"), Msg: "must be from 1 to 100"}
	case c.InboundRateLimit < 1:
		return &config.Error{Key: key("inbound_rate_limit"), Msg: "must be at least 1"}
	case c.AttachmentLinkTTL < time.Minute || c.AttachmentLinkTTL > 366*24*time.Hour:
		return &config.Error{Key: key("attachment_link_ttl"), Msg: "must be from 1m to 8784h"}
	case c.CloseSolvedAfter != 0 && (c.CloseSolvedAfter < time.Hour || c.CloseSolvedAfter > 28*24*time.Hour):
		return &config.Error{Key: key("close_solved_after"), Msg: "must be 0 (never) or from 1h to 672h"}
	}
	for i, d := range c.OwnDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@ ") {
			return &config.Error{Key: key("own_domains"), Msg: fmt.Sprintf("%q is not a domain", c.OwnDomains[i])}
		}
		c.OwnDomains[i] = d
	}
	return nil
}

// WithConfig replaces modules.helpdesk, for tests.
func WithConfig(c Config) Option { return func(m *Module) { m.cfg, m.cfgSet = c, true } }

func (m *Module) loadConfig() {
	if !m.cfgSet {
		if m.cfgErr = m.k.Config.Sub(Name, &m.cfg); m.cfgErr != nil {
			return
		}
	}
	m.cfgErr = m.cfg.validate()
}

// Err is the module's configuration error, if modules.helpdesk is
// invalid; cmd/platform refuses to start on one.
func (m *Module) Err() error { return m.cfgErr }
