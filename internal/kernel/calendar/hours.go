package calendar

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// ErrInvalidHours is business hours that cannot be used; the wrapping
// error names the weekday, interval or holiday at fault.
var ErrInvalidHours = errors.New("calendar: invalid business hours")

// ErrNoWorkingHours is business hours without a single working minute:
// an SLA clock on them would never run, so they are refused up front.
var ErrNoWorkingHours = errors.New("calendar: no working hours")

// EndOfDay is the End of an interval that runs to midnight. It is valid
// only as an End; ParseClock refuses "24:00".
var EndOfDay = Clock{Hour: 24}

// Interval is a span of working time within one day, from Start up to
// but not including End. Unlike a Window it never crosses midnight: a
// night shift is one interval ending at EndOfDay and one starting at 00:00
// the next day.
type Interval struct{ Start, End Clock }

func (i Interval) String() string { return i.Start.String() + "-" + i.End.String() }

// ParseInterval reads "HH:MM-HH:MM", such as "09:00-17:00"; the end may
// be "24:00".
func ParseInterval(s string) (Interval, error) {
	start, end, ok := strings.Cut(s, "-")
	if !ok {
		return Interval{}, fmt.Errorf("calendar: %q is not an interval such as 09:00-17:00", s)
	}
	var i Interval
	var err error
	if i.Start, err = ParseClock(start); err != nil {
		return Interval{}, err
	}
	if end == "24:00" {
		i.End = EndOfDay
	} else if i.End, err = ParseClock(end); err != nil {
		return Interval{}, err
	}
	return i, nil
}

// Date is a day on the calendar of the business hours' zone. Year 0
// recurs every year, for a holiday on a fixed date such as 25 December.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

