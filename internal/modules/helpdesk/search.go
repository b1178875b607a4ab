package helpdesk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// Sort keys of the ticket list. Every sort ends on the ticket id, so that
// keyset pages are exact even when many tickets share the key.
const (
	SortCreated   = "created_at"
	SortUpdated   = "updated_at"
	SortPriority  = "priority"
	SortRelevance = "relevance" // only with q: best match first
)

// Values of the assignee and group filters that are not ids.
const (
	filterMe   = "me"   // assignee: the caller
	filterNone = "none" // assignee or group: not set
)

// listParams are the query parameters of GET /tickets that select and
// order tickets; a saved view stores these and nothing else.
var listParams = []string{"q", "status", "priority", "assignee", "group", "tag", "requester", "channel",
	"created_after", "created_before", "updated_after", "updated_before", "sort", "order"}

// ErrBadCursor is a cursor that is not a next_cursor of the list, or one of
// another sort or order.
var ErrBadCursor = errs.New(errs.BadRequest, "helpdesk.invalid_cursor",
	"The cursor is not a next_cursor of this list and sort; start again without it.")

// ticketQuery is one page of the ticket list: filters, search, order and
// position. Lists are ANDed; the values inside one list are ORed, except
// Tags, which a ticket must all have.
type ticketQuery struct {
	Q                              string
	Statuses, Priorities, Channels []string
	Assignees, Groups              []string // ids, or filterNone
	Tags                           []string
	Requesters                     []string
	CreatedAfter, CreatedBefore    *time.Time // after is inclusive, before exclusive
	UpdatedAfter, UpdatedBefore    *time.Time
	Sort                           string
	Desc                           bool
	After                          *listCursor // the last ticket of the previous page
	Limit                          int
	Public                         bool // a customer's search: never matches internal notes
}

// listCursor is the position of a ticket in a sorted list: its sort key
// (as text) and id, with the sort it belongs to.
type listCursor struct {
	Sort  string `json:"s"`
	Order string `json:"o"`
	Key   string `json:"k"`
	ID    string `json:"id"`
}

func (q *ticketQuery) order() string {
	if q.Desc {
		return "desc"
	}
	return "asc"
}

// parseTicketQuery reads the list parameters of vals (see listParams, plus
// cursor and limit). Repeated parameters and comma-separated values both
// give several values. me is the caller's user id, for assignee=me.
func parseTicketQuery(vals url.Values, me string) (ticketQuery, error) {
	var d []errs.Detail
	bad := func(field, code, msg string) { d = append(d, invalid(field, code, msg)) }
	q := ticketQuery{Q: strings.TrimSpace(vals.Get("q")), Limit: httpx.DefaultPerPage, Desc: true}
	if utf8.RuneCountInString(q.Q) > 200 {
		bad("q", "max", "must be at most 200 characters")
	}
	list := func(name string) []string {
		var out []string
		for _, v := range vals[name] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
		if len(out) > 50 {
			bad(name, "max", "must have at most 50 values")
			return nil
		}
		return out
	}
	oneOf := func(name string, allowed []string) []string {
		out := list(name)
		for _, v := range out {
			if !slices.Contains(allowed, v) {
				bad(name, "oneof", "must be one or more of "+strings.Join(allowed, ", "))
				return nil
			}
		}
		return out
	}
	ids := func(name string, special ...string) []string {
		out := list(name)
		for i, v := range out {
			switch {
			case slices.Contains(special, v):
				if v == filterMe {
					out[i] = me
				}
			case uuid.Validate(v) != nil:
				bad(name, "uuid", "must be ids"+map[bool]string{true: " or " + strings.Join(special, ", "), false: ""}[len(special) > 0])
				return nil
			}
		}
		return out
	}
	q.Statuses = oneOf("status", Statuses)
	q.Priorities = oneOf("priority", Priorities)
	q.Channels = oneOf("channel", Channels)
	q.Assignees = ids("assignee", filterMe, filterNone)
	q.Groups = ids("group", filterNone)
	q.Requesters = ids("requester")
	for _, t := range list("tag") {
		q.Tags = append(q.Tags, strings.ToLower(t))
	}
	when := func(name string) *time.Time {
		s := vals.Get(name)
		if s == "" {
			return nil
		}
		// A '+' of an offset arrives as a space when the caller did not
		// encode it.
		t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
		if err != nil {
			bad(name, "datetime", "must be an RFC 3339 date and time, such as 2026-01-31T09:00:00Z")
			return nil
		}
		t = t.UTC()
		return &t
	}
	q.CreatedAfter, q.CreatedBefore = when("created_after"), when("created_before")
	q.UpdatedAfter, q.UpdatedBefore = when("updated_after"), when("updated_before")
	if q.CreatedAfter != nil && q.CreatedBefore != nil && !q.CreatedAfter.Before(*q.CreatedBefore) {
		bad("created_before", "after", "must be later than created_after")
	}
	if q.UpdatedAfter != nil && q.UpdatedBefore != nil && !q.UpdatedAfter.Before(*q.UpdatedBefore) {
		bad("updated_before", "after", "must be later than updated_after")
	}
	switch q.Sort = vals.Get("sort"); q.Sort {
	case "":
		q.Sort = SortCreated
		if q.Q != "" {
			q.Sort = SortRelevance
		}
	case SortCreated, SortUpdated, SortPriority:
	case SortRelevance:
		if q.Q == "" {
			bad("sort", "requires", "relevance needs a search (q)")
		}
	default:
		bad("sort", "oneof", "must be created_at, updated_at, priority or relevance")
	}
	switch vals.Get("order") {
	case "", "desc":
	case "asc":
		q.Desc = false
	default:
		bad("order", "oneof", "must be asc or desc")
	}
	if s := vals.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bad("limit", "range", "must be a whole number from 1 to 100")
		}
		q.Limit = min(n, httpx.MaxPerPage)
	}
	if len(d) > 0 {
		return q, ErrInvalidQuery.WithDetails(d...)
	}
	if s := vals.Get("cursor"); s != "" {
		c, err := decodeListCursor(s)
		if err != nil {
			return q, err
		}
		if c.Sort != q.Sort || c.Order != q.order() {
			return q, ErrBadCursor.WithDetails(invalid("cursor", "sort",
				fmt.Sprintf("was made for sort=%s&order=%s, not sort=%s&order=%s", c.Sort, c.Order, q.Sort, q.order())))
		}
		q.After = c
	}
	return q, nil
}

