package helpdesk

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
)

// Errors of merge and links.
var (
	ErrMergeSelf    = errs.New(errs.Invalid, "helpdesk.merge_into_self", "A ticket cannot be merged into itself.")
	ErrMergeClosed  = errs.New(errs.Invalid, "helpdesk.merge_closed", "A closed or merged ticket cannot be merged, nor merged into.")
	ErrInvalidMerge = errs.New(errs.Invalid, "helpdesk.invalid_merge", "The merge names no ticket of this tenant.")
	ErrLinkSelf     = errs.New(errs.Invalid, "helpdesk.link_to_self", "A ticket cannot be linked to itself.")
	ErrLinkExists   = errs.New(errs.Conflict, "helpdesk.link_exists", "The two tickets are already linked; unlink them first.")
	ErrLinkNotFound = errs.New(errs.NotFound, "helpdesk.link_not_found", "The tickets are not linked.")
	ErrInvalidLink  = errs.New(errs.Invalid, "helpdesk.invalid_link", "The link has invalid fields.")
)

// Link kinds, as what the other ticket is to this one.
const (
	LinkRelated   = "related"
	LinkDuplicate = "duplicate"
	LinkParent    = "parent" // the other ticket is this one's parent
	LinkChild     = "child"  // the other ticket is this one's child
)

// LinkKinds lists the link kinds.
var LinkKinds = []string{LinkRelated, LinkDuplicate, LinkParent, LinkChild}

// inverseKind is what this ticket is to the other one.
func inverseKind(k string) string {
	switch k {
	case LinkParent:
		return LinkChild
	case LinkChild:
		return LinkParent
	}
	return k
}

type linkRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	LoID      string    `gorm:"column:lo_id"`
	HiID      string    `gorm:"column:hi_id"`
	Kind      string    `gorm:"column:kind"` // what hi is to lo
	CreatedBy string    `gorm:"column:created_by"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (linkRow) TableName() string { return "helpdesk_ticket_links" }

type followerRow struct {
	TicketID   string    `gorm:"column:ticket_id;primaryKey"`
	TenantID   string    `gorm:"column:tenant_id"`
	CustomerID string    `gorm:"column:customer_id;primaryKey"`
	CreatedAt  time.Time `gorm:"column:created_at"`
}

func (followerRow) TableName() string { return "helpdesk_ticket_followers" }

// Link is a link seen from one ticket: TicketID is the other ticket and
// Kind what it is to this one.
type Link struct {
	TicketID  string    `json:"ticket_id"`
	Kind      string    `json:"kind"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// linkFrom is the link r seen from ticket id.
func linkFrom(id string, r *linkRow) Link {
	if r.LoID == id {
		return Link{TicketID: r.HiID, Kind: r.Kind, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
	}
	return Link{TicketID: r.LoID, Kind: inverseKind(r.Kind), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
}

// Merge folds ticket id into ticket into: the source is closed with
// merged_into_id set, both get a history row and an internal note, the
// source's requester (and followers) follow the target, and the target's
// conversation shows the source's messages from then on; the messages stay
// where they are. Both rows are locked in id order, so concurrent merges of
// the same tickets run one after the other and the second sees the first.
// It returns the source as it is now.
func (m *Module) Merge(ctx context.Context, id, into string) (*ticketRow, error) {
	if uuid.Validate(id) != nil {
		return nil, ErrTicketNotFound
	}
	badInto := ErrInvalidMerge.WithDetails(invalid("into_id", "exists", "must be a ticket of this tenant"))
	if uuid.Validate(into) != nil {
		return nil, badInto
	}
	var out *ticketRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		rows, err := m.store.lockTickets(ctx, id, into)
		if err != nil {
			return err
		}
		src, dst := rows[id], rows[into]
		switch {
		case src == nil:
			return ErrTicketNotFound
		case id == into:
			return ErrMergeSelf
		case dst == nil:
			return badInto
		case src.Status == StatusClosed || src.MergedInto != nil || dst.Status == StatusClosed || dst.MergedInto != nil:
			return ErrMergeClosed
		}
		at := now()
		closed := StatusClosed
		ok, err := m.store.updateTicket(ctx, src.ID, src.Version, map[string]any{"status": closed, "closed_at": at,
			"merged_into_id": dst.ID, "updated_at": at})
		if err != nil || !ok {
			return orStale(err)
		}
		if ok, err = m.store.updateTicket(ctx, dst.ID, dst.Version, map[string]any{"updated_at": at}); err != nil || !ok {
			return orStale(err)
		}
		hist := []historyRow{
			m.change(ctx, src, "status", &src.Status, &closed, at),
			m.change(ctx, src, "merged_into_id", nil, &dst.ID, at),
			m.change(ctx, dst, "merged_from", nil, &src.ID, at),
		}
		if err := m.store.addHistory(ctx, hist); err != nil {
			return err
		}
		if err := m.store.addFollowers(ctx, src, dst, at); err != nil {
			return err
		}
		notes := []*messageRow{
			m.note(ctx, src, fmt.Sprintf("Merged into ticket %s (%s).", dst.ID, dst.Subject), at),
			m.note(ctx, dst, fmt.Sprintf("Ticket %s (%s) was merged into this one.", src.ID, src.Subject), at),
		}
		for _, n := range notes {
			if err := m.store.addMessage(ctx, n); err != nil {
				return err
			}
		}
		if out, err = m.store.ticket(ctx, src.ID); err != nil {
			return err
		}
		target, err := m.store.ticket(ctx, dst.ID)
		if err != nil {
			return err
		}
		if err := m.publish(ctx, TopicTicketUpdated, out, TicketEvent{Changed: []string{"status", "merged_into_id"}}); err != nil {
			return err
		}
		return m.publish(ctx, TopicTicketUpdated, target, TicketEvent{Changed: []string{"merged_from"}})
	})
	return out, err
}

