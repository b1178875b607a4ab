package contact

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Message statuses, the values of the status history.
const (
	StatusQueued     = "queued"
	StatusSending    = "sending"
	StatusSent       = "sent"
	StatusDelivered  = "delivered"
	StatusFailed     = "failed"
	StatusBounced    = "bounced"
	StatusSuppressed = "suppressed"
)

// final reports whether a message with status s is done with.
func final(s string) bool {
	switch s {
	case StatusSent, StatusDelivered, StatusFailed, StatusBounced, StatusSuppressed:
		return true
	}
	return false
}

// Errors of the store.
var (
	ErrMessageNotFound  = errs.New(errs.NotFound, "contact.message_not_found", "The message does not exist.")
	ErrProviderNotFound = errs.New(errs.NotFound, "contact.provider_not_found", "The provider does not exist.")
	ErrProviderName     = errs.New(errs.Conflict, "contact.provider_name_taken", "Another provider of this tenant has this name.")
	errDuplicateKey     = errors.New("contact: idempotency key taken")
)

type messageRow struct {
	ID                string     `gorm:"column:id;primaryKey"`
	TenantID          string     `gorm:"column:tenant_id"`
	Channel           string     `gorm:"column:channel"`
	Recipient         string     `gorm:"column:recipient"`
	Category          string     `gorm:"column:category"`
	Locale            string     `gorm:"column:locale"`
	Template          string     `gorm:"column:template"`
	Data              *string    `gorm:"column:data"`
	Subject           string     `gorm:"column:subject"`
	Body              string     `gorm:"column:body"`
	HTML              string     `gorm:"column:html"`
	Metadata          *string    `gorm:"column:metadata"`
	IdempotencyKey    *string    `gorm:"column:idempotency_key"`
	PayloadHash       string     `gorm:"column:payload_hash"`
	Status            string     `gorm:"column:status"`
	ProviderID        *string    `gorm:"column:provider_id"`
	ProviderMessageID *string    `gorm:"column:provider_message_id"`
	Attempts          int        `gorm:"column:attempts"`
	LastError         *string    `gorm:"column:last_error"`
	ClaimedUntil      *time.Time `gorm:"column:claimed_until"`
	CreatedAt         time.Time  `gorm:"column:created_at"`
	UpdatedAt         time.Time  `gorm:"column:updated_at"`
}

func (messageRow) TableName() string { return "contact_messages" }

type eventRow struct {
	ID           string    `gorm:"column:id;primaryKey"`
	MessageID    string    `gorm:"column:message_id"`
	TenantID     string    `gorm:"column:tenant_id"`
	Status       string    `gorm:"column:status"`
	ProviderID   *string   `gorm:"column:provider_id"`
	ProviderKind *string   `gorm:"column:provider_kind"`
	Attempt      int       `gorm:"column:attempt"`
	Outcome      string    `gorm:"column:outcome"`
	Detail       *string   `gorm:"column:detail"`
	CreatedAt    time.Time `gorm:"column:created_at"`
}

func (eventRow) TableName() string { return "contact_message_events" }

type providerRow struct {
	ID           string    `gorm:"column:id;primaryKey"`
	TenantID     string    `gorm:"column:tenant_id"`
	Name         string    `gorm:"column:name"`
	Channel      string    `gorm:"column:channel"`
	Kind         string    `gorm:"column:kind"`
	Priority     int       `gorm:"column:priority"`
	Enabled      bool      `gorm:"column:enabled"`
	Settings     string    `gorm:"column:settings"`
	Credentials  *string   `gorm:"column:credentials"`
	AllowPrivate bool      `gorm:"column:allow_private"`
	CreatedAt    time.Time `gorm:"column:created_at"`
	UpdatedAt    time.Time `gorm:"column:updated_at"`
}

func (providerRow) TableName() string { return "contact_providers" }

type outboxRow struct {
	ID         string    `gorm:"column:id;primaryKey" json:"id"`
	TenantID   string    `gorm:"column:tenant_id" json:"tenant_id"`
	MessageID  string    `gorm:"column:message_id" json:"message_id"`
	ProviderID *string   `gorm:"column:provider_id" json:"provider_id"`
	Channel    string    `gorm:"column:channel" json:"channel"`
	Recipient  string    `gorm:"column:recipient" json:"to"`
	Subject    string    `gorm:"column:subject" json:"subject"`
	Body       string    `gorm:"column:body" json:"body"`
	HTML       string    `gorm:"column:html" json:"html"`
	CreatedAt  time.Time `gorm:"column:created_at" json:"created_at"`
}

func (outboxRow) TableName() string { return "contact_outbox" }

// store reads and writes the module's tables, always within the tenant of
// the principal in ctx.
type store struct{ db *db.DB }

func (s *store) conn(ctx context.Context) *gorm.DB { return s.db.Conn(ctx).Scopes(security.Scope(ctx)) }