func decodeListCursor(s string) (*listCursor, error) {
	bad := ErrBadCursor.WithDetails(invalid("cursor", "invalid", "must be a next_cursor from a previous page"))
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c listCursor
	if err := json.Unmarshal(b, &c); err != nil || uuid.Validate(c.ID) != nil {
		return nil, bad
	}
	if _, err := cursorKey(c.Sort, c.Key); err != nil {
		return nil, bad
	}
	return &c, nil
}

// cursorKey is the sort key a cursor holds, typed for the query.
func cursorKey(sort, key string) (any, error) {
	switch sort {
	case SortCreated, SortUpdated:
		t, err := time.Parse(time.RFC3339Nano, key)
		return t.UTC(), err
	case SortPriority:
		return strconv.Atoi(key)
	case SortRelevance:
		return strconv.ParseFloat(key, 64)
	}
	return nil, fmt.Errorf("unknown sort %q", sort)
}

// nextCursor is the cursor after h in the list of q.
func (q *ticketQuery) nextCursor(h *ticketHit) string {
	c := listCursor{Sort: q.Sort, Order: q.order(), ID: h.Ticket.ID}
	switch q.Sort {
	case SortCreated:
		c.Key = h.Ticket.CreatedAt.UTC().Format(time.RFC3339Nano)
	case SortUpdated:
		c.Key = h.Ticket.UpdatedAt.UTC().Format(time.RFC3339Nano)
	case SortPriority:
		c.Key = strconv.Itoa(slices.Index(Priorities, h.Ticket.Priority) + 1)
	case SortRelevance:
		c.Key = strconv.FormatFloat(h.Score, 'g', -1, 64)
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ticketHit is a listed ticket with its search score (higher is better;
// 0 without q).
type ticketHit struct {
	Ticket ticketRow `gorm:"embedded"`
	Score  float64   `gorm:"column:score"`
}

// priorityRank orders priorities low (1) to urgent (4).
const priorityRank = "CASE helpdesk_tickets.priority WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 " +
	"WHEN 'urgent' THEN 4 ELSE 0 END"

// listTickets runs q: its filters, its search, its order and page (q.Limit
// rows from after q.After).
func (s *store) listTickets(ctx context.Context, q ticketQuery) ([]ticketHit, error) {
	sel := s.conn(ctx).Model(&ticketRow{})
	score := "0"
	if q.Q != "" {
		if !db.InTx(ctx) { // the writer slot may be this transaction's
			if err := s.search.catchUp(ctx); err != nil {
				return nil, err
			}
		}
		hits := s.searchHits(ctx, q.Q, q.Public, q.Sort == SortRelevance)
		sel = sel.Joins("JOIN (?) AS hits ON hits.ticket_id = helpdesk_tickets.id", hits)
		score = "hits.score"
	}
	sel = sel.Select("helpdesk_tickets.*, " + score + " AS score")
	in := func(col string, vals []string) {
		if len(vals) > 0 {
			sel = sel.Where("helpdesk_tickets."+col+" IN ?", vals)
		}
	}
	in("status", q.Statuses)
	in("priority", q.Priorities)
	in("channel", q.Channels)
	in("requester_id", q.Requesters)
	orNone := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		ids := slices.DeleteFunc(slices.Clone(vals), func(v string) bool { return v == filterNone })
		switch {
		case len(ids) == len(vals):
			sel = sel.Where("helpdesk_tickets."+col+" IN ?", ids)
		case len(ids) == 0:
			sel = sel.Where("helpdesk_tickets." + col + " IS NULL")
		default:
			sel = sel.Where("(helpdesk_tickets."+col+" IN ? OR helpdesk_tickets."+col+" IS NULL)", ids)
		}
	}
	orNone("assignee_id", q.Assignees)
	orNone("group_id", q.Groups)
	for _, t := range q.Tags {
		if s.db.Dialect() == db.MySQL {
			sel = sel.Where("JSON_CONTAINS(helpdesk_tickets.tags, JSON_QUOTE(?))", t)
		} else {
			sel = sel.Where("EXISTS (SELECT 1 FROM json_each(helpdesk_tickets.tags) WHERE json_each.value = ?)", t)
		}
	}
	for col, w := range map[string]*time.Time{"created_at >= ?": q.CreatedAfter, "created_at < ?": q.CreatedBefore,
		"updated_at >= ?": q.UpdatedAfter, "updated_at < ?": q.UpdatedBefore} {
		if w != nil {
			sel = sel.Where("helpdesk_tickets."+col, *w)
		}
	}
	key := map[string]string{SortCreated: "helpdesk_tickets.created_at", SortUpdated: "helpdesk_tickets.updated_at",
		SortPriority: priorityRank, SortRelevance: score}[q.Sort]
	dir, op := "ASC", ">"
	if q.Desc {
		dir, op = "DESC", "<"
	}
	if q.After != nil {
		v, err := cursorKey(q.After.Sort, q.After.Key)
		if err != nil {
			return nil, ErrBadCursor
		}
		sel = sel.Where(fmt.Sprintf("(%[1]s %[2]s ? OR (%[1]s = ? AND helpdesk_tickets.id %[2]s ?))", key, op),
			v, v, q.After.ID)
	}
	var out []ticketHit
	return out, sel.Order(key + " " + dir + ", helpdesk_tickets.id " + dir).Limit(q.Limit).Find(&out).Error
}

// searchHits is a subquery of (ticket_id, score) for the tickets whose
// subject or one message (public ones only if public) has every word of q,
// the last words as prefixes. With no word the index can look up it falls
// back to a substring of the subject. Unless scored, the score is 0: on
// SQLite, ranking every match costs more than finding it.
func (s *store) searchHits(ctx context.Context, q string, public, scored bool) any {
	tenant, scoped := "", true
	if p, ok := security.PrincipalFrom(ctx); !ok || !p.Unrestricted() {
		tenant = security.TenantOf(ctx)
	} else {
		scoped = false
	}
	where := func(alias string) (string, []any) {
		var conds []string
		var args []any
		if scoped {
			conds, args = append(conds, alias+".tenant_id = ?"), append(args, tenant)
		}
		if public && alias != "st" {
			conds = append(conds, alias+".internal = ?")
			args = append(args, false)
		}
		if len(conds) == 0 {
			return "", nil
		}
		return " AND " + strings.Join(conds, " AND "), args
	}
	terms := searchTerms(q)
	if s.db.Dialect() == db.MySQL {
		terms = slices.DeleteFunc(terms, func(t string) bool {
			return utf8.RuneCountInString(t) < mysqlMinToken || slices.Contains(mysqlStopwords, t)
		})
	}
	if len(terms) == 0 {
		w, args := where("st")
		return gorm.Expr("SELECT st.id AS ticket_id, 0 AS score FROM helpdesk_tickets st WHERE LOWER(st.subject) LIKE ? ESCAPE '!'"+w,
			append([]any{likeAny(q)}, args...)...)
	}
	if s.db.Dialect() == db.MySQL {
		m := "+" + strings.Join(terms, "* +") + "*"
		ws, sargs := where("st")
		wm, margs := where("sm")
		args := append([]any{m, m}, sargs...)
		args = append(append(args, m, m), margs...)
		return gorm.Expr("SELECT x.ticket_id AS ticket_id, MAX(x.score) AS score FROM ("+
			"SELECT st.id AS ticket_id, 4 * MATCH (st.subject) AGAINST (? IN BOOLEAN MODE) AS score FROM helpdesk_tickets st"+
			" WHERE MATCH (st.subject) AGAINST (? IN BOOLEAN MODE)"+ws+
			" UNION ALL SELECT sm.ticket_id, MATCH (sm.body) AGAINST (? IN BOOLEAN MODE) FROM helpdesk_messages sm"+
			" WHERE MATCH (sm.body) AGAINST (? IN BOOLEAN MODE)"+wm+") x GROUP BY x.ticket_id", args...)
	}
	m := `"` + strings.Join(terms, `"* "`) + `"*`
	w, args := where("d")
	if !scored {
		return gorm.Expr("SELECT DISTINCT d.ticket_id AS ticket_id, 0 AS score FROM helpdesk_search_fts"+
			" JOIN helpdesk_search_docs d ON d.id = helpdesk_search_fts.rowid WHERE helpdesk_search_fts MATCH ?"+w,
			append([]any{m}, args...)...)
	}
	return gorm.Expr("SELECT d.ticket_id AS ticket_id, -MIN(helpdesk_search_fts.rank) AS score FROM helpdesk_search_fts"+
		" JOIN helpdesk_search_docs d ON d.id = helpdesk_search_fts.rowid WHERE helpdesk_search_fts MATCH ?"+w+
		" GROUP BY d.ticket_id", append([]any{m}, args...)...)
}

// maxTerms caps the words of a search.
const maxTerms = 16

// searchTerms are the words of a search, lower-cased: runs of letters,
// digits and combining marks. Everything else separates words, so no
// operator or quote of either full-text syntax survives.
func searchTerms(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	var out []string
	for _, w := range words {
		if !slices.Contains(out, w) && len(out) < maxTerms {
			out = append(out, w)
		}
	}
	return out
}

// InnoDB's FULLTEXT defaults: words shorter than innodb_ft_min_token_size
// are not indexed, nor are its stopwords; a required term of either makes
// a boolean search find nothing.
const mysqlMinToken = 3

var mysqlStopwords = strings.Fields("a about an are as at be by com de en for from how i in is it la of on or that " +
	"the this to was what when where who will with und www")

// ticketPage is one page of the ticket list.
type ticketPage struct {
	Items []ticketHit
	Next  *string // the cursor of the next page; nil on the last
}

// ticketList is the page of tickets that the list parameters vals select
// (under those of the saved view vals names, if any),
// as the caller may see them: a customer sees only their own tickets and
// searches only the public conversation.
func (m *Module) ticketList(ctx context.Context, vals url.Values) (ticketPage, error) {
	if vals.Has("view") {
		var err error
		if vals, err = m.withView(ctx, vals); err != nil {
			return ticketPage{}, err
		}
	}
	q, err := parseTicketQuery(vals, principalID(ctx))
	if err != nil {
		return ticketPage{}, err
	}
	if !staff(ctx) {
		me, err := m.me(ctx, false)
		if errs.KindOf(err) == errs.NotFound {
			return ticketPage{Items: []ticketHit{}}, nil
		} else if err != nil {
			return ticketPage{}, err
		}
		q.Requesters, q.Public = []string{me.ID}, true
	}
	limit := q.Limit
	q.Limit++
	rows, err := m.store.listTickets(ctx, q)
	if err != nil {
		return ticketPage{}, err
	}
	page := ticketPage{Items: rows}
	if len(rows) > limit {
		page.Items = rows[:limit]
		next := q.nextCursor(&rows[limit-1])
		page.Next = &next
	}
	return page, nil
}

func viewHit(h *ticketHit) ticketView { return viewTicket(&h.Ticket) }

// hitRows are the tickets of hits.
func hitRows(hits []ticketHit) []ticketRow {
	out := make([]ticketRow, len(hits))
	for i := range hits {
		out[i] = hits[i].Ticket
	}
	return out
}
