package helpdesk

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
)

// The satisfaction report: how the requesters rated the tickets rated in a
// period (by csat_at), in all and by assignee and by group, with the
// latest comments. The score is good / (good + bad), as Zendesk counts it;
// null without ratings. The tenant's tickets are read through the
// (tenant_id, csat_at) index of rated tickets (migrations sqlite 0012,
// mysql 0008).

// CSATReport is the satisfaction report of a period.
type CSATReport struct {
	From       time.Time     `json:"from"`
	To         time.Time     `json:"to"`
	CSATCount                // the tenant's
	ByAssignee []CSATRow     `json:"by_assignee"` // most rated first
	ByGroup    []CSATRow     `json:"by_group"`
	Comments   []CSATComment `json:"comments"` // the latest, at most reportComments
}

// CSATCount counts ratings.
type CSATCount struct {
	Good  int      `json:"good"`
	Bad   int      `json:"bad"`
	Score *float64 `json:"score"` // good / (good + bad)
}

// CSATRow is the count of one assignee or group; ID is "" for tickets
// without one.
type CSATRow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	CSATCount
}

// CSATComment is a rating with a comment.
type CSATComment struct {
	TicketID string    `json:"ticket_id"`
	Subject  string    `json:"subject"`
	Rating   string    `json:"rating"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
}

const (
	reportComments  = 20
	reportMaxPeriod = 366 * 24 * time.Hour
	reportDefault   = 30 * 24 * time.Hour
)

// Percent is the score for a page: "83%", or "—" without ratings.
func (c CSATCount) Percent() string {
	if c.Score == nil {
		return "—"
	}
	return strconv.Itoa(int(math.Round(*c.Score*100))) + "%"
}

func (c *CSATCount) add(rating string, n int) {
	if rating == RatingGood {
		c.Good += n
	} else {
		c.Bad += n
	}
	s := float64(c.Good) / float64(c.Good+c.Bad)
	c.Score = &s
}

// csatTally is a count of one rating of one assignee and group.
type csatTally struct {
	AssigneeID *string
	GroupID    *string
	Rating     string
	N          int
}

// CSAT reports on the ratings given from from until to, of the tenant of
// the principal in ctx.
func (m *Module) CSAT(ctx context.Context, from, to time.Time) (*CSATReport, error) {
	tallies, err := m.store.csatTallies(ctx, from, to)
	if err != nil {
		return nil, err
	}
	people, err := m.agents(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := m.Groups(ctx)
	if err != nil {
		return nil, err
	}
	agentName, groupName := names(people), groupNames(groups)
	r := &CSATReport{From: from, To: to}
	byAssignee, byGroup := map[string]*CSATRow{}, map[string]*CSATRow{}
	row := func(in map[string]*CSATRow, id *string, named map[string]string, none, gone string) *CSATRow {
		key := deref(id)
		if in[key] == nil {
			name := none
			if key != "" {
				if name = named[key]; name == "" {
					name = gone
				}
			}
			in[key] = &CSATRow{ID: key, Name: name}
		}
		return in[key]
	}
	for _, t := range tallies {
		r.add(t.Rating, t.N)
		row(byAssignee, t.AssigneeID, agentName, "Unassigned", "(former agent)").add(t.Rating, t.N)
		row(byGroup, t.GroupID, groupName, "No group", "(deleted group)").add(t.Rating, t.N)
	}
	r.ByAssignee, r.ByGroup = sortedRows(byAssignee), sortedRows(byGroup)
	rated, err := m.store.csatCommented(ctx, from, to, reportComments)
	if err != nil {
		return nil, err
	}
	r.Comments = make([]CSATComment, len(rated))
	for i, t := range rated {
		r.Comments[i] = CSATComment{TicketID: t.ID, Subject: t.Subject, Rating: deref(t.CSATRating), Comment: deref(t.CSATComment),
			At: t.CSATAt.UTC()}
	}
	return r, nil
}

// csatTallies counts the tenant's ratings given from from until to, by
// assignee, group and rating.
func (s *store) csatTallies(ctx context.Context, from, to time.Time) ([]csatTally, error) {
	var out []csatTally
	return out, s.conn(ctx).Model(&ticketRow{}).Select("assignee_id, group_id, csat_rating AS rating, COUNT(*) AS n").
		Where("csat_at >= ? AND csat_at < ?", from, to).Group("assignee_id, group_id, csat_rating").Scan(&out).Error
}

// csatCommented is the tenant's latest limit ratings with a comment given
// from from until to.
func (s *store) csatCommented(ctx context.Context, from, to time.Time, limit int) ([]ticketRow, error) {
	var out []ticketRow
	return out, s.conn(ctx).Select("id", "subject", "csat_rating", "csat_comment", "csat_at").
		Where("csat_at >= ? AND csat_at < ? AND csat_comment IS NOT NULL AND csat_comment <> ''", from, to).
		Order("csat_at DESC").Limit(limit).Find(&out).Error
}

// sortedRows lists rows, most rated first, then by name.
func sortedRows(in map[string]*CSATRow) []CSATRow {
	out := make([]CSATRow, 0, len(in))
	for _, r := range in {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b CSATRow) int {
		if n := (b.Good + b.Bad) - (a.Good + a.Bad); n != 0 {
			return n
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// reportPeriod reads from and to: RFC 3339 times or dates (a date as to
// counts that whole day). Without them the period is the last 30 days.
func (m *Module) reportPeriod(fromQ, toQ string) (from, to time.Time, err error) {
	var d []errs.Detail
	parse := func(field, s string, endOfDay bool) time.Time {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			if endOfDay {
				t = t.AddDate(0, 0, 1)
			}
			return t
		}
		d = append(d, invalid(field, "time", "must be a date (2006-01-02) or an RFC 3339 time"))
		return time.Time{}
	}
	to = m.clock().UTC()
	if toQ != "" {
		to = parse("to", toQ, true)
	}
	from = to.Add(-reportDefault)
	if fromQ != "" {
		from = parse("from", fromQ, false)
	}
	if len(d) == 0 && !from.Before(to) {
		d = append(d, invalid("to", "after", "must be later than from"))
	}
	if len(d) == 0 && to.Sub(from) > reportMaxPeriod {
		d = append(d, invalid("from", "range", "the period is at most 366 days"))
	}
	if len(d) > 0 {
		return from, to, ErrInvalidQuery.WithDetails(d...)
	}
	return from, to, nil
}

func (m *Module) getCSATReport(c echo.Context) error {
	for k := range c.QueryParams() {
		if k != "from" && k != "to" {
			return ErrInvalidQuery.WithDetails(invalid(k, "unknown", "is not a parameter of the report"))
		}
	}
	from, to, err := m.reportPeriod(c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	r, err := m.CSAT(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// reportsPage is the satisfaction report of a period in the backoffice.
func (m *Module) reportsPage(c echo.Context) error {
	d := pageData(c, "Reports")
	fromQ, toQ := c.QueryParam("from"), c.QueryParam("to")
	from, to, err := m.reportPeriod(fromQ, toQ)
	status := http.StatusOK
	if err != nil {
		p, st, ferr := formProblem(err)
		if ferr != nil {
			return ferr
		}
		d["Problem"], status = p, st
		from, to, _ = m.reportPeriod("", "")
	}
	r, err := m.CSAT(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	if fromQ == "" {
		fromQ = from.Format(time.DateOnly)
	}
	if toQ == "" {
		toQ = to.Add(-time.Nanosecond).Format(time.DateOnly)
	}
	d["Report"], d["From"], d["To"] = r, fromQ, toQ // the form as entered
	d["Tables"] = []struct {
		Title, Label string
		Rows         []CSATRow
	}{{"By agent", "Agent", r.ByAssignee}, {"By group", "Group", r.ByGroup}}
	return admin.Render(c, status, reportsTmpl, "Reports", crumbs(), d)
}