func (s *store) insertMessage(ctx context.Context, r *messageRow, ev *eventRow) error {
	if err := s.db.Conn(ctx).Create(r).Error; err != nil {
		if db.IsUniqueViolation(err) {
			return errDuplicateKey
		}
		return err
	}
	return s.db.Conn(ctx).Create(ev).Error
}

func (s *store) messageByKey(ctx context.Context, key string) (*messageRow, error) {
	var r messageRow
	err := s.conn(ctx).Where("tenant_id = ? AND idempotency_key = ?", security.TenantOf(ctx), key).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrMessageNotFound
	}
	return &r, err
}

func (s *store) message(ctx context.Context, id string) (*messageRow, error) {
	var r messageRow
	err := s.conn(ctx).Where("id = ?", id).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrMessageNotFound
	}
	return &r, err
}

// messageFilter narrows a list of messages.
type messageFilter struct {
	Status, Channel string
	Offset, Limit   int
	Desc            bool
}

func (s *store) messages(ctx context.Context, f messageFilter) ([]messageRow, int64, error) {
	q := s.conn(ctx).Model(&messageRow{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	order := "created_at ASC, id ASC"
	if f.Desc {
		order = "created_at DESC, id DESC"
	}
	var rows []messageRow
	err := q.Order(order).Offset(f.Offset).Limit(f.Limit).Find(&rows).Error
	return rows, total, err
}

func (s *store) events(ctx context.Context, messageID string) ([]eventRow, error) {
	var rows []eventRow
	err := s.conn(ctx).Where("message_id = ?", messageID).Order("created_at ASC, id ASC").Find(&rows).Error
	return rows, err
}

func (s *store) addEvent(ctx context.Context, ev *eventRow) error {
	return s.db.Conn(ctx).Create(ev).Error
}

// claim takes a message for one delivery attempt until until: one that is
// queued, or sending under a claim that has run out (its worker died).
func (s *store) claim(ctx context.Context, id string, now, until time.Time) (bool, error) {
	res := s.conn(ctx).Model(&messageRow{}).
		Where("id = ? AND (status = ? OR (status = ? AND claimed_until < ?))", id, StatusQueued, StatusSending, now).
		Updates(map[string]any{"status": StatusSending, "claimed_until": until, "updated_at": now,
			"attempts": gorm.Expr("attempts + 1")})
	return res.RowsAffected == 1, res.Error
}

// setStatus records a message's new status with its history entry, in
// one transaction.
func (s *store) setStatus(ctx context.Context, id string, upd map[string]any, ev *eventRow) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Model(&messageRow{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return err
		}
		return s.addEvent(ctx, ev)
	})
}

// attemptsBy counts the failed attempts of each provider on a message.
func (s *store) attemptsBy(ctx context.Context, messageID string) (map[string]int, error) {
	var rows []struct {
		ProviderID string
		N          int
	}
	err := s.conn(ctx).Model(&eventRow{}).Select("provider_id, COUNT(*) AS n").
		Where("message_id = ? AND outcome = ? AND provider_id IS NOT NULL", messageID, outcomeRetry).
		Group("provider_id").Scan(&rows).Error
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.ProviderID] = r.N
	}
	return out, err
}

// route lists the enabled providers of a channel in their order.
func (s *store) route(ctx context.Context, channel string) ([]providerRow, error) {
	var rows []providerRow
	err := s.conn(ctx).Where("channel = ? AND enabled = ?", channel, true).Order("priority ASC, created_at ASC").
		Find(&rows).Error
	return rows, err
}

func (s *store) providers(ctx context.Context, channel string) ([]providerRow, error) {
	q := s.conn(ctx)
	if channel != "" {
		q = q.Where("channel = ?", channel)
	}
	var rows []providerRow
	err := q.Order("channel ASC, priority ASC, created_at ASC").Limit(500).Find(&rows).Error
	return rows, err
}

func (s *store) provider(ctx context.Context, id string) (*providerRow, error) {
	var r providerRow
	err := s.conn(ctx).Where("id = ?", id).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrProviderNotFound
	}
	return &r, err
}

func (s *store) saveProvider(ctx context.Context, r *providerRow, create bool) error {
	var err error
	if create {
		err = s.db.Conn(ctx).Create(r).Error
	} else {
		err = s.conn(ctx).Select("*").Omit("id", "tenant_id", "created_at").Where("id = ?", r.ID).Updates(r).Error
	}
	if db.IsUniqueViolation(err) {
		return ErrProviderName
	}
	return err
}

func (s *store) deleteProvider(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&providerRow{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrProviderNotFound
	}
	return res.Error
}

func (s *store) addOutbox(ctx context.Context, r *outboxRow) error {
	return s.db.Conn(ctx).Create(r).Error
}

func (s *store) outbox(ctx context.Context, offset, limit int) ([]outboxRow, int64, error) {
	q := s.conn(ctx).Model(&outboxRow{})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []outboxRow
	err := q.Order("created_at DESC, id DESC").Offset(offset).Limit(limit).Find(&rows).Error
	return rows, total, err
}