// orStale is err, or ErrStaleVersion for an update that matched no row
// (which a held row lock rules out).
func orStale(err error) error {
	if err != nil {
		return err
	}
	return ErrStaleVersion
}

// note is an internal note on t by the acting user.
func (m *Module) note(ctx context.Context, t *ticketRow, body string, at time.Time) *messageRow {
	return &messageRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, AuthorKind: AuthorAgent, AuthorID: principalID(ctx),
		Body: body, Internal: true, CreatedAt: at}
}

// family is ticket id and every ticket merged into it, directly or through
// another, in that order.
func (m *Module) family(ctx context.Context, id string) ([]string, error) {
	out, frontier := []string{id}, []string{id}
	for len(frontier) > 0 && len(out) < 1000 {
		next, err := m.store.mergedInto(ctx, frontier)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, n := range next {
			if !slices.Contains(out, n) {
				out = append(out, n)
				frontier = append(frontier, n)
			}
		}
	}
	return out, nil
}

// conversation is a ticket's messages with those of the tickets merged
// into it (each carries its own ticket_id), oldest first.
func (m *Module) conversation(ctx context.Context, id string, internal bool) ([]messageRow, error) {
	ids, err := m.family(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.store.messagesOf(ctx, ids, internal)
}

// follows reports whether customer follows ticket (as the requester of a
// ticket merged into it).
func (m *Module) follows(ctx context.Context, ticket, customer string) bool {
	ok, err := m.store.follows(ctx, ticket, customer)
	return err == nil && ok
}

// Links lists a ticket's links, oldest first.
func (m *Module) Links(ctx context.Context, id string) ([]Link, error) {
	t, err := m.visibleTicket(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := m.store.links(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Link, len(rows))
	for i := range rows {
		out[i] = linkFrom(t.ID, &rows[i])
	}
	return out, nil
}

// AddLink links ticket id to ticket other, as kind: what other is to id.
// Both tickets get a history row (field "links").
func (m *Module) AddLink(ctx context.Context, id, other, kind string) (*Link, error) {
	var d []errs.Detail
	if !slices.Contains(LinkKinds, kind) {
		d = append(d, invalid("kind", "oneof", "must be related, duplicate, parent or child"))
	}
	if uuid.Validate(other) != nil {
		d = append(d, invalid("ticket_id", "exists", "must be a ticket of this tenant"))
	}
	if len(d) > 0 {
		return nil, ErrInvalidLink.WithDetails(d...)
	}
	var out Link
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		t, err := m.visibleTicket(ctx, id)
		if err != nil {
			return err
		}
		if other == t.ID {
			return ErrLinkSelf
		}
		o, err := m.store.ticket(ctx, other)
		if errs.KindOf(err) == errs.NotFound {
			return ErrInvalidLink.WithDetails(invalid("ticket_id", "exists", "must be a ticket of this tenant"))
		} else if err != nil {
			return err
		}
		at := now()
		r := &linkRow{ID: newID(), TenantID: t.TenantID, LoID: t.ID, HiID: o.ID, Kind: kind, CreatedBy: actor(ctx), CreatedAt: at}
		if o.ID < t.ID {
			r.LoID, r.HiID, r.Kind = o.ID, t.ID, inverseKind(kind)
		}
		if err := m.store.addLink(ctx, r); err != nil {
			return err
		}
		out = linkFrom(t.ID, r)
		return m.store.addHistory(ctx, m.linkHistory(ctx, t, o, r, at, false))
	})
	return &out, err
}

