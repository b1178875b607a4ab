package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of the API.
var (
	ErrNotFound = errs.New(errs.NotFound, "notifications.not_found", "The notification does not exist.")
	ErrUserOnly = errs.New(errs.Forbidden, "notifications.user_only",
		"Only a signed-in user has an inbox and preferences.")
	ErrInvalidQuery  = errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.")
	ErrInvalidSnooze = errs.New(errs.Invalid, "notifications.invalid_snooze", "The snooze time is invalid.")
)

// Paging of the inbox.
const (
	defaultPage = 20
	maxPage     = 100
	maxSnooze   = 30 * 24 * time.Hour
)

// Routes implements kernel.Router.
func (m *Module) Routes(r kernel.Routes) {
	send := security.Require(PermSend)
	r.API.GET("", m.listInbox, userOnly)
	r.API.POST("", m.postNotification, send)
	r.API.GET("/unread-count", m.unreadCount, userOnly)
	r.API.POST("/read-all", m.readAll, userOnly)
	r.API.GET("/preferences", m.getPreferences, userOnly)
	r.API.PUT("/preferences", m.putPreferences, userOnly)
	r.API.POST("/:id/read", m.markRead, userOnly)
	r.API.POST("/:id/archive", m.archive, userOnly)
	r.API.POST("/:id/unarchive", m.unarchive, userOnly)
	r.API.POST("/:id/snooze", m.snooze, userOnly)
	if r.Admin != nil {
		m.adminRoutes(r.Admin) // admin.go
	}
	if m.rt != nil {
		m.serveRealtime(r)
	}
}

// serveRealtime mounts the realtime gateway (/socket.io/ and the SSE
// stream) and starts it: routes are built only by a process that serves
// HTTP, which is the one that holds sockets. A worker publishes through
// Redis without starting it.
func (m *Module) serveRealtime(r kernel.Routes) {
	m.rt.Mount(r)
	if err := m.rt.Start(context.Background()); err != nil {
		m.k.Log.Error("notifications: the realtime gateway did not start; pushes from other processes will not arrive",
			"error", err)
	}
}

// userOnly admits a signed-in user, whose inbox the routes serve.
func userOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := security.PrincipalFrom(c.Request().Context())
		if !ok {
			return errs.ErrUnauthenticated
		}
		if p.Kind != security.KindUser {
			return ErrUserOnly
		}
		return next(c)
	}
}

// me is the signed-in user: the tenant their inbox is in, and their id.
func me(c echo.Context) (context.Context, string, string) {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	return ctx, p.Tenant(), p.ID
}

