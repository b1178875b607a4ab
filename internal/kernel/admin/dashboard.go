package admin

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/audit"
	"github.com/platform/platform/internal/kernel/security"
)

// chartDays is how many days the dashboard's activity chart covers.
const chartDays = 14

type queueRow struct {
	Name                                              string
	Size, Pending, Active, Scheduled, Retry, Archived int
	Processed, Failed                                 int
}

func (s *Shell) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	var cards []Card
	count := func(label, href string, n int64, err error) {
		v := strconv.FormatInt(n, 10)
		if err != nil {
			v = "?"
			s.log.WarnContext(ctx, "dashboard count failed", "card", label, "error", err)
		}
		cards = append(cards, Card{Label: label, Value: v, Href: href})
	}
	if p.Can(security.PermTenantsRead) {
		_, n, err := s.sec.ListTenants(ctx, security.TenantFilter{Limit: 1, OrderBy: "id"})
		count("Tenants", "/admin/tenants", n, err)
	}
	if p.Can(security.PermUsersRead) {
		_, n, err := s.sec.ListUsers(ctx, security.UserFilter{Limit: 1, OrderBy: "id"})
		count("Users", "/admin/users", n, err)
	}
	if p.Can(security.PermKeysRead) {
		active := false
		_, n, err := s.sec.ListAPIKeys(ctx, security.KeyFilter{Revoked: &active, Limit: 1, OrderBy: "id"})
		count("Active API keys", "/admin/api-keys", n, err)
	}
	var chart *Chart
	if p.Can(security.PermAuditRead) {
		day := time.Now().UTC().Truncate(24 * time.Hour)
		n, err := s.auditCount(ctx, day, day.Add(24*time.Hour))
		count("Audit events today", "/admin/audit?from="+day.Format("2006-01-02"), n, err)
		chart = s.activityChart(ctx, day)
	}
	for _, m := range s.k.Modules() {
		if d, ok := m.(DashboardProvider); ok {
			cards = append(cards, d.DashboardCards(ctx)...)
		}
	}
	var queues []queueRow
	if p.Can(security.PermSystem) {
		queues = s.queueRows()
	}
	return s.render(c, http.StatusOK, "dashboard", "Dashboard", nil,
		map[string]any{"Cards": cards, "Chart": chart, "Queues": queues, "ShowQueues": p.Can(security.PermSystem)})
}

func (s *Shell) auditCount(ctx context.Context, from, to time.Time) (int64, error) {
	_, n, err := s.sec.Audit().List(ctx, security.Scope(ctx), audit.Filter{From: from, To: to, Limit: 1})
	return n, err
}

// activityChart counts the audit events of each of the last chartDays days.
func (s *Shell) activityChart(ctx context.Context, today time.Time) *Chart {
	labels := make([]string, 0, chartDays)
	values := make([]int64, 0, chartDays)
	for i := chartDays - 1; i >= 0; i-- {
		d := today.AddDate(0, 0, -i)
		n, err := s.auditCount(ctx, d, d.Add(24*time.Hour))
		if err != nil {
			s.log.WarnContext(ctx, "dashboard chart failed", "error", err)
			return nil
		}
		labels = append(labels, d.Format("Jan 2"))
		values = append(values, n)
	}
	ch := BarChart("Audit events per day, last "+strconv.Itoa(chartDays)+" days", labels, values)
	return &ch
}

// queueRows are the queues' sizes from the queue's inspector.
func (s *Shell) queueRows() []queueRow {
	insp := s.k.Queue.Inspector()
	if insp == nil {
		return nil
	}
	names, err := insp.Queues()
	if err != nil {
		return nil
	}
	sort.Strings(names)
	var out []queueRow
	for _, n := range names {
		qi, err := insp.GetQueueInfo(n)
		if err != nil {
			continue
		}
		out = append(out, queueRow{Name: n, Size: qi.Size, Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled,
			Retry: qi.Retry, Archived: qi.Archived, Processed: qi.Processed, Failed: qi.Failed})
	}
	return out
}

