package httpx

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
)

// List limits.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// ListParams are a list request's paging and sort, already checked.
type ListParams struct {
	Page    int
	PerPage int
	Sort    string // a column from the endpoint's allow-list
	Desc    bool
	Q       string
}

// Offset is the row offset of the page.
func (p ListParams) Offset() int { return (p.Page - 1) * p.PerPage }

// OrderBy is the SQL ORDER BY for the sort column.
func (p ListParams) OrderBy() string {
	if p.Desc {
		return p.Sort + " DESC"
	}
	return p.Sort + " ASC"
}

// Page is one page of a list response.
type Page[T any] struct {
	Items   []T   `json:"items"`
	Total   int64 `json:"total"`
	Page    int   `json:"page"`
	PerPage int   `json:"per_page"`
}

// NewPage builds a page; items is never rendered as null.
func NewPage[T any](items []T, total int64, p ListParams) Page[T] {
	if items == nil {
		items = []T{}
	}
	return Page[T]{Items: items, Total: total, Page: p.Page, PerPage: p.PerPage}
}

// ParseList reads page, per_page, sort and q. sorts maps the public sort key
// to its column; "-key" sorts descending. per_page is capped at MaxPerPage.
func ParseList(c echo.Context, sorts map[string]string, defaultSort string) (ListParams, error) {
	p := ListParams{Page: 1, PerPage: DefaultPerPage, Q: strings.TrimSpace(c.QueryParam("q"))}
	var details []errs.Detail
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			details = append(details, errs.Detail{Field: "page", Code: "range", Message: "must be a whole number from 1"})
		} else {
			p.Page = n
		}
	}
	if s := c.QueryParam("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			details = append(details, errs.Detail{Field: "per_page", Code: "range", Message: "must be a whole number from 1 to 100"})
		} else {
			p.PerPage = min(n, MaxPerPage)
		}
	}
	sort := c.QueryParam("sort")
	if sort == "" {
		sort = defaultSort
	}
	key := strings.TrimPrefix(sort, "-")
	col, ok := sorts[key]
	if !ok {
		keys := make([]string, 0, len(sorts))
		for k := range sorts {
			keys = append(keys, k)
		}
		details = append(details, errs.Detail{Field: "sort", Code: "oneof", Message: "must be one of: " + strings.Join(keys, ", ") + " (prefix - for descending)"})
	} else {
		p.Sort, p.Desc = col, strings.HasPrefix(sort, "-")
	}
	if len(p.Q) > 200 {
		details = append(details, errs.Detail{Field: "q", Code: "max", Message: "must be at most 200 characters"})
	}
	if len(details) > 0 {
		return p, errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.").WithDetails(details...)
	}
	return p, nil
}
