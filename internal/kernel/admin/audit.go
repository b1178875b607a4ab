package admin

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/security"
)

func (s *Shell) auditList(c echo.Context) *List {
	names, tenantChoices := s.tenantNames(c.Request().Context())
	filters := []Filter{
		{Key: "action", Label: "Action", Kind: FilterText},
		{Key: "actor", Label: "Actor id", Kind: FilterText},
		{Key: "target_type", Label: "Target", Options: []Choice{{Value: "tenant", Label: "Tenant"}, {Value: "user", Label: "User"},
			{Value: "api_key", Label: "API key"}}},
		{Key: "from", Label: "From", Kind: FilterDate},
		{Key: "to", Label: "To", Kind: FilterDate},
	}
	if len(tenantChoices) > 1 {
		filters = append(filters, Filter{Key: "tenant", Label: "Tenant", Options: tenantChoices})
	}
	return &List{
		ID: "audit",
		Columns: []Column{{Key: "time", Label: "Time", Sort: "created_at"}, {Key: "action", Label: "Action", Sort: "action"},
			{Key: "actor", Label: "Actor"}, {Key: "target", Label: "Target"}, {Key: "tenant", Label: "Tenant"},
			{Key: "ip", Label: "IP"}, {Key: "data", Label: "Details"}},
		Sorts:       map[string]string{"created_at": "created_at", "action": "action"},
		DefaultSort: "-created_at",
		Filters:     filters,
		CSVName:     "audit",
		Empty:       "No events match.",
		Fetch: func(ctx context.Context, q Query) ([]Row, int64, error) {
			f := audit.Filter{TenantID: q.Filters["tenant"], Action: q.Filters["action"], ActorID: q.Filters["actor"],
				TargetType: q.Filters["target_type"], From: q.Date("from"), Offset: q.Offset, Limit: q.Limit, OrderBy: q.OrderBy()}
			if to := q.Date("to"); !to.IsZero() {
				f.To = to.Add(24 * time.Hour)
			}
			evs, total, err := s.sec.Audit().List(ctx, security.Scope(ctx), f)
			if err != nil {
				return nil, 0, err
			}
			who := s.userLabels(ctx, evs)
			label := func(typ, id string) string {
				if typ == "user" && who[id] != "" {
					return who[id]
				}
				if typ == "tenant" && names[id] != "" {
					return "tenant " + names[id]
				}
				return strings.TrimSuffix(typ+":"+id, ":")
			}
			rows := make([]Row, 0, len(evs))
			for _, e := range evs {
				tn := ""
				if e.TenantID != nil {
					tn = names[*e.TenantID]
					if tn == "" {
						tn = *e.TenantID
					}
				}
				rows = append(rows, Row{Cells: []Cell{{Text: when(e.CreatedAt), Wrap: "nowrap"}, {Text: e.Action, Mono: true},
					{Text: label(e.ActorType, e.ActorID), Wrap: "anywhere"}, {Text: label(e.TargetType, e.TargetID), Wrap: "anywhere"},
					{Text: tn}, {Text: e.IP}, {Text: dataText(e.Data), Wrap: "anywhere"}}})
			}
			return rows, total, nil
		},
	}
}

// maxUserLookups caps the users one audit page resolves to e-mail
// addresses; the rest show their ids.
const maxUserLookups = 50

// userLabels maps the users named in evs to their e-mail addresses, for
// those the viewer may see.
func (s *Shell) userLabels(ctx context.Context, evs []audit.Event) map[string]string {
	out := map[string]string{}
	p, ok := security.PrincipalFrom(ctx)
	if !ok || !p.Can(security.PermUsersRead) {
		return out
	}
	tried := map[string]bool{}
	for _, e := range evs {
		for _, ref := range [][2]string{{e.ActorType, e.ActorID}, {e.TargetType, e.TargetID}} {
			if ref[0] != "user" || ref[1] == "" || tried[ref[1]] || len(tried) >= maxUserLookups {
				continue
			}
			tried[ref[1]] = true
			if u, err := s.sec.GetUser(ctx, ref[1]); err == nil {
				out[u.ID] = u.Email
			}
		}
	}
	return out
}

// dataText is an event's data as "key=value" pairs, sorted.
func dataText(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := d[k]
		if v == nil {
			continue
		}
		if p, ok := v.(*string); ok {
			if p == nil {
				continue
			}
			v = *p
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	s := strings.Join(parts, " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

func (s *Shell) audit(c echo.Context) error {
	t, done, err := s.auditList(c).Run(c)
	if err != nil || done {
		return err
	}
	return s.render(c, http.StatusOK, "audit", "Audit log", []crumb{{Label: "Dashboard", Href: "/admin"}}, map[string]any{"Table": t})
}