type checkRow struct {
	Name, Status, Error string
	MS                  int64
}

type migrationRow struct {
	ID        string
	AppliedAt *time.Time
}

func (s *Shell) system(c echo.Context) error {
	ctx := c.Request().Context()
	ok, checks := s.k.Ready(ctx)
	var rows []checkRow
	for _, ch := range checks {
		rows = append(rows, checkRow{Name: ch.Name, Status: ch.Status, Error: ch.Error, MS: ch.MS})
	}
	queue := "Redis at " + s.k.Config.Redis.Addr
	if s.k.Queue.Embedded() {
		queue = "embedded (in-process)"
	}
	var migs []migrationRow
	pending := 0
	st, err := s.k.Migrator().Status(ctx)
	if err != nil {
		return err
	}
	for _, m := range st {
		migs = append(migs, migrationRow{ID: m.ID(), AppliedAt: m.AppliedAt})
		if m.AppliedAt == nil {
			pending++
		}
	}
	var mods []string
	for _, m := range s.k.Modules() {
		mods = append(mods, m.Name())
	}
	scheds, err := s.k.Queue.ListSchedules(ctx)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "system", "System", []crumb{{Label: "Dashboard", Href: "/admin"}}, map[string]any{
		"Ready": ok, "Checks": rows, "Version": kernel.BuildVersion(), "Database": s.k.DB.Dialect(), "Queue": queue,
		"Migrations": migs, "Pending": pending, "Modules": mods, "Schedules": scheds, "Queues": s.queueRows(),
	})
}

// Chart is a bar chart drawn as inline SVG by the "chart" template: no
// script, so it passes the CSP and prints. Modules use it for statistics.
type Chart struct {
	Title  string
	Bars   []Bar
	Max    int64
	Width  int
	Height int
	Ticks  []Tick
}

// Bar is one bar of a Chart, with its geometry.
type Bar struct {
	Label         string
	Value         int64
	X, Y, W, H    float64
	LabelX, TextY float64
}

// Tick is a horizontal guide line with its value.
type Tick struct {
	Y     float64
	Label string
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH            = 720, 240
	chartLeft, chartBottom    = 40, 28
	chartTop, chartGapPercent = 10, 25
)

// BarChart lays out a bar chart of values under labels.
func BarChart(title string, labels []string, values []int64) Chart {
	ch := Chart{Title: title, Width: chartW, Height: chartH}
	for _, v := range values {
		ch.Max = max(ch.Max, v)
	}
	top := niceCeil(ch.Max)
	plotH := float64(chartH - chartBottom - chartTop)
	plotW := float64(chartW - chartLeft)
	n := len(values)
	if n == 0 {
		return ch
	}
	slot := plotW / float64(n)
	w := slot * (100 - chartGapPercent) / 100
	for i, v := range values {
		h := plotH * float64(v) / float64(top)
		x := float64(chartLeft) + slot*float64(i) + (slot-w)/2
		y := float64(chartTop) + plotH - h
		label := ""
		if i < len(labels) {
			label = labels[i]
		}
		ch.Bars = append(ch.Bars, Bar{Label: label, Value: v, X: round1(x), Y: round1(y), W: round1(w), H: round1(h),
			LabelX: round1(x + w/2), TextY: float64(chartH - 8)})
	}
	for i := 0; i <= 4; i++ {
		val := top * int64(i) / 4
		ch.Ticks = append(ch.Ticks, Tick{Y: float64(chartTop) + plotH - plotH*float64(val)/float64(top), Label: fmt.Sprint(val)})
	}
	return ch
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// niceCeil rounds n up to 4, or to a multiple of 4 times a power of ten,
// so that the four guide lines get whole labels.
func niceCeil(n int64) int64 {
	if n <= 4 {
		return 4
	}
	step := int64(1)
	for step*40 < n {
		step *= 10
	}
	v := step * 4
	for v < n {
		v += step * 4
	}
	return v
}
