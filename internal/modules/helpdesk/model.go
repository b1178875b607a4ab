package helpdesk

import (
	"slices"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
)

// Ticket statuses.
const (
	StatusNew     = "new"
	StatusOpen    = "open"
	StatusPending = "pending"
	StatusOnHold  = "on_hold"
	StatusSolved  = "solved"
	StatusClosed  = "closed"
)

// Statuses lists every ticket status.
var Statuses = []string{StatusNew, StatusOpen, StatusPending, StatusOnHold, StatusSolved, StatusClosed}

// transitions is the workflow: the statuses each status may move to. A
// closed ticket is final; a solved one may be reopened.
var transitions = map[string][]string{
	StatusNew:     {StatusOpen, StatusPending, StatusOnHold, StatusSolved},
	StatusOpen:    {StatusPending, StatusOnHold, StatusSolved},
	StatusPending: {StatusOpen, StatusSolved, StatusOnHold},
	StatusOnHold:  {StatusOpen, StatusPending, StatusSolved},
	StatusSolved:  {StatusOpen, StatusClosed},
	StatusClosed:  {},
}

// CanTransition reports whether a ticket may move from one status to another.
func CanTransition(from, to string) bool { return slices.Contains(transitions[from], to) }

// Priorities, channels and author kinds.
var (
	Priorities = []string{"low", "normal", "high", "urgent"}
	Channels   = []string{"api", "web", "email"}
)

// Authors of messages.
const (
	AuthorAgent    = "agent"
	AuthorCustomer = "customer"
)

// Errors of the module.
var (
	ErrTicketNotFound       = errs.New(errs.NotFound, "helpdesk.ticket_not_found", "The ticket does not exist.")
	ErrCustomerNotFound     = errs.New(errs.NotFound, "helpdesk.customer_not_found", "The customer does not exist.")
	ErrOrganizationNotFound = errs.New(errs.NotFound, "helpdesk.organization_not_found", "The organization does not exist.")
	ErrIllegalTransition    = errs.New(errs.Invalid, "helpdesk.illegal_transition", "The ticket cannot move to this status.")
	ErrStaleVersion         = errs.New(errs.Conflict, "helpdesk.stale_version",
		"The ticket was changed since you read it; read it again and retry.")
	ErrStalePrecondition = errs.New(errs.PreconditionFailed, "helpdesk.stale_version",
		"The ticket was changed since you read it; read it again and retry.")
	ErrEmailTaken    = errs.New(errs.Conflict, "helpdesk.customer_email_taken", "Another customer of this tenant has this e-mail address.")
	ErrInvalidTicket = errs.New(errs.Invalid, "helpdesk.invalid_ticket", "The ticket has invalid fields.")
	ErrInvalidInput  = errs.New(errs.Invalid, "validation_failed", "The request has invalid fields.")
	ErrInvalidQuery  = errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.")
	ErrTicketClosed  = errs.New(errs.Invalid, "helpdesk.ticket_closed", "The ticket is closed; open a new one.")
	ErrInternalNote  = errs.New(errs.Forbidden, "helpdesk.internal_note_forbidden", "Customers cannot post internal notes.")
)

type customerRow struct {
	ID             string    `gorm:"column:id;primaryKey"`
	TenantID       string    `gorm:"column:tenant_id"`
	Name           string    `gorm:"column:name"`
	Email          *string   `gorm:"column:email"`
	Phone          string    `gorm:"column:phone"`
	Notes          string    `gorm:"column:notes"`
	Tags           string    `gorm:"column:tags"`
	Attributes     string    `gorm:"column:attributes"`
	OrganizationID *string   `gorm:"column:organization_id"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	UpdatedAt      time.Time `gorm:"column:updated_at"`
}

func (customerRow) TableName() string { return "helpdesk_customers" }

type organizationRow struct {
	ID         string    `gorm:"column:id;primaryKey"`
	TenantID   string    `gorm:"column:tenant_id"`
	Name       string    `gorm:"column:name"`
	Notes      string    `gorm:"column:notes"`
	Attributes string    `gorm:"column:attributes"`
	CreatedAt  time.Time `gorm:"column:created_at"`
	UpdatedAt  time.Time `gorm:"column:updated_at"`
}

func (organizationRow) TableName() string { return "helpdesk_organizations" }

type ticketRow struct {
	ID          string     `gorm:"column:id;primaryKey"`
	TenantID    string     `gorm:"column:tenant_id"`
	Subject     string     `gorm:"column:subject"`
	Status      string     `gorm:"column:status"`
	Priority    string     `gorm:"column:priority"`
	Type        string     `gorm:"column:type"`
	Tags        string     `gorm:"column:tags"`
	RequesterID string     `gorm:"column:requester_id"`
	AssigneeID  *string    `gorm:"column:assignee_id"`
	GroupID     *string    `gorm:"column:group_id"`
	Channel     string     `gorm:"column:channel"`
	Version     int        `gorm:"column:version"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	UpdatedAt   time.Time  `gorm:"column:updated_at"`
	SolvedAt    *time.Time `gorm:"column:solved_at"`
	ClosedAt    *time.Time `gorm:"column:closed_at"`
	MergedInto  *string    `gorm:"column:merged_into_id"` // set when merged: the ticket it went into
	// The requester's satisfaction rating (csat.go).
	CSATRating  *string    `gorm:"column:csat_rating"`
	CSATComment *string    `gorm:"column:csat_comment"`
	CSATAt      *time.Time `gorm:"column:csat_at"`

	SLAColumns // the SLA clocks (sla_store.go)
}

func (ticketRow) TableName() string { return "helpdesk_tickets" }

type messageRow struct {
	ID         string    `gorm:"column:id;primaryKey"`
	TenantID   string    `gorm:"column:tenant_id"`
	TicketID   string    `gorm:"column:ticket_id"`
	AuthorKind string    `gorm:"column:author_kind"`
	AuthorID   string    `gorm:"column:author_id"`
	Body       string    `gorm:"column:body"`
	QuotedText *string   `gorm:"column:quoted_text"` // an inbound reply's quoted tail (quoted.go)
	Internal   bool      `gorm:"column:internal"`
	CreatedAt  time.Time `gorm:"column:created_at"`
}

func (messageRow) TableName() string { return "helpdesk_messages" }

type historyRow struct {
	ID       string    `gorm:"column:id;primaryKey"`
	TenantID string    `gorm:"column:tenant_id"`
	TicketID string    `gorm:"column:ticket_id"`
	Actor    string    `gorm:"column:actor"`
	Field    string    `gorm:"column:field"`
	OldValue *string   `gorm:"column:old_value"`
	NewValue *string   `gorm:"column:new_value"`
	At       time.Time `gorm:"column:at"`
}

func (historyRow) TableName() string { return "helpdesk_ticket_history" }
