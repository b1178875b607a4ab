package calendar_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/calendar"
)

// week is a spec's Week from "HH:MM-HH:MM" intervals per weekday.
func week(t *testing.T, days map[time.Weekday][]string) (w [7][]calendar.Interval) {
	t.Helper()
	for wd, ss := range days {
		for _, s := range ss {
			i, err := calendar.ParseInterval(s)
			if err != nil {
				t.Fatal(err)
			}
			w[wd] = append(w[wd], i)
		}
	}
	return w
}

func hours(t *testing.T, zone string, days map[time.Weekday][]string, holidays ...calendar.Date) *calendar.Hours {
	t.Helper()
	h, err := calendar.NewHours(calendar.HoursSpec{Zone: zone, Week: week(t, days), Holidays: holidays})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func weekdays(intervals ...string) map[time.Weekday][]string {
	m := map[time.Weekday][]string{}
	for wd := time.Monday; wd <= time.Friday; wd++ {
		m[wd] = intervals
	}
	return m
}

func allDays(intervals ...string) map[time.Weekday][]string {
	m := map[time.Weekday][]string{}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		m[wd] = intervals
	}
	return m
}

// office is Vienna, Monday to Friday 09:00-12:00 and 13:00-17:00, closed on
// Corpus Christi 2026 and every 24 and 25 December.
func office(t *testing.T) *calendar.Hours {
	return hours(t, "Europe/Vienna", weekdays("09:00-12:00", "13:00-17:00"),
		calendar.Date{Year: 2026, Month: time.June, Day: 4},
		calendar.Date{Month: time.December, Day: 24}, calendar.Date{Month: time.December, Day: 25})
}

func TestNewHoursRefuses(t *testing.T) {
	iv := func(sh, sm, eh, em int) calendar.Interval {
		return calendar.Interval{Start: calendar.Clock{Hour: sh, Minute: sm}, End: calendar.Clock{Hour: eh, Minute: em}}
	}
	mon := func(is ...calendar.Interval) (w [7][]calendar.Interval) { w[time.Monday] = is; return w }
	ok := mon(iv(9, 0, 17, 0))
	everyDay := make([]calendar.Date, 0, 366)
	for d := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 2000; d = d.AddDate(0, 0, 1) {
		everyDay = append(everyDay, calendar.Date{Month: d.Month(), Day: d.Day()})
	}
	cases := []struct {
		name string
		spec calendar.HoursSpec
		err  error
		says string
	}{
		{"an unknown zone", calendar.HoursSpec{Zone: "Mars/Olympus", Week: ok}, calendar.ErrUnknownZone, `"Mars/Olympus"`},
		{"no zone", calendar.HoursSpec{Week: ok}, calendar.ErrUnknownZone, `zone ""`},
		{"start after end", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(12, 0, 11, 0))}, calendar.ErrInvalidHours,
			"Monday interval 1 (12:00-11:00) does not start before it ends"},
		{"an empty interval", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(9, 0, 9, 0))}, calendar.ErrInvalidHours,
			"Monday interval 1 (09:00-09:00)"},
		{"a start at 24:00", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(24, 0, 24, 0))}, calendar.ErrInvalidHours,
			"starts at no time of day"},
		{"an end past midnight", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(22, 0, 24, 30))}, calendar.ErrInvalidHours,
			"Monday interval 1 (22:00-24:30) ends at no time of day"},
		{"minute 60", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(9, 60, 17, 0))}, calendar.ErrInvalidHours,
			"starts at no time of day"},
		{"a negative hour", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(-1, 0, 17, 0))}, calendar.ErrInvalidHours,
			"starts at no time of day"},
		{"an overlap", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(9, 0, 12, 0), iv(11, 0, 17, 0))}, calendar.ErrInvalidHours,
			"Monday interval 2 (11:00-17:00) overlaps the interval ahead of it (09:00-12:00)"},
		{"out of order", calendar.HoursSpec{Zone: "UTC", Week: mon(iv(13, 0, 17, 0), iv(9, 0, 12, 0))}, calendar.ErrInvalidHours,
			"Monday interval 2 (09:00-12:00) starts before the interval ahead of it"},
		{"a bad holiday", calendar.HoursSpec{Zone: "UTC", Week: ok, Holidays: []calendar.Date{{Year: 2026, Month: 2, Day: 29}}},
			calendar.ErrInvalidHours, "holiday 2026-02-29 is not a date"},
		{"a bad yearly holiday", calendar.HoursSpec{Zone: "UTC", Week: ok, Holidays: []calendar.Date{{Month: 4, Day: 31}}},
			calendar.ErrInvalidHours, "holiday every 04-31 is not a date"},
		{"month 13", calendar.HoursSpec{Zone: "UTC", Week: ok, Holidays: []calendar.Date{{Year: 2026, Month: 13, Day: 1}}},
			calendar.ErrInvalidHours, "holiday 2026-13-01"},
		{"no working hours", calendar.HoursSpec{Zone: "UTC"}, calendar.ErrNoWorkingHours, "no weekday has an interval"},
		{"every day a holiday", calendar.HoursSpec{Zone: "UTC", Week: ok, Holidays: everyDay}, calendar.ErrNoWorkingHours,
			"every day"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := calendar.NewHours(c.spec)
			if !errors.Is(err, c.err) || !strings.Contains(errText(err), c.says) {
				t.Fatalf("NewHours = %v, %v; want %v saying %q", h, err, c.err, c.says)
			}
		})
	}
	t.Run("29 February recurs", func(t *testing.T) {
		if _, err := calendar.NewHours(calendar.HoursSpec{Zone: "UTC", Week: ok,
			Holidays: []calendar.Date{{Month: 2, Day: 29}, {Year: 2028, Month: 2, Day: 29}}}); err != nil {
			t.Fatal(err)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseInterval(t *testing.T) {
	for in, want := range map[string]string{"09:00-17:00": "09:00-17:00", "00:00-24:00": "00:00-24:00", "22:30-23:59": "22:30-23:59"} {
		t.Run(in, func(t *testing.T) {
			if i, err := calendar.ParseInterval(in); err != nil || i.String() != want {
				t.Errorf("ParseInterval(%q) = %v, %v", in, i, err)
			}
		})
	}
	for _, in := range []string{"", "09:00", "09:00-", "24:00-24:00", "9:00-17:00", "09:00-17:00-18:00", "09:00-25:00"} {
		t.Run("bad "+in, func(t *testing.T) {
			if i, err := calendar.ParseInterval(in); err == nil {
				t.Errorf("ParseInterval(%q) = %v, want an error", in, i)
			}
		})
	}
}

func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

type addCase struct {
	name, start, d, want string
}

func checkAdd(t *testing.T, h *calendar.Hours, cases []addCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start, d, want := utc(c.start), dur(c.d), utc(c.want)
			got := h.Add(start, d)
			if !got.Equal(want) {
				t.Fatalf("Add(%s, %s) = %s, want %s", c.start, c.d, got.Format(time.RFC3339), c.want)
			}
			if d >= 0 {
				if b := h.Between(start, got); b != d {
					t.Errorf("Between(%s, %s) = %s, want %s", c.start, got.Format(time.RFC3339), b, d)
				}
			}
		})
	}
}

