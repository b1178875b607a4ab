package helpdesk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/errs"
)

// The SLA settings pages: the calendars (time zone, weekly hours,
// holidays) and the SLA policies (per-priority targets), each with its
// form; and the SLA clock a ticket's page shows. Everyone who reads the
// desk sees the settings; owners (helpdesk:manage) change them.

const settingsBase = adminBase + "/settings"

func settingsCrumbs() []admin.Crumb {
	return crumbs(admin.Crumb{Label: "Settings", Href: settingsBase})
}

func (m *Module) settingsPage(c echo.Context) error {
	return m.renderSettings(c, "")
}

// renderSettings shows the settings page; secret is a new inbound secret,
// shown this once.
func (m *Module) renderSettings(c echo.Context, secret string) error {
	ctx := c.Request().Context()
	cals, err := m.Calendars(ctx)
	if err != nil {
		return err
	}
	pols, err := m.SLAPolicies(ctx)
	if err != nil {
		return err
	}
	calNames := map[string]string{}
	for _, cal := range cals {
		calNames[cal.ID] = cal.Name
	}
	rows := make([]policyLine, len(pols))
	for i, p := range pols {
		rows[i] = policyLine{SLAPolicy: p, Calendar: "the default calendar", Targets: targetSummary(p.Targets)}
		if p.CalendarID != nil {
			rows[i].Calendar = calNames[*p.CalendarID]
		}
	}
	d := pageData(c, "Settings")
	d["Calendars"], d["Policies"], d["CanManage"] = calendarLines(cals), rows, can(c, PermManage)
	if err := m.workflowSettings(ctx, d); err != nil {
		return err
	}
	if d["CanWrite"] == true {
		since, err := m.inboundSince(ctx)
		if err != nil {
			return err
		}
		d["Inbound"] = inboundState{Since: since, URL: m.inboundURL(), Header: InboundHeader, Secret: secret}
	}
	return admin.Render(c, http.StatusOK, settingsTmpl, "Helpdesk settings", crumbs(), d)
}

// calendarLine is a calendar with its week in one line.
type calendarLine struct {
	Calendar
	Hours string
}

func calendarLines(cals []Calendar) []calendarLine {
	out := make([]calendarLine, len(cals))
	for i, cal := range cals {
		var days []string
		for _, wd := range Weekdays {
			if iv := cal.Week[wd]; len(iv) > 0 {
				days = append(days, wd+" "+strings.Join(iv, ", "))
			}
		}
		out[i] = calendarLine{Calendar: cal, Hours: strings.Join(days, "; ")}
		if len(days) == 0 {
			out[i].Hours = "closed every day"
		}
	}
	return out
}

// policyLine is a policy with its calendar's name and its targets in
// words.
type policyLine struct {
	SLAPolicy
	Calendar string
	Targets  []string
}

func targetSummary(ts map[string]SLATarget) []string {
	var out []string
	for _, p := range Priorities {
		t := ts[p]
		if t.FirstResponse == nil && t.Resolution == nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s: reply %s, solve %s", p, minutesText(t.FirstResponse), minutesText(t.Resolution)))
	}
	return out
}

// minutesText is a target in business minutes for reading.
func minutesText(n *int) string {
	if n == nil {
		return "—"
	}
	return durationText(time.Duration(*n) * time.Minute)
}

// durationText is a business duration in hours and minutes.
func durationText(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh %dm", h, m)
}

// ---- calendars

// calendarForm is the calendar form as entered: a week day's hours are
// intervals separated by commas, holidays one a line.
type calendarForm struct {
	ID, Name, Zone, Holidays string
	Week                     map[string]string
	Default                  bool
}

func calendarFormOf(cal Calendar) *calendarForm {
	f := &calendarForm{ID: cal.ID, Name: cal.Name, Zone: cal.Zone, Holidays: strings.Join(cal.Holidays, "\n"),
		Week: map[string]string{}, Default: cal.Default}
	for wd, iv := range cal.Week {
		f.Week[wd] = strings.Join(iv, ", ")
	}
	return f
}

