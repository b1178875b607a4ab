package contact

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// ErrInvalidSettings is a PUT of settings with a bad field; nothing changes.
var ErrInvalidSettings = errs.New(errs.Invalid, "contact.invalid_settings", "The settings have invalid fields.")

// Bounds of the limits, which keep the counters' arithmetic exact.
const (
	maxRatePerMinute = 1_000_000
	maxDailyQuota    = 1_000_000_000
)

// settingsRow is a tenant's sending settings. A tenant without a row has
// no quiet hours, UTC and no limits.
type settingsRow struct {
	TenantID      string    `gorm:"column:tenant_id;primaryKey"`
	QuietStart    *string   `gorm:"column:quiet_start"`
	QuietEnd      *string   `gorm:"column:quiet_end"`
	TimeZone      string    `gorm:"column:time_zone"`
	RatePerMinute int       `gorm:"column:rate_per_minute"`
	DailyQuota    int       `gorm:"column:daily_quota"`
	UpdatedAt     time.Time `gorm:"column:updated_at"`
}

func (settingsRow) TableName() string { return "contact_settings" }

// settings are a tenant's settings, read for sending.
type settings struct {
	quiet *calendar.Window // nil: no quiet hours
	zone  *time.Location   // the tenant's, for recipients without one of their own
	rate  int              // messages a minute; 0: no limit
	quota int              // messages a day, in zone; 0: no limit
}

// parse reads a stored row, whose values were checked when they were put.
// A zone the embedded tzdata no longer knows falls back to UTC.
func (r *settingsRow) parse() *settings {
	s := &settings{zone: time.UTC, rate: r.RatePerMinute, quota: r.DailyQuota}
	if l, err := calendar.LoadLocation(r.TimeZone); err == nil {
		s.zone = l
	}
	if r.QuietStart != nil && r.QuietEnd != nil {
		start, err1 := calendar.ParseClock(*r.QuietStart)
		end, err2 := calendar.ParseClock(*r.QuietEnd)
		if err1 == nil && err2 == nil {
			s.quiet = &calendar.Window{Start: start, End: end}
		}
	}
	return s
}

// settings is the caller's tenant's row, or the defaults.
func (s *store) settings(ctx context.Context) (*settingsRow, error) {
	r := settingsRow{TenantID: security.TenantOf(ctx), TimeZone: "UTC"}
	err := s.conn(ctx).Where("tenant_id = ?", r.TenantID).Take(&r).Error
	if db.IsNotFound(err) {
		return &r, nil
	}
	return &r, err
}

// putSettings inserts or replaces the caller's tenant's row.
func (s *store) putSettings(ctx context.Context, r *settingsRow) error {
	r.TenantID = security.TenantOf(ctx)
	return s.db.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}}, UpdateAll: true}).
		Create(r).Error
}

// settingsOf is the sending settings of ctx's tenant.
func (m *Module) settingsOf(ctx context.Context) (*settings, error) {
	r, err := m.store.settings(ctx)
	if err != nil {
		return nil, err
	}
	return r.parse(), nil
}

// settingsRoutes adds GET and PUT /settings.
func (m *Module) settingsRoutes(r kernel.Routes) {
	r.API.GET("/settings", m.getSettings, security.Require(PermRead))
	r.API.PUT("/settings", m.putSettings, security.Require(PermManage))
}

// settingsBody is the settings as the API shows and takes them. A PUT
// replaces them all: a field left out takes its default.
type settingsBody struct {
	QuietStart    *string    `json:"quiet_start"`
	QuietEnd      *string    `json:"quiet_end"`
	TimeZone      string     `json:"time_zone"`
	RatePerMinute int        `json:"rate_per_minute"`
	DailyQuota    int        `json:"daily_quota"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"` // shown only; null until first put
}

func viewSettings(r *settingsRow) settingsBody {
	v := settingsBody{QuietStart: r.QuietStart, QuietEnd: r.QuietEnd, TimeZone: r.TimeZone, RatePerMinute: r.RatePerMinute,
		DailyQuota: r.DailyQuota}
	if !r.UpdatedAt.IsZero() {
		at := r.UpdatedAt.UTC()
		v.UpdatedAt = &at
	}
	return v
}

func (m *Module) getSettings(c echo.Context) error {
	ctx := c.Request().Context()
	if security.TenantOf(ctx) == "" {
		return ErrNoTenant.WithMessage("Settings belong to a tenant: act as one (X-Tenant-ID) to read them.")
	}
	r, err := m.store.settings(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSettings(r))
}

func (m *Module) putSettings(c echo.Context) error {
	ctx := c.Request().Context()
	var req settingsBody
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if security.TenantOf(ctx) == "" {
		return ErrNoTenant.WithMessage("Settings belong to a tenant: act as one (X-Tenant-ID) to change them.")
	}
	r, err := checkSettings(&req)
	if err != nil {
		return err
	}
	r.UpdatedAt = m.now()
	if err := m.store.putSettings(ctx, r); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSettings(r))
}

// checkSettings is the row of a PUT, or ErrInvalidSettings naming each
// bad field.
func checkSettings(req *settingsBody) (*settingsRow, error) {
	var d []errs.Detail
	bad := func(field, code, text string) { d = append(d, errs.Detail{Field: field, Code: code, Message: text}) }
	clocks := map[string]*string{"quiet_start": req.QuietStart, "quiet_end": req.QuietEnd}
	for _, field := range []string{"quiet_start", "quiet_end"} {
		if v := clocks[field]; v != nil {
			if _, err := calendar.ParseClock(*v); err != nil {
				bad(field, "clock", "must be a time of day from 00:00 to 23:59, such as 21:30")
			}
		}
	}
	switch {
	case req.QuietStart == nil && req.QuietEnd != nil:
		bad("quiet_start", "required", "goes with quiet_end: set both, or neither for no quiet hours")
	case req.QuietStart != nil && req.QuietEnd == nil:
		bad("quiet_end", "required", "goes with quiet_start: set both, or neither for no quiet hours")
	case req.QuietStart != nil && *req.QuietStart == *req.QuietEnd:
		bad("quiet_end", "different", "must differ from quiet_start")
	}
	if req.TimeZone == "" {
		req.TimeZone = "UTC"
	}
	if _, err := calendar.LoadLocation(req.TimeZone); err != nil {
		bad("time_zone", "zone", "must be an IANA time zone, such as Europe/Vienna")
	}
	if req.RatePerMinute < 0 || req.RatePerMinute > maxRatePerMinute {
		bad("rate_per_minute", "range", fmt.Sprintf("must be from 0 (no limit) to %d", maxRatePerMinute))
	}
	if req.DailyQuota < 0 || req.DailyQuota > maxDailyQuota {
		bad("daily_quota", "range", fmt.Sprintf("must be from 0 (no limit) to %d", maxDailyQuota))
	}
	if len(d) > 0 {
		return nil, ErrInvalidSettings.WithDetails(d...)
	}
	return &settingsRow{QuietStart: req.QuietStart, QuietEnd: req.QuietEnd, TimeZone: req.TimeZone,
		RatePerMinute: req.RatePerMinute, DailyQuota: req.DailyQuota}, nil
}
