package contracts

import (
	"context"

	"github.com/platform/platform/internal/kernel/errs"
)

// Channel is how a message reaches its recipient.
type Channel string

// Channels.
const (
	ChannelEmail   Channel = "email"
	ChannelSMS     Channel = "sms"
	ChannelVoice   Channel = "voice"
	ChannelWebhook Channel = "webhook"
)

// Category decides what a recipient may opt out of: marketing messages
// carry an unsubscribe link, transactional ones (a receipt, a password
// reset) do not.
type Category string

// Categories.
const (
	CategoryTransactional Category = "transactional"
	CategoryMarketing     Category = "marketing"
)

// MessageID names a message that the contact module has accepted.
type MessageID string

// ContactMessage is one message to one recipient. Either Template (with
// Data) or Body (with Subject, for e-mail) says what it says.
type ContactMessage struct {
	Channel  Channel
	To       string // an e-mail address, an E.164 number, or an https URL for a webhook
	Template string
	Data     map[string]any
	Subject  string
	Body     string // plain text; the spoken text of a call
	HTML     string // e-mail only; optional
	Locale   string // BCP 47, such as "en" or "pt-BR"
	Category Category
	// IdempotencyKey makes a retried Send safe: the same key with the same
	// message returns the first message's id, with another message
	// ErrIdempotencyMismatch. Keys are per tenant.
	IdempotencyKey string
	Metadata       map[string]string
	// TimeZone is the recipient's IANA time zone, such as "Europe/Vienna",
	// in which quiet hours hold; empty: the tenant's.
	TimeZone string
}

// Sender sends messages for the tenant of the principal in ctx. Send
// stores the message and its delivery job in one transaction (ctx's, when
// there is one: a rollback sends nothing) and returns at once; delivery
// runs later, with retries and failover between the tenant's providers.
type Sender interface {
	Send(ctx context.Context, m ContactMessage) (MessageID, error)
}

// ErrIdempotencyMismatch is a Send whose idempotency key was used before
// for a different message.
var ErrIdempotencyMismatch = errs.New(errs.Invalid, "contact.idempotency_mismatch",
	"This idempotency key was used for a different message.")
