package helpdesk

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Satisfaction ratings.
const (
	RatingGood = "good"
	RatingBad  = "bad"
)

// Errors of CSAT.
var (
	ErrCSATLink  = errs.New(errs.NotFound, "helpdesk.csat_link_invalid", "This rating link is not valid.")
	ErrCSATRated = errs.New(errs.Conflict, "helpdesk.csat_already_rated", "This ticket has been rated already.")
)

// csatView is a ticket's rating; nil until the requester rates.
type csatView struct {
	Rating  string    `json:"rating"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at"`
}

func viewCSAT(t *ticketRow) *csatView {
	if t.CSATRating == nil || t.CSATAt == nil {
		return nil
	}
	return &csatView{Rating: *t.CSATRating, Comment: deref(t.CSATComment), At: t.CSATAt.UTC()}
}

// csatJob is the payload of helpdesk:send_csat (v1).
type csatJob struct {
	V        int       `json:"v"`
	TicketID string    `json:"ticket_id"`
	SolvedAt time.Time `json:"solved_at"`
}

// requestCSAT asks the requester of a ticket just solved for a rating,
// after ctx's transaction commits; a rated ticket is not asked again.
func (m *Module) requestCSAT(ctx context.Context, t *ticketRow) error {
	if t.CSATRating != nil || t.SolvedAt == nil {
		return nil
	}
	_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskSendCSAT, TenantID: t.TenantID,
		Data: csatJob{V: 1, TicketID: t.ID, SolvedAt: t.SolvedAt.UTC()}})
	return err
}

// sendCSAT e-mails the rating request, once per solve (the idempotency key
// names the solve).
func (m *Module) sendCSAT(ctx context.Context, task *queue.Task) error {
	var j csatJob
	if err := task.Decode(&j); err != nil || j.TicketID == "" {
		return fmt.Errorf("helpdesk: bad csat task: %v: %w", err, queue.SkipRetry)
	}
	ctx = security.WithPrincipal(ctx, security.System(task.TenantID))
	t, err := m.store.ticket(ctx, j.TicketID)
	if err != nil {
		return permanent(err)
	}
	if t.CSATRating != nil {
		return nil
	}
	to, err := m.requesterEmail(ctx, t)
	if to == "" || err != nil {
		return err
	}
	link := m.csatLink(t)
	body := "Your request \"" + t.Subject + "\" has been solved.\n\nHow did we do? Rate our support:\n" + link +
		"\n\nReply to this e-mail if you need more help."
	md := map[string]string{"helpdesk_ticket_id": t.ID, "helpdesk_csat": "request"}
	if err := m.threadMetadata(ctx, t.ID, "", md); err != nil { // outbound.go: in the customer's thread, as a reply
		return err
	}
	cm := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: to, Subject: replySubject(t), Body: body,
		Category:       contracts.CategoryTransactional,
		IdempotencyKey: "helpdesk-csat:" + t.ID + ":" + j.SolvedAt.UTC().Format(time.RFC3339Nano),
		Metadata:       md}
	return m.send(ctx, cm, t, "")
}

// csatLink is the rating page's URL: absolute when http.public_url is set.
func (m *Module) csatLink(t *ticketRow) string {
	return m.publicLink("/csat/" + m.csatToken(t.TenantID, t.ID)) // filelinks.go
}

// csatToken is the signed (tenant, ticket) of a rating link.
func (m *Module) csatToken(tenant, ticket string) string {
	return m.signToken("helpdesk.csat", []string{tenant, ticket})
}

// signToken is v as a link's token: its JSON in base64url, ".", and that
// part's HMAC, keyed by the master key for purpose (security.Sign).
func (m *Module) signToken(purpose string, v any) string {
	b, _ := json.Marshal(v)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.k.Security.Sign(purpose, []byte(payload))[:16])
}

