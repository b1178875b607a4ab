// Package audit records who did what, in the same transaction as the change
// it describes, and lists it for admins.
package audit

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
)

// Event is one audit record.
type Event struct {
	ID         string         `gorm:"primaryKey" json:"id"`
	TenantID   *string        `json:"tenant_id"`
	ActorType  string         `json:"actor_type"`
	ActorID    string         `json:"actor_id"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	IP         string         `gorm:"column:ip" json:"ip"`
	UserAgent  string         `json:"user_agent"`
	RequestID  string         `json:"request_id"`
	Data       map[string]any `gorm:"serializer:json" json:"data"`
	CreatedAt  time.Time      `json:"created_at"`
}

// TableName is the kernel's audit table.
func (Event) TableName() string { return "kernel_audit_events" }

// Entry is what a caller records; the actor, tenant and request come from
// ctx unless set.
type Entry struct {
	Action     string
	TargetType string
	TargetID   string
	TenantID   string // defaults to the actor's tenant
	ActorType  string // defaults to the principal's kind, or "anonymous"
	ActorID    string
	Data       map[string]any
}

// Actor is the part of a principal that audit needs; security.Principal
// satisfies it through ActorFunc, which keeps this package free of a
// dependency on security.
type Actor struct {
	Type, ID, TenantID string
}

// Meta is the request an event came from.
type Meta struct {
	IP, UserAgent, RequestID string
}

type metaKey struct{}

// WithMeta returns ctx carrying the request's metadata.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom is the request metadata in ctx.
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

// Log writes and reads audit events.
type Log struct {
	db    *db.DB
	actor func(context.Context) (Actor, bool)
}

// New returns a Log; actor extracts the caller from a context.
func New(d *db.DB, actor func(context.Context) (Actor, bool)) *Log {
	return &Log{db: d, actor: actor}
}

// Record writes e within the transaction in ctx, if any, so that an event
// is never recorded for a change that rolled back.
func (l *Log) Record(ctx context.Context, e Entry) error {
	ev := Event{
		ID: uuid.Must(uuid.NewV7()).String(), Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		ActorType: e.ActorType, ActorID: e.ActorID, Data: e.Data, CreatedAt: time.Now().UTC(),
	}
	if a, ok := l.actor(ctx); ok {
		if ev.ActorType == "" {
			ev.ActorType, ev.ActorID = a.Type, a.ID
		}
		if e.TenantID == "" && a.TenantID != "" {
			e.TenantID = a.TenantID
		}
	}
	if ev.ActorType == "" {
		ev.ActorType = "anonymous"
	}
	if e.TenantID != "" {
		t := e.TenantID
		ev.TenantID = &t
	}
	m := MetaFrom(ctx)
	ev.IP, ev.RequestID = m.IP, m.RequestID
	ev.UserAgent = truncate(m.UserAgent, 255)
	return l.db.Conn(ctx).Create(&ev).Error
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Filter narrows List.
type Filter struct {
	TenantID   string // "" = all the scope allows
	Action     string // exact, or a prefix ending in "." such as "user."
	ActorID    string
	TargetType string
	TargetID   string
	From, To   time.Time
	Offset     int
	Limit      int
	OrderBy    string
}

// List returns matching events and their total count. scope restricts the
// rows to the caller's tenants; it comes from the security layer.
func (l *Log) List(ctx context.Context, scope func(*gorm.DB) *gorm.DB, f Filter) ([]Event, int64, error) {
	q := l.db.Conn(ctx).Model(&Event{}).Scopes(scope)
	if f.TenantID != "" {
		q = q.Where("tenant_id = ?", f.TenantID)
	}
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			q = q.Where("action LIKE ?", f.Action+"%")
		} else {
			q = q.Where("action = ?", f.Action)
		}
	}
	if f.ActorID != "" {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.TargetType != "" {
		q = q.Where("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		q = q.Where("target_id = ?", f.TargetID)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Event
	order := f.OrderBy
	if order == "" {
		order = "created_at DESC"
	}
	err := q.Order(order).Order(clause.OrderByColumn{Column: clause.Column{Name: "id"}, Desc: true}).
		Offset(f.Offset).Limit(f.Limit).Find(&out).Error
	return out, total, err
}
