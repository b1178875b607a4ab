package helpdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Errors of calendars and SLA policies.
var (
	ErrCalendarNotFound  = errs.New(errs.NotFound, "helpdesk.calendar_not_found", "The calendar does not exist.")
	ErrSLAPolicyNotFound = errs.New(errs.NotFound, "helpdesk.sla_policy_not_found", "The SLA policy does not exist.")
	ErrCalendarNameTaken = errs.New(errs.Conflict, "helpdesk.calendar_name_taken",
		"Another calendar of this tenant has this name.")
	ErrSLAPolicyNameTaken = errs.New(errs.Conflict, "helpdesk.sla_policy_name_taken",
		"Another SLA policy of this tenant has this name.")
	ErrCalendarInUse = errs.New(errs.Conflict, "helpdesk.calendar_in_use",
		"An SLA policy counts on this calendar; give the policy another calendar first.")
)

// Weekdays are the keys of a calendar's week, Sunday first as in time.Weekday.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Calendar is a tenant's business hours: what SLA clocks count. It is
// also the API's view of one.
type Calendar struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	Zone      string              `json:"zone"`     // IANA time zone, such as Europe/Vienna
	Week      map[string][]string `json:"week"`     // weekday ("mon") to intervals ("09:00-17:00"); every day present
	Holidays  []string            `json:"holidays"` // "2026-12-24", or "12-25" for every year
	Default   bool                `json:"default"`
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// CalendarInput creates or changes a calendar. A nil field is left alone;
// creating needs name, zone and week. The first calendar of a tenant is its
// default unless Default is false; making one the default unmakes the old.
type CalendarInput struct {
	Name     *string              `json:"name"`
	Zone     *string              `json:"zone"`
	Week     *map[string][]string `json:"week"`
	Holidays *[]string            `json:"holidays"`
	Default  *bool                `json:"default"`
}

// SLATarget is a priority's targets in business minutes; nil is no target.
type SLATarget struct {
	FirstResponse *int `json:"first_response"`
	Resolution    *int `json:"resolution"`
}

// SLAPolicy says how soon tickets are answered and solved. It is also the
// API's view of one.
type SLAPolicy struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CalendarID is the calendar the targets are counted on; nil is the
	// tenant's default calendar, or around the clock (UTC) without one.
	CalendarID       *string              `json:"calendar_id"`
	Targets          map[string]SLATarget `json:"targets"` // by priority; every priority present
	PauseWhenPending bool                 `json:"pause_when_pending"`
	// Channels and Tags narrow the tickets the policy applies to: a ticket
	// of one of the channels carrying one of the tags (empty: any).
	Channels  []string  `json:"channels"`
	Tags      []string  `json:"tags"`
	Position  int       `json:"position"` // non-default policies are tried in this order
	Default   bool      `json:"default"`  // applies when no other policy matches
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SLAPolicyInput creates or changes an SLA policy. A nil field is left
// alone; creating needs a name. Targets replaces all targets. The first
// policy of a tenant is its default unless Default is false.
type SLAPolicyInput struct {
	Name             *string               `json:"name"`
	CalendarID       Optional[*string]     `json:"calendar_id"` // null: the default calendar
	Targets          *map[string]SLATarget `json:"targets"`
	PauseWhenPending *bool                 `json:"pause_when_pending"`
	Channels         *[]string             `json:"channels"`
	Tags             *[]string             `json:"tags"`
	Position         *int                  `json:"position"`
	Default          *bool                 `json:"default"`
}

// Optional is a JSON field that tells absent (Set false) from null.
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some is an Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// UnmarshalJSON implements json.Unmarshaler.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	return json.Unmarshal(b, &o.Value)
}

// maxTarget is the longest target, in business minutes: a year of them.
const maxTarget = 525600

// ---- calendars

