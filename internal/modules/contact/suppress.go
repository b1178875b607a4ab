package contact

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Reasons an address is suppressed. A STOP keyword, a hard bounce and a
// manual entry block every message on the channel; an unsubscribe link
// blocks marketing only, so that receipts and password resets still go.
const (
	ReasonStop        = "stop_keyword"
	ReasonHardBounce  = "hard_bounce"
	ReasonUnsubscribe = "unsubscribe"
	ReasonManual      = "manual"
)

// Errors of the suppression list.
var (
	ErrSuppressionNotFound = errs.New(errs.NotFound, "contact.suppression_not_found", "The suppression does not exist.")
	ErrSuppressionExists   = errs.New(errs.Conflict, "contact.suppression_exists",
		"This address is already suppressed on this channel.")
	ErrInvalidSuppression = errs.New(errs.Invalid, "contact.invalid_suppression", "The suppression has invalid fields.")
	ErrUnsubscribeLink    = errs.New(errs.NotFound, "contact.unsubscribe_link_invalid", "This unsubscribe link is not valid.")
)

type suppressionRow struct {
	ID        string    `gorm:"column:id;primaryKey" json:"id"`
	TenantID  string    `gorm:"column:tenant_id" json:"-"`
	Channel   string    `gorm:"column:channel" json:"channel"`
	Address   string    `gorm:"column:address" json:"address"`
	Reason    string    `gorm:"column:reason" json:"reason"`
	MessageID *string   `gorm:"column:message_id" json:"message_id"`
	CreatedAt time.Time `gorm:"column:created_at" json:"created_at"`
}

func (suppressionRow) TableName() string { return "contact_suppressions" }

// suppressibleChannels are the channels with a recipient to suppress.
var suppressibleChannels = []string{"email", "sms", "voice"}

// protectionRoutes adds the suppression list and the provider callback
// and unsubscribe routes; the latter two are public, authenticated by a
// provider's signature or a signed token.
func (m *Module) protectionRoutes(r kernel.Routes) {
	read, manage := security.Require(PermRead), security.Require(PermManage)
	r.API.GET("/suppressions", m.listSuppressions, read)
	r.API.POST("/suppressions", m.createSuppression, manage)
	r.API.DELETE("/suppressions/:id", m.deleteSuppression, manage)
	if r.Public != nil {
		r.Public.POST("/callbacks/:provider_id", m.callback)
		r.Public.GET("/callbacks/:provider_id", m.callback) // Vonage may send receipts as GET
		r.Public.GET("/unsubscribe/:token", m.unsubscribeForm)
		r.Public.POST("/unsubscribe/:token", m.unsubscribe)
	}
}

// normalizeAddress is the form an address is suppressed under: the bare,
// lower-case e-mail address, or the E.164 number; "" when it is neither.
func normalizeAddress(channel, addr string) string {
	addr = strings.TrimSpace(addr)
	switch channel {
	case "email":
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return ""
		}
		return strings.ToLower(a.Address)
	case "sms", "voice":
		if !strings.HasPrefix(addr, "+") {
			addr = "+" + addr // Vonage writes numbers without the plus
		}
		if e164.MatchString(addr) {
			return addr
		}
	}
	return ""
}

// blocks reports whether a suppression for reason stops a message of
// category.
func blocks(reason, category string) bool {
	return reason != ReasonUnsubscribe || category == string(contracts.CategoryMarketing)
}

// suppress adds an address of the tenant in ctx to the list. An address
// already listed keeps its entry, except that a reason which blocks
// everything replaces an unsubscribe, which blocks marketing only.
func (m *Module) suppress(ctx context.Context, channel, address, reason string, messageID *string) (*suppressionRow, bool, error) {
	r := &suppressionRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: security.TenantOf(ctx), Channel: channel,
		Address: address, Reason: reason, MessageID: messageID, CreatedAt: m.now()}
	created, err := m.store.addSuppression(ctx, r)
	if err != nil || created {
		return r, created, err
	}
	prev, err := m.store.suppression(ctx, channel, address)
	if err != nil {
		return nil, false, err
	}
	if prev.Reason == ReasonUnsubscribe && reason != ReasonUnsubscribe {
		err = m.store.setSuppressionReason(ctx, prev.ID, reason)
		prev.Reason = reason
	}
	return prev, false, err
}

