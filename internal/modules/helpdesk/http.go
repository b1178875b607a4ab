package helpdesk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// Routes implements kernel.Router.
func (m *Module) Routes(r kernel.Routes) {
	read, write, submit := security.Require(PermRead), security.Require(PermWrite), security.Require(PermSubmit)
	r.API.POST("/customers", m.postCustomer, write)
	r.API.GET("/customers", m.listCustomers, read)
	r.API.GET("/reports/csat", m.getCSATReport, read) // reports.go
	r.API.GET("/customers/:id", m.getCustomer, read)
	r.API.PATCH("/customers/:id", m.patchCustomer, write)
	r.API.POST("/organizations", m.postOrganization, write)
	r.API.GET("/organizations", m.listOrganizations, read)
	r.API.POST("/tickets", m.postTicket, submit)
	r.API.GET("/tickets", m.listTickets, submit)
	r.API.GET("/tickets/:id", m.getTicket, submit)
	r.API.PATCH("/tickets/:id", m.patchTicketHTTP, write)
	r.API.GET("/tickets/:id/history", m.getHistory, read)
	r.API.POST("/tickets/:id/messages", m.postMessage, m.uploadLimit(), submit)
	r.API.GET("/tickets/:id/messages", m.listMessages, submit)
	m.viewRoutes(r)         // views.go
	m.slaRoutes(r)          // sla_http.go
	m.conversationRoutes(r) // conversation_http.go
	m.workflowRoutes(r)     // workflow_http.go
	m.adminRoutes(r)        // admin.go
}

// listQuery reads ?q= (at most 200 characters) and ?limit= (1 to
// httpx.MaxPerPage, default httpx.DefaultPerPage).
func listQuery(c echo.Context) (q string, limit int, err error) {
	var d []errs.Detail
	q, limit = strings.TrimSpace(c.QueryParam("q")), httpx.DefaultPerPage
	if len(q) > 200 {
		d = append(d, invalid("q", "max", "must be at most 200 characters"))
	}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			d = append(d, invalid("limit", "range", "must be a whole number from 1 to 100"))
		}
		limit = min(n, httpx.MaxPerPage)
	}
	if len(d) > 0 {
		return "", 0, ErrInvalidQuery.WithDetails(d...)
	}
	return q, limit, nil
}

func invalid(field, code, msg string) errs.Detail {
	return errs.Detail{Field: field, Code: code, Message: msg}
}

// ---- customers and organizations

type customerRequest struct {
	Name           *string         `json:"name"`
	Email          *string         `json:"email"`
	Phone          *string         `json:"phone"`
	Notes          *string         `json:"notes"`
	Tags           *[]string       `json:"tags"`
	Attributes     json.RawMessage `json:"attributes"`
	OrganizationID *string         `json:"organization_id"`
}

