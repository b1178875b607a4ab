package contracts

import (
	"context"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
)

// NotificationPriority orders notifications for the people who read them.
type NotificationPriority string

// Priorities of a notification.
const (
	PriorityLow    NotificationPriority = "low"
	PriorityNormal NotificationPriority = "normal"
	PriorityHigh   NotificationPriority = "high"
	PriorityUrgent NotificationPriority = "urgent"
)

// Recipient says who gets a notification: exactly one of the tenant's
// users by id, every user of the tenant with a role, or the whole tenant.
// Roles and the tenant are resolved to users when Notify is called.
type Recipient struct {
	UserIDs []string
	Role    string // owner, agent, customer, ...
	Tenant  bool
}

// Notification is one message to people's in-app inbox.
type Notification struct {
	Recipient Recipient
	// Category groups notifications for the recipients' preferences, such
	// as "helpdesk.ticket_assigned"; empty: "general".
	Category string
	Title    string
	Body     string
	Link     string         // a path in the platform ("/admin/...") or an https URL
	Data     map[string]any // handed to front ends as is
	Priority NotificationPriority
	// IdempotencyKey makes a retried Notify safe: the same key with the
	// same notification returns the first one's id, with another one
	// ErrNotificationMismatch. Keys are per tenant.
	IdempotencyKey string
	// ExpiresAt is when the notification leaves the inboxes; zero: the
	// module's default lifetime.
	ExpiresAt time.Time
	// Fallback sends the notification by e-mail or SMS (as each recipient's
	// preferences allow) to a recipient who has not read it after
	// FallbackAfter (zero: the module's default) and is not online.
	Fallback      bool
	FallbackAfter time.Duration
}

// NotificationID names a notification that the notifications module has
// accepted.
type NotificationID string

// Notifier notifies people of the tenant of the principal in ctx. Notify
// writes the notification to the recipients' inboxes and enqueues its
// delivery in one transaction (ctx's, when there is one: a rollback
// notifies nobody).
type Notifier interface {
	Notify(ctx context.Context, n Notification) (NotificationID, error)
}

// ErrNotificationMismatch is a Notify whose idempotency key was used before
// for a different notification.
var ErrNotificationMismatch = errs.New(errs.Invalid, "notifications.idempotency_mismatch",
	"This idempotency key was used for a different notification.")
