package notifications

import (
	"context"
	"fmt"
	"strings"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// The helpdesk's topics the module turns into notifications. The module
// knows them by name only, as contracts allow.
const (
	topicTicketAssigned = "helpdesk.ticket_assigned"
	topicTicketReplied  = "helpdesk.ticket_replied"
)

// Categories of the helpdesk's notifications, for preferences.
const (
	CategoryTicketAssigned = "helpdesk.ticket_assigned"
	CategoryTicketReplied  = "helpdesk.ticket_replied"
)

// assignedEvent is the data of helpdesk.ticket_assigned.
type assignedEvent struct {
	TicketID   string `json:"ticket_id"`
	AssigneeID string `json:"assignee_id"`
	By         string `json:"by"` // user:<id>, api_key:<id>, ...
}

// repliedEvent is the data of helpdesk.ticket_replied.
type repliedEvent struct {
	TicketID   string `json:"ticket_id"`
	MessageID  string `json:"message_id"`
	Internal   bool   `json:"internal"`
	AssigneeID string `json:"assignee_id"`
}

// subscribe registers the module's handlers of other modules' events.
func (m *Module) subscribe(sub contracts.Subscriber) error {
	if err := sub.Subscribe(topicTicketAssigned, Name, m.onTicketAssigned); err != nil {
		return fmt.Errorf("notifications: subscribe %s: %w", topicTicketAssigned, err)
	}
	if err := sub.Subscribe(topicTicketReplied, Name, m.onTicketReplied); err != nil {
		return fmt.Errorf("notifications: subscribe %s: %w", topicTicketReplied, err)
	}
	return nil
}

func ticketLink(id string) string { return "/admin/helpdesk/tickets/" + id }

// onTicketAssigned tells the new assignee that the ticket is theirs, unless
// they took it themselves.
func (m *Module) onTicketAssigned(ctx context.Context, msg *contracts.Message) error {
	var ev assignedEvent
	if err := msg.Decode(&ev); err != nil {
		return fmt.Errorf("notifications: %s: %v: %w", msg.Topic, err, queue.SkipRetry)
	}
	if ev.AssigneeID == "" || ev.By == string(security.KindUser)+":"+ev.AssigneeID {
		return nil
	}
	return m.notifyFor(ctx, msg, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{ev.AssigneeID}},
		Category: CategoryTicketAssigned, Title: "A ticket was assigned to you", Link: ticketLink(ev.TicketID),
		Data: map[string]any{"ticket_id": ev.TicketID}, Priority: contracts.PriorityHigh, Fallback: true})
}

// onTicketReplied tells a ticket's assignee that the customer replied. An
// internal note, or a reply of the desk's staff, notifies nobody.
func (m *Module) onTicketReplied(ctx context.Context, msg *contracts.Message) error {
	var ev repliedEvent
	if err := msg.Decode(&ev); err != nil {
		return fmt.Errorf("notifications: %s: %v: %w", msg.Topic, err, queue.SkipRetry)
	}
	if ev.Internal || ev.AssigneeID == "" || staffAuthor(msg.Principal, ev.AssigneeID) {
		return nil
	}
	return m.notifyFor(ctx, msg, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{ev.AssigneeID}},
		Category: CategoryTicketReplied, Title: "The customer replied", Link: ticketLink(ev.TicketID),
		Data: map[string]any{"ticket_id": ev.TicketID, "message_id": ev.MessageID}, Priority: contracts.PriorityNormal,
		Fallback: true})
}

// staffAuthor reports whether the reply came from the desk: a user who is
// not a customer, or the assignee themself.
func staffAuthor(p *security.Principal, assignee string) bool {
	if p == nil || p.Kind != security.KindUser {
		return false // inbound mail and the like come from the customer
	}
	return p.ID == assignee || p.Role != security.RoleCustomer
}

// notifyFor notifies in the tenant of an event, once per event: the
// event's id is the idempotency key. A notification that can never be
// stored (the assignee left) is dropped, not retried.
func (m *Module) notifyFor(ctx context.Context, msg *contracts.Message, n contracts.Notification) error {
	if msg.TenantID == "" {
		return nil
	}
	n.IdempotencyKey = strings.ReplaceAll(msg.Topic, ".", ":") + ":" + msg.ID
	_, err := m.Notify(system(ctx, msg.TenantID), n)
	if errs.KindOf(err) == errs.Invalid {
		m.k.Log.Warn("notifications: dropped", "topic", msg.Topic, "message_id", msg.ID, "error", err)
		return nil
	}
	return err
}
