package helpdesk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/security"
)

// Kinds of SLA target, as SLABreach.Kind and in a ticket's "breached".
const (
	SLAFirstResponse = "first_response"
	SLAResolution    = "resolution"
)

// SLABreach is the data of helpdesk.sla_breached.
type SLABreach struct {
	TicketID string    `json:"ticket_id"`
	Kind     string    `json:"kind"` // first_response or resolution
	DueAt    time.Time `json:"due_at"`
}

// slaView is a ticket's SLA as the API shows it; nil without a policy.
type slaView struct {
	PolicyID           string     `json:"policy_id"`
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	ResolutionDueAt    *time.Time `json:"resolution_due_at"`
	FirstRespondedAt   *time.Time `json:"first_responded_at"`
	Paused             bool       `json:"paused"`
	Breached           []string   `json:"breached"`
}

func viewSLA(t *ticketRow) *slaView {
	if t.SLAPolicyID == nil {
		return nil
	}
	v := &slaView{PolicyID: *t.SLAPolicyID, FirstResponseDueAt: utc(t.FirstResponseDueAt),
		ResolutionDueAt: utc(t.ResolutionDueAt), FirstRespondedAt: utc(t.FirstRespondedAt),
		Paused: t.SLAPausedAt != nil, Breached: []string{}}
	if t.FirstResponseBreachedAt != nil {
		v.Breached = append(v.Breached, SLAFirstResponse)
	}
	if t.ResolutionBreachedAt != nil {
		v.Breached = append(v.Breached, SLAResolution)
	}
	return v
}

// clock is the module's now, as stored: UTC, to the microsecond.
func (m *Module) clock() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// aroundTheClock is the business hours of a policy without a calendar.
var aroundTheClock = func() *calendar.Hours {
	var spec calendar.HoursSpec
	spec.Zone = "UTC"
	for wd := range spec.Week {
		spec.Week[wd] = []calendar.Interval{{End: calendar.EndOfDay}}
	}
	h, err := calendar.NewHours(spec)
	if err != nil {
		panic(err)
	}
	return h
}()

// slaPlan is the policy that applies to a ticket and the hours it counts.
type slaPlan struct {
	policy *policyRow
	hours  *calendar.Hours
}