// Calendars lists the tenant's calendars by name.
func (m *Module) Calendars(ctx context.Context) ([]Calendar, error) {
	rows, err := m.store.calendars(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Calendar, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// Calendar is one of the tenant's calendars.
func (m *Module) Calendar(ctx context.Context, id string) (Calendar, error) {
	r, err := m.store.calendar(ctx, id)
	if err != nil {
		return Calendar{}, err
	}
	return r.view(), nil
}

// CreateCalendar adds a calendar.
func (m *Module) CreateCalendar(ctx context.Context, in CalendarInput) (Calendar, error) {
	at := m.clock()
	r := &calendarRow{ID: newID(), TenantID: security.TenantOf(ctx), Holidays: "[]", CreatedAt: at, UpdatedAt: at}
	if err := r.apply(in, true); err != nil {
		return Calendar{}, err
	}
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.placeDefault(ctx, &calendarRow{}, r.ID, &r.IsDefault, in.Default, true); err != nil {
			return err
		}
		return m.store.create(ctx, r, ErrCalendarNameTaken)
	})
	if err != nil {
		return Calendar{}, err
	}
	return r.view(), nil
}

// UpdateCalendar changes a calendar. Tickets keep their due times until
// their next change (see recomputeSLA).
func (m *Module) UpdateCalendar(ctx context.Context, id string, in CalendarInput) (Calendar, error) {
	var r *calendarRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		var err error
		if r, err = m.store.calendar(ctx, id); err != nil {
			return err
		}
		if err := r.apply(in, false); err != nil {
			return err
		}
		if err := m.store.placeDefault(ctx, &calendarRow{}, r.ID, &r.IsDefault, in.Default, false); err != nil {
			return err
		}
		r.UpdatedAt = m.clock()
		return m.store.save(ctx, r, ErrCalendarNameTaken)
	})
	if err != nil {
		return Calendar{}, err
	}
	return r.view(), nil
}

// DeleteCalendar removes a calendar no SLA policy names (409 otherwise).
// Policies on the default calendar count around the clock once it is gone.
func (m *Module) DeleteCalendar(ctx context.Context, id string) error {
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		r, err := m.store.calendar(ctx, id)
		if err != nil {
			return err
		}
		if n, err := m.store.policiesOn(ctx, r.ID); err != nil {
			return err
		} else if n > 0 {
			return ErrCalendarInUse
		}
		return m.store.remove(ctx, r)
	})
}

// apply checks in and writes it to r; create requires name, zone and week.
func (r *calendarRow) apply(in CalendarInput, create bool) error {
	var d []errs.Detail
	if in.Name != nil {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if (create || in.Name != nil) && (r.Name == "" || len(r.Name) > 200) {
		d = append(d, invalid("name", "required", "must be 1 to 200 characters"))
	}
	if in.Zone != nil {
		r.Zone = *in.Zone
	}
	if create && in.Zone == nil {
		d = append(d, invalid("zone", "required", "is required, an IANA time zone such as Europe/Vienna"))
	} else if _, err := calendar.LoadLocation(r.Zone); err != nil {
		d = append(d, invalid("zone", "zone", "must be an IANA time zone such as Europe/Vienna"))
	}
	if in.Week != nil {
		week, dd := normWeek(*in.Week)
		d = append(d, dd...)
		b, _ := json.Marshal(week)
		r.Week = string(b)
	} else if create {
		d = append(d, invalid("week", "required", `is required, such as {"mon":["09:00-17:00"]}`))
	}
	if in.Holidays != nil {
		if len(*in.Holidays) > 500 {
			d = append(d, invalid("holidays", "max", "must be at most 500 dates"))
		}
		hs := []string{}
		for i, h := range *in.Holidays {
			if _, err := parseHoliday(h); err != nil {
				d = append(d, invalid(fmt.Sprintf("holidays[%d]", i), "date", "must be a date such as 2026-12-24, or 12-25 for every year"))
			} else if !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
		slices.Sort(hs)
		b, _ := json.Marshal(hs)
		r.Holidays = string(b)
	}
	if len(d) == 0 {
		if _, err := r.hours(); err != nil {
			d = append(d, invalid("week", "hours", strings.TrimPrefix(err.Error(), "calendar: ")))
		}
	}
	if len(d) > 0 {
		return ErrInvalidInput.WithDetails(d...)
	}
	return nil
}

// normWeek checks a week and returns it with every weekday present.
func normWeek(in map[string][]string) (map[string][]string, []errs.Detail) {
	var d []errs.Detail
	week := map[string][]string{}
	for _, wd := range Weekdays {
		week[wd] = []string{}
	}
	for day, ivs := range in {
		if !slices.Contains(Weekdays, day) {
			d = append(d, invalid("week."+day, "weekday", "must be one of sun, mon, tue, wed, thu, fri, sat"))
			continue
		}
		if len(ivs) > 12 {
			d = append(d, invalid("week."+day, "max", "must be at most 12 intervals"))
		}
		for _, s := range ivs {
			if _, err := calendar.ParseInterval(s); err != nil {
				d = append(d, invalid("week."+day, "interval", fmt.Sprintf("%q is not an interval such as 09:00-17:00", s)))
			}
		}
		week[day] = append([]string{}, ivs...)
	}
	return week, d
}

// parseHoliday reads "2026-12-24", or "12-25" for every year.
func parseHoliday(s string) (calendar.Date, error) {
	switch len(s) {
	case 10:
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return calendar.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
		}
	case 5:
		if t, err := time.Parse(time.DateOnly, "2000-"+s); err == nil { // a leap year: 02-29 recurs
			return calendar.Date{Month: t.Month(), Day: t.Day()}, nil
		}
	}
	return calendar.Date{}, errors.New("helpdesk: not a date such as 2026-12-24 or 12-25")
}

// hours is the calendar as the kernel's business hours.
func (r *calendarRow) hours() (*calendar.Hours, error) {
	spec := calendar.HoursSpec{Zone: r.Zone}
	var week map[string][]string
	var holidays []string
	if err := json.Unmarshal([]byte(r.Week), &week); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(r.Holidays), &holidays); err != nil {
		return nil, err
	}
	for wd, day := range Weekdays {
		for _, s := range week[day] {
			iv, err := calendar.ParseInterval(s)
			if err != nil {
				return nil, err
			}
			spec.Week[wd] = append(spec.Week[wd], iv)
		}
	}
	for _, h := range holidays {
		dt, err := parseHoliday(h)
		if err != nil {
			return nil, err
		}
		spec.Holidays = append(spec.Holidays, dt)
	}
	return calendar.NewHours(spec)
}