// suppressedBy is the suppression that stops message r, or nil.
func (m *Module) suppressedBy(ctx context.Context, r *messageRow) (*suppressionRow, error) {
	addr := normalizeAddress(r.Channel, r.Recipient)
	if addr == "" {
		return nil, nil
	}
	s, err := m.store.suppression(ctx, r.Channel, addr)
	if errors.Is(err, ErrSuppressionNotFound) || (err == nil && !blocks(s.Reason, r.Category)) {
		return nil, nil
	}
	return s, err
}

// skipSuppressed ends a message to a suppressed address as suppressed,
// before any provider sees it. It reports whether it did; on a store error
// the message goes back to the queue.
func (m *Module) skipSuppressed(ctx context.Context, msg *messageRow, last bool) (bool, error) {
	s, err := m.suppressedBy(ctx, msg)
	if err != nil {
		return true, m.requeue(ctx, msg, nil, err, last)
	}
	if s == nil {
		return false, nil
	}
	upd := map[string]any{"status": StatusSuppressed, "claimed_until": nil, "updated_at": m.now()}
	return true, m.store.setStatus(ctx, msg.ID, upd, m.event(msg, StatusSuppressed, nil, "", "suppressed: "+s.Reason))
}

// bounced adds the recipient of a hard-bounced message to the list. The
// message's own failure is recorded either way, so an error here is only
// logged.
func (m *Module) bounced(ctx context.Context, msg *messageRow, status string) {
	addr := normalizeAddress(msg.Channel, msg.Recipient)
	if status != StatusBounced || addr == "" {
		return
	}
	id := msg.ID
	if _, _, err := m.suppress(ctx, msg.Channel, addr, ReasonHardBounce, &id); err != nil {
		m.k.Log.Warn("contact: suppress a hard bounce", "message_id", msg.ID, "error", err)
	}
}

// unsubscribeToken is the signed (tenant, channel, address) of an
// unsubscribe link; it never expires, as the mail it sits in does not.
func (m *Module) unsubscribeToken(tenant, channel, address string) string {
	b, _ := json.Marshal([]string{tenant, channel, address})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.unsubscribeMAC(payload))
}

func (m *Module) unsubscribeMAC(payload string) []byte {
	return m.k.Security.Sign("contact.unsubscribe", []byte(payload))[:16]
}

// openUnsubscribeToken checks a token and returns what it names.
func (m *Module) openUnsubscribeToken(token string) (tenant, channel, address string, err error) {
	payload, sig, ok := strings.Cut(token, ".")
	mac, derr := base64.RawURLEncoding.DecodeString(sig)
	if !ok || derr != nil || !hmac.Equal(mac, m.unsubscribeMAC(payload)) {
		return "", "", "", ErrUnsubscribeLink
	}
	b, _ := base64.RawURLEncoding.DecodeString(payload)
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) != 3 {
		return "", "", "", ErrUnsubscribeLink
	}
	return parts[0], parts[1], parts[2], nil
}

