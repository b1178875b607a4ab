package notifications

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/security"
)

// messageRow is a notification as it was sent.
type messageRow struct {
	ID             string    `gorm:"primaryKey"`
	TenantID       string    `gorm:"column:tenant_id"`
	IdempotencyKey *string   `gorm:"column:idempotency_key"`
	PayloadHash    string    `gorm:"column:payload_hash"`
	Category       string    `gorm:"column:category"`
	Title          string    `gorm:"column:title"`
	Body           string    `gorm:"column:body"`
	Link           string    `gorm:"column:link"`
	Data           *string   `gorm:"column:data"`
	Priority       string    `gorm:"column:priority"`
	Recipient      string    `gorm:"column:recipient"`    // JSON: {"user_ids"}, {"role"} or {"tenant":true}
	Recipients     int       `gorm:"column:recipients"`   // users it was resolved to
	DirectUsers    *string   `gorm:"column:direct_users"` // JSON: users without in-app for the category
	Fallback       bool      `gorm:"column:fallback"`
	FallbackAfterS int       `gorm:"column:fallback_after_s"`
	CreatedBy      string    `gorm:"column:created_by"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	ExpiresAt      time.Time `gorm:"column:expires_at"`
}

func (messageRow) TableName() string { return "notifications_messages" }

// inboxRow is one notification in one user's inbox.
type inboxRow struct {
	ID             string     `gorm:"primaryKey"`
	TenantID       string     `gorm:"column:tenant_id"`
	UserID         string     `gorm:"column:user_id"`
	NotificationID string     `gorm:"column:notification_id"`
	Category       string     `gorm:"column:category"`
	Title          string     `gorm:"column:title"`
	Body           string     `gorm:"column:body"`
	Link           string     `gorm:"column:link"`
	Data           *string    `gorm:"column:data"`
	Priority       string     `gorm:"column:priority"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
	ReadAt         *time.Time `gorm:"column:read_at"`
	ArchivedAt     *time.Time `gorm:"column:archived_at"`
	SnoozedUntil   *time.Time `gorm:"column:snoozed_until"`
	ExpiresAt      time.Time  `gorm:"column:expires_at"`
}

func (inboxRow) TableName() string { return "notifications_inbox" }

// prefsRow is a user's stored preferences.
type prefsRow struct {
	TenantID   string    `gorm:"column:tenant_id;primaryKey"`
	UserID     string    `gorm:"column:user_id;primaryKey"`
	TimeZone   string    `gorm:"column:time_zone"`
	Phone      *string   `gorm:"column:phone"`
	QuietStart *string   `gorm:"column:quiet_start"`
	QuietEnd   *string   `gorm:"column:quiet_end"`
	Channels   string    `gorm:"column:channels"` // JSON: {"default":{...},"categories":{...}}
	UpdatedAt  time.Time `gorm:"column:updated_at"`
}

func (prefsRow) TableName() string { return "notifications_preferences" }

