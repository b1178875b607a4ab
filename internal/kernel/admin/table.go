package admin

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/httpx"
)

// The table component: every list page, the kernel's and the modules',
// describes its columns, sorts and filters in a List and gets server-side
// pagination, sorting, filtering, search and CSV export of the same query.

// CSVMaxRows caps an export; a longer result is cut and says so in the
// X-Export-Truncated header.
const CSVMaxRows = 10000

// Column is one column of a list.
type Column struct {
	Key   string
	Label string
	Sort  string // the sort key that orders by this column, or ""
}

// FilterKind is how a filter is entered.
type FilterKind int

// Filter kinds.
const (
	FilterSelect FilterKind = iota
	FilterText
	FilterDate
)

// Filter is one filter field of a list, read from the query string.
type Filter struct {
	Key     string
	Label   string
	Kind    FilterKind
	Options []Choice // FilterSelect: the choices; "" means all
}

// Choice is one option of a select.
type Choice struct{ Value, Label string }

// Cell is one cell: its text, and optionally a link or a badge style.
type Cell struct {
	Text  string
	Href  string
	Badge string // "ok", "warn", "muted": shown as a badge
	Mono  bool
	Wrap  string // "nowrap" keeps the cell on one line; "anywhere" breaks long words
}

// Action is a row action: a link, or a POST form (with CSRF) when Post is
// set, confirmed first when Confirm is set.
type Action struct {
	Label   string
	Href    string
	Post    string
	Confirm string
	Danger  bool
}

// Row is one row of a list.
type Row struct {
	Cells   []Cell
	Actions []Action
}

// Query is a list request: paging, sort, search and filters, already
// checked against the List.
type Query struct {
	Page, PerPage int
	Sort          string // a key of List.Sorts
	Desc          bool
	Q             string
	Filters       map[string]string
	Offset, Limit int
	orderBy       string
}

// OrderBy is the SQL ORDER BY of the sort, from the List's allow-list.
func (q Query) OrderBy() string { return q.orderBy }

// List describes a list page.
type List struct {
	ID          string // the table's HTML id
	Columns     []Column
	Sorts       map[string]string // sort key -> SQL column
	DefaultSort string            // "-created_at" sorts descending
	Filters     []Filter
	Search      string // the search box's placeholder; "" hides it
	CSVName     string // the export's file name, without extension; "" hides export
	Empty       string // shown when there are no rows
	Fetch       func(ctx context.Context, q Query) ([]Row, int64, error)
}

// Table is a rendered list, for the "table" template.
type Table struct {
	ID        string
	Path      string
	Columns   []headerCell
	Rows      []Row
	HasAction bool
	Filters   []filterView
	Search    string
	Q         string
	Total     int64
	Page      int
	Pages     int
	First     int64
	Last      int64
	PrevHref  string
	NextHref  string
	PageLinks []pageLink
	CSVHref   string
	Empty     string
	Sort      string
	Desc      bool
	PerPage   int
}

type headerCell struct {
	Label    string
	Href     string
	Sorted   string // "ascending", "descending" or ""
	Sortable bool
}

type filterView struct {
	Filter
	Value string
	Date  bool
	Text  bool
}

type pageLink struct {
	N       int
	Href    string
	Current bool
	Gap     bool
}

// ParseQuery reads a list request leniently: a browser link with a bad
// parameter falls back to the default rather than an error page.
func (l *List) ParseQuery(c echo.Context) Query {
	q := Query{Page: 1, PerPage: httpx.DefaultPerPage, Filters: map[string]string{}}
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n >= 1 && n <= 1_000_000 {
		q.Page = n
	}
	if n, err := strconv.Atoi(c.QueryParam("per_page")); err == nil && n >= 1 {
		q.PerPage = min(n, httpx.MaxPerPage)
	}
	if s := strings.TrimSpace(c.QueryParam("q")); len(s) <= 200 && l.Search != "" {
		q.Q = s
	}
	sort := c.QueryParam("sort")
	if _, ok := l.Sorts[strings.TrimPrefix(sort, "-")]; !ok || sort == "" {
		sort = l.DefaultSort
	}
	q.Sort, q.Desc = strings.TrimPrefix(sort, "-"), strings.HasPrefix(sort, "-")
	if col, ok := l.Sorts[q.Sort]; ok {
		q.orderBy = col + " ASC"
		if q.Desc {
			q.orderBy = col + " DESC"
		}
	}
	for _, f := range l.Filters {
		v := strings.TrimSpace(c.QueryParam(f.Key))
		if v == "" || len(v) > 200 {
			continue
		}
		switch f.Kind {
		case FilterSelect:
			for _, o := range f.Options {
				if o.Value == v {
					q.Filters[f.Key] = v
				}
			}
		case FilterDate:
			if _, err := time.Parse("2006-01-02", v); err == nil {
				q.Filters[f.Key] = v
			}
		default:
			q.Filters[f.Key] = v
		}
	}
	q.Offset, q.Limit = (q.Page-1)*q.PerPage, q.PerPage
	return q
}