// openToken checks a token signed for purpose and decodes it into v;
// false when it does not verify or decode.
func (m *Module) openToken(purpose, token string, v any) bool {
	payload, sig, ok := strings.Cut(token, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, m.k.Security.Sign(purpose, []byte(payload))[:16]) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

// openCSATToken checks a token and returns the ticket with the tenant's
// system principal in ctx.
func (m *Module) openCSATToken(ctx context.Context, token string) (context.Context, *ticketRow, error) {
	var parts []string
	if !m.openToken("helpdesk.csat", token, &parts) || len(parts) != 2 {
		return ctx, nil, ErrCSATLink
	}
	ctx = security.WithPrincipal(ctx, security.System(parts[0]))
	t, err := m.store.ticket(ctx, parts[1])
	if errs.KindOf(err) == errs.NotFound {
		return ctx, nil, ErrCSATLink
	}
	return ctx, t, err
}

// rate records a rating once: the UPDATE matches only an unrated ticket.
func (s *store) rate(ctx context.Context, id, rating, comment string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&ticketRow{}).Where("id = ? AND csat_rating IS NULL", id).
		Updates(map[string]any{"csat_rating": rating, "csat_comment": comment, "csat_at": at})
	return res.RowsAffected == 1, res.Error
}

type csatRequest struct {
	Rating  string `json:"rating" form:"rating"`
	Comment string `json:"comment" form:"comment"`
}

var csatPage = template.Must(template.New("csat").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Rate our support</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
{{if .Rated}}<h1>Thank you</h1><p>You rated our support for "{{.Subject}}" as {{.Rating}}.</p>
{{else}}<h1>How did we do?</h1><p>Your request: "{{.Subject}}"</p>
<form method="post"><p><label><input type="radio" name="rating" value="good" required> Good</label>
<label><input type="radio" name="rating" value="bad"> Bad</label></p>
<p><label>Comment (optional)<br><textarea name="comment" rows="4" cols="40" maxlength="2000"></textarea></label></p>
<button type="submit">Send</button></form>{{end}}
</body></html>`))

// wantsHTML reports whether the client is a browser (a form or a page)
// rather than an API client.
func wantsHTML(c echo.Context) bool {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	return strings.HasPrefix(ct, echo.MIMEApplicationForm) ||
		(c.Request().Method == http.MethodGet && strings.Contains(c.Request().Header.Get("Accept"), "text/html"))
}

func (m *Module) renderCSAT(c echo.Context, status int, t *ticketRow) error {
	v := viewCSAT(t)
	if !wantsHTML(c) {
		return c.JSON(status, map[string]any{"ticket_id": t.ID, "subject": t.Subject, "csat": v})
	}
	data := map[string]any{"Subject": t.Subject, "Rated": v != nil}
	if v != nil {
		data["Rating"] = v.Rating
	}
	var b strings.Builder
	if err := csatPage.Execute(&b, data); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	return c.HTML(status, b.String())
}

// getCSAT shows the rating page (or the rating, to an API client). It
// changes nothing: mail scanners follow links.
func (m *Module) getCSAT(c echo.Context) error {
	_, t, err := m.openCSATToken(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	return m.renderCSAT(c, http.StatusOK, t)
}

// postCSAT records the rating, {"rating":"good"|"bad","comment"} as JSON
// or a form; a second one is 409.
func (m *Module) postCSAT(c echo.Context) error {
	var req csatRequest
	if strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
		req.Rating, req.Comment = c.FormValue("rating"), c.FormValue("comment")
	} else if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	ctx, t, err := m.openCSATToken(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	var d []errs.Detail
	if req.Rating != RatingGood && req.Rating != RatingBad {
		d = append(d, invalid("rating", "oneof", "must be good or bad"))
	}
	if len(req.Comment) > 2000 {
		d = append(d, invalid("comment", "max", "must be at most 2000 characters"))
	}
	if len(d) > 0 {
		return ErrInvalidInput.WithDetails(d...)
	}
	ok, err := m.store.rate(ctx, t.ID, req.Rating, strings.TrimSpace(req.Comment), now())
	if err != nil {
		return err
	}
	if !ok {
		return ErrCSATRated
	}
	if t, err = m.store.ticket(ctx, t.ID); err != nil {
		return err
	}
	return m.renderCSAT(c, http.StatusOK, t)
}
