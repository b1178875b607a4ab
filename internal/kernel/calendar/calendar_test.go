package calendar_test

import (
	"errors"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/calendar"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := calendar.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func window(t *testing.T, start, end string) calendar.Window {
	t.Helper()
	s, err := calendar.ParseClock(start)
	if err != nil {
		t.Fatal(err)
	}
	e, err := calendar.ParseClock(end)
	if err != nil {
		t.Fatal(err)
	}
	return calendar.Window{Start: s, End: e}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]string{"00:00": "00:00", "07:05": "07:05", "21:30": "21:30", "23:59": "23:59"} {
		t.Run(in, func(t *testing.T) {
			c, err := calendar.ParseClock(in)
			if err != nil || c.String() != want {
				t.Errorf("ParseClock(%q) = %v, %v", in, c, err)
			}
		})
	}
	for _, in := range []string{"", "7:30", "24:00", "12:60", "12-30", "ab:cd", "12:30:00", " 1:30", "+1:30", "１２:30"} {
		t.Run("bad "+in, func(t *testing.T) {
			if c, err := calendar.ParseClock(in); err == nil {
				t.Errorf("ParseClock(%q) = %v, want an error", in, c)
			}
		})
	}
}

func TestLoadLocation(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Vienna", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"} {
		t.Run(name, func(t *testing.T) {
			l, err := calendar.LoadLocation(name)
			if err != nil || l.String() != name {
				t.Errorf("LoadLocation(%q) = %v, %v", name, l, err)
			}
		})
	}
	for _, name := range []string{"", "Local", "Mars/Olympus", "europe/vienna ", "../../etc/passwd", "/etc/localtime", "Europe/Vienna\n"} {
		t.Run("bad "+name, func(t *testing.T) {
			if _, err := calendar.LoadLocation(name); !errors.Is(err, calendar.ErrUnknownZone) {
				t.Errorf("LoadLocation(%q): %v, want ErrUnknownZone", name, err)
			}
		})
	}
}

// Contains and NextOpen on ordinary days, on windows within a day and
// across midnight, and across the daylight-saving changes of Vienna and
// New York.
func TestWindow(t *testing.T) {
	cases := []struct {
		name, zone, start, end string
		at                     string // UTC
		in                     bool
		open                   string // UTC; NextOpen
	}{
		{"before a window in a day", "UTC", "09:00", "17:00", "2026-06-01T08:59:59Z", false, "2026-06-01T08:59:59Z"},
		{"at its start", "UTC", "09:00", "17:00", "2026-06-01T09:00:00Z", true, "2026-06-01T17:00:00Z"},
		{"just before its end", "UTC", "09:00", "17:00", "2026-06-01T16:59:59Z", true, "2026-06-01T17:00:00Z"},
		{"at its end", "UTC", "09:00", "17:00", "2026-06-01T17:00:00Z", false, "2026-06-01T17:00:00Z"},
		{"an empty window", "UTC", "09:00", "09:00", "2026-06-01T09:00:00Z", false, "2026-06-01T09:00:00Z"},
		{"across midnight, in the evening", "Europe/Vienna", "21:00", "08:00", "2026-06-01T20:30:00Z", true, "2026-06-02T06:00:00Z"},
		{"across midnight, after midnight", "Europe/Vienna", "21:00", "08:00", "2026-06-01T23:15:00Z", true, "2026-06-02T06:00:00Z"},
		{"across midnight, in the day", "Europe/Vienna", "21:00", "08:00", "2026-06-01T12:00:00Z", false, "2026-06-01T12:00:00Z"},
		{"the same instant elsewhere", "America/New_York", "21:00", "08:00", "2026-06-01T20:30:00Z", false, "2026-06-01T20:30:00Z"},
		// Vienna springs forward on 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
		{"Vienna spring: the night is an hour shorter", "Europe/Vienna", "22:00", "07:00", "2026-03-28T22:00:00Z", true,
			"2026-03-29T05:00:00Z"},
		{"Vienna spring: an end in the skipped hour opens at the change", "Europe/Vienna", "22:00", "02:30",
			"2026-03-28T23:45:00Z", true, "2026-03-29T01:00:00Z"},
		{"Vienna spring: a window that is all skipped", "Europe/Vienna", "02:10", "02:50", "2026-03-29T00:59:00Z", false,
			"2026-03-29T00:59:00Z"},
		// Vienna falls back on 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC).
		{"Vienna autumn: the night is an hour longer", "Europe/Vienna", "22:00", "07:00", "2026-10-24T21:00:00Z", true,
			"2026-10-25T06:00:00Z"},
		{"Vienna autumn: a window in the repeated hour ends on its first pass", "Europe/Vienna", "01:00", "02:30",
			"2026-10-24T23:15:00Z", true, "2026-10-25T00:30:00Z"},
		{"Vienna autumn: and holds again on the second pass", "Europe/Vienna", "01:00", "02:30", "2026-10-25T01:10:00Z", true,
			"2026-10-25T01:30:00Z"},
		{"Vienna autumn: between the passes it is open", "Europe/Vienna", "01:00", "02:30", "2026-10-25T00:45:00Z", false,
			"2026-10-25T00:45:00Z"},
		// New York springs forward on 8 March 2026 (02:00 EST -> 03:00 EDT, 07:00 UTC) and falls back on 1 November
		// (02:00 EDT -> 01:00 EST, 06:00 UTC).
		{"New York spring", "America/New_York", "21:00", "08:00", "2026-03-08T03:00:00Z", true, "2026-03-08T12:00:00Z"},
		{"New York spring: an end in the skipped hour", "America/New_York", "23:00", "02:15", "2026-03-08T05:00:00Z", true,
			"2026-03-08T07:00:00Z"},
		{"New York autumn", "America/New_York", "21:00", "08:00", "2026-11-01T03:00:00Z", true, "2026-11-01T13:00:00Z"},
		{"New York autumn: an end in the repeated hour", "America/New_York", "23:00", "01:30", "2026-11-01T04:00:00Z", true,
			"2026-11-01T05:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc, w, at := zone(t, c.zone), window(t, c.start, c.end), utc(c.at)
			if got := w.Contains(at, loc); got != c.in {
				t.Errorf("Contains(%s = %s) = %v, want %v", c.at, at.In(loc), got, c.in)
			}
			open := w.NextOpen(at, loc)
			if !open.Equal(utc(c.open)) {
				t.Errorf("NextOpen(%s = %s) = %s (%s), want %s", c.at, at.In(loc), open.UTC(), open.In(loc), c.open)
			}
			if w.Contains(open, loc) {
				t.Errorf("NextOpen %s is in the window", open.In(loc))
			}
			// Every minute up to it is in the window: it is the first open instant.
			for m := at; m.Before(open); m = m.Add(time.Minute) {
				if !w.Contains(m, loc) {
					t.Fatalf("%s is open, before NextOpen %s", m.In(loc), open.In(loc))
				}
			}
		})
	}
}