// Date is a date filter's value as the start of that day in UTC, or zero.
func (q Query) Date(key string) time.Time {
	t, _ := time.Parse("2006-01-02", q.Filters[key])
	return t
}

// values is the query string of q, with overrides.
func (q Query) values(over map[string]string) url.Values {
	v := url.Values{}
	for k, x := range q.Filters {
		v.Set(k, x)
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	sort := q.Sort
	if q.Desc {
		sort = "-" + sort
	}
	v.Set("sort", sort)
	if q.PerPage != httpx.DefaultPerPage {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	for k, x := range over {
		if x == "" {
			v.Del(k)
		} else {
			v.Set(k, x)
		}
	}
	return v
}

// Run answers a list request: a CSV file when format=csv, otherwise the
// Table to render in the page.
func (l *List) Run(c echo.Context) (*Table, bool, error) {
	q := l.ParseQuery(c)
	ctx := c.Request().Context()
	if c.QueryParam("format") == "csv" && l.CSVName != "" {
		q.Offset, q.Limit = 0, CSVMaxRows
		rows, total, err := l.Fetch(ctx, q)
		if err != nil {
			return nil, false, err
		}
		return nil, true, l.writeCSV(c, rows, total)
	}
	rows, total, err := l.Fetch(ctx, q)
	if err != nil {
		return nil, false, err
	}
	path := c.Request().URL.Path
	href := func(over map[string]string) string { return path + "?" + q.values(over).Encode() }
	t := &Table{ID: l.ID, Path: path, Rows: rows, Search: l.Search, Q: q.Q, Total: total, Page: q.Page,
		Empty: l.Empty, Sort: q.Sort, Desc: q.Desc, PerPage: q.PerPage}
	if t.Empty == "" {
		t.Empty = "Nothing here yet."
	}
	for _, r := range rows {
		if len(r.Actions) > 0 {
			t.HasAction = true
		}
	}
	for _, col := range l.Columns {
		h := headerCell{Label: col.Label, Sortable: col.Sort != ""}
		if h.Sortable {
			next := col.Sort
			if q.Sort == col.Sort {
				h.Sorted = "ascending"
				if q.Desc {
					h.Sorted = "descending"
				} else {
					next = "-" + col.Sort
				}
			}
			h.Href = href(map[string]string{"sort": next, "page": ""})
		}
		t.Columns = append(t.Columns, h)
	}
	for _, f := range l.Filters {
		t.Filters = append(t.Filters, filterView{Filter: f, Value: q.Filters[f.Key], Date: f.Kind == FilterDate, Text: f.Kind == FilterText})
	}
	t.Pages = int((total + int64(q.PerPage) - 1) / int64(q.PerPage))
	if len(rows) > 0 {
		t.First = int64(q.Offset) + 1
		t.Last = int64(q.Offset + len(rows))
	}
	if q.Page > 1 {
		t.PrevHref = href(map[string]string{"page": strconv.Itoa(q.Page - 1)})
	}
	if q.Page < t.Pages {
		t.NextHref = href(map[string]string{"page": strconv.Itoa(q.Page + 1)})
	}
	for n := 1; n <= t.Pages; n++ {
		if n == 1 || n == t.Pages || (n >= q.Page-2 && n <= q.Page+2) {
			t.PageLinks = append(t.PageLinks, pageLink{N: n, Href: href(map[string]string{"page": strconv.Itoa(n)}), Current: n == q.Page})
		} else if len(t.PageLinks) > 0 && !t.PageLinks[len(t.PageLinks)-1].Gap {
			t.PageLinks = append(t.PageLinks, pageLink{Gap: true})
		}
	}
	if l.CSVName != "" {
		t.CSVHref = path + "?" + q.values(map[string]string{"format": "csv", "page": ""}).Encode()
	}
	return t, false, nil
}

func (l *List) writeCSV(c echo.Context, rows []Row, total int64) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", l.CSVName+"-"+time.Now().UTC().Format("20060102-150405")+".csv"))
	if total > int64(len(rows)) {
		h.Set("X-Export-Truncated", "true")
	}
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	head := make([]string, len(l.Columns))
	for i, col := range l.Columns {
		head[i] = CSVSafe(col.Label)
	}
	if err := w.Write(head); err != nil {
		return err
	}
	for _, r := range rows {
		rec := make([]string, len(l.Columns))
		for i := range l.Columns {
			if i < len(r.Cells) {
				rec[i] = CSVSafe(r.Cells[i].Text)
			}
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// CSVSafe defuses a cell that a spreadsheet would run as a formula: one
// starting with = + - @ (or a tab or carriage return, which some programs
// skip first) gets a leading single quote.
func CSVSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
