package helpdesk

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/security"
)

// store reads and writes the module's tables, always within the tenant of
// the principal in ctx. No gorm type or error leaves it.
type store struct {
	db     *db.DB
	search *searchIndexer // SQLite's full-text index (search_index.go); nil on MariaDB
}

func (s *store) conn(ctx context.Context) *gorm.DB {
	return s.db.Conn(ctx).Scopes(security.Scope(ctx))
}

// notFound translates a missing row into e, and passes other errors on.
func notFound(err error, e error) error {
	if db.IsNotFound(err) {
		return e
	}
	return err
}

// likeAny is a case-insensitive substring pattern with LIKE's wildcards
// escaped by '!'.
func likeAny(q string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + strings.ToLower(r.Replace(q)) + "%"
}

func (s *store) createCustomer(ctx context.Context, c *customerRow) error {
	err := s.db.Conn(ctx).Create(c).Error
	if db.IsUniqueViolation(err) {
		return ErrEmailTaken
	}
	return err
}

func (s *store) customer(ctx context.Context, id string) (*customerRow, error) {
	var c customerRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, notFound(err, ErrCustomerNotFound)
	}
	return &c, nil
}

// customerByEmail reads the customer with email. locked reads with a row
// lock, so that inside a transaction it sees a row another transaction
// committed after this one's snapshot. On MariaDB a locked read of a
// missing row also locks the gap where it would be, and two transactions
// that then insert into that gap deadlock: read unlocked before an insert.
func (s *store) customerByEmail(ctx context.Context, email string, locked bool) (*customerRow, error) {
	var c customerRow
	sel := s.conn(ctx)
	if locked {
		sel = sel.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	err := sel.Where("email = ?", email).Take(&c).Error
	if err != nil {
		return nil, notFound(err, ErrCustomerNotFound)
	}
	return &c, nil
}

func (s *store) customers(ctx context.Context, q string, limit int) ([]customerRow, error) {
	var out []customerRow
	sel := s.conn(ctx).Order("created_at DESC, id DESC").Limit(limit)
	if q != "" {
		p := likeAny(q)
		sel = sel.Where("(LOWER(name) LIKE ? ESCAPE '!' OR LOWER(email) LIKE ? ESCAPE '!' OR phone LIKE ? ESCAPE '!')", p, p, p)
	}
	return out, sel.Find(&out).Error
}

func (s *store) updateCustomer(ctx context.Context, id string, set map[string]any) error {
	err := s.conn(ctx).Model(&customerRow{}).Where("id = ?", id).Updates(set).Error
	if db.IsUniqueViolation(err) {
		return ErrEmailTaken
	}
	return err
}

func (s *store) createOrganization(ctx context.Context, o *organizationRow) error {
	return s.db.Conn(ctx).Create(o).Error
}

func (s *store) organization(ctx context.Context, id string) (*organizationRow, error) {
	var o organizationRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&o).Error; err != nil {
		return nil, notFound(err, ErrOrganizationNotFound)
	}
	return &o, nil
}

func (s *store) organizations(ctx context.Context, q string, limit int) ([]organizationRow, error) {
	var out []organizationRow
	sel := s.conn(ctx).Order("name, id").Limit(limit)
	if q != "" {
		sel = sel.Where("LOWER(name) LIKE ? ESCAPE '!'", likeAny(q))
	}
	return out, sel.Find(&out).Error
}

func (s *store) createTicket(ctx context.Context, t *ticketRow) error {
	if err := s.db.Conn(ctx).Create(t).Error; err != nil {
		return err
	}
	return s.search.queue(ctx, searchTicket, t.ID)
}

func (s *store) ticket(ctx context.Context, id string) (*ticketRow, error) {
	var t ticketRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, notFound(err, ErrTicketNotFound)
	}
	return &t, nil
}

func (s *store) ticketsOf(ctx context.Context, requester string, limit int) ([]ticketRow, error) {
	hits, err := s.listTickets(ctx, ticketQuery{Requesters: []string{requester}, Sort: SortCreated, Desc: true, Limit: limit})
	return hitRows(hits), err
}

// updateTicket writes set if the ticket is still at version, bumping the
// version: false means someone changed it first (or it is gone).
func (s *store) updateTicket(ctx context.Context, id string, version int, set map[string]any) (bool, error) {
	set["version"] = gorm.Expr("version + 1")
	res := s.conn(ctx).Model(&ticketRow{}).Where("id = ? AND version = ?", id, version).Updates(set)
	return res.RowsAffected == 1, res.Error
}

func (s *store) addMessage(ctx context.Context, m *messageRow) error {
	if err := s.db.Conn(ctx).Create(m).Error; err != nil {
		return err
	}
	return s.search.queue(ctx, searchMessage, m.ID)
}

// touchTicket moves a ticket's updated_at to at, the time of a message
// added to it, so that lists sorted by the last update show it first. The
// version stays: a reply does not conflict with an edit of the ticket's
// properties.
func (s *store) touchTicket(ctx context.Context, id string, at time.Time) error {
	return s.db.Conn(ctx).Model(&ticketRow{}).Where("id = ? AND updated_at < ?", id, at).Update("updated_at", at).Error
}

func (s *store) messages(ctx context.Context, ticketID string, internal bool) ([]messageRow, error) {
	return s.messagesOf(ctx, []string{ticketID}, internal) // merge.go
}

func (s *store) addHistory(ctx context.Context, rows []historyRow) error {
	if len(rows) == 0 {
		return nil
	}
	return s.db.Conn(ctx).Create(&rows).Error
}

func (s *store) history(ctx context.Context, ticketID string) ([]historyRow, error) {
	var out []historyRow
	return out, s.conn(ctx).Where("ticket_id = ?", ticketID).Order("at, id").Find(&out).Error
}