func (r *calendarRow) view() Calendar {
	c := Calendar{ID: r.ID, Name: r.Name, Zone: r.Zone, Default: r.IsDefault != nil && *r.IsDefault,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal([]byte(r.Week), &c.Week)
	_ = json.Unmarshal([]byte(r.Holidays), &c.Holidays)
	return c
}

// ---- policies

// SLAPolicies lists the tenant's SLA policies in the order they are
// tried: by position, then age; the default last.
func (m *Module) SLAPolicies(ctx context.Context) ([]SLAPolicy, error) {
	rows, err := m.store.policies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SLAPolicy, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// SLAPolicy is one of the tenant's SLA policies.
func (m *Module) SLAPolicy(ctx context.Context, id string) (SLAPolicy, error) {
	r, err := m.store.policy(ctx, id)
	if err != nil {
		return SLAPolicy{}, err
	}
	return r.view(), nil
}

// CreateSLAPolicy adds an SLA policy. It applies to tickets opened or
// changed from now on.
func (m *Module) CreateSLAPolicy(ctx context.Context, in SLAPolicyInput) (SLAPolicy, error) {
	at := m.clock()
	r := &policyRow{ID: newID(), TenantID: security.TenantOf(ctx), Targets: "{}", Channels: "[]", Tags: "[]",
		CreatedAt: at, UpdatedAt: at}
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.applyPolicy(ctx, r, in, true); err != nil {
			return err
		}
		if err := m.store.placeDefault(ctx, &policyRow{}, r.ID, &r.IsDefault, in.Default, true); err != nil {
			return err
		}
		return m.store.create(ctx, r, ErrSLAPolicyNameTaken)
	})
	if err != nil {
		return SLAPolicy{}, err
	}
	return r.view(), nil
}

// UpdateSLAPolicy changes an SLA policy. Tickets keep their due times until
// their next change of status, priority or tags.
func (m *Module) UpdateSLAPolicy(ctx context.Context, id string, in SLAPolicyInput) (SLAPolicy, error) {
	var r *policyRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		var err error
		if r, err = m.store.policy(ctx, id); err != nil {
			return err
		}
		if err := m.applyPolicy(ctx, r, in, false); err != nil {
			return err
		}
		if err := m.store.placeDefault(ctx, &policyRow{}, r.ID, &r.IsDefault, in.Default, false); err != nil {
			return err
		}
		r.UpdatedAt = m.clock()
		return m.store.save(ctx, r, ErrSLAPolicyNameTaken)
	})
	if err != nil {
		return SLAPolicy{}, err
	}
	return r.view(), nil
}

