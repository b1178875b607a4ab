package contact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of Send.
var (
	ErrNoTenant = errs.New(errs.Invalid, "contact.no_tenant",
		"A message belongs to a tenant: act as one (X-Tenant-ID) to send it.")
	ErrInvalidMessage = errs.New(errs.Invalid, "contact.invalid_message", "The message has invalid fields.")
)

// taskDeliver is the delivery task, "contact:deliver".
const taskDeliver = "deliver"

// deliverJob is the delivery task's data.
type deliverJob struct {
	V         int    `json:"v"`
	MessageID string `json:"message_id"`
	TimeZone  string `json:"time_zone,omitempty"` // the recipient's, for quiet hours
}

// Limits of a message.
const (
	maxSubject  = 998
	maxBody     = 100_000
	maxHTML     = 500_000
	maxSMS      = 1600
	maxSpoken   = 4000
	maxKey      = 200
	maxMetadata = 50
)

var (
	e164   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	locale = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	tmpl   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,199}$`)
)

// Send implements contracts.Sender.
func (m *Module) Send(ctx context.Context, msg contracts.ContactMessage) (contracts.MessageID, error) {
	r, _, err := m.send(ctx, msg)
	if err != nil {
		return "", err
	}
	return contracts.MessageID(r.ID), nil
}

// send stores the message and its delivery job in one transaction. It
// returns the stored message, and whether it is an earlier one with the
// same idempotency key and payload.
func (m *Module) send(ctx context.Context, msg contracts.ContactMessage) (*messageRow, bool, error) {
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return nil, false, ErrNoTenant
	}
	if msg.Category == "" {
		msg.Category = contracts.CategoryTransactional
	}
	if err := m.check(ctx, &msg); err != nil {
		return nil, false, err
	}
	row, err := newMessageRow(tenant, &msg, m.now())
	if err != nil {
		return nil, false, err
	}
	ev := m.event(row, StatusQueued, nil, "", "")
	set, err := m.settingsOf(ctx) // settings.go
	if err != nil {
		return nil, false, err
	}
	undo, err := m.admit(ctx, row, set) // limits.go: the tenant's rate and quota; a replay is not counted
	if errors.Is(err, errDuplicateKey) {
		return m.replay(ctx, row)
	}
	if err != nil {
		return nil, false, err
	}
	runAt := m.quietUntil(set, row, msg.TimeZone, ev) // quiet.go: marketing waits out quiet hours
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if row.Template != "" && msg.Body == "" { // templates.go
			if err := m.renderMessage(ctx, row, msg.Data); err != nil {
				return err
			}
		}
		if err := m.store.insertMessage(ctx, row, ev); err != nil {
			return err
		}
		if _, err := m.k.Queue.Enqueue(ctx, m.deliveryJob(row.ID, tenant, msg.TimeZone, runAt)); err != nil {
			return err
		}
		// In the caller's transaction the message is stored only if that
		// commits.
		db.AfterRollback(ctx, undo)
		return nil
	})
	if err != nil {
		undo() // what is not stored does not count
	}
	if errors.Is(err, errDuplicateKey) {
		return m.replay(ctx, row)
	}
	if err != nil {
		return nil, false, err
	}
	return row, false, nil
}

// replay is the earlier message with row's idempotency key, when it says
// the same, or ErrIdempotencyMismatch.
func (m *Module) replay(ctx context.Context, row *messageRow) (*messageRow, bool, error) {
	prev, err := m.store.messageByKey(ctx, *row.IdempotencyKey)
	if err != nil {
		return nil, false, err
	}
	if prev.PayloadHash != row.PayloadHash {
		return nil, false, contracts.ErrIdempotencyMismatch
	}
	return prev, true, nil
}

// check refuses a message that could never be delivered, naming each
// wrong field.
func (m *Module) check(ctx context.Context, msg *contracts.ContactMessage) error {
	var d []errs.Detail
	bad := func(field, code, text string) { d = append(d, errs.Detail{Field: field, Code: code, Message: text}) }
	switch msg.Channel {
	case contracts.ChannelEmail:
		if a, err := mail.ParseAddress(msg.To); err != nil || a.Address == "" {
			bad("to", "email", "must be an e-mail address")
		}
		if msg.Body != "" && msg.Subject == "" {
			bad("subject", "required", "is required for an e-mail")
		}
	case contracts.ChannelSMS, contracts.ChannelVoice:
		if !e164.MatchString(msg.To) {
			bad("to", "e164", "must be a phone number in E.164 form, such as +14155550123")
		}
		limit := maxSMS
		if msg.Channel == contracts.ChannelVoice {
			limit = maxSpoken
		}
		if len(msg.Body) > limit {
			bad("body", "max", fmt.Sprintf("must be at most %d bytes on this channel", limit))
		}
	case contracts.ChannelWebhook:
		if err := checkURL(msg.To, m.privateWebhooks(ctx)); err != nil {
			bad("to", "url", err.Error())
		}
	default:
		bad("channel", "oneof", "must be email, sms, voice or webhook")
	}
	if msg.HTML != "" && msg.Channel != contracts.ChannelEmail {
		bad("html", "email_only", "is for e-mail only")
	}
	if msg.Category != contracts.CategoryTransactional && msg.Category != contracts.CategoryMarketing {
		bad("category", "oneof", "must be transactional or marketing")
	}
	switch {
	case msg.Body == "" && msg.Template == "":
		bad("body", "required", "a body or a template is required")
	case msg.Template != "" && !tmpl.MatchString(msg.Template):
		bad("template", "format", "must be lower-case letters, digits, dots, dashes and underscores")
	}
	if msg.Data != nil && msg.Template == "" && msg.Channel != contracts.ChannelWebhook {
		bad("data", "template_only", "goes with a template, or a webhook")
	}
	if msg.Locale != "" && !locale.MatchString(msg.Locale) {
		bad("locale", "bcp47", "must be a language tag such as en or pt-BR")
	}
	for field, n := range map[string]int{"subject": len(msg.Subject), "body": len(msg.Body), "html": len(msg.HTML),
		"idempotency_key": len(msg.IdempotencyKey)} {
		if limit := map[string]int{"subject": maxSubject, "body": maxBody, "html": maxHTML, "idempotency_key": maxKey}[field]; n > limit {
			bad(field, "max", fmt.Sprintf("must be at most %d bytes", limit))
		}
	}
	if len(msg.Metadata) > maxMetadata {
		bad("metadata", "max", fmt.Sprintf("must have at most %d entries", maxMetadata))
	}
	d = append(d, checkTimeZone(msg.TimeZone)...) // quiet.go
	if len(d) > 0 {
		return ErrInvalidMessage.WithDetails(d...)
	}
	return nil
}

// privateWebhooks reports whether one of the tenant's webhook providers
// may reach internal networks, which a platform admin allowed.
func (m *Module) privateWebhooks(ctx context.Context) bool {
	rows, err := m.store.route(ctx, string(contracts.ChannelWebhook))
	if err != nil {
		return false
	}
	for _, r := range rows {
		if r.AllowPrivate {
			return true
		}
	}
	return false
}

// newMessageRow is the row of a checked message, with the hash of what
// it says, which decides whether a repeated idempotency key is a replay.
func newMessageRow(tenant string, msg *contracts.ContactMessage, now time.Time) (*messageRow, error) {
	canon, err := json.Marshal(map[string]any{"channel": msg.Channel, "to": msg.To, "template": msg.Template,
		"data": msg.Data, "subject": msg.Subject, "body": msg.Body, "html": msg.HTML, "locale": msg.Locale,
		"category": msg.Category, "metadata": msg.Metadata})
	if err != nil {
		return nil, ErrInvalidMessage.WithDetails(errs.Detail{Field: "data", Code: "json", Message: "cannot be encoded"})
	}
	sum := sha256.Sum256(canon)
	r := &messageRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, Channel: string(msg.Channel),
		Recipient: msg.To, Category: string(msg.Category), Locale: msg.Locale, Template: msg.Template,
		Subject: msg.Subject, Body: msg.Body, HTML: msg.HTML, PayloadHash: hex.EncodeToString(sum[:]),
		Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
	if msg.Data != nil {
		b, _ := json.Marshal(msg.Data)
		s := string(b)
		r.Data = &s
	}
	if len(msg.Metadata) > 0 {
		b, _ := json.Marshal(msg.Metadata)
		s := string(b)
		r.Metadata = &s
	}
	if msg.IdempotencyKey != "" {
		k := msg.IdempotencyKey
		r.IdempotencyKey = &k
	}
	return r, nil
}

// event is a history entry of message r.
func (m *Module) event(r *messageRow, status string, p *providerRow, outcome, detail string) *eventRow {
	ev := &eventRow{ID: uuid.Must(uuid.NewV7()).String(), MessageID: r.ID, TenantID: r.TenantID, Status: status,
		Attempt: r.Attempts, Outcome: outcome, CreatedAt: m.now()}
	if p != nil {
		if p.ID != "" {
			id := p.ID
			ev.ProviderID = &id
		}
		k := p.Kind
		ev.ProviderKind = &k
	}
	if detail != "" {
		if len(detail) > 2000 {
			detail = detail[:2000]
		}
		ev.Detail = &detail
	}
	return ev
}