type customerView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Email          *string         `json:"email"`
	Phone          string          `json:"phone"`
	Notes          string          `json:"notes"`
	Tags           json.RawMessage `json:"tags"`
	Attributes     json.RawMessage `json:"attributes"`
	OrganizationID *string         `json:"organization_id"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Tickets        []ticketView    `json:"tickets,omitempty"`
}

func viewCustomer(r *customerRow) customerView {
	return customerView{ID: r.ID, Name: r.Name, Email: r.Email, Phone: r.Phone, Notes: r.Notes,
		Tags: json.RawMessage(r.Tags), Attributes: json.RawMessage(r.Attributes), OrganizationID: r.OrganizationID,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// jsonObject is raw re-encoded compactly, if it is a JSON object.
func jsonObject(raw json.RawMessage) (string, bool) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return "", false
	}
	b, _ := json.Marshal(obj)
	return string(b), true
}

// customerColumns checks a customer request and returns the columns it sets.
func (m *Module) customerColumns(c echo.Context, req *customerRequest, create bool) (map[string]any, error) {
	set := map[string]any{}
	var d []errs.Detail
	if req.Name != nil {
		if n := strings.TrimSpace(*req.Name); len(n) > 200 {
			d = append(d, invalid("name", "max", "must be at most 200 characters"))
		} else {
			set["name"] = n
		}
	}
	if req.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*req.Email))
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || len(e) > 320 {
			d = append(d, invalid("email", "email", "must be an e-mail address"))
		} else {
			set["email"] = e
		}
	}
	if req.Phone != nil {
		if len(*req.Phone) > 32 {
			d = append(d, invalid("phone", "max", "must be at most 32 characters"))
		} else {
			set["phone"] = strings.TrimSpace(*req.Phone)
		}
	}
	if req.Notes != nil {
		if len(*req.Notes) > 10000 {
			d = append(d, invalid("notes", "max", "must be at most 10000 characters"))
		} else {
			set["notes"] = *req.Notes
		}
	}
	if req.Tags != nil {
		b, _ := json.Marshal(normTags(*req.Tags))
		set["tags"] = string(b)
	}
	if req.Attributes != nil {
		if a, ok := jsonObject(req.Attributes); !ok {
			d = append(d, invalid("attributes", "object", "must be a JSON object"))
		} else {
			set["attributes"] = a
		}
	}
	if req.OrganizationID != nil {
		if _, err := m.store.organization(c.Request().Context(), *req.OrganizationID); err != nil {
			if errs.KindOf(err) != errs.NotFound {
				return nil, err
			}
			d = append(d, invalid("organization_id", "exists", "must be an organization of this tenant"))
		} else {
			set["organization_id"] = *req.OrganizationID
		}
	}
	if create && set["name"] == nil && set["email"] == nil {
		d = append(d, invalid("email", "required", "a customer needs a name or an e-mail address"))
	}
	if len(d) > 0 {
		return nil, ErrInvalidInput.WithDetails(d...)
	}
	return set, nil
}

// bindCustomer reads a customer request and returns the columns it sets.
func (m *Module) bindCustomer(c echo.Context, create bool) (map[string]any, error) {
	var req customerRequest
	if err := httpx.Bind(c, &req); err != nil {
		return nil, err
	}
	return m.customerColumns(c, &req, create)
}

func (m *Module) postCustomer(c echo.Context) error {
	set, err := m.bindCustomer(c, true)
	if err != nil {
		return err
	}
	r, err := m.newCustomer(c.Request().Context(), set)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewCustomer(r))
}

// newCustomer creates a customer of the columns customerColumns checked.
func (m *Module) newCustomer(ctx context.Context, set map[string]any) (*customerRow, error) {
	at := now()
	r := &customerRow{ID: newID(), TenantID: security.TenantOf(ctx), Tags: "[]", Attributes: "{}", CreatedAt: at, UpdatedAt: at}
	if v, ok := set["name"].(string); ok {
		r.Name = v
	}
	if v, ok := set["email"].(string); ok {
		r.Email = &v
	}
	if v, ok := set["phone"].(string); ok {
		r.Phone = v
	}
	if v, ok := set["notes"].(string); ok {
		r.Notes = v
	}
	if v, ok := set["tags"].(string); ok {
		r.Tags = v
	}
	if v, ok := set["attributes"].(string); ok {
		r.Attributes = v
	}
	if v, ok := set["organization_id"].(string); ok {
		r.OrganizationID = &v
	}
	if err := m.store.createCustomer(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (m *Module) listCustomers(c echo.Context) error {
	return searchList(c, m.store.customers, viewCustomer)
}

// searchList renders the rows fetch finds for ?q= and ?limit= as
// {"items": [...]}.
func searchList[R, V any](c echo.Context, fetch func(ctx context.Context, q string, limit int) ([]R, error),
	view func(*R) V) error {
	q, limit, err := listQuery(c)
	if err != nil {
		return err
	}
	rows, err := fetch(c.Request().Context(), q, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": views(rows, view)})
}

// views maps rows to their API views; never nil, so never rendered as null.
func views[R, V any](rows []R, view func(*R) V) []V {
	out := make([]V, len(rows))
	for i := range rows {
		out[i] = view(&rows[i])
	}
	return out
}

func (m *Module) customerParam(c echo.Context) (*customerRow, error) {
	if _, err := uuid.Parse(c.Param("id")); err != nil {
		return nil, ErrCustomerNotFound
	}
	return m.store.customer(c.Request().Context(), c.Param("id"))
}

func (m *Module) getCustomer(c echo.Context) error {
	r, err := m.customerParam(c)
	if err != nil {
		return err
	}
	ts, err := m.store.ticketsOf(c.Request().Context(), r.ID, httpx.MaxPerPage)
	if err != nil {
		return err
	}
	v := viewCustomer(r)
	v.Tickets = views(ts, viewTicket)
	return c.JSON(http.StatusOK, v)
}

func (m *Module) patchCustomer(c echo.Context) error {
	r, err := m.customerParam(c)
	if err != nil {
		return err
	}
	set, err := m.bindCustomer(c, false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if len(set) > 0 {
		set["updated_at"] = now()
		if err := m.store.updateCustomer(ctx, r.ID, set); err != nil {
			return err
		}
	}
	if r, err = m.store.customer(ctx, r.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewCustomer(r))
}

type organizationRequest struct {
	Name       string          `json:"name"`
	Notes      string          `json:"notes"`
	Attributes json.RawMessage `json:"attributes"`
}

type organizationView struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Notes      string          `json:"notes"`
	Attributes json.RawMessage `json:"attributes"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

