package helpdesk

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// staff reports whether the principal works the desk (sees every ticket
// and internal notes) rather than being a customer who sees their own.
func staff(ctx context.Context) bool {
	p, ok := security.PrincipalFrom(ctx)
	return ok && p.Can(PermRead)
}

func actor(ctx context.Context) string {
	if p, ok := security.PrincipalFrom(ctx); ok {
		return p.String()
	}
	return "unknown"
}

// TicketEvent is the data of the module's events.
type TicketEvent struct {
	TicketID string   `json:"ticket_id"`
	Status   string   `json:"status"`
	Priority string   `json:"priority"`
	Version  int      `json:"version"`
	Changed  []string `json:"changed,omitempty"`    // ticket_updated: the fields that changed
	Message  string   `json:"message_id,omitempty"` // ticket_replied
	Internal bool     `json:"internal,omitempty"`   // ticket_replied: an internal note
	// AssigneeID is the ticket's assignee, for notifications to them.
	AssigneeID string `json:"assignee_id,omitempty"`
}

// publish sends an event in ctx's transaction; without a bus it does nothing.
func (m *Module) publish(ctx context.Context, topic string, t *ticketRow, ev TicketEvent) error {
	if m.bus == nil {
		return nil
	}
	ev.TicketID, ev.Status, ev.Priority, ev.Version = t.ID, t.Status, t.Priority, t.Version
	if t.AssigneeID != nil {
		ev.AssigneeID = *t.AssigneeID
	}
	return m.bus.Publish(ctx, topic, ev)
}

// me is the customer row of a customer principal, made on first use from
// the user's e-mail address.
func (m *Module) me(ctx context.Context, create bool) (*customerRow, error) {
	p, _ := security.PrincipalFrom(ctx)
	email := strings.ToLower(p.Email)
	if email == "" {
		return nil, ErrCustomerNotFound
	}
	if !create {
		return m.store.customerByEmail(ctx, email, true)
	}
	return m.findOrCreateCustomer(ctx, email, "")
}

// findOrCreateCustomer is the tenant's customer with email, made when there
// is none. Two requests racing to make the same one meet on the unique key;
// the loser reads the winner's row with a lock, which sees it.
func (m *Module) findOrCreateCustomer(ctx context.Context, email, name string) (*customerRow, error) {
	c, err := m.store.customerByEmail(ctx, email, false)
	if err == nil || !errors.Is(err, ErrCustomerNotFound) {
		return c, err
	}
	t := now()
	c = &customerRow{ID: newID(), TenantID: security.TenantOf(ctx), Name: name, Email: &email, Tags: "[]",
		Attributes: "{}", CreatedAt: t, UpdatedAt: t}
	if err := m.store.createCustomer(ctx, c); err != nil {
		if errors.Is(err, ErrEmailTaken) {
			return m.store.customerByEmail(ctx, email, true)
		}
		return nil, err
	}
	return c, nil
}

// visibleTicket is a ticket the principal may see: any of the tenant's to
// staff, only their own to a customer. Anything else is not found.
func (m *Module) visibleTicket(ctx context.Context, id string) (*ticketRow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrTicketNotFound
	}
	t, err := m.store.ticket(ctx, id)
	if err != nil || staff(ctx) {
		return t, err
	}
	c, err := m.me(ctx, false)
	if err != nil || (c.ID != t.RequesterID && !m.follows(ctx, t.ID, c.ID)) { // followers: merge.go
		return nil, ErrTicketNotFound
	}
	return t, nil
}

// newTicket is a ticket to open, already validated.
type newTicket struct {
	Subject, Message, Email, Name, Priority, Channel string
	GroupID                                          string // staff only; "" for none
}