func TestAddOffice(t *testing.T) {
	checkAdd(t, office(t), []addCase{
		{"inside hours", "2026-06-01T10:00:00+02:00", "1h", "2026-06-01T11:00:00+02:00"},
		{"over lunch", "2026-06-01T11:00:00+02:00", "2h", "2026-06-01T14:00:00+02:00"},
		{"ends at the close of the morning, not after lunch", "2026-06-01T11:00:00+02:00", "1h", "2026-06-01T12:00:00+02:00"},
		{"ends at the close of the day, not next morning", "2026-06-01T16:00:00+02:00", "1h", "2026-06-01T17:00:00+02:00"},
		{"starting at lunch", "2026-06-01T12:30:00+02:00", "1h", "2026-06-01T14:00:00+02:00"},
		{"starting before hours", "2026-06-01T07:00:00+02:00", "30m", "2026-06-01T09:30:00+02:00"},
		{"starting after hours", "2026-06-01T18:00:00+02:00", "1h", "2026-06-02T10:00:00+02:00"},
		{"starting at the close", "2026-06-01T17:00:00+02:00", "1m", "2026-06-02T09:01:00+02:00"},
		{"zero inside hours is start", "2026-06-01T10:00:00+02:00", "0s", "2026-06-01T10:00:00+02:00"},
		{"zero at lunch is the opening", "2026-06-01T12:30:00+02:00", "0s", "2026-06-01T13:00:00+02:00"},
		{"zero at the close is next morning", "2026-06-01T17:00:00+02:00", "0s", "2026-06-02T09:00:00+02:00"},
		{"negative counts as zero", "2026-06-06T10:00:00+02:00", "-1h", "2026-06-08T09:00:00+02:00"},
		{"sub-second", "2026-06-01T11:59:59.5+02:00", "1s", "2026-06-01T13:00:00.5+02:00"},
		{"across a holiday", "2026-06-03T16:00:00+02:00", "2h", "2026-06-05T10:00:00+02:00"},
		{"across a weekend", "2026-06-05T16:00:00+02:00", "2h", "2026-06-08T10:00:00+02:00"},
		{"from a Saturday", "2026-06-06T11:00:00+02:00", "3h30m", "2026-06-08T13:30:00+02:00"},
		{"a working week", "2026-06-08T09:00:00+02:00", "35h", "2026-06-12T17:00:00+02:00"},
		{"a week with a holiday", "2026-06-01T09:00:00+02:00", "35h", "2026-06-08T17:00:00+02:00"},
		{"across yearly holidays in 2026", "2026-12-23T16:00:00+01:00", "2h", "2026-12-28T10:00:00+01:00"},
		{"and again in 2027", "2027-12-23T16:00:00+01:00", "2h", "2027-12-27T10:00:00+01:00"},
		{"an instant given in UTC", "2026-06-01T08:30:00Z", "1h", "2026-06-01T11:30:00+02:00"},
		// Vienna springs forward on Sunday 29 March 2026 and falls back on Sunday 25 October.
		{"over the spring weekend", "2026-03-27T16:00:00+01:00", "2h", "2026-03-30T10:00:00+02:00"},
		{"over the autumn weekend", "2026-10-23T16:00:00+02:00", "2h", "2026-10-26T10:00:00+01:00"},
	})
}