func (d Date) String() string {
	if d.Year == 0 {
		return fmt.Sprintf("every %02d-%02d", int(d.Month), d.Day)
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// HoursSpec is business hours as a tenant configures them.
type HoursSpec struct {
	Zone     string        // IANA name, such as Europe/Vienna
	Week     [7][]Interval // indexed by time.Weekday; each day's intervals in order, without overlaps
	Holidays []Date        // whole days off, in Zone
}

// Hours is working time in a place: intervals per weekday, less
// holidays. It is what an SLA clock counts, so Add and Between treat a
// day as its wall clock reads, and a day when the clocks change is an
// hour shorter or longer in real time.
//
// A boundary the wall clock reads twice (when clocks fall back) is taken
// at its first pass; one it skips (when they spring forward) is the
// instant of the change. So an interval is one unbroken span of real
// time, and the spans of a day never reach into the next.
type Hours struct {
	loc      *time.Location
	week     [7][]Interval
	holidays map[Date]bool // Year 0 for yearly ones
}

// NewHours checks spec: a known zone, intervals within a day with Start
// before End, in order and not overlapping, real dates as holidays, and
// some working time left.
func NewHours(spec HoursSpec) (*Hours, error) {
	loc, err := LoadLocation(spec.Zone)
	if err != nil {
		return nil, fmt.Errorf("calendar: business hours zone %q: %w", spec.Zone, err)
	}
	h := &Hours{loc: loc, holidays: make(map[Date]bool, len(spec.Holidays))}
	working := false
	for wd, day := range spec.Week {
		for n, i := range day {
			at := func(why string) error {
				return fmt.Errorf("%w: %s interval %d (%s) %s", ErrInvalidHours, time.Weekday(wd), n+1, i, why)
			}
			switch {
			case !i.Start.valid() || i.Start == EndOfDay:
				return nil, at("starts at no time of day from 00:00 to 23:59")
			case !i.End.valid():
				return nil, at("ends at no time of day from 00:01 to 24:00")
			case i.Start.minutes() >= i.End.minutes():
				return nil, at("does not start before it ends")
			case n > 0 && i.Start.minutes() < day[n-1].Start.minutes():
				return nil, at("starts before the interval ahead of it: list a day's intervals in order")
			case n > 0 && i.Start.minutes() < day[n-1].End.minutes():
				return nil, at(fmt.Sprintf("overlaps the interval ahead of it (%s)", day[n-1]))
			}
		}
		h.week[wd] = append([]Interval(nil), day...)
		working = working || len(day) > 0
	}
	if !working {
		return nil, fmt.Errorf("%w: no weekday has an interval", ErrNoWorkingHours)
	}
	yearly := 0
	for _, d := range spec.Holidays {
		year := d.Year
		if year == 0 {
			year = 2000 // a leap year, so that 29 February may recur
		}
		if d.Month < time.January || d.Month > time.December || d.Day < 1 ||
			time.Date(year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Day() != d.Day {
			return nil, fmt.Errorf("%w: holiday %s is not a date", ErrInvalidHours, d)
		}
		if d.Year == 0 && !h.holidays[d] {
			yearly++
		}
		h.holidays[d] = true
	}
	if yearly == 366 {
		return nil, fmt.Errorf("%w: the yearly holidays take every day", ErrNoWorkingHours)
	}
	return h, nil
}

// valid reports whether c is a time of day from 00:00 to 24:00.
func (c Clock) valid() bool {
	return c == EndOfDay || c.Hour >= 0 && c.Hour < 24 && c.Minute >= 0 && c.Minute < 60
}

// Location is the zone the hours are kept in.
func (h *Hours) Location() *time.Location { return h.loc }

// IsOpen reports whether t is working time.
func (h *Hours) IsOpen(t time.Time) bool { return h.NextOpen(t).Equal(t) }

// NextOpen is the first instant of working time at or after t: t itself
// when the hours are open.
func (h *Hours) NextOpen(t time.Time) time.Time { return h.Add(t, 0) }

// Add is the instant when d of working time has passed since start: an
// SLA clock started at start stops there. The clock starts counting at
// NextOpen(start), so Add(start, 0) is NextOpen(start), and a d that
// runs out at the close of an interval ends there, not at the next
// opening. A negative d counts as 0.
func (h *Hours) Add(start time.Time, d time.Duration) time.Time {
	d = max(d, 0)
	for s := range h.spans(start) {
		n := s.end.Sub(s.start)
		if d <= n {
			return s.start.Add(d).In(h.loc)
		}
		d -= n
	}
	panic("unreachable: NewHours ensures working time recurs")
}

// Between is the working time from a up to b, such as how long an SLA
// clock ran between a pause and its resumption; negative when b is
// before a. Between(s, Add(s, d)) is d for any d >= 0.
func (h *Hours) Between(a, b time.Time) time.Duration {
	if b.Before(a) {
		return -h.Between(b, a)
	}
	var sum time.Duration
	for s := range h.spans(a) {
		if !s.start.Before(b) {
			break
		}
		if b.Before(s.end) {
			s.end = b
		}
		sum += s.end.Sub(s.start)
	}
	return sum
}

// span is working time from start up to but not including end.
type span struct{ start, end time.Time }

// spans is the working time from t on, in order, the first one cut at t.
// It never ends; NewHours ensures working time recurs.
func (h *Hours) spans(t time.Time) iter.Seq[span] {
	return func(yield func(span) bool) {
		l := t.In(h.loc)
		// The day before t's date: when the clock falls back over midnight,
		// t may read a date whose spans lie wholly behind it.
		for day := time.Date(l.Year(), l.Month(), l.Day()-1, 0, 0, 0, 0, time.UTC); ; day = day.AddDate(0, 0, 1) {
			y, m, d := day.Date()
			if h.holidays[Date{y, m, d}] || h.holidays[Date{0, m, d}] {
				continue
			}
			for _, i := range h.week[day.Weekday()] {
				s := span{h.wall(y, m, d, i.Start), h.wall(y, m, d, i.End)}
				if !s.end.After(t) {
					continue
				}
				if s.start.Before(t) {
					s.start = t
				}
				if s.start.Before(s.end) && !yield(s) { // an interval the clock skips is empty
					return
				}
			}
		}
	}
}

// wall is the first instant at which the clock in h's zone reads c on
// the date y-m-d (EndOfDay being midnight after it), or the instant of
// the change when the clock skips that reading.
func (h *Hours) wall(y int, m time.Month, d int, c Clock) time.Time {
	want := time.Date(y, m, d, c.Hour, c.Minute, 0, 0, time.UTC) // the reading, labelled UTC
	reads := func(t time.Time) time.Time {
		l := t.In(h.loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
	}
	t := time.Date(y, m, d, c.Hour, c.Minute, 0, 0, h.loc)
	switch r := reads(t); {
	case r.After(want): // skipped; time.Date took the offset before the change
		start, _ := t.ZoneBounds()
		return start
	case r.Before(want): // skipped; time.Date took the offset after the change
		_, end := t.ZoneBounds()
		return end
	}
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		_, before := start.Add(-time.Nanosecond).Zone()
		_, now := t.Zone()
		if first := t.Add(-time.Duration(before-now) * time.Second); before > now && first.Before(start) && reads(first).Equal(want) {
			return first // the clock fell back: this is the first pass
		}
	}
	return t
}