// fallbackRow records a message sent for an unread notification.
type fallbackRow struct {
	ID             string    `gorm:"primaryKey"`
	TenantID       string    `gorm:"column:tenant_id"`
	NotificationID string    `gorm:"column:notification_id"`
	UserID         string    `gorm:"column:user_id"`
	Channel        string    `gorm:"column:channel"`
	MessageID      string    `gorm:"column:message_id"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (fallbackRow) TableName() string { return "notifications_fallbacks" }

// Store errors, translated from gorm's.
var (
	errNotFound     = errors.New("notifications: not found")
	errDuplicateKey = errors.New("notifications: duplicate key")
)

type store struct{ db *db.DB }

func (s *store) conn(ctx context.Context) *gorm.DB { return s.db.Conn(ctx).Scopes(security.Scope(ctx)) }

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case db.IsNotFound(err):
		return errNotFound
	case db.IsUniqueViolation(err):
		return errDuplicateKey
	}
	return err
}

// insertNotification writes a notification and its inbox rows.
func (s *store) insertNotification(ctx context.Context, n *messageRow, rows []inboxRow) error {
	conn := s.db.Conn(ctx)
	if err := conn.Create(n).Error; err != nil {
		return translate(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return translate(conn.CreateInBatches(rows, 200).Error)
}

func (s *store) messageByKey(ctx context.Context, key string) (*messageRow, error) {
	var r messageRow
	err := s.conn(ctx).Where("idempotency_key = ?", key).Take(&r).Error
	return &r, translate(err)
}

func (s *store) message(ctx context.Context, id string) (*messageRow, error) {
	var r messageRow
	err := s.conn(ctx).Where("id = ?", id).Take(&r).Error
	return &r, translate(err)
}

// inboxOf is the inbox rows of a notification.
func (s *store) inboxOf(ctx context.Context, notificationID string) ([]inboxRow, error) {
	var out []inboxRow
	err := s.conn(ctx).Where("notification_id = ?", notificationID).Order("id").Find(&out).Error
	return out, translate(err)
}

// recipientRow is a user's row of a notification, if it is in their inbox.
func (s *store) recipientRow(ctx context.Context, notificationID, userID string) (*inboxRow, error) {
	var r inboxRow
	err := s.conn(ctx).Where("notification_id = ? AND user_id = ?", notificationID, userID).Take(&r).Error
	return &r, translate(err)
}

// inboxQuery is the visible inbox of one user at now: the tenant's, the
// user's, not expired.
func (s *store) inboxQuery(ctx context.Context, userID string, now time.Time) *gorm.DB {
	return s.conn(ctx).Model(&inboxRow{}).Where("user_id = ? AND expires_at > ?", userID, now)
}

// inboxFilter narrows a list of the inbox.
type inboxFilter struct {
	Cursor   string // list ids before this one
	After    string // list ids after this one, oldest first
	Limit    int
	Status   string // "", unread, read
	Archived bool   // archived rows only, instead of the others
	Snoozed  bool   // include rows snoozed until later
	Category string
}

func (s *store) listInbox(ctx context.Context, userID string, f inboxFilter, now time.Time) ([]inboxRow, error) {
	q := s.inboxQuery(ctx, userID, now)
	if f.Archived {
		q = q.Where("archived_at IS NOT NULL")
	} else {
		q = q.Where("archived_at IS NULL")
	}
	if !f.Snoozed && !f.Archived {
		q = q.Where("(snoozed_until IS NULL OR snoozed_until <= ?)", now)
	}
	switch f.Status {
	case "unread":
		q = q.Where("read_at IS NULL")
	case "read":
		q = q.Where("read_at IS NOT NULL")
	}
	if f.Category != "" {
		q = q.Where("category = ?", f.Category)
	}
	order := "id DESC"
	switch {
	case f.After != "":
		q, order = q.Where("id > ?", f.After), "id"
	case f.Cursor != "":
		q = q.Where("id < ?", f.Cursor)
	}
	var out []inboxRow
	err := q.Order(order).Limit(f.Limit).Find(&out).Error
	return out, translate(err)
}

// unreadCount counts what the bell shows: unread, not archived, not
// snoozed, not expired.
func (s *store) unreadCount(ctx context.Context, userID string, now time.Time) (int, error) {
	var n int64
	err := s.inboxQuery(ctx, userID, now).
		Where("read_at IS NULL AND archived_at IS NULL AND (snoozed_until IS NULL OR snoozed_until <= ?)", now).
		Count(&n).Error
	return int(n), translate(err)
}

func (s *store) inboxRow(ctx context.Context, userID, id string, now time.Time) (*inboxRow, error) {
	var r inboxRow
	err := s.inboxQuery(ctx, userID, now).Where("id = ?", id).Take(&r).Error
	return &r, translate(err)
}

// updateInbox locks a user's visible row, sets the fields set returns
// for it (none: it stays as it is) and reads it back; a row that is not
// visible is errNotFound.
func (s *store) updateInbox(ctx context.Context, userID, id string, now time.Time,
	set func(r *inboxRow) map[string]any) (*inboxRow, error) {
	var out *inboxRow
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		r, err := s.inboxRowLocked(ctx, userID, id, now)
		if err != nil {
			return err
		}
		if fields := set(r); len(fields) > 0 {
			if err := s.conn(ctx).Model(&inboxRow{}).Where("id = ?", r.ID).Updates(fields).Error; err != nil {
				return err
			}
		}
		out, err = s.inboxRow(ctx, userID, id, now)
		return err
	})
	return out, err
}

func (s *store) inboxRowLocked(ctx context.Context, userID, id string, now time.Time) (*inboxRow, error) {
	var r inboxRow
	err := s.inboxQuery(ctx, userID, now).Where("id = ?", id).Clauses(clause.Locking{Strength: "UPDATE"}).Take(&r).Error
	return &r, translate(err)
}

// readAll marks every unread, unarchived row of the user read.
func (s *store) readAll(ctx context.Context, userID string, now time.Time) (int64, error) {
	res := s.inboxQuery(ctx, userID, now).Where("read_at IS NULL AND archived_at IS NULL").Update("read_at", now)
	return res.RowsAffected, translate(res.Error)
}

func (s *store) prefs(ctx context.Context, userID string) (*prefsRow, error) {
	var r prefsRow
	err := s.conn(ctx).Where("user_id = ?", userID).Take(&r).Error
	return &r, translate(err)
}

// prefsOf is the stored preferences of users, by user id.
func (s *store) prefsOf(ctx context.Context, userIDs []string) (map[string]*prefsRow, error) {
	out := make(map[string]*prefsRow, len(userIDs))
	for start := 0; start < len(userIDs); start += 500 {
		end := min(start+500, len(userIDs))
		var rows []prefsRow
		if err := s.conn(ctx).Where("user_id IN ?", userIDs[start:end]).Find(&rows).Error; err != nil {
			return nil, err
		}
		for i := range rows {
			out[rows[i].UserID] = &rows[i]
		}
	}
	return out, nil
}

func (s *store) putPrefs(ctx context.Context, r *prefsRow) error {
	return translate(s.db.Conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"time_zone", "phone", "quiet_start", "quiet_end", "channels", "updated_at"}),
	}).Create(r).Error)
}

func (s *store) insertFallback(ctx context.Context, r *fallbackRow) error {
	return translate(s.db.Conn(ctx).Create(r).Error)
}

func (s *store) fallbacksOf(ctx context.Context, notificationID string) ([]fallbackRow, error) {
	var out []fallbackRow
	err := s.conn(ctx).Where("notification_id = ?", notificationID).Order("created_at, channel").Find(&out).Error
	return out, translate(err)
}

// deleteExpired deletes up to limit expired inbox rows, then expired
// notifications that no inbox row points to any more, across all tenants.
func (s *store) deleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	conn := s.db.Conn(ctx)
	var ids []string
	if err := conn.Model(&inboxRow{}).Where("expires_at <= ?", now).Order("expires_at").Limit(limit).
		Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		if err := conn.Where("id IN ?", ids).Delete(&inboxRow{}).Error; err != nil {
			return 0, err
		}
	}
	var gone []string
	if err := conn.Model(&messageRow{}).Where("expires_at <= ?", now).
		Where("NOT EXISTS (SELECT 1 FROM notifications_inbox i WHERE i.notification_id = notifications_messages.id)").
		Order("expires_at").Limit(limit).Pluck("id", &gone).Error; err != nil {
		return len(ids), err
	}
	if len(gone) > 0 {
		if err := conn.Where("notification_id IN ?", gone).Delete(&fallbackRow{}).Error; err != nil {
			return len(ids), err
		}
		if err := conn.Where("id IN ?", gone).Delete(&messageRow{}).Error; err != nil {
			return len(ids), err
		}
	}
	return len(ids) + len(gone), nil
}