// Working days when the clocks change: an SLA clock runs an hour less or
// more in real time on them, and an interval's ends follow the wall clock.
func TestAddOnDaylightSavingDays(t *testing.T) {
	vienna := func(sunday ...string) *calendar.Hours {
		return hours(t, "Europe/Vienna", map[time.Weekday][]string{time.Sunday: sunday})
	}
	calendars := []struct {
		name  string
		h     *calendar.Hours
		cases []addCase
	}{
		{"Vienna, a night until 06:00", vienna("00:00-06:00"), []addCase{
			{"spring: the skipped hour is not counted", "2026-03-28T23:00:00+01:00", "3h", "2026-03-29T04:00:00+02:00"},
			{"spring: the night is five hours", "2026-03-28T23:00:00+01:00", "5h", "2026-03-29T06:00:00+02:00"},
			{"spring: and the next opens a week on", "2026-03-28T23:00:00+01:00", "5h1m", "2026-04-05T00:01:00+02:00"},
			{"autumn: the repeated hour is counted", "2026-10-24T23:00:00+02:00", "3h", "2026-10-25T02:00:00+01:00"},
			{"autumn: the night is seven hours", "2026-10-24T23:00:00+02:00", "7h", "2026-10-25T06:00:00+01:00"},
		}},
		{"Vienna, an interval the spring change skips", vienna("02:00-03:00"), []addCase{
			{"spring: nothing to count that night", "2026-03-28T12:00:00+01:00", "30m", "2026-04-05T02:30:00+02:00"},
			{"autumn: both passes of the hour", "2026-10-24T12:00:00+02:00", "90m", "2026-10-25T02:30:00+01:00"},
		}},
		{"Vienna, an interval that starts in the skipped hour", vienna("02:30-04:00"), []addCase{
			{"spring: it opens at the change", "2026-03-28T12:00:00+01:00", "0s", "2026-03-29T03:00:00+02:00"},
			{"spring: and lasts an hour", "2026-03-28T12:00:00+01:00", "1h1m", "2026-04-05T02:31:00+02:00"},
			{"autumn: it opens on the first pass", "2026-10-24T12:00:00+02:00", "0s", "2026-10-25T02:30:00+02:00"},
			{"autumn: and lasts two and a half hours", "2026-10-24T12:00:00+02:00", "150m", "2026-10-25T04:00:00+01:00"},
		}},
		{"Vienna, an interval that ends in the repeated hour", vienna("01:00-02:30"), []addCase{
			{"autumn: it closes on the first pass", "2026-10-24T12:00:00+02:00", "90m", "2026-10-25T02:30:00+02:00"},
			{"autumn: the second pass is closed", "2026-10-25T02:15:00+01:00", "0s", "2026-11-01T01:00:00+01:00"},
		}},
		// New York springs forward on Sunday 8 March 2026 (02:00 EST -> 03:00 EDT) and falls back on Sunday
		// 1 November (02:00 EDT -> 01:00 EST).
		{"New York, a night shift", hours(t, "America/New_York", map[time.Weekday][]string{
			time.Saturday: {"22:00-24:00"}, time.Sunday: {"00:00-06:00"}}), []addCase{
			{"spring: four hours end at the change", "2026-03-07T22:00:00-05:00", "4h", "2026-03-08T03:00:00-04:00"},
			{"spring: the night is seven hours", "2026-03-07T20:00:00-05:00", "7h", "2026-03-08T06:00:00-04:00"},
			{"autumn: four hours end on the second 01:00", "2026-10-31T22:00:00-04:00", "4h", "2026-11-01T01:00:00-05:00"},
			{"autumn: the night is nine hours", "2026-10-31T20:00:00-04:00", "9h", "2026-11-01T06:00:00-05:00"},
		}},
		{"New York, an office", hours(t, "America/New_York", weekdays("09:00-17:00")), []addCase{
			{"over the spring weekend", "2026-03-06T16:00:00-05:00", "2h", "2026-03-09T10:00:00-04:00"},
			{"over the autumn weekend", "2026-10-30T16:00:00-04:00", "2h", "2026-11-02T10:00:00-05:00"},
		}},
	}
	for _, c := range calendars {
		t.Run(c.name, func(t *testing.T) { checkAdd(t, c.h, c.cases) })
	}
}

