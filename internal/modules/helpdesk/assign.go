package helpdesk

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// AssignedEvent is the data of helpdesk.ticket_assigned: notifications tell
// AssigneeID (a user id) that the ticket is theirs.
type AssignedEvent struct {
	TicketID           string  `json:"ticket_id"`
	AssigneeID         string  `json:"assignee_id"`
	PreviousAssigneeID *string `json:"previous_assignee_id"`
	GroupID            *string `json:"group_id"`
	By                 string  `json:"by"` // the actor: user:<id>, api_key:<id>, ...
	Version            int     `json:"version"`
}

// nextAssignee picks the group member after the round-robin cursor who is
// still an active owner or agent and not away, and moves the cursor to
// them; "" when nobody is free. It locks the group's row for the rest of
// the transaction (SELECT ... FOR UPDATE on MariaDB; on SQLite the
// transaction holds the write lock from BEGIN), so concurrent picks, from
// any number of processes, take turns and never read the same cursor.
func (m *Module) nextAssignee(ctx context.Context, groupID string) (string, error) {
	g, err := m.store.group(ctx, groupID, true)
	if err != nil {
		return "", err
	}
	members, err := m.store.members(ctx, g.ID)
	if err != nil {
		return "", err
	}
	users, err := m.staffUsers(ctx)
	if err != nil {
		return "", err
	}
	away, err := m.store.awaySet(ctx)
	if err != nil {
		return "", err
	}
	var free []string // in id order, as members are
	for _, id := range members {
		if _, ok := users[id]; ok && !away[id] {
			free = append(free, id)
		}
	}
	if len(free) == 0 {
		return "", nil
	}
	pick := free[0]
	for _, id := range free {
		if id > deref(g.LastAssigneeID) {
			pick = id
			break
		}
	}
	return pick, m.store.updateGroup(ctx, g.ID, map[string]any{"last_assignee_id": pick})
}

// placeNewTicket puts a ticket being created into group groupID (validated:
// 422 for a group the tenant does not have) and, for a round-robin group,
// assigns it to the next free member. It returns the history rows.
func (m *Module) placeNewTicket(ctx context.Context, t *ticketRow, groupID string, at time.Time) ([]historyRow, error) {
	if groupID == "" {
		return nil, nil
	}
	g, err := m.validGroupID(ctx, groupID)
	if err != nil {
		return nil, err
	}
	t.GroupID = &g.ID
	hist := []historyRow{m.change(ctx, t, "group_id", nil, &g.ID, at)}
	if !g.RoundRobin {
		return hist, nil
	}
	pick, err := m.nextAssignee(ctx, g.ID)
	if err != nil || pick == "" {
		return hist, err
	}
	t.AssigneeID = &pick
	return append(hist, m.change(ctx, t, "assignee_id", nil, &pick, at)), nil
}

// patchPlacement applies a patch's group change and round-robin to set and
// hist: a ticket that ends up in a round-robin group with nobody assigned,
// because its group changed or p.RoundRobin asks, goes to the group's next
// free member. p.RoundRobin without a round-robin group is 422.
func (m *Module) patchPlacement(ctx context.Context, t *ticketRow, p ticketPatch, set map[string]any, hist *[]historyRow,
	at time.Time) error {
	group, changed := t.GroupID, false
	if p.GroupID != nil {
		if g := *p.GroupID; g != nil {
			if _, err := m.validGroupID(ctx, *g); err != nil {
				return err
			}
		}
		if deref(t.GroupID) != deref(*p.GroupID) {
			group, changed = *p.GroupID, true
			set["group_id"] = group
			*hist = append(*hist, m.change(ctx, t, "group_id", t.GroupID, group, at))
		}
	}
	assignee := t.AssigneeID
	if v, ok := set["assignee_id"]; ok {
		assignee = v.(*string)
	}
	if !changed && !p.RoundRobin {
		return nil
	}
	if p.RoundRobin && group == nil {
		return ErrNoGroup
	}
	if group == nil || (assignee != nil && !p.RoundRobin) {
		return nil
	}
	g, err := m.store.group(ctx, *group, false)
	if err != nil {
		return err
	}
	if !g.RoundRobin {
		if p.RoundRobin {
			return ErrNotRoundRobin
		}
		return nil
	}
	// Lock the ticket before the group, the order every path takes (an
	// assign locks its ticket first), so two of them cannot deadlock on
	// MariaDB; a writer that got in first makes the update below stale.
	if _, err := m.store.lockTickets(ctx, t.ID); err != nil {
		return err
	}
	pick, err := m.nextAssignee(ctx, g.ID)
	if err != nil {
		return err
	}
	if pick == "" {
		if p.RoundRobin {
			return ErrNoAgentFree
		}
		return nil
	}
	if deref(assignee) == pick {
		return nil
	}
	// Replace a history row the same patch wrote for assignee_id.
	kept := (*hist)[:0]
	for _, h := range *hist {
		if h.Field != "assignee_id" {
			kept = append(kept, h)
		}
	}
	*hist = kept
	set["assignee_id"] = &pick
	if t.AssigneeID == nil || *t.AssigneeID != pick {
		*hist = append(*hist, m.change(ctx, t, "assignee_id", t.AssigneeID, &pick, at))
	}
	return nil
}

// publishChanges publishes ticket_assigned when a write gave the ticket a
// new assignee, and ticket_solved when it solved it; before is the ticket
// as read before the write (nil for a new one).
func (m *Module) publishChanges(ctx context.Context, before, after *ticketRow) error {
	if m.bus == nil {
		return nil
	}
	var prev *string
	if before != nil {
		prev = before.AssigneeID
	}
	if after.AssigneeID != nil && deref(prev) != *after.AssigneeID {
		ev := AssignedEvent{TicketID: after.ID, AssigneeID: *after.AssigneeID, PreviousAssigneeID: prev,
			GroupID: after.GroupID, By: actor(ctx), Version: after.Version}
		if err := m.bus.Publish(ctx, TopicTicketAssigned, ev); err != nil {
			return err
		}
	}
	if after.Status == StatusSolved && (before == nil || before.Status != StatusSolved) {
		return m.publish(ctx, TopicTicketSolved, after, TicketEvent{})
	}
	return nil
}

// AssignRoundRobin assigns a ticket to the next free member of its
// round-robin group, whoever has it now. version 0 skips the version check.
func (m *Module) AssignRoundRobin(ctx context.Context, id string, version int) (*ticketRow, error) {
	return m.patchLatest(ctx, id, version, ticketPatch{RoundRobin: true}, ErrStaleVersion)
}

// patchLatest is patchTicket at the ticket's current version when version
// is 0, read under the row's lock so that no writer slips in between.
func (m *Module) patchLatest(ctx context.Context, id string, version int, p ticketPatch, stale error) (*ticketRow, error) {
	if version != 0 {
		return m.patchTicket(ctx, id, version, p, stale)
	}
	if uuid.Validate(id) != nil {
		return nil, ErrTicketNotFound
	}
	var out *ticketRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		// The locking read comes first: on MariaDB the transaction's
		// snapshot is then taken after it, and sees the version it locked.
		rows, err := m.store.lockTickets(ctx, id)
		if err != nil {
			return err
		}
		if rows[id] == nil {
			return ErrTicketNotFound
		}
		out, err = m.patchTicket(ctx, id, rows[id].Version, p, stale)
		return err
	})
	return out, err
}