// planFor picks the tenant's policy for a ticket: the first non-default
// policy (by position) whose conditions match, else the default; nil when
// there is none.
func (m *Module) planFor(ctx context.Context, t *ticketRow) (*slaPlan, error) {
	rows, err := m.store.policies(ctx)
	if err != nil {
		return nil, err
	}
	var tags []string
	_ = json.Unmarshal([]byte(t.Tags), &tags)
	i := slices.IndexFunc(rows, func(p policyRow) bool { return p.IsDefault == nil && p.matches(t.Channel, tags) })
	if i < 0 {
		i = slices.IndexFunc(rows, func(p policyRow) bool { return p.IsDefault != nil })
	}
	if i < 0 {
		return nil, nil
	}
	p := &rows[i]
	var cal *calendarRow
	if p.CalendarID != nil {
		cal, err = m.store.calendar(ctx, *p.CalendarID)
	} else {
		cal, err = m.store.defaultCalendar(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("helpdesk: calendar of SLA policy %s: %w", p.ID, err)
	}
	plan := &slaPlan{policy: p, hours: aroundTheClock}
	if cal != nil {
		if plan.hours, err = cal.hours(); err != nil {
			return nil, fmt.Errorf("helpdesk: calendar %s: %w", cal.ID, err)
		}
	}
	return plan, nil
}

// stopped reports whether the ticket's clocks have stopped for good
// unless it is reopened.
func (t *ticketRow) stopped() bool { return t.Status == StatusSolved || t.Status == StatusClosed }

// end is when a clock that has not stopped for a reason of its own
// (met, paused) stops: when the ticket was solved or closed (merged
// tickets are closed without being solved), else at.
func (t *ticketRow) end(at time.Time) time.Time {
	switch {
	case !t.stopped():
		return at
	case t.SolvedAt != nil:
		return *t.SolvedAt
	case t.ClosedAt != nil:
		return *t.ClosedAt
	}
	return at
}

// computeSLA sets t's SLA columns for its status, priority and created_at
// under plan (nil: no policy), at the instant at. The resolution clock
// stops while solved or closed, and while pending under a pausing policy;
// the business time it stood still moves the resolution due time on.
// Breach markers that no longer hold are cleared; new breaches are left
// for markBreaches, which publishes them.
func computeSLA(t *ticketRow, plan *slaPlan, at time.Time) {
	if plan == nil {
		t.SLAColumns = SLAColumns{FirstRespondedAt: t.FirstRespondedAt}
		return
	}
	pause := t.stopped() || (t.Status == StatusPending && plan.policy.PauseWhenPending)
	switch {
	case pause && t.SLAPausedAt == nil:
		t.SLAPausedAt = &at
	case !pause && t.SLAPausedAt != nil:
		t.SLAPausedSeconds += int64(plan.hours.Between(*t.SLAPausedAt, at) / time.Second)
		t.SLAPausedAt = nil
	}
	t.SLAPolicyID = &plan.policy.ID
	target := plan.policy.targets()[t.Priority]
	due := func(minutes *int, extra time.Duration) *time.Time {
		if minutes == nil {
			return nil
		}
		d := plan.hours.Add(t.CreatedAt, time.Duration(*minutes)*time.Minute+extra).UTC()
		return &d
	}
	t.FirstResponseDueAt = due(target.FirstResponse, 0)
	t.ResolutionDueAt = due(target.Resolution, time.Duration(t.SLAPausedSeconds)*time.Second)
	if !t.breached(SLAFirstResponse, at) {
		t.FirstResponseBreachedAt = nil
	}
	if !t.breached(SLAResolution, at) {
		t.ResolutionBreachedAt = nil
	}
	t.SLANextDueAt = t.slaNext()
}

// breached reports whether a target of t is missed as of at: met after
// its due time, or unmet with the due time behind its clock.
func (t *ticketRow) breached(kind string, at time.Time) bool {
	if kind == SLAFirstResponse {
		if t.FirstResponseDueAt == nil {
			return false
		}
		end := t.end(at)
		if t.FirstRespondedAt != nil {
			end = *t.FirstRespondedAt
		}
		return end.After(*t.FirstResponseDueAt)
	}
	if t.ResolutionDueAt == nil {
		return false
	}
	end := t.end(at)
	if t.SLAPausedAt != nil {
		end = *t.SLAPausedAt
	}
	return end.After(*t.ResolutionDueAt)
}

// slaNext is the earliest due time whose clock still runs and which is
// neither met nor marked; nil when there is none.
func (t *ticketRow) slaNext() *time.Time {
	var next *time.Time
	if t.stopped() {
		return nil
	}
	if d := t.FirstResponseDueAt; d != nil && t.FirstRespondedAt == nil && t.FirstResponseBreachedAt == nil {
		next = d
	}
	if d := t.ResolutionDueAt; d != nil && t.SLAPausedAt == nil && t.ResolutionBreachedAt == nil &&
		(next == nil || d.Before(*next)) {
		next = d
	}
	return next
}

// slaSet is the columns a ticket change writes for its SLA. It leaves
// first_responded_at to the reply path, and writes a breach marker only
// to clear one it read: a marker set meanwhile by another process stays.
func slaSet(old, nw *ticketRow, set map[string]any) {
	set["sla_policy_id"] = nw.SLAPolicyID
	set["first_response_due_at"] = nw.FirstResponseDueAt
	set["resolution_due_at"] = nw.ResolutionDueAt
	set["sla_paused_at"] = nw.SLAPausedAt
	set["sla_paused_seconds"] = nw.SLAPausedSeconds
	set["sla_next_due_at"] = nw.SLANextDueAt
	if old.FirstResponseBreachedAt != nil && nw.FirstResponseBreachedAt == nil {
		set["first_response_breached_at"] = nil
	}
	if old.ResolutionBreachedAt != nil && nw.ResolutionBreachedAt == nil {
		set["resolution_breached_at"] = nil
	}
}

// slaOnCreate gives a new ticket its policy and due times. A ticket a
// staff user opens starts with their public message, which is its first
// response; an API key's or the system's (an integration, inbound mail)
// is not.
func (m *Module) slaOnCreate(ctx context.Context, t *ticketRow) error {
	if p, ok := security.PrincipalFrom(ctx); ok && p.Kind == security.KindUser && staff(ctx) {
		t.FirstRespondedAt = &t.CreatedAt
	}
	plan, err := m.planFor(ctx, t)
	if err != nil {
		return err
	}
	computeSLA(t, plan, t.CreatedAt)
	return nil
}

// slaOnPatch adds to set the SLA columns of a change of status, priority
// or tags (set's other columns), and returns what to run once the change
// is written: marking the breaches it reveals. It re-picks the policy, as
// the change may make another one apply.
func (m *Module) slaOnPatch(ctx context.Context, t *ticketRow, set map[string]any, at time.Time) (func(context.Context) error, error) {
	nothing := func(context.Context) error { return nil }
	_, s := set["status"]
	_, p := set["priority"]
	_, g := set["tags"]
	if !s && !p && !g {
		return nothing, nil
	}
	nw := *t
	if v, ok := set["status"].(string); ok {
		nw.Status = v
		if v == StatusSolved {
			nw.SolvedAt = &at
		}
	}
	if v, ok := set["priority"].(string); ok {
		nw.Priority = v
	}
	if v, ok := set["tags"].(string); ok {
		nw.Tags = v
	}
	plan, err := m.planFor(ctx, &nw)
	if err != nil {
		return nil, err
	}
	computeSLA(&nw, plan, at)
	slaSet(t, &nw, set)
	return func(ctx context.Context) error {
		cur, err := m.store.ticketForUpdate(ctx, t.ID)
		if err != nil {
			return err
		}
		return m.markBreaches(ctx, cur, at)
	}, nil
}

// slaOnReply records the first public agent reply of a ticket.
func (m *Module) slaOnReply(ctx context.Context, t *ticketRow, msg *messageRow) error {
	if msg.AuthorKind != AuthorAgent || msg.Internal || t.FirstRespondedAt != nil {
		return nil
	}
	ok, err := m.store.markResponded(ctx, t.ID, msg.CreatedAt)
	if err != nil || !ok {
		return err
	}
	cur, err := m.store.ticketForUpdate(ctx, t.ID)
	if err != nil {
		return err
	}
	return m.markBreaches(ctx, cur, msg.CreatedAt)
}

// markBreaches marks each missed target of t (read with its row lock) that
// is not marked yet, with a history row and a helpdesk.sla_breached event,
// and brings sla_next_due_at up to date. The marker's conditional UPDATE
// lets exactly one process publish a breach.
func (m *Module) markBreaches(ctx context.Context, t *ticketRow, at time.Time) error {
	was := t.SLANextDueAt
	for _, b := range []struct {
		kind, column string
		due          *time.Time
		marker       **time.Time
	}{
		{SLAFirstResponse, "first_response_breached_at", t.FirstResponseDueAt, &t.FirstResponseBreachedAt},
		{SLAResolution, "resolution_breached_at", t.ResolutionDueAt, &t.ResolutionBreachedAt},
	} {
		if *b.marker != nil || !t.breached(b.kind, at) {
			continue
		}
		ok, err := m.store.markBreach(ctx, t.ID, b.column, at)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		*b.marker = &at
		kind := b.kind
		h := historyRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, Actor: "system:sla", Field: "sla_breached",
			NewValue: &kind, At: at}
		if err := m.store.addHistory(ctx, []historyRow{h}); err != nil {
			return err
		}
		if m.bus != nil {
			if err := m.bus.Publish(ctx, TopicSLABreached, SLABreach{TicketID: t.ID, Kind: kind, DueAt: b.due.UTC()}); err != nil {
				return err
			}
		}
	}
	t.SLANextDueAt = t.slaNext()
	if sameTime(was, t.SLANextDueAt) {
		return nil
	}
	return m.store.setSLA(ctx, t.ID, map[string]any{"sla_next_due_at": t.SLANextDueAt})
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// sweepBatch is how many tickets one sweep reads; the next takes the rest.
const sweepBatch = 500

// SweepSLA marks the breaches due by the module's clock, in every tenant:
// the periodic task, exported for tests. Each ticket is its own
// transaction, so one failure does not hold back the others; it is
// reported after the rest are done.
func (m *Module) SweepSLA(ctx context.Context) error {
	at := m.clock()
	all := security.WithPrincipal(ctx, security.System(""))
	due, err := m.store.slaDue(all, at, sweepBatch)
	if err != nil {
		return err
	}
	var first error
	for _, d := range due {
		tctx := security.WithPrincipal(ctx, security.System(d.TenantID))
		err := m.k.DB.InTx(tctx, func(ctx context.Context) error {
			t, err := m.store.ticketForUpdate(ctx, d.ID)
			if err != nil {
				return err
			}
			return m.markBreaches(ctx, t, at)
		})
		if err != nil && first == nil {
			first = fmt.Errorf("helpdesk: SLA sweep of ticket %s: %w", d.ID, err)
		}
	}
	return first
}