func TestBetween(t *testing.T) {
	h := office(t)
	cases := []struct {
		name, a, b, want string
	}{
		{"within an interval", "2026-06-01T09:30:00+02:00", "2026-06-01T11:00:00+02:00", "1h30m"},
		{"over lunch", "2026-06-01T11:00:00+02:00", "2026-06-01T14:00:00+02:00", "2h"},
		{"both at lunch", "2026-06-01T12:10:00+02:00", "2026-06-01T12:50:00+02:00", "0s"},
		{"both closed, a day apart", "2026-06-01T18:00:00+02:00", "2026-06-02T08:00:00+02:00", "0s"},
		{"a whole day", "2026-06-01T00:00:00+02:00", "2026-06-02T00:00:00+02:00", "7h"},
		{"a weekend", "2026-06-05T17:00:00+02:00", "2026-06-08T09:00:00+02:00", "0s"},
		{"a holiday", "2026-06-04T00:00:00+02:00", "2026-06-05T00:00:00+02:00", "0s"},
		{"a week with a holiday", "2026-06-01T00:00:00+02:00", "2026-06-08T00:00:00+02:00", "28h"},
		{"the same instant", "2026-06-01T10:00:00+02:00", "2026-06-01T10:00:00+02:00", "0s"},
		{"backwards is negative", "2026-06-01T11:00:00+02:00", "2026-06-01T10:00:00+02:00", "-1h"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := h.Between(utc(c.a), utc(c.b)); got != dur(c.want) {
				t.Errorf("Between(%s, %s) = %s, want %s", c.a, c.b, got, c.want)
			}
		})
	}
}

func TestIsOpenAndNextOpen(t *testing.T) {
	h := office(t)
	cases := []struct {
		name, at string
		open     bool
		next     string
	}{
		{"at the opening", "2026-06-01T09:00:00+02:00", true, "2026-06-01T09:00:00+02:00"},
		{"just before it", "2026-06-01T08:59:59.999+02:00", false, "2026-06-01T09:00:00+02:00"},
		{"at lunch", "2026-06-01T12:00:00+02:00", false, "2026-06-01T13:00:00+02:00"},
		{"just before lunch", "2026-06-01T11:59:59+02:00", true, "2026-06-01T11:59:59+02:00"},
		{"at the close", "2026-06-01T17:00:00+02:00", false, "2026-06-02T09:00:00+02:00"},
		{"on a holiday", "2026-06-04T10:00:00+02:00", false, "2026-06-05T09:00:00+02:00"},
		{"on a Sunday", "2026-06-07T10:00:00+02:00", false, "2026-06-08T09:00:00+02:00"},
		{"on Christmas Eve, a Thursday", "2026-12-24T10:00:00+01:00", false, "2026-12-28T09:00:00+01:00"},
		{"open in Vienna, closed by New York's wall clock", "2026-06-01T09:30:00Z", true, "2026-06-01T09:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := h.IsOpen(utc(c.at)); got != c.open {
				t.Errorf("IsOpen(%s) = %v, want %v", c.at, got, c.open)
			}
			if got := h.NextOpen(utc(c.at)); !got.Equal(utc(c.next)) {
				t.Errorf("NextOpen(%s) = %s, want %s", c.at, got.Format(time.RFC3339Nano), c.next)
			}
		})
	}
}