func (m *Module) createTicket(ctx context.Context, in newTicket) (*ticketRow, error) {
	var t *ticketRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		var c *customerRow
		var err error
		if staff(ctx) {
			c, err = m.findOrCreateCustomer(ctx, in.Email, in.Name)
		} else {
			c, err = m.me(ctx, true)
		}
		if err != nil {
			return err
		}
		at := m.clock()
		t = &ticketRow{ID: newID(), TenantID: security.TenantOf(ctx), Subject: in.Subject, Status: StatusNew,
			Priority: in.Priority, Tags: "[]", RequesterID: c.ID, Channel: in.Channel, Version: 1, CreatedAt: at, UpdatedAt: at}
		placed, err := m.placeNewTicket(ctx, t, in.GroupID, at) // assign.go
		if err != nil {
			return err
		}
		if err := m.slaOnCreate(ctx, t); err != nil { // sla_clock.go
			return err
		}
		if err := m.store.createTicket(ctx, t); err != nil {
			return err
		}
		author, authorID := AuthorCustomer, c.ID
		if staff(ctx) {
			author, authorID = AuthorAgent, principalID(ctx)
		}
		msg := &messageRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, AuthorKind: author, AuthorID: authorID,
			Body: in.Message, CreatedAt: at}
		if err := m.store.addMessage(ctx, msg); err != nil {
			return err
		}
		if err := m.store.addHistory(ctx, append([]historyRow{m.change(ctx, t, "status", nil, &t.Status, at)}, placed...)); err != nil {
			return err
		}
		if err := m.publish(ctx, TopicTicketCreated, t, TicketEvent{Message: msg.ID}); err != nil {
			return err
		}
		return m.publishChanges(ctx, nil, t)
	})
	return t, err
}

func principalID(ctx context.Context) string {
	p, _ := security.PrincipalFrom(ctx)
	return p.ID
}

func (m *Module) change(ctx context.Context, t *ticketRow, field string, old, nv *string, at time.Time) historyRow {
	return historyRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, Actor: actor(ctx), Field: field,
		OldValue: old, NewValue: nv, At: at}
}

// ticketPatch holds the fields a PATCH changes; nil leaves one alone.
type ticketPatch struct {
	Subject    *string
	Status     *string
	Priority   *string
	Type       *string
	Tags       *[]string
	AssigneeID **string // set to nil: unassign
	GroupID    **string // set to nil: no group
	RoundRobin bool     // assign to the next free member of the ticket's round-robin group
}

// patchTicket applies p if the ticket is still at version; stale is the
// error for a ticket changed since (409 for a body version, 412 for
// If-Match). Nothing is written unless everything is.
func (m *Module) patchTicket(ctx context.Context, id string, version int, p ticketPatch, stale error) (*ticketRow, error) {
	var out *ticketRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		t, err := m.visibleTicket(ctx, id)
		if err != nil {
			return err
		}
		out, err = m.applyPatch(ctx, t, version, p, stale)
		return err
	})
	return out, err
}

// applyPatch changes t, read in the transaction in ctx, as patchTicket
// does: it writes the history, moves the SLA clock and publishes the
// events. It returns stale, having written nothing, when t is not at
// version.
func (m *Module) applyPatch(ctx context.Context, t *ticketRow, version int, p ticketPatch, stale error) (*ticketRow, error) {
	if t.Version != version {
		return nil, stale
	}
	at := m.clock()
	set := map[string]any{}
	var hist []historyRow
	field := func(name string, old, nv string) {
		if old != nv {
			set[name] = nv
			hist = append(hist, m.change(ctx, t, name, &old, &nv, at))
		}
	}
	if p.Status != nil && *p.Status != t.Status {
		if !CanTransition(t.Status, *p.Status) {
			return nil, ErrIllegalTransition.WithMessage("A ticket cannot move from %s to %s.", t.Status, *p.Status)
		}
		switch *p.Status {
		case StatusSolved:
			set["solved_at"] = at
		case StatusClosed:
			set["closed_at"] = at
		case StatusOpen, StatusPending, StatusOnHold:
			set["solved_at"] = nil
		}
		field("status", t.Status, *p.Status)
	}
	if p.Subject != nil {
		field("subject", t.Subject, *p.Subject)
	}
	if p.Priority != nil {
		field("priority", t.Priority, *p.Priority)
	}
	if p.Type != nil {
		field("type", t.Type, *p.Type)
	}
	if p.Tags != nil {
		b, _ := json.Marshal(normTags(*p.Tags))
		field("tags", t.Tags, string(b))
	}
	if p.AssigneeID != nil {
		if a := *p.AssigneeID; a != nil {
			if err := m.checkAssignee(ctx, *a); err != nil {
				return nil, err
			}
		}
		if deref(t.AssigneeID) != deref(*p.AssigneeID) {
			set["assignee_id"] = *p.AssigneeID
			hist = append(hist, m.change(ctx, t, "assignee_id", t.AssigneeID, *p.AssigneeID, at))
		}
	}
	if err := m.patchPlacement(ctx, t, p, set, &hist, at); err != nil { // assign.go
		return nil, err
	}
	slaDone, err := m.slaOnPatch(ctx, t, set, at) // sla_clock.go
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return t, nil
	}
	set["updated_at"] = at
	ok, err := m.store.updateTicket(ctx, t.ID, version, set)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, stale
	}
	if err := m.store.addHistory(ctx, hist); err != nil {
		return nil, err
	}
	if err := slaDone(ctx); err != nil {
		return nil, err
	}
	out, err := m.store.ticket(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if set["status"] == StatusSolved {
		if err := m.requestCSAT(ctx, out); err != nil { // csat.go
			return nil, err
		}
	}
	changed := make([]string, len(hist))
	for i, h := range hist {
		changed[i] = h.Field
	}
	if err := m.publish(ctx, TopicTicketUpdated, out, TicketEvent{Changed: changed}); err != nil {
		return nil, err
	}
	return out, m.publishChanges(ctx, t, out)
}