// RemoveLink unlinks two tickets.
func (m *Module) RemoveLink(ctx context.Context, id, other string) error {
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		t, err := m.visibleTicket(ctx, id)
		if err != nil {
			return err
		}
		if uuid.Validate(other) != nil {
			return ErrLinkNotFound
		}
		r, err := m.store.link(ctx, t.ID, other)
		if err != nil {
			return err
		}
		if err := m.store.deleteLink(ctx, r.ID); err != nil {
			return err
		}
		o := &ticketRow{ID: other, TenantID: t.TenantID}
		return m.store.addHistory(ctx, m.linkHistory(ctx, t, o, r, now(), true))
	})
}

// linkHistory is a "links" history row on each ticket, with the link as
// "<kind>:<other id>" seen from that ticket: the new value when added, the
// old one when removed.
func (m *Module) linkHistory(ctx context.Context, a, b *ticketRow, r *linkRow, at time.Time, removed bool) []historyRow {
	var out []historyRow
	for _, t := range []*ticketRow{a, b} {
		l := linkFrom(t.ID, r)
		v := l.Kind + ":" + l.TicketID
		if removed {
			out = append(out, m.change(ctx, t, "links", &v, nil, at))
		} else {
			out = append(out, m.change(ctx, t, "links", nil, &v, at))
		}
	}
	return out
}

// ---- store

func (s *store) mergedInto(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	return out, s.conn(ctx).Model(&ticketRow{}).Where("merged_into_id IN ?", ids).Order("id").Pluck("id", &out).Error
}

func (s *store) messagesOf(ctx context.Context, ticketIDs []string, internal bool) ([]messageRow, error) {
	var out []messageRow
	sel := s.conn(ctx).Where("ticket_id IN ?", ticketIDs).Order("created_at, id")
	if !internal {
		sel = sel.Where("internal = ?", false)
	}
	return out, sel.Find(&out).Error
}

// addFollowers makes src's requester and followers followers of dst, but
// not dst's own requester.
func (s *store) addFollowers(ctx context.Context, src, dst *ticketRow, at time.Time) error {
	var ids []string
	if err := s.conn(ctx).Model(&followerRow{}).Where("ticket_id = ?", src.ID).Pluck("customer_id", &ids).Error; err != nil {
		return err
	}
	var have []string
	if err := s.conn(ctx).Model(&followerRow{}).Where("ticket_id = ?", dst.ID).Pluck("customer_id", &have).Error; err != nil {
		return err
	}
	var rows []followerRow
	for _, c := range append(ids, src.RequesterID) {
		if c != dst.RequesterID && !slices.Contains(have, c) {
			have = append(have, c)
			rows = append(rows, followerRow{TicketID: dst.ID, TenantID: dst.TenantID, CustomerID: c, CreatedAt: at})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return s.db.Conn(ctx).Create(&rows).Error
}

func (s *store) follows(ctx context.Context, ticket, customer string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&followerRow{}).Where("ticket_id = ? AND customer_id = ?", ticket, customer).Count(&n).Error
	return n > 0, err
}

func (s *store) links(ctx context.Context, id string) ([]linkRow, error) {
	var out []linkRow
	return out, s.conn(ctx).Where("(lo_id = ? OR hi_id = ?)", id, id).Order("created_at, id").Find(&out).Error
}

func (s *store) link(ctx context.Context, a, b string) (*linkRow, error) {
	lo, hi := min(a, b), max(a, b)
	var r linkRow
	if err := s.conn(ctx).Where("lo_id = ? AND hi_id = ?", lo, hi).Take(&r).Error; err != nil {
		return nil, notFound(err, ErrLinkNotFound)
	}
	return &r, nil
}

func (s *store) addLink(ctx context.Context, r *linkRow) error {
	err := s.db.Conn(ctx).Create(r).Error
	if db.IsUniqueViolation(err) {
		return ErrLinkExists
	}
	return err
}

func (s *store) deleteLink(ctx context.Context, id string) error {
	return s.conn(ctx).Where("id = ?", id).Delete(&linkRow{}).Error
}