// On ordinary days and on the weekends the clocks change, the office is
// open exactly when its wall clock says so, minute by minute.
func TestOfficeFollowsTheWallClock(t *testing.T) {
	h := office(t)
	loc := h.Location()
	from, to := utc("2026-03-20T00:00:00+01:00"), utc("2026-04-10T00:00:00+02:00")
	var open time.Duration
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		l := m.In(loc)
		min := l.Hour()*60 + l.Minute()
		want := l.Weekday() >= time.Monday && l.Weekday() <= time.Friday &&
			(9*60 <= min && min < 12*60 || 13*60 <= min && min < 17*60)
		if got := h.IsOpen(m); got != want {
			t.Fatalf("IsOpen(%s) = %v, want %v", l, got, want)
		}
		if want {
			open += time.Minute
		}
	}
	if got := h.Between(from, to); got != open {
		t.Errorf("Between = %s, want %s by the minute", got, open)
	}
}

// A calendar open all the time counts real time, even on days 23 or 25
// hours long.
func TestAlwaysOpen(t *testing.T) {
	for _, zone := range []string{"UTC", "Europe/Vienna", "America/New_York", "Australia/Lord_Howe"} {
		t.Run(zone, func(t *testing.T) {
			h := hours(t, zone, allDays("00:00-24:00"))
			r := rand.New(rand.NewPCG(24, 7))
			for range 500 {
				s := utc("2026-01-01T00:00:00Z").Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
				d := time.Duration(r.Int64N(int64(100 * 24 * time.Hour)))
				if !h.IsOpen(s) || !h.NextOpen(s).Equal(s) {
					t.Fatalf("%s is closed", s)
				}
				if got := h.Add(s, d); !got.Equal(s.Add(d)) {
					t.Fatalf("Add(%s, %s) = %s, want %s", s, d, got, s.Add(d))
				}
				if got := h.Between(s, s.Add(d)); got != d {
					t.Fatalf("Between(%s, +%s) = %s", s, d, got)
				}
			}
		})
	}
}

// Between undoes Add, Add's answer is the first instant it could be, and
// Between adds up over consecutive stretches, for many starts and
// durations drawn with a fixed seed.
func TestBetweenInvertsAdd(t *testing.T) {
	calendars := map[string]*calendar.Hours{
		"Vienna office": office(t),
		"New York nights": hours(t, "America/New_York", map[time.Weekday][]string{
			time.Saturday: {"22:00-24:00"}, time.Sunday: {"00:00-06:00", "18:30-19:00"}, time.Wednesday: {"01:30-02:30"}}),
		"Vienna DST edges": hours(t, "Europe/Vienna", map[time.Weekday][]string{
			time.Sunday: {"01:00-02:30", "02:45-04:00"}, time.Monday: {"00:00-24:00"}}),
		"Lord Howe half-hour change": hours(t, "Australia/Lord_Howe", allDays("01:00-02:15", "08:00-17:00")),
	}
	for name, h := range calendars {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(6, 2026))
			base := utc("2026-01-01T00:00:00Z")
			for range 2000 {
				s := base.Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
				d := time.Duration(r.Int64N(int64(300 * time.Hour)))
				if r.IntN(10) == 0 {
					d = time.Duration(r.IntN(3)) * time.Hour // whole hours end on a boundary
				}
				e := h.Add(s, d)
				if e.Before(s) {
					t.Fatalf("Add(%s, %s) = %s, before start", s, d, e)
				}
				if got := h.Between(s, e); got != d {
					t.Fatalf("Between(%s, Add(%s, %s) = %s) = %s", s, s, d, e, got)
				}
				if d > 0 {
					if got := h.Between(s, e.Add(-1)); got != d-1 {
						t.Fatalf("Add(%s, %s) = %s is not the first instant: %s counted a nanosecond before", s, d, e, got)
					}
				} else if !e.Equal(h.NextOpen(s)) || !h.IsOpen(e) {
					t.Fatalf("Add(%s, 0) = %s, not the next opening %s", s, e, h.NextOpen(s))
				}
				m := s.Add(time.Duration(r.Int64N(int64(200 * time.Hour))))
				f := m.Add(time.Duration(r.Int64N(int64(200 * time.Hour))))
				if ab, bc, ac := h.Between(s, m), h.Between(m, f), h.Between(s, f); ab+bc != ac || h.Between(f, s) != -ac {
					t.Fatalf("Between(%s, %s) = %s + Between(.., %s) = %s, but over all %s", s, m, ab, f, bc, ac)
				}
			}
		})
	}
}