// errReopenLost is applyPatch's stale error for reopenOnReply.
var errReopenLost = errors.New("helpdesk: the ticket changed meanwhile")

// reopenOnReply moves a pending or solved ticket back to open when its
// customer writes, as Zendesk and Zammad do: the next move is the agents'.
// An on-hold ticket waits for a third party and stays. The change is the
// customer's in the history, resumes a paused SLA clock, and publishes
// TicketUpdated like any status change. When the ticket changed meanwhile
// (another process updated its version), that change stands and the reply
// still goes in.
func (m *Module) reopenOnReply(ctx context.Context, t *ticketRow) error {
	if t.Status != StatusPending && t.Status != StatusSolved {
		return nil
	}
	open := StatusOpen
	_, err := m.applyPatch(ctx, t, t.Version, ticketPatch{Status: &open}, errReopenLost)
	if errors.Is(err, errReopenLost) {
		return nil
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// normTags trims, lower-cases, de-duplicates and sorts tags.
func normTags(in []string) []string {
	out := []string{}
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// checkAssignee accepts an owner or agent of the acting tenant.
func (m *Module) checkAssignee(ctx context.Context, id string) error {
	bad := ErrInvalidTicket.WithDetails(errs.Detail{Field: "assignee_id", Code: "exists",
		Message: "must be an owner or agent of this tenant"})
	sys := security.WithPrincipal(ctx, security.System(security.TenantOf(ctx)))
	u, err := m.k.Security.GetUser(sys, id)
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return bad
		}
		return err
	}
	if u.Role != security.RoleOwner && u.Role != security.RoleAgent {
		return bad
	}
	return nil
}

// reply adds a message to a ticket that is not closed (a closed ticket is
// final: a later question is a new ticket). A customer's reply reopens a
// pending or solved ticket (reopenOnReply); an agent's moves no status.
func (m *Module) reply(ctx context.Context, id, body string, internal bool) (*messageRow, error) {
	msg, _, err := m.replyWith(ctx, id, body, internal, nil)
	return msg, err
}

// replyWith is reply with files to attach; it also sends a staff's public
// reply to the requester (afterReply, attachments.go and outbound.go).
func (m *Module) replyWith(ctx context.Context, id, body string, internal bool, files []*upload) (*messageRow, []attachmentRow, error) {
	if internal && !staff(ctx) {
		return nil, nil, ErrInternalNote
	}
	var msg *messageRow
	var atts []attachmentRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		t, err := m.visibleTicket(ctx, id)
		if err != nil {
			return err
		}
		if t.Status == StatusClosed {
			return ErrTicketClosed
		}
		author, authorID := AuthorAgent, principalID(ctx)
		if !staff(ctx) {
			author, authorID = AuthorCustomer, t.RequesterID
		}
		msg = &messageRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, AuthorKind: author, AuthorID: authorID,
			Body: body, Internal: internal, CreatedAt: m.clock()}
		if err := m.store.addMessage(ctx, msg); err != nil {
			return err
		}
		if err := m.store.touchTicket(ctx, t.ID, msg.CreatedAt); err != nil {
			return err
		}
		if err := m.slaOnReply(ctx, t, msg); err != nil { // sla_clock.go
			return err
		}
		if atts, err = m.afterReply(ctx, t, msg, files); err != nil {
			return err
		}
		if err := m.publish(ctx, TopicTicketReplied, t, TicketEvent{Message: msg.ID, Internal: internal}); err != nil {
			return err
		}
		if author == AuthorCustomer {
			return m.reopenOnReply(ctx, t)
		}
		return nil
	})
	return msg, atts, err
}
