package contact

import (
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/calendar"
)

// SetClock gives the module a clock of the test's; call it before the
// module does any work.
func SetClock(m *Module, now func() time.Time) { m.now = now }

// Quiet hours hold back marketing only, in the recipient's zone, else the
// tenant's, and not at all within the grace before their end.
func TestQuietEnd(t *testing.T) {
	vienna, _ := calendar.LoadLocation("Europe/Vienna")
	set := &settings{quiet: &calendar.Window{Start: calendar.Clock{Hour: 21}, End: calendar.Clock{Hour: 8}}, zone: vienna}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	cases := []struct {
		name, category, tz string
		set                *settings
		now                time.Time
		until              string // "" when it goes at once
	}{
		{"marketing in the tenant's quiet hours", "marketing", "", set, at("2026-06-01T20:00:00Z"), "2026-06-02T06:00:00Z"},
		{"transactional goes at once", "transactional", "", set, at("2026-06-01T20:00:00Z"), ""},
		{"the recipient's zone is in the day", "marketing", "America/New_York", set, at("2026-06-01T20:00:00Z"), ""},
		{"the recipient's zone is in the night", "marketing", "Asia/Tokyo", set, at("2026-06-01T14:00:00Z"), "2026-06-01T23:00:00Z"},
		{"no quiet hours", "marketing", "", &settings{zone: vienna}, at("2026-06-01T20:00:00Z"), ""},
		{"a second before the end goes", "marketing", "", set, at("2026-06-02T05:59:59Z"), ""},
		{"three seconds before it waits", "marketing", "", set, at("2026-06-02T05:59:57Z"), "2026-06-02T06:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			until, detail, ok := quietEnd(c.set, c.category, c.tz, c.now)
			if ok != (c.until != "") || (ok && !until.Equal(at(c.until))) {
				t.Fatalf("quietEnd = %s, %v; want %q", until, ok, c.until)
			}
			if ok && !strings.Contains(detail, "deferred until "+c.until) {
				t.Errorf("detail %q does not say until when", detail)
			}
		})
	}
}

// A bad time zone names the field; none is fine.
func TestCheckTimeZone(t *testing.T) {
	if d := checkTimeZone(""); d != nil {
		t.Errorf("empty: %v", d)
	}
	if d := checkTimeZone("Europe/Vienna"); d != nil {
		t.Errorf("Europe/Vienna: %v", d)
	}
	if d := checkTimeZone("Mars/Base"); len(d) != 1 || d[0].Field != "time_zone" {
		t.Errorf("Mars/Base: %v", d)
	}
}
