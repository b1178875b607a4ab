package helpdesk

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
)

// calendarRow is a business-hours calendar. IsDefault is true on the
// tenant's default and NULL on the others (a unique index allows one).
type calendarRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	Name      string    `gorm:"column:name"`
	Zone      string    `gorm:"column:zone"`
	Week      string    `gorm:"column:week"`     // JSON: weekday -> ["09:00-17:00"]
	Holidays  string    `gorm:"column:holidays"` // JSON: ["2026-12-24", "12-25"]
	IsDefault *bool     `gorm:"column:is_default"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (calendarRow) TableName() string { return "helpdesk_calendars" }

// policyRow is an SLA policy; IsDefault as on calendarRow.
type policyRow struct {
	ID               string    `gorm:"column:id;primaryKey"`
	TenantID         string    `gorm:"column:tenant_id"`
	Name             string    `gorm:"column:name"`
	CalendarID       *string   `gorm:"column:calendar_id"`
	Targets          string    `gorm:"column:targets"` // JSON: priority -> SLATarget
	PauseWhenPending bool      `gorm:"column:pause_when_pending"`
	Channels         string    `gorm:"column:channels"` // JSON list
	Tags             string    `gorm:"column:tags"`     // JSON list
	Position         int       `gorm:"column:position"`
	IsDefault        *bool     `gorm:"column:is_default"`
	CreatedAt        time.Time `gorm:"column:created_at"`
	UpdatedAt        time.Time `gorm:"column:updated_at"`
}

func (policyRow) TableName() string { return "helpdesk_sla_policies" }

// SLAColumns are a ticket's SLA clocks, embedded in its row. It is
// exported only because gorm reads no unexported embedded struct.
type SLAColumns struct {
	SLAPolicyID        *string    `gorm:"column:sla_policy_id"`
	FirstResponseDueAt *time.Time `gorm:"column:first_response_due_at"`
	ResolutionDueAt    *time.Time `gorm:"column:resolution_due_at"`
	FirstRespondedAt   *time.Time `gorm:"column:first_responded_at"`
	// SLAPausedAt is when the resolution clock stopped: pending under a
	// pausing policy, solved or closed. SLAPausedSeconds is the business
	// time it stood still in earlier pauses.
	SLAPausedAt             *time.Time `gorm:"column:sla_paused_at"`
	SLAPausedSeconds        int64      `gorm:"column:sla_paused_seconds"`
	FirstResponseBreachedAt *time.Time `gorm:"column:first_response_breached_at"`
	ResolutionBreachedAt    *time.Time `gorm:"column:resolution_breached_at"`
	// SLANextDueAt is the earliest due time that can still be breached:
	// the breach sweep's index.
	SLANextDueAt *time.Time `gorm:"column:sla_next_due_at"`
}

func (s *store) calendars(ctx context.Context) ([]calendarRow, error) {
	var out []calendarRow
	return out, s.conn(ctx).Order("name, id").Find(&out).Error
}

func (s *store) calendar(ctx context.Context, id string) (*calendarRow, error) {
	return settingsRow[calendarRow](ctx, s, id, ErrCalendarNotFound)
}

// settingsRow reads the tenant's row of R with id; missing is its error.
func settingsRow[R any](ctx context.Context, s *store, id string, missing error) (*R, error) {
	var r R
	if !validID(id) {
		return nil, missing
	}
	if err := s.conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(err, missing)
	}
	return &r, nil
}

// defaultCalendar is the tenant's default calendar, or nil.
func (s *store) defaultCalendar(ctx context.Context) (*calendarRow, error) {
	var out []calendarRow
	if err := s.conn(ctx).Where("is_default = ?", true).Limit(1).Find(&out).Error; err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

func (s *store) policies(ctx context.Context) ([]policyRow, error) {
	var out []policyRow
	return out, s.conn(ctx).Order("CASE WHEN is_default IS NULL THEN 0 ELSE 1 END, position, created_at, id").
		Find(&out).Error
}

func (s *store) policy(ctx context.Context, id string) (*policyRow, error) {
	return settingsRow[policyRow](ctx, s, id, ErrSLAPolicyNotFound)
}

// policiesOn counts the policies that name a calendar.
func (s *store) policiesOn(ctx context.Context, calendarID string) (int64, error) {
	var n int64
	return n, s.conn(ctx).Model(&policyRow{}).Where("calendar_id = ?", calendarID).Count(&n).Error
}

// placeDefault sets *isDefault of the row id of model's table as want
// says: true makes it the tenant's default and unmakes the old one (whose
// row lock makes a concurrent change wait), false unmakes it, nil leaves
// it alone, except that a new row is the default of a tenant without one.
func (s *store) placeDefault(ctx context.Context, model any, id string, isDefault **bool, want *bool, create bool) error {
	if want == nil && create {
		var n int64
		if err := s.conn(ctx).Model(model).Where("is_default = ?", true).Count(&n).Error; err != nil {
			return err
		}
		yes := n == 0
		want = &yes
	}
	if want == nil {
		return nil
	}
	*isDefault = nil
	if !*want {
		return nil
	}
	*isDefault = want
	return s.conn(ctx).Model(model).Where("is_default = ? AND id <> ?", true, id).Update("is_default", nil).Error
}

// create inserts a settings row; a duplicate name is taken.
func (s *store) create(ctx context.Context, row any, taken error) error {
	err := s.db.Conn(ctx).Create(row).Error
	if db.IsUniqueViolation(err) {
		return taken
	}
	return err
}

// save writes every column of a settings row read in the tenant.
func (s *store) save(ctx context.Context, row any, taken error) error {
	err := s.conn(ctx).Select("*").Omit("id", "tenant_id", "created_at").Updates(row).Error
	if db.IsUniqueViolation(err) {
		return taken
	}
	return err
}

func (s *store) remove(ctx context.Context, row any) error {
	return s.conn(ctx).Delete(row).Error
}

// ticketForUpdate reads a ticket with a row lock.
func (s *store) ticketForUpdate(ctx context.Context, id string) (*ticketRow, error) {
	var t ticketRow
	if err := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, notFound(err, ErrTicketNotFound)
	}
	return &t, nil
}

// setSLA writes SLA columns of a ticket without touching its version or
// updated_at (UpdateColumns): clocks move on their own, not as an edit.
func (s *store) setSLA(ctx context.Context, id string, set map[string]any) error {
	return s.conn(ctx).Model(&ticketRow{}).Where("id = ?", id).UpdateColumns(set).Error
}

// markBreach sets a breach marker unless one is set: false means another
// process marked it first.
func (s *store) markBreach(ctx context.Context, id, column string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&ticketRow{}).Where("id = ? AND "+column+" IS NULL", id).UpdateColumn(column, at)
	return res.RowsAffected == 1, res.Error
}

// markResponded records the first public agent reply, once.
func (s *store) markResponded(ctx context.Context, id string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&ticketRow{}).Where("id = ? AND first_responded_at IS NULL", id).
		UpdateColumn("first_responded_at", at)
	return res.RowsAffected == 1, res.Error
}

// slaDue lists tickets of every tenant with a due time before at that has
// not been marked: the sweep's work, read through ix_helpdesk_tickets_sla_next.
func (s *store) slaDue(ctx context.Context, at time.Time, limit int) ([]ticketRow, error) {
	var out []ticketRow
	return out, s.db.Conn(ctx).Select("id", "tenant_id").Where("sla_next_due_at < ?", at).
		Order("sla_next_due_at").Limit(limit).Find(&out).Error
}
