package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/errs"
)

// ErrInvalidPreferences is a PUT /preferences with bad fields.
var ErrInvalidPreferences = errs.New(errs.Invalid, "notifications.invalid_preferences",
	"The preferences have invalid fields.")

// maxCategories bounds a user's per-category settings.
const maxCategories = 100

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Channels are the channels a user takes a category on: in-app (the
// inbox and the live bell), and e-mail and SMS as the fallback of a
// notification that asks for one.
type Channels struct {
	InApp bool `json:"in_app"`
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
}

// QuietHours is a daily window in the user's time zone in which no
// e-mail or SMS fallback goes out; it waits for the window's end.
type QuietHours struct {
	Start string `json:"start"` // HH:MM
	End   string `json:"end"`
}

// Preferences are a user's notification settings.
type Preferences struct {
	TimeZone   string              `json:"time_zone"`
	Phone      *string             `json:"phone"`
	QuietHours *QuietHours         `json:"quiet_hours"`
	Default    *Channels           `json:"default" validate:"required"`
	Categories map[string]Channels `json:"categories"`
	UpdatedAt  *time.Time          `json:"updated_at,omitempty"`
}

// defaultChannels are a category's channels when the user has set none:
// in-app and the e-mail fallback.
var defaultChannels = Channels{InApp: true, Email: true}

// storedChannels is the channels column.
type storedChannels struct {
	Default    Channels            `json:"default"`
	Categories map[string]Channels `json:"categories,omitempty"`
}

// prefsView is the preferences of a stored row, or the defaults for nil.
func prefsView(r *prefsRow) *Preferences {
	if r == nil {
		def := defaultChannels
		return &Preferences{TimeZone: "UTC", Default: &def, Categories: map[string]Channels{}}
	}
	var ch storedChannels
	if err := json.Unmarshal([]byte(r.Channels), &ch); err != nil {
		ch.Default = defaultChannels
	}
	if ch.Categories == nil {
		ch.Categories = map[string]Channels{}
	}
	p := &Preferences{TimeZone: r.TimeZone, Phone: r.Phone, Default: &ch.Default, Categories: ch.Categories}
	if r.QuietStart != nil && r.QuietEnd != nil {
		p.QuietHours = &QuietHours{Start: *r.QuietStart, End: *r.QuietEnd}
	}
	u := r.UpdatedAt.UTC()
	p.UpdatedAt = &u
	return p
}

// channels are the user's channels for a category.
func (p *Preferences) channels(cat string) Channels {
	if c, ok := p.Categories[cat]; ok {
		return c
	}
	return *p.Default
}

// quiet is when quiet hours end, if t falls in them.
func (p *Preferences) quiet(t time.Time) (time.Time, bool) {
	if p.QuietHours == nil {
		return time.Time{}, false
	}
	loc, err := calendar.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	start, err1 := calendar.ParseClock(p.QuietHours.Start)
	end, err2 := calendar.ParseClock(p.QuietHours.End)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	w := calendar.Window{Start: start, End: end}
	if !w.Contains(t, loc) {
		return time.Time{}, false
	}
	return w.NextOpen(t, loc), true
}

// check names each wrong field of preferences to store.
func (p *Preferences) check() error {
	var d []errs.Detail
	bad := func(field, code, text string) { d = append(d, errs.Detail{Field: field, Code: code, Message: text}) }
	if p.TimeZone == "" {
		p.TimeZone = "UTC"
	}
	if _, err := calendar.LoadLocation(p.TimeZone); err != nil {
		bad("time_zone", "zone", "must be an IANA time zone, such as Europe/Vienna")
	}
	if p.Phone != nil && *p.Phone == "" {
		p.Phone = nil
	}
	if p.Phone != nil && !e164.MatchString(*p.Phone) {
		bad("phone", "e164", "must be a phone number in E.164 form, such as +14155550123")
	}
	if q := p.QuietHours; q != nil {
		s, err1 := calendar.ParseClock(q.Start)
		e, err2 := calendar.ParseClock(q.End)
		switch {
		case err1 != nil:
			bad("quiet_hours.start", "clock", "must be a time of day such as 22:00")
		case err2 != nil:
			bad("quiet_hours.end", "clock", "must be a time of day such as 07:00")
		case s == e:
			bad("quiet_hours.end", "empty", "must differ from the start")
		default:
			q.Start, q.End = s.String(), e.String()
		}
	}
	if len(p.Categories) > maxCategories {
		bad("categories", "max", fmt.Sprintf("must have at most %d entries", maxCategories))
	}
	sms := p.Default != nil && p.Default.SMS
	for c, ch := range p.Categories {
		if !category.MatchString(c) {
			bad("categories."+c, "format", "must be a category name: lower-case letters, digits, dots, dashes and underscores")
		}
		sms = sms || ch.SMS
	}
	if sms && p.Phone == nil {
		bad("phone", "required", "is required for SMS")
	}
	if len(d) > 0 {
		return ErrInvalidPreferences.WithDetails(d...)
	}
	return nil
}

// Preferences are the user's preferences, or the defaults.
func (m *Module) Preferences(ctx context.Context, userID string) (*Preferences, error) {
	r, err := m.store.prefs(ctx, userID)
	if errors.Is(err, errNotFound) {
		return prefsView(nil), nil
	}
	if err != nil {
		return nil, err
	}
	return prefsView(r), nil
}

// SetPreferences checks and replaces the user's preferences.
func (m *Module) SetPreferences(ctx context.Context, tenant, userID string, p *Preferences) (*Preferences, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	ch, err := json.Marshal(storedChannels{Default: *p.Default, Categories: p.Categories})
	if err != nil {
		return nil, err
	}
	r := &prefsRow{TenantID: tenant, UserID: userID, TimeZone: p.TimeZone, Phone: p.Phone, Channels: string(ch),
		UpdatedAt: m.clock()}
	if p.QuietHours != nil {
		r.QuietStart, r.QuietEnd = &p.QuietHours.Start, &p.QuietHours.End
	}
	if err := m.store.putPrefs(ctx, r); err != nil {
		return nil, err
	}
	return prefsView(r), nil
}
