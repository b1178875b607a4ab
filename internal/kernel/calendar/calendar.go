// Package calendar is wall-clock time in a place: IANA time zones, and
// daily windows such as quiet hours, which may cross midnight and stay
// right across daylight-saving changes.
package calendar

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // a static binary in a scratch container has no zoneinfo of its own
)

// ErrUnknownZone is a name that is not an IANA time zone.
var ErrUnknownZone = errors.New("calendar: not an IANA time zone, such as Europe/Vienna")

var zones sync.Map // name -> *time.Location; parsing the embedded tzdata is not free

// LoadLocation is the IANA time zone name, such as "Europe/Vienna" or
// "UTC". Unlike time.LoadLocation it refuses "" and "Local", which name
// no place but the host's setting.
func LoadLocation(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || name == "Local" || len(name) > 64 || strings.TrimSpace(name) != name {
		return nil, ErrUnknownZone
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, ErrUnknownZone
	}
	zones.Store(name, l)
	return l, nil
}

// Clock is a time of day on the wall, to the minute.
type Clock struct{ Hour, Minute int }

// ParseClock reads "HH:MM" on a 24-hour clock, from "00:00" to "23:59".
func ParseClock(s string) (Clock, error) {
	var c Clock
	if len(s) != 5 || s[2] != ':' {
		return c, fmt.Errorf("calendar: %q is not a time of day such as 21:30", s)
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return c, fmt.Errorf("calendar: %q is not a time of day such as 21:30", s)
		}
	}
	c.Hour, c.Minute = int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if c.Hour > 23 || c.Minute > 59 {
		return Clock{}, fmt.Errorf("calendar: %q is not a time of day from 00:00 to 23:59", s)
	}
	return c, nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// minutes is the clock's minute of the day.
func (c Clock) minutes() int { return c.Hour*60 + c.Minute }

// Window is a daily span of wall-clock time, from Start up to but not
// including End. End before Start crosses midnight (21:00 to 08:00);
// End equal to Start is empty.
type Window struct{ Start, End Clock }

// Contains reports whether t falls in the window on the wall clock of
// loc. In the repeated hour of a fall-back change both passes count.
func (w Window) Contains(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	m, s, e := l.Hour()*60+l.Minute(), w.Start.minutes(), w.End.minutes()
	if s <= e {
		return s <= m && m < e
	}
	return m >= s || m < e
}

// NextOpen is the first instant at or after t that is outside the window
// in loc: t itself when it is outside, else when the wall clock next
// reads End. When a spring-forward change skips End, it is the instant
// of the change; when a fall-back change brings the window back, the
// clock is followed through it, so the window lasts its real length.
func (w Window) NextOpen(t time.Time, loc *time.Location) time.Time {
	s := t
	for range 8 { // at most a couple of zone changes lie within a day
		if !w.Contains(s, loc) {
			return s
		}
		l := s.In(loc)
		since := time.Duration(l.Hour())*time.Hour + time.Duration(l.Minute())*time.Minute +
			time.Duration(l.Second())*time.Second + time.Duration(l.Nanosecond())
		d := time.Duration(w.End.minutes())*time.Minute - since
		if d <= 0 {
			d += 24 * time.Hour
		}
		end := s.Add(d) // End on the wall clock, if the offset holds until then
		_, change := l.ZoneBounds()
		if change.IsZero() || !change.Before(end) {
			return end
		}
		s = change // the offset changes first: look again from there
	}
	return s
}
