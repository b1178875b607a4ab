package helpdesk

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The durations of modules.helpdesk have their defaults and bounds; a bad
// one names its key.
func TestConfigDurations(t *testing.T) {
	for _, c := range []struct {
		key  string
		of   func(*Config) *time.Duration
		def  time.Duration
		good []time.Duration
		bad  []time.Duration
	}{
		{"attachment_link_ttl", func(c *Config) *time.Duration { return &c.AttachmentLinkTTL }, 720 * time.Hour,
			[]time.Duration{time.Minute, 720 * time.Hour, 8784 * time.Hour}, []time.Duration{0, 59 * time.Second, 8785 * time.Hour}},
		{"close_solved_after", func(c *Config) *time.Duration { return &c.CloseSolvedAfter }, 96 * time.Hour,
			[]time.Duration{0, time.Hour, 672 * time.Hour}, []time.Duration{-time.Hour, 59 * time.Minute, 673 * time.Hour}},
	} {
		t.Run(c.key, func(t *testing.T) {
			def := DefaultConfig()
			if got := *c.of(&def); got != c.def {
				t.Fatalf("default %v, want %v", got, c.def)
			}
			for _, d := range append(slices.Clone(c.good), c.bad...) {
				cfg := DefaultConfig()
				*c.of(&cfg) = d
				err := cfg.validate()
				want := slices.Contains(c.good, d)
				if (err == nil) != want || (err != nil && !strings.Contains(err.Error(), "modules.helpdesk."+c.key)) {
					t.Errorf("%v: validate() = %v, want ok=%v", d, err, want)
				}
			}
		})
	}
}