// weekday is a day of a calendar form, for the template.
type weekday struct{ Key, Label, Value string }

var weekdayNames = map[string]string{"sun": "Sunday", "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday",
	"thu": "Thursday", "fri": "Friday", "sat": "Saturday"}

// Days lists the week Monday first, as people read it.
func (f *calendarForm) Days() []weekday {
	out := make([]weekday, 0, 7)
	for _, wd := range append(Weekdays[1:], Weekdays[0]) {
		out = append(out, weekday{Key: wd, Label: weekdayNames[wd], Value: f.Week[wd]})
	}
	return out
}

func readCalendarForm(c echo.Context) (*calendarForm, CalendarInput) {
	f := &calendarForm{Name: c.FormValue("name"), Zone: strings.TrimSpace(c.FormValue("zone")), Holidays: c.FormValue("holidays"),
		Week: map[string]string{}, Default: c.FormValue("default") == "on"}
	week := map[string][]string{}
	for _, wd := range Weekdays {
		f.Week[wd] = c.FormValue("week_" + wd)
		week[wd] = splitList(f.Week[wd], ",")
	}
	holidays := splitList(f.Holidays, ",\n")
	return f, CalendarInput{Name: &f.Name, Zone: &f.Zone, Week: &week, Holidays: &holidays, Default: &f.Default}
}

