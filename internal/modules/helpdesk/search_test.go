package helpdesk_test

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/db"
)

// list is the ids of one page of GET /tickets?query as token.
func (f *fixture) list(t *testing.T, token, query string) []string {
	t.Helper()
	var l struct {
		Items []ticket
	}
	f.do(t, "GET", "/tickets?"+query, token, nil, 200, "").Decode(t, &l)
	ids := []string{}
	for _, it := range l.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

// walk follows next_cursor from the first page of query to the last and
// returns every id in the order listed.
func (f *fixture) walk(t *testing.T, token, query string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		var l struct {
			Items      []ticket
			NextCursor *string `json:"next_cursor"`
		}
		f.do(t, "GET", "/tickets?"+query+"&cursor="+url.QueryEscape(cursor), token, nil, 200, "").Decode(t, &l)
		for _, it := range l.Items {
			ids = append(ids, it.ID)
		}
		if l.NextCursor == nil {
			return ids
		}
		cursor = *l.NextCursor
	}
	t.Fatalf("%s: more than 100 pages", query)
	return nil
}

// set writes columns of a ticket directly, for states and times the API
// does not make on demand.
func (f *fixture) set(t *testing.T, id string, cols map[string]any) {
	t.Helper()
	if err := f.k.DB.Conn(context.Background()).Table("helpdesk_tickets").Where("id = ?", id).Updates(cols).Error; err != nil {
		t.Fatal(err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func day(d int) time.Time { return time.Date(2026, 1, d, 10, 0, 0, 0, time.UTC) }

func TestTicketListFilters(t *testing.T) {
	f := newFixture(t)
	ownerID := f.userID(t, f.ownerA)
	g1, g2 := "0193a000-0000-7000-8000-000000000001", "0193a000-0000-7000-8000-000000000002"
	t1 := f.open(t, f.agentA, "alpha", "r1@x.test")
	t2 := f.open(t, f.agentA, "beta", "r2@x.test")
	t3 := f.open(t, f.agentA, "gamma", "r1@x.test")
	t4 := f.open(t, f.agentA, "delta", "r2@x.test")
	f.set(t, t1.ID, map[string]any{"status": "new", "priority": "low", "tags": `["billing","vip"]`, "assignee_id": f.agentAID,
		"group_id": g1, "created_at": day(1), "updated_at": day(5)})
	f.set(t, t2.ID, map[string]any{"status": "open", "priority": "high", "channel": "email", "tags": `["billing"]`,
		"created_at": day(2), "updated_at": day(3)})
	f.set(t, t3.ID, map[string]any{"status": "pending", "priority": "urgent", "channel": "web", "assignee_id": ownerID,
		"group_id": g2, "created_at": day(3), "updated_at": day(4)})
	f.set(t, t4.ID, map[string]any{"status": "solved", "priority": "normal", "tags": `["vip"]`, "created_at": day(4),
		"updated_at": day(6)})
	a, b, c, d := t1.ID, t2.ID, t3.ID, t4.ID
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{a, b, c, d}},
		{"status=new", []string{a}},
		{"status=new,open", []string{a, b}},
		{"status=open&status=pending", []string{b, c}},
		{"priority=high,urgent", []string{b, c}},
		{"assignee=me", []string{a}},
		{"assignee=" + ownerID, []string{c}},
		{"assignee=none", []string{b, d}},
		{"assignee=none,me", []string{a, b, d}},
		{"group=" + g1, []string{a}},
		{"group=none", []string{b, d}},
		{"group=" + g2 + ",none", []string{b, c, d}},
		{"tag=billing", []string{a, b}},
		{"tag=billing,vip", []string{a}},
		{"tag=VIP", []string{a, d}},
		{"tag=nothing", nil},
		{"requester=" + t1.RequesterID, []string{a, c}},
		{"channel=email", []string{b}},
		{"channel=api,web", []string{a, c, d}},
		{"created_after=2026-01-02T10:00:00Z", []string{b, c, d}},
		{"created_after=2026-01-02T11:00:00%2B01:00", []string{b, c, d}},
		{"created_after=2026-01-02T11:00:00+01:00", []string{b, c, d}}, // an unencoded '+' arrives as a space
		{"created_before=2026-01-02T10:00:00Z", []string{a}},
		{"created_after=2026-01-02T00:00:00Z&created_before=2026-01-04T00:00:00Z", []string{b, c}},
		{"updated_after=2026-01-05T00:00:00Z", []string{a, d}},
		{"updated_before=2026-01-04T00:00:00Z", []string{b}},
		{"status=new,open,pending&tag=billing&assignee=none", []string{b}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := f.list(t, f.agentA, tc.query); !sameSet(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for query, want := range map[string][]string{
		"sort=created_at&order=asc": {a, b, c, d},
		"sort=created_at":           {d, c, b, a},
		"sort=updated_at":           {d, a, c, b},
		"sort=updated_at&order=asc": {b, c, a, d},
		"sort=priority":             {c, b, d, a},
		"sort=priority&order=asc":   {a, d, b, c},
	} {
		if got := f.list(t, f.agentA, query); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", query, got, want)
		}
	}
	// Another tenant lists nothing of A's, whatever the filter.
	for _, query := range []string{"", "status=new", "assignee=none", "tag=vip"} {
		if got := f.list(t, f.ownerB, query); len(got) != 0 {
			t.Errorf("tenant B, %q: %v", query, got)
		}
	}
	// A customer's filters apply to their own tickets only; naming another
	// requester does not widen that.
	mine := f.open(t, f.custA, "my own", "")
	if got := f.list(t, f.custA, "status=new"); !slices.Equal(got, []string{mine.ID}) {
		t.Errorf("customer, status=new: %v", got)
	}
	if got := f.list(t, f.custA, "requester="+t1.RequesterID); !slices.Equal(got, []string{mine.ID}) {
		t.Errorf("customer, requester=another: %v", got)
	}
}

// Every sort walks the whole list page by page, in order, each ticket once,
// with many tickets sharing each sort key.
func TestTicketListCursorPages(t *testing.T) {
	f := newFixture(t)
	type row struct {
		id       string
		created  time.Time
		updated  time.Time
		priority int
	}
	var rows []row
	prios := []string{"low", "normal", "high", "urgent"}
	for i := range 23 {
		tk := f.open(t, f.agentA, fmt.Sprintf("walk %d", i), "walker@x.test")
		r := row{id: tk.ID, created: day(1 + i%3), updated: day(10 + i%4), priority: i % 4}
		f.set(t, tk.ID, map[string]any{"created_at": r.created, "updated_at": r.updated, "priority": prios[r.priority]})
		rows = append(rows, r)
	}
	for _, sort := range []string{"created_at", "updated_at", "priority"} {
		for _, order := range []string{"asc", "desc"} {
			want := slices.Clone(rows)
			slices.SortFunc(want, func(x, y row) int {
				var c int
				switch sort {
				case "created_at":
					c = x.created.Compare(y.created)
				case "updated_at":
					c = x.updated.Compare(y.updated)
				default:
					c = cmp.Compare(x.priority, y.priority)
				}
				c = cmp.Or(c, strings.Compare(x.id, y.id))
				if order == "desc" {
					c = -c
				}
				return c
			})
			var ids []string
			for _, r := range want {
				ids = append(ids, r.id)
			}
			for _, limit := range []int{1, 4, 23, 100} {
				got := f.walk(t, f.agentA, fmt.Sprintf("sort=%s&order=%s&limit=%d", sort, order, limit))
				if !slices.Equal(got, ids) {
					t.Errorf("sort=%s&order=%s&limit=%d:\n got %v\nwant %v", sort, order, limit, got, ids)
				}
			}
		}
	}
	// Relevance pages: every match once (the scores tie or not).
	all := make([]string, len(rows))
	for i, r := range rows {
		all[i] = r.id
	}
	for _, order := range []string{"desc", "asc"} {
		got := f.walk(t, f.agentA, "q=walk&limit=5&order="+order)
		if len(got) != len(all) || !sameSet(got, all) {
			t.Errorf("relevance %s: %d tickets %v", order, len(got), got)
		}
	}
	// A cursor belongs to its sort and order.
	var l struct {
		NextCursor *string `json:"next_cursor"`
	}
	f.do(t, "GET", "/tickets?sort=created_at&limit=2", f.agentA, nil, 200, "").Decode(t, &l)
	cur := url.QueryEscape(*l.NextCursor)
	f.do(t, "GET", "/tickets?sort=created_at&limit=2&cursor="+cur, f.agentA, nil, 200, "")
	f.do(t, "GET", "/tickets?sort=updated_at&limit=2&cursor="+cur, f.agentA, nil, 400, "helpdesk.invalid_cursor")
	f.do(t, "GET", "/tickets?sort=created_at&order=asc&cursor="+cur, f.agentA, nil, 400, "helpdesk.invalid_cursor")
	f.do(t, "GET", "/tickets?q=walk&cursor="+cur, f.agentA, nil, 400, "helpdesk.invalid_cursor")
}

func TestTicketSearch(t *testing.T) {
	f := newFixture(t)
	printer := f.open(t, f.agentA, "Printer jammed", "cust@a.test") // cust@a.test is the customer user custA
	f.do(t, "POST", "/tickets/"+printer.ID+"/messages", f.agentA, map[string]any{"body": "Secretword: escalate to the vendor",
		"internal": true}, 201, "")
	f.do(t, "POST", "/tickets/"+printer.ID+"/messages", f.agentA, map[string]any{"body": "Please try a new toner cartridge"}, 201, "")
	cafe := f.open(t, f.agentA, "Café order", "cust2@a.test")
	f.do(t, "POST", "/tickets/"+cafe.ID+"/messages", f.agentA, map[string]any{"body": "Réservation confirmée pour mardi"}, 201, "")
	login := f.open(t, f.agentA, "Login problem", "other@x.test") // its message: "Help with Login problem"
	f.do(t, "POST", "/tickets/"+login.ID+"/messages", f.agentA, map[string]any{"body": "Unrelated to the printer, I think"}, 201, "")
	hp := f.open(t, f.agentA, "HP laser", "other@x.test")
	p, c, l := printer.ID, cafe.ID, login.ID
	for _, tc := range []struct {
		who, q string
		want   []string
	}{
		{"agent", "printer", []string{p, l}}, // the subject of one, a message of the other
		{"agent", "jammed", []string{p}},
		{"agent", "jam", []string{p}},             // a prefix
		{"agent", "PRINTER JAM", []string{p}},     // every word, in one document
		{"agent", "jammed toner", nil},            // no one document has both
		{"agent", "toner cartridge", []string{p}}, // a reply
		{"agent", "cartr", []string{p}},
		{"agent", "cafe", []string{c}},        // diacritics folded
		{"agent", "reservation", []string{c}}, // in a message
		{"agent", "CONFIRMÉE", []string{c}},
		{"agent", "secretword", []string{p}}, // staff search notes
		{"agent", "escalate vendor", []string{p}},
		{"agent", "hp", []string{hp.ID}}, // shorter than MariaDB's smallest word: the subject's substring
		{"agent", "nothing-like-this", nil},
		{"customer", "printer", []string{p}}, // only their own
		{"customer", "toner", []string{p}},
		{"customer", "secretword", nil}, // never a note's text
		{"customer", "escalate vendor", nil},
		{"customer", "cafe", nil},
		{"customer2", "cafe", []string{c}},
		{"customer2", "printer", nil},
		{"tenant B", "printer", nil},
		{"tenant B", "cafe", nil},
	} {
		t.Run(tc.who+" "+tc.q, func(t *testing.T) {
			token := map[string]string{"agent": f.agentA, "customer": f.custA, "customer2": f.cust2A, "tenant B": f.ownerB}[tc.who]
			if got := f.list(t, token, "q="+url.QueryEscape(tc.q)); !sameSet(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if f.k.DB.Dialect() == db.SQLite {
		// BM25 with subjects weighed higher; MariaDB's order is not asserted.
		if got := f.list(t, f.agentA, "q=printer"); !slices.Equal(got, []string{p, l}) {
			t.Errorf("printer by relevance: %v, want the subject match first", got)
		}
	}
	// Search combines with filters and with other sorts.
	if got := f.list(t, f.agentA, "q=printer&status=open"); len(got) != 0 {
		t.Errorf("printer, open: %v", got)
	}
	f.patch(t, &login, map[string]any{"status": "open"}, 200, "")
	if got := f.list(t, f.agentA, "q=printer&status=open"); !slices.Equal(got, []string{l}) {
		t.Errorf("printer, open: %v", got)
	}
	if got := f.list(t, f.agentA, "q=printer&sort=created_at&order=asc"); !slices.Equal(got, []string{p, l}) {
		t.Errorf("printer, oldest first: %v", got)
	}
	// A new subject is searchable at once, the old one no more.
	var zebra ticket
	f.do(t, "POST", "/tickets", f.agentA, map[string]any{"subject": "Zebra stripes", "message": "no animal here",
		"requester": map[string]string{"email": "zoo@x.test"}}, 201, "").Decode(t, &zebra)
	if got := f.list(t, f.agentA, "q=zebra"); !slices.Equal(got, []string{zebra.ID}) {
		t.Errorf("zebra: %v", got)
	}
	f.patch(t, &zebra, map[string]any{"subject": "Giraffe necks"}, 200, "")
	if got := f.list(t, f.agentA, "q=giraffe"); !slices.Equal(got, []string{zebra.ID}) {
		t.Errorf("giraffe: %v", got)
	}
	if got := f.list(t, f.agentA, "q=zebra"); len(got) != 0 {
		t.Errorf("zebra after renaming: %v", got)
	}
	// No input is a server error: operators and quotes of FTS5 and of
	// MariaDB's boolean mode are words or separators.
	for _, q := range nastyQueries {
		for _, token := range []string{f.agentA, f.custA} {
			f.do(t, "GET", "/tickets?q="+url.QueryEscape(q), token, nil, 200, "")
			f.do(t, "GET", "/tickets?sort=created_at&q="+url.QueryEscape(q), token, nil, 200, "")
		}
	}
}

var nastyQueries = []string{`"`, `""`, `'`, `*`, `**`, `"printer`, `printer"`, `print*er`, `AND`, `OR`, `NOT`,
	`printer AND`, `OR printer`, `NOT printer`, `NEAR(printer jam)`, `printer NEAR/2 jam`, `(`, `)`, `()`, `-printer`,
	`+printer`, `~printer`, `<printer`, `>printer`, `@2`, `printer@3`, `subject:printer`, `body : x`, `{subject}: x`,
	`^printer`, `\`, `\"`, `%`, `_`, `%_%`, `!`, `;`, `'; DROP TABLE helpdesk_tickets; --`, "\x00", "a\x00b",
	`😀`, `printer 😀 jam`, `ﬁ`, `ǅ`, `İ`, "e\u0301", `الطابعة`, `打印机`, `a-b-c`, `e-mail`, `1 2 3`, `0`,
	`the`, `a an the of`, `ab cd`, strings.Repeat("x", 200), strings.Repeat("ab ", 66), strings.Repeat(`"*(`, 66)}

func TestTicketListBadInput(t *testing.T) {
	f := newFixture(t)
	f.open(t, f.agentA, "bad input", "bad@x.test")
	before := f.counts(t)
	for _, tc := range []struct {
		query string
		want  int
		code  string
	}{
		{"status=lost", 422, "invalid_query"},
		{"status=open,lost", 422, "invalid_query"},
		{"priority=highest", 422, "invalid_query"},
		{"channel=fax", 422, "invalid_query"},
		{"assignee=bob", 422, "invalid_query"},
		{"assignee=nobody", 422, "invalid_query"},
		{"group=me", 422, "invalid_query"},
		{"requester=none", 422, "invalid_query"},
		{"created_after=yesterday", 422, "invalid_query"},
		{"updated_before=2026-01-01", 422, "invalid_query"},
		{"created_after=2026-02-01T00:00:00Z&created_before=2026-01-01T00:00:00Z", 422, "invalid_query"},
		{"sort=subject", 422, "invalid_query"},
		{"sort=relevance", 422, "invalid_query"}, // without q
		{"order=up", 422, "invalid_query"},
		{"limit=0", 422, "invalid_query"},
		{"limit=x", 422, "invalid_query"},
		{"q=" + strings.Repeat("x", 201), 422, "invalid_query"},
		{"requester=" + manyIDs(51), 422, "invalid_query"},
		{"cursor=bogus", 400, "helpdesk.invalid_cursor"},
		{"cursor=" + url.QueryEscape("eyJzIjoicHJpb3JpdHkifQ"), 400, "helpdesk.invalid_cursor"}, // {"s":"priority"}
		{"cursor=e30", 400, "helpdesk.invalid_cursor"},                                          // {}
	} {
		t.Run(tc.query, func(t *testing.T) {
			res := f.do(t, "GET", "/tickets?"+tc.query, f.agentA, nil, tc.want, tc.code)
			if tc.want == 422 && !strings.Contains(string(res.Body), `"field"`) {
				t.Errorf("no details: %s", res.Body)
			}
		})
	}
	if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("rows changed: %v -> %v", before, after)
	}
}

// manyIDs is n distinct ids, comma-separated.
func manyIDs(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0193a000-0000-7000-8000-%012d", i)
	}
	return strings.Join(ids, ",")
}
