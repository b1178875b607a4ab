package helpdesk

import (
	"strings"
	"testing"
	"time"
)

// attachment_link_ttl is 30 days by default and bounded; a bad one names
// its key.
func TestConfigAttachmentLinkTTL(t *testing.T) {
	if d := DefaultConfig().AttachmentLinkTTL; d != 30*24*time.Hour {
		t.Fatalf("default attachment_link_ttl = %v, want 720h", d)
	}
	for _, c := range []struct {
		ttl time.Duration
		ok  bool
	}{{0, false}, {59 * time.Second, false}, {time.Minute, true}, {720 * time.Hour, true}, {8784 * time.Hour, true},
		{8785 * time.Hour, false}} {
		t.Run(c.ttl.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.AttachmentLinkTTL = c.ttl
			err := cfg.validate()
			if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "modules.helpdesk.attachment_link_ttl")) {
				t.Fatalf("validate(%v) = %v, want ok=%v", c.ttl, err, c.ok)
			}
		})
	}
}