// splitList splits s at any of seps, trimmed, without empty items.
func splitList(s, seps string) []string {
	out := []string{}
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (m *Module) newCalendarPage(c echo.Context) error {
	cals, err := m.Calendars(c.Request().Context())
	if err != nil {
		return err
	}
	f := &calendarForm{Zone: "UTC", Week: map[string]string{}, Default: len(cals) == 0}
	for _, wd := range []string{"mon", "tue", "wed", "thu", "fri"} {
		f.Week[wd] = "09:00-17:00"
	}
	return m.renderCalendar(c, http.StatusOK, f, nil)
}

func (m *Module) calendarPage(c echo.Context) error {
	cal, err := m.Calendar(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderCalendar(c, http.StatusOK, calendarFormOf(cal), nil)
}

func (m *Module) renderCalendar(c echo.Context, status int, f *calendarForm, p *problem) error {
	d := pageData(c, "Settings")
	d["Form"], d["Problem"], d["CanManage"] = f, p, can(c, PermManage)
	title := "New calendar"
	if f.ID != "" {
		title = f.Name
	}
	return admin.Render(c, status, calendarTmpl, title, settingsCrumbs(), d)
}

func (m *Module) saveCalendarForm(c echo.Context) error {
	ctx := c.Request().Context()
	f, in := readCalendarForm(c)
	f.ID = c.Param("id")
	var err error
	if f.ID == "" {
		_, err = m.CreateCalendar(ctx, in)
	} else {
		_, err = m.UpdateCalendar(ctx, f.ID, in)
	}
	if errs.KindOf(err) == errs.NotFound && f.ID != "" {
		return err
	}
	if err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderCalendar(c, status, f, p)
	}
	return c.Redirect(http.StatusSeeOther, settingsBase+"?done=calendar_saved")
}

func (m *Module) deleteCalendarForm(c echo.Context) error {
	ctx := c.Request().Context()
	cal, err := m.Calendar(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := m.DeleteCalendar(ctx, cal.ID); err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderCalendar(c, status, calendarFormOf(cal), p)
	}
	return c.Redirect(http.StatusSeeOther, settingsBase+"?done=calendar_deleted")
}

// ---- SLA policies

// policyForm is the SLA policy form as entered; targets are business
// minutes by priority, empty for none.
type policyForm struct {
	ID, Name, Calendar, Tags, Position string
	Channels                           []string
	FirstResponse, Resolution          map[string]string
	Pause, Default                     bool
}

// target is one priority's row of the form, for the template.
type target struct{ Priority, FirstResponse, Resolution string }

// Targets lists the form's targets by priority.
func (f *policyForm) Targets() []target {
	out := make([]target, len(Priorities))
	for i, p := range Priorities {
		out[i] = target{Priority: p, FirstResponse: f.FirstResponse[p], Resolution: f.Resolution[p]}
	}
	return out
}

func minutesField(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

func policyFormOf(p SLAPolicy) *policyForm {
	f := &policyForm{ID: p.ID, Name: p.Name, Calendar: deref(p.CalendarID), Tags: strings.Join(p.Tags, ", "),
		Position: strconv.Itoa(p.Position), Channels: p.Channels, FirstResponse: map[string]string{}, Resolution: map[string]string{},
		Pause: p.PauseWhenPending, Default: p.Default}
	for pr, t := range p.Targets {
		f.FirstResponse[pr], f.Resolution[pr] = minutesField(t.FirstResponse), minutesField(t.Resolution)
	}
	return f
}

// readPolicyForm reads the form; a target or position that is no whole
// number is a detail of the 422 the form shows.
func readPolicyForm(c echo.Context) (*policyForm, SLAPolicyInput, []errs.Detail) {
	form, _ := c.FormParams()
	f := &policyForm{Name: c.FormValue("name"), Calendar: c.FormValue("calendar"), Tags: c.FormValue("tags"),
		Position: strings.TrimSpace(c.FormValue("position")), Channels: form["channels"], FirstResponse: map[string]string{},
		Resolution: map[string]string{}, Pause: c.FormValue("pause") == "on", Default: c.FormValue("default") == "on"}
	var d []errs.Detail
	number := func(field, s string) *int {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			d = append(d, invalid(field, "integer", "must be a whole number"))
			return nil
		}
		return &n
	}
	targets := map[string]SLATarget{}
	for _, p := range Priorities {
		f.FirstResponse[p], f.Resolution[p] = c.FormValue("first_response_"+p), c.FormValue("resolution_"+p)
		targets[p] = SLATarget{FirstResponse: number("targets."+p+".first_response", f.FirstResponse[p]),
			Resolution: number("targets."+p+".resolution", f.Resolution[p])}
	}
	channels, tags := append([]string{}, f.Channels...), splitList(f.Tags, ",")
	in := SLAPolicyInput{Name: &f.Name, Targets: &targets, PauseWhenPending: &f.Pause, Channels: &channels, Tags: &tags,
		Default: &f.Default, CalendarID: Some[*string](nil)}
	if f.Calendar != "" {
		in.CalendarID = Some(&f.Calendar)
	}
	in.Position = number("position", f.Position)
	return f, in, d
}

func (m *Module) newPolicyPage(c echo.Context) error {
	pols, err := m.SLAPolicies(c.Request().Context())
	if err != nil {
		return err
	}
	return m.renderPolicy(c, http.StatusOK, &policyForm{FirstResponse: map[string]string{}, Resolution: map[string]string{},
		Default: len(pols) == 0}, nil)
}

func (m *Module) policyPage(c echo.Context) error {
	p, err := m.SLAPolicy(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderPolicy(c, http.StatusOK, policyFormOf(p), nil)
}

func (m *Module) renderPolicy(c echo.Context, status int, f *policyForm, p *problem) error {
	cals, err := m.Calendars(c.Request().Context())
	if err != nil {
		return err
	}
	d := pageData(c, "Settings")
	d["Form"], d["Problem"], d["CanManage"], d["Calendars"], d["Channels"] = f, p, can(c, PermManage), cals, Channels
	title := "New SLA policy"
	if f.ID != "" {
		title = f.Name
	}
	return admin.Render(c, status, policyTmpl, title, settingsCrumbs(), d)
}

func (m *Module) savePolicyForm(c echo.Context) error {
	ctx := c.Request().Context()
	f, in, d := readPolicyForm(c)
	f.ID = c.Param("id")
	var err error
	switch {
	case len(d) > 0:
		err = ErrInvalidInput.WithDetails(d...)
	case f.ID == "":
		_, err = m.CreateSLAPolicy(ctx, in)
	default:
		_, err = m.UpdateSLAPolicy(ctx, f.ID, in)
	}
	if errs.KindOf(err) == errs.NotFound && f.ID != "" && len(d) == 0 {
		return err
	}
	if err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderPolicy(c, status, f, p)
	}
	return c.Redirect(http.StatusSeeOther, settingsBase+"?done=policy_saved")
}

func (m *Module) deletePolicyForm(c echo.Context) error {
	if err := m.DeleteSLAPolicy(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, settingsBase+"?done=policy_deleted")
}

// ---- a ticket's SLA clock

// slaClock is a ticket's SLA as its page shows it: each target's due
// time and state, and for a running clock the business time left.
type slaClock struct {
	Policy string
	Paused bool
	Clocks []targetClock
}

type targetClock struct {
	Label string
	DueAt *time.Time
	State string // "met", "breached", "running", "paused", "stopped"
	Left  string // business time left, for a running clock
	Badge string
}

// ticketSLA reads the clock of a ticket under an SLA policy; nil without one.
func (m *Module) ticketSLA(ctx context.Context, t *ticketRow) (*slaClock, error) {
	if t.SLAPolicyID == nil {
		return nil, nil
	}
	name := "(a deleted policy)"
	hours := aroundTheClock
	pol, err := m.SLAPolicy(ctx, *t.SLAPolicyID)
	switch {
	case err == nil:
		name = pol.Name
		if hours, err = m.policyHours(ctx, pol.CalendarID); err != nil {
			return nil, err
		}
	case !errors.Is(err, ErrSLAPolicyNotFound):
		return nil, err
	}
	at := m.clock()
	out := &slaClock{Policy: name, Paused: t.SLAPausedAt != nil}
	first := targetClock{Label: "First reply", DueAt: t.FirstResponseDueAt}
	switch {
	case t.FirstRespondedAt != nil && t.FirstResponseBreachedAt != nil:
		first.State, first.Badge = "met late", "warn"
	case t.FirstRespondedAt != nil:
		first.State, first.Badge = "met", "ok"
	default:
		first.state(t.FirstResponseBreachedAt, at, hours, t.stopped())
	}
	res := targetClock{Label: "Resolution", DueAt: t.ResolutionDueAt}
	switch {
	case t.stopped() && t.ResolutionBreachedAt == nil && t.ResolutionDueAt != nil:
		res.State, res.Badge = "met", "ok"
	case t.SLAPausedAt != nil && !t.stopped():
		res.State, res.Badge = "paused", "muted"
	default:
		res.state(t.ResolutionBreachedAt, at, hours, t.stopped())
	}
	for _, tc := range []targetClock{first, res} {
		if tc.DueAt != nil {
			out.Clocks = append(out.Clocks, tc)
		}
	}
	return out, nil
}

// state sets a clock that has not been met: breached (marked, or past due
// before the sweep marks it), stopped, or running with the business time
// left.
func (tc *targetClock) state(breachedAt *time.Time, at time.Time, hours *calendar.Hours, stopped bool) {
	switch {
	case tc.DueAt == nil:
	case breachedAt != nil || !at.Before(*tc.DueAt):
		tc.State, tc.Badge = "breached", "hd-breached"
	case stopped:
		tc.State, tc.Badge = "stopped", "muted"
	default:
		tc.State, tc.Badge, tc.Left = "running", "", durationText(hours.Between(at, *tc.DueAt))
	}
}

// policyHours are the business hours a policy counts on: its calendar,
// else the tenant's default one, else around the clock.
func (m *Module) policyHours(ctx context.Context, calendarID *string) (*calendar.Hours, error) {
	var cal *calendarRow
	var err error
	if calendarID != nil {
		cal, err = m.store.calendar(ctx, *calendarID)
	} else {
		cal, err = m.store.defaultCalendar(ctx)
	}
	if err != nil || cal == nil {
		return aroundTheClock, err
	}
	return cal.hours()
}