// unsubscribeLink is the token and, when http.public_url is set, the URL
// of a marketing e-mail's unsubscribe link.
func (m *Module) unsubscribeLink(r *messageRow) (token, link string) {
	addr := normalizeAddress(r.Channel, r.Recipient)
	if r.Category != string(contracts.CategoryMarketing) || r.Channel != "email" || addr == "" {
		return "", ""
	}
	token = m.unsubscribeToken(r.TenantID, r.Channel, addr)
	if base := strings.TrimRight(m.k.Config.HTTP.PublicURL, "/"); base != "" {
		link = base + "/api/v1/" + Name + "/unsubscribe/" + token
	}
	return token, link
}

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unsubscribe</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
{{if .Done}}<h1>You are unsubscribed</h1><p>{{.Address}} will get no more marketing messages from us.</p>
{{else if .Address}}<h1>Unsubscribe</h1><p>Stop marketing messages to {{.Address}}?</p>
<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>
{{else}}<h1>Link not valid</h1><p>This unsubscribe link is not valid.</p>{{end}}
</body></html>`))

func renderUnsubscribe(c echo.Context, status int, address string, done bool) error {
	var b strings.Builder
	if err := unsubscribePage.Execute(&b, map[string]any{"Address": address, "Done": done}); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}

// unsubscribeForm shows what the link would do and a button that does it:
// a GET changes nothing, since mail scanners follow links.
func (m *Module) unsubscribeForm(c echo.Context) error {
	_, _, address, err := m.openUnsubscribeToken(c.Param("token"))
	if err != nil {
		return renderUnsubscribe(c, http.StatusNotFound, "", false)
	}
	return renderUnsubscribe(c, http.StatusOK, address, false)
}

// unsubscribe is the one-click POST of RFC 8058, and the page's button:
// the address stops getting marketing messages on the channel.
func (m *Module) unsubscribe(c echo.Context) error {
	tenant, channel, address, err := m.openUnsubscribeToken(c.Param("token"))
	if err != nil {
		return err
	}
	ctx := security.WithPrincipal(c.Request().Context(), security.System(tenant))
	if _, _, err := m.suppress(ctx, channel, address, ReasonUnsubscribe, nil); err != nil {
		return err
	}
	if strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		return renderUnsubscribe(c, http.StatusOK, address, true)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "unsubscribed"})
}

func (m *Module) listSuppressions(c echo.Context) error {
	lp, err := httpx.ParseList(c, messageSorts, "-created_at")
	if err != nil {
		return err
	}
	ch := c.QueryParam("channel")
	if ch != "" && !slices.Contains(suppressibleChannels, ch) {
		return ErrInvalidFilter.WithDetails(errs.Detail{Field: "channel", Code: "oneof", Message: "must be email, sms or voice"})
	}
	rows, total, err := m.store.suppressions(c.Request().Context(), ch, lp.Offset(), lp.PerPage, lp.Desc)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewPage(rows, total, lp))
}

type suppressionRequest struct {
	Channel string `json:"channel" validate:"required"`
	Address string `json:"address" validate:"required"`
}

func (m *Module) createSuppression(c echo.Context) error {
	ctx := c.Request().Context()
	var req suppressionRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if security.TenantOf(ctx) == "" {
		return ErrNoTenant.WithMessage("A suppression belongs to a tenant: act as one (X-Tenant-ID) to add it.")
	}
	if !slices.Contains(suppressibleChannels, req.Channel) {
		return ErrInvalidSuppression.WithDetails(errs.Detail{Field: "channel", Code: "oneof", Message: "must be email, sms or voice"})
	}
	addr := normalizeAddress(req.Channel, req.Address)
	if addr == "" {
		return ErrInvalidSuppression.WithDetails(errs.Detail{Field: "address", Code: "format",
			Message: "must be an e-mail address, or a phone number in E.164 form"})
	}
	r, created, err := m.suppress(ctx, req.Channel, addr, ReasonManual, nil)
	if err != nil {
		return err
	}
	if !created {
		return ErrSuppressionExists
	}
	return c.JSON(http.StatusCreated, r)
}

func (m *Module) deleteSuppression(c echo.Context) error {
	if err := m.store.deleteSuppression(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// addSuppression inserts r, or reports that its address is already listed.
func (s *store) addSuppression(ctx context.Context, r *suppressionRow) (bool, error) {
	err := s.db.Conn(ctx).Create(r).Error
	if db.IsUniqueViolation(err) {
		return false, nil
	}
	return err == nil, err
}

func (s *store) suppression(ctx context.Context, channel, address string) (*suppressionRow, error) {
	var r suppressionRow
	err := s.conn(ctx).Where("channel = ? AND address = ?", channel, address).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrSuppressionNotFound
	}
	return &r, err
}

func (s *store) setSuppressionReason(ctx context.Context, id, reason string) error {
	return s.conn(ctx).Model(&suppressionRow{}).Where("id = ?", id).Update("reason", reason).Error
}

func (s *store) suppressions(ctx context.Context, channel string, offset, limit int, desc bool) ([]suppressionRow, int64, error) {
	q := s.conn(ctx).Model(&suppressionRow{})
	if channel != "" {
		q = q.Where("channel = ?", channel)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	order := "created_at ASC, id ASC"
	if desc {
		order = "created_at DESC, id DESC"
	}
	var rows []suppressionRow
	err := q.Order(order).Offset(offset).Limit(limit).Find(&rows).Error
	return rows, total, err
}

func (s *store) deleteSuppression(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&suppressionRow{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrSuppressionNotFound
	}
	return res.Error
}

// unsuppressStop lifts a STOP: the recipient texted START. Other reasons
// stay, since the tenant or a bounce put them there.
func (s *store) unsuppressStop(ctx context.Context, channel, address string) error {
	return s.conn(ctx).Where("channel = ? AND address = ? AND reason = ?", channel, address, ReasonStop).
		Delete(&suppressionRow{}).Error
}