func (m *Module) postOrganization(c echo.Context) error {
	var req organizationRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	var d []errs.Detail
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 200 {
		d = append(d, invalid("name", "required", "must be 1 to 200 characters"))
	}
	attrs := "{}"
	if req.Attributes != nil {
		var ok bool
		if attrs, ok = jsonObject(req.Attributes); !ok {
			d = append(d, invalid("attributes", "object", "must be a JSON object"))
		}
	}
	if len(d) > 0 {
		return ErrInvalidInput.WithDetails(d...)
	}
	ctx := c.Request().Context()
	at := now()
	o := &organizationRow{ID: newID(), TenantID: security.TenantOf(ctx), Name: name, Notes: req.Notes, Attributes: attrs,
		CreatedAt: at, UpdatedAt: at}
	if err := m.store.createOrganization(ctx, o); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewOrganization(o))
}

func viewOrganization(o *organizationRow) organizationView {
	return organizationView{ID: o.ID, Name: o.Name, Notes: o.Notes, Attributes: json.RawMessage(o.Attributes),
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
}

func (m *Module) listOrganizations(c echo.Context) error {
	return searchList(c, m.store.organizations, viewOrganization)
}

// ---- tickets

type ticketView struct {
	ID          string          `json:"id"`
	Subject     string          `json:"subject"`
	Status      string          `json:"status"`
	Priority    string          `json:"priority"`
	Type        string          `json:"type"`
	Tags        json.RawMessage `json:"tags"`
	RequesterID string          `json:"requester_id"`
	AssigneeID  *string         `json:"assignee_id"`
	GroupID     *string         `json:"group_id"`
	Channel     string          `json:"channel"`
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	SolvedAt    *time.Time      `json:"solved_at"`
	ClosedAt    *time.Time      `json:"closed_at"`
	MergedInto  *string         `json:"merged_into_id"`
	SLA         *slaView        `json:"sla"`  // sla_clock.go
	CSAT        *csatView       `json:"csat"` // csat.go
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func viewTicket(t *ticketRow) ticketView {
	return ticketView{ID: t.ID, Subject: t.Subject, Status: t.Status, Priority: t.Priority, Type: t.Type,
		Tags: json.RawMessage(t.Tags), RequesterID: t.RequesterID, AssigneeID: t.AssigneeID, GroupID: t.GroupID,
		Channel: t.Channel, Version: t.Version, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
		SolvedAt: utc(t.SolvedAt), ClosedAt: utc(t.ClosedAt), MergedInto: t.MergedInto, SLA: viewSLA(t),
		CSAT: viewCSAT(t)}
}

type requester struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type ticketRequest struct {
	Subject   string     `json:"subject"`
	Message   string     `json:"message"`
	Requester *requester `json:"requester"`
	Priority  string     `json:"priority"`
	Channel   string     `json:"channel"`
	GroupID   string     `json:"group_id"` // staff only
}

func (m *Module) postTicket(c echo.Context) error {
	var req ticketRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	in, err := checkTicket(ctx, &req)
	if err != nil {
		return err
	}
	t, err := m.createTicket(ctx, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewTicket(t))
}

// checkTicket validates a ticket to open, with the defaults filled in.
func checkTicket(ctx context.Context, req *ticketRequest) (newTicket, error) {
	in := newTicket{Subject: strings.TrimSpace(req.Subject), Message: req.Message, Priority: req.Priority, Channel: req.Channel}
	var d []errs.Detail
	if in.Subject == "" || len(in.Subject) > 500 {
		d = append(d, invalid("subject", "required", "must be 1 to 500 characters"))
	}
	if strings.TrimSpace(in.Message) == "" || len(in.Message) > 65536 {
		d = append(d, invalid("message", "required", "must be 1 to 65536 characters"))
	}
	if in.Priority == "" {
		in.Priority = "normal"
	} else if !slices.Contains(Priorities, in.Priority) {
		d = append(d, invalid("priority", "oneof", "must be low, normal, high or urgent"))
	}
	if in.Channel == "" {
		in.Channel = "api"
		if !staff(ctx) {
			in.Channel = "web"
		}
	} else if !slices.Contains(Channels, in.Channel) {
		d = append(d, invalid("channel", "oneof", "must be api, web or email"))
	}
	if staff(ctx) {
		if req.Requester == nil {
			d = append(d, invalid("requester.email", "required", "is required"))
		} else {
			in.Email, in.Name = strings.ToLower(strings.TrimSpace(req.Requester.Email)), strings.TrimSpace(req.Requester.Name)
			if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || len(in.Email) > 320 {
				d = append(d, invalid("requester.email", "email", "must be an e-mail address"))
			}
			if len(in.Name) > 200 {
				d = append(d, invalid("requester.name", "max", "must be at most 200 characters"))
			}
		}
	} else if req.Requester != nil {
		d = append(d, invalid("requester", "forbidden", "a customer is always the requester of their tickets"))
	}
	if in.GroupID = req.GroupID; in.GroupID != "" && !staff(ctx) {
		d = append(d, invalid("group_id", "forbidden", "only agents put tickets in groups"))
	}
	if len(d) > 0 {
		return in, ErrInvalidTicket.WithDetails(d...)
	}
	return in, nil
}

func (m *Module) listTickets(c echo.Context) error {
	page, err := m.ticketList(c.Request().Context(), c.QueryParams())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": views(page.Items, viewHit), "next_cursor": page.Next})
}

func (m *Module) getTicket(c echo.Context) error {
	t, err := m.visibleTicket(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTicket(t))
}

type ticketPatchRequest struct {
	Version    *int            `json:"version"`
	Subject    *string         `json:"subject"`
	Status     *string         `json:"status"`
	Priority   *string         `json:"priority"`
	Type       *string         `json:"type"`
	Tags       *[]string       `json:"tags"`
	AssigneeID json.RawMessage `json:"assignee_id"` // null unassigns
	GroupID    json.RawMessage `json:"group_id"`    // null removes the group
}

// ifMatch reads an If-Match header of a version: "3", W/"3" or 3.
func ifMatch(h string) (int, bool) {
	h = strings.Trim(strings.TrimPrefix(strings.TrimSpace(h), "W/"), `"`)
	n, err := strconv.Atoi(h)
	return n, err == nil && n > 0
}

// ticketVersion is the version a change names, from If-Match or the body
// (body), and the error for a stale one: 412 for If-Match, 409 otherwise.
// A missing or disagreeing version is a detail of a 422.
func ticketVersion(c echo.Context, body *int) (version int, stale error, d []errs.Detail, err error) {
	version, stale = 0, ErrStaleVersion
	if h := c.Request().Header.Get("If-Match"); h != "" {
		n, ok := ifMatch(h)
		if !ok {
			return 0, nil, nil, errs.ErrBadRequest.WithMessage("If-Match must be a ticket version such as \"3\".")
		}
		if body != nil && *body != n {
			d = append(d, invalid("version", "mismatch", "differs from the If-Match header"))
		}
		version, stale = n, ErrStalePrecondition
	} else if body != nil {
		version = *body
	} else {
		d = append(d, invalid("version", "required", "send the version you read, in the body or as If-Match"))
	}
	return version, stale, d, nil
}

func (m *Module) patchTicketHTTP(c echo.Context) error {
	var req ticketPatchRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	version, stale, d, err := ticketVersion(c, req.Version)
	if err != nil {
		return err
	}
	p, err := checkPatch(&req, d)
	if err != nil {
		return err
	}
	t, err := m.patchTicket(c.Request().Context(), c.Param("id"), version, p, stale)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(t.Version)+`"`)
	return c.JSON(http.StatusOK, viewTicket(t))
}

// checkPatch validates a ticket change; d holds the problems found so far.
func checkPatch(req *ticketPatchRequest, d []errs.Detail) (ticketPatch, error) {
	p := ticketPatch{Status: req.Status, Priority: req.Priority, Type: req.Type, Tags: req.Tags}
	if req.Subject != nil {
		s := strings.TrimSpace(*req.Subject)
		if s == "" || len(s) > 500 {
			d = append(d, invalid("subject", "required", "must be 1 to 500 characters"))
		}
		p.Subject = &s
	}
	if p.Status != nil && !slices.Contains(Statuses, *p.Status) {
		d = append(d, invalid("status", "oneof", "must be a ticket status"))
	}
	if p.Priority != nil && !slices.Contains(Priorities, *p.Priority) {
		d = append(d, invalid("priority", "oneof", "must be low, normal, high or urgent"))
	}
	if p.Type != nil && len(*p.Type) > 32 {
		d = append(d, invalid("type", "max", "must be at most 32 characters"))
	}
	if p.Tags != nil && len(*p.Tags) > 50 {
		d = append(d, invalid("tags", "max", "must be at most 50 tags"))
	}
	if req.AssigneeID != nil {
		var a *string
		if err := json.Unmarshal(req.AssigneeID, &a); err != nil || (a != nil && uuid.Validate(*a) != nil) {
			d = append(d, invalid("assignee_id", "uuid", "must be a user id or null"))
		}
		p.AssigneeID = &a
	}
	if req.GroupID != nil {
		var g *string
		if err := json.Unmarshal(req.GroupID, &g); err != nil {
			d = append(d, invalid("group_id", "uuid", "must be a group id or null"))
		}
		p.GroupID = &g
	}
	if len(d) > 0 {
		return p, ErrInvalidTicket.WithDetails(d...)
	}
	return p, nil
}

type historyView struct {
	Actor string    `json:"actor"`
	Field string    `json:"field"`
	Old   *string   `json:"old"`
	New   *string   `json:"new"`
	At    time.Time `json:"at"`
}

func (m *Module) getHistory(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := m.visibleTicket(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	rows, err := m.store.history(ctx, t.ID)
	if err != nil {
		return err
	}
	out := make([]historyView, len(rows))
	for i, h := range rows {
		out[i] = historyView{Actor: h.Actor, Field: h.Field, Old: h.OldValue, New: h.NewValue, At: h.At.UTC()}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

type messageRequest struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

type messageView struct {
	ID         string `json:"id"`
	TicketID   string `json:"ticket_id"`
	AuthorKind string `json:"author_kind"`
	AuthorID   string `json:"author_id"`
	Body       string `json:"body"`
	// QuotedText is what an e-mailed reply quoted below its text, cut from
	// Body (quoted.go).
	QuotedText string    `json:"quoted_text,omitempty"`
	Internal   bool      `json:"internal"`
	CreatedAt  time.Time `json:"created_at"`
	// Attachments are filled by the message lists (attachments.go).
	Attachments []attachmentView `json:"attachments"`
}

func viewMessage(r *messageRow) messageView {
	v := messageView{ID: r.ID, TicketID: r.TicketID, AuthorKind: r.AuthorKind, AuthorID: r.AuthorID, Body: r.Body,
		Internal: r.Internal, CreatedAt: r.CreatedAt.UTC(), Attachments: []attachmentView{}}
	if r.QuotedText != nil {
		v.QuotedText = *r.QuotedText
	}
	return v
}

func (m *Module) postMessage(c echo.Context) error {
	if isMultipart(c) {
		return m.postMessageWithFiles(c) // attachments.go
	}
	var req messageRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := checkMessage(req.Body); err != nil {
		return err
	}
	msg, err := m.reply(c.Request().Context(), c.Param("id"), req.Body, req.Internal)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewMessage(msg))
}

// checkMessage validates a message's body.
func checkMessage(body string) error {
	if strings.TrimSpace(body) == "" || len(body) > 65536 {
		return ErrInvalidInput.WithDetails(invalid("body", "required", "must be 1 to 65536 characters"))
	}
	return nil
}

func (m *Module) listMessages(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := m.visibleTicket(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	rows, err := m.conversation(ctx, t.ID, staff(ctx)) // with merged tickets' messages: merge.go
	if err != nil {
		return err
	}
	items, err := m.withAttachments(ctx, t.ID, views(rows, viewMessage))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}