// inboxPage is a page of the inbox; next_cursor continues it.
type inboxPage struct {
	Items      []Item  `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (m *Module) listInbox(c echo.Context) error {
	ctx, _, user := me(c)
	f := inboxFilter{Limit: defaultPage, Cursor: c.QueryParam("cursor"), Status: c.QueryParam("status"),
		Category: c.QueryParam("category")}
	var d []errs.Detail
	bad := func(field, msg string) { d = append(d, errs.Detail{Field: field, Code: "invalid", Message: msg}) }
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			bad("limit", "must be from 1 to 100")
		}
		f.Limit = n
	}
	if f.Cursor != "" {
		if _, err := uuid.Parse(f.Cursor); err != nil {
			bad("cursor", "must be the next_cursor of a page")
		}
	}
	if f.Status != "" && f.Status != "unread" && f.Status != "read" {
		bad("status", "must be unread or read")
	}
	if f.Category != "" && !category.MatchString(f.Category) {
		bad("category", "must be a category name")
	}
	for field, dst := range map[string]*bool{"archived": &f.Archived, "snoozed": &f.Snoozed} {
		if v := c.QueryParam(field); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(field, "must be true or false")
			}
			*dst = b
		}
	}
	if len(d) > 0 {
		return ErrInvalidQuery.WithDetails(d...)
	}
	rows, err := m.store.listInbox(ctx, user, f, m.clock())
	if err != nil {
		return err
	}
	page := inboxPage{Items: make([]Item, len(rows))}
	for i := range rows {
		page.Items[i] = itemOf(&rows[i])
	}
	if len(rows) == f.Limit {
		next := rows[len(rows)-1].ID
		page.NextCursor = &next
	}
	return c.JSON(http.StatusOK, page)
}

func (m *Module) unreadCount(c echo.Context) error {
	ctx, _, user := me(c)
	n, err := m.store.unreadCount(ctx, user, m.clock())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"count": n})
}

// change applies set to the caller's notification :id and answers with it;
// then, when given, runs in the same transaction with the changed row. The
// new unread count goes to the user's tabs after the commit.
func (m *Module) change(c echo.Context, set func(r *inboxRow, now time.Time) map[string]any,
	then func(ctx context.Context, r *inboxRow) error) error {
	ctx, tenant, user := me(c)
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return ErrNotFound
	}
	now := m.clock()
	var out *inboxRow
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		var err error
		out, err = m.store.updateInbox(ctx, user, id, now, func(r *inboxRow) map[string]any { return set(r, now) })
		if err == nil && then != nil {
			err = then(ctx, out)
		}
		return err
	})
	if err == nil {
		m.pushCount(ctx, tenant, user)
	}
	if errors.Is(err, errNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, itemOf(out))
}

func (m *Module) markRead(c echo.Context) error {
	return m.change(c, func(r *inboxRow, now time.Time) map[string]any {
		if r.ReadAt != nil {
			return nil
		}
		return map[string]any{"read_at": now}
	}, nil)
}

func (m *Module) archive(c echo.Context) error {
	return m.change(c, func(r *inboxRow, now time.Time) map[string]any {
		if r.ArchivedAt != nil {
			return nil
		}
		return map[string]any{"archived_at": now}
	}, nil)
}

// unarchive brings an archived notification back to the inbox.
func (m *Module) unarchive(c echo.Context) error {
	return m.change(c, func(r *inboxRow, _ time.Time) map[string]any {
		if r.ArchivedAt == nil {
			return nil
		}
		return map[string]any{"archived_at": nil}
	}, nil)
}

type snoozeRequest struct {
	Until time.Time `json:"until" validate:"required"`
}

func (m *Module) snooze(c echo.Context) error {
	var req snoozeRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	now := m.clock()
	if !req.Until.After(now) || req.Until.Sub(now) > maxSnooze {
		return ErrInvalidSnooze.WithDetails(errs.Detail{Field: "until", Code: "range",
			Message: "must be in the future, within 30 days"})
	}
	until := req.Until.UTC().Truncate(time.Microsecond)
	return m.change(c, func(*inboxRow, time.Time) map[string]any { return map[string]any{"snoozed_until": until} },
		func(ctx context.Context, r *inboxRow) error { return m.scheduleReturn(ctx, r, until, until.Sub(now)) })
}

func (m *Module) readAll(c echo.Context) error {
	ctx, tenant, user := me(c)
	n, err := m.store.readAll(ctx, user, m.clock())
	if err != nil {
		return err
	}
	m.pushCount(ctx, tenant, user)
	return c.JSON(http.StatusOK, map[string]int64{"updated": n})
}

func (m *Module) getPreferences(c echo.Context) error {
	ctx, _, user := me(c)
	p, err := m.Preferences(ctx, user)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (m *Module) putPreferences(c echo.Context) error {
	ctx, tenant, user := me(c)
	var p Preferences
	if err := httpx.Bind(c, &p); err != nil {
		return err
	}
	p.UpdatedAt = nil
	out, err := m.SetPreferences(ctx, tenant, user, &p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// recipientView is a recipient in the API and in the stored notification.
type recipientView struct {
	UserIDs []string `json:"user_ids,omitempty"`
	Role    string   `json:"role,omitempty"`
	Tenant  bool     `json:"tenant,omitempty"`
}

// sendRequest is POST /api/v1/notifications.
type sendRequest struct {
	Recipient            recipientView  `json:"recipient"`
	Category             string         `json:"category"`
	Title                string         `json:"title"`
	Body                 string         `json:"body"`
	Link                 string         `json:"link"`
	Data                 map[string]any `json:"data"`
	Priority             string         `json:"priority"`
	IdempotencyKey       string         `json:"idempotency_key"`
	ExpiresAt            *time.Time     `json:"expires_at"`
	Fallback             bool           `json:"fallback"`
	FallbackAfterMinutes int            `json:"fallback_after_minutes"`
}

// sentView is a notification as POST answers it.
type sentView struct {
	ID         string        `json:"id"`
	Recipient  recipientView `json:"recipient"`
	Recipients int           `json:"recipients"`
	Category   string        `json:"category"`
	Title      string        `json:"title"`
	Priority   string        `json:"priority"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
}

func (m *Module) postNotification(c echo.Context) error {
	var req sendRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	n := contracts.Notification{Recipient: contracts.Recipient{UserIDs: req.Recipient.UserIDs, Role: req.Recipient.Role,
		Tenant: req.Recipient.Tenant}, Category: req.Category, Title: req.Title, Body: req.Body, Link: req.Link,
		Data: req.Data, Priority: contracts.NotificationPriority(req.Priority), IdempotencyKey: req.IdempotencyKey,
		Fallback: req.Fallback, FallbackAfter: time.Duration(req.FallbackAfterMinutes) * time.Minute}
	if req.ExpiresAt != nil {
		n.ExpiresAt = *req.ExpiresAt
	}
	if req.FallbackAfterMinutes < 0 {
		return ErrInvalidNotification.WithDetails(errs.Detail{Field: "fallback_after_minutes", Code: "range",
			Message: "must be from 1 to 10080"})
	}
	row, replay, err := m.notify(c.Request().Context(), n)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if replay {
		status = http.StatusOK
	}
	return c.JSON(status, sentOf(row))
}

func sentOf(r *messageRow) sentView {
	v := sentView{ID: r.ID, Recipients: r.Recipients, Category: r.Category, Title: r.Title, Priority: r.Priority,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	_ = json.Unmarshal([]byte(r.Recipient), &v.Recipient)
	return v
}