// DeleteSLAPolicy removes an SLA policy. Its tickets keep their due times,
// and are still watched for breaches, until their next change picks
// another policy.
func (m *Module) DeleteSLAPolicy(ctx context.Context, id string) error {
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		r, err := m.store.policy(ctx, id)
		if err != nil {
			return err
		}
		return m.store.remove(ctx, r)
	})
}

// applyPolicy checks in and writes it to r.
func (m *Module) applyPolicy(ctx context.Context, r *policyRow, in SLAPolicyInput, create bool) error {
	var d []errs.Detail
	if in.Name != nil {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if (create || in.Name != nil) && (r.Name == "" || len(r.Name) > 200) {
		d = append(d, invalid("name", "required", "must be 1 to 200 characters"))
	}
	if in.CalendarID.Set {
		r.CalendarID = in.CalendarID.Value
		if id := r.CalendarID; id != nil {
			if _, err := m.store.calendar(ctx, *id); errs.KindOf(err) == errs.NotFound {
				d = append(d, invalid("calendar_id", "exists", "must be a calendar of this tenant, or null for the default"))
			} else if err != nil {
				return err
			}
		}
	}
	if in.Targets != nil {
		for p, t := range *in.Targets {
			if !slices.Contains(Priorities, p) {
				d = append(d, invalid("targets."+p, "priority", "must be low, normal, high or urgent"))
			}
			for name, v := range map[string]*int{"first_response": t.FirstResponse, "resolution": t.Resolution} {
				if v != nil && (*v < 1 || *v > maxTarget) {
					d = append(d, invalid("targets."+p+"."+name, "range",
						fmt.Sprintf("must be null or 1 to %d business minutes", maxTarget)))
				}
			}
		}
		b, _ := json.Marshal(*in.Targets)
		r.Targets = string(b)
	}
	if in.PauseWhenPending != nil {
		r.PauseWhenPending = *in.PauseWhenPending
	}
	if in.Channels != nil {
		chs := []string{}
		for _, c := range *in.Channels {
			if !slices.Contains(Channels, c) {
				d = append(d, invalid("channels", "oneof", "must list api, web or email"))
			} else if !slices.Contains(chs, c) {
				chs = append(chs, c)
			}
		}
		slices.Sort(chs)
		b, _ := json.Marshal(chs)
		r.Channels = string(b)
	}
	if in.Tags != nil {
		if len(*in.Tags) > 50 {
			d = append(d, invalid("tags", "max", "must be at most 50 tags"))
		}
		b, _ := json.Marshal(normTags(*in.Tags))
		r.Tags = string(b)
	}
	if in.Position != nil {
		if *in.Position < 0 || *in.Position > 10000 {
			d = append(d, invalid("position", "range", "must be 0 to 10000"))
		}
		r.Position = *in.Position
	}
	if len(d) > 0 {
		return ErrInvalidInput.WithDetails(d...)
	}
	return nil
}

func (r *policyRow) view() SLAPolicy {
	p := SLAPolicy{ID: r.ID, Name: r.Name, CalendarID: r.CalendarID, Targets: r.targets(),
		PauseWhenPending: r.PauseWhenPending, Position: r.Position, Default: r.IsDefault != nil && *r.IsDefault,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal([]byte(r.Channels), &p.Channels)
	_ = json.Unmarshal([]byte(r.Tags), &p.Tags)
	return p
}

// targets are the policy's targets with every priority present.
func (r *policyRow) targets() map[string]SLATarget {
	t := map[string]SLATarget{}
	_ = json.Unmarshal([]byte(r.Targets), &t)
	for _, p := range Priorities {
		if _, ok := t[p]; !ok {
			t[p] = SLATarget{}
		}
	}
	return t
}

// matches reports whether the policy's conditions hold for a ticket.
func (r *policyRow) matches(channel string, tags []string) bool {
	var chs, want []string
	_ = json.Unmarshal([]byte(r.Channels), &chs)
	_ = json.Unmarshal([]byte(r.Tags), &want)
	if len(chs) > 0 && !slices.Contains(chs, channel) {
		return false
	}
	return len(want) == 0 || slices.ContainsFunc(want, func(t string) bool { return slices.Contains(tags, t) })
}

// validID is whether id can name a row; anything else is not found.
func validID(id string) bool { return uuid.Validate(id) == nil }
