package helpdesk

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Errors of macros and canned responses.
var (
	ErrMacroNotFound  = errs.New(errs.NotFound, "helpdesk.macro_not_found", "The macro does not exist.")
	ErrCannedNotFound = errs.New(errs.NotFound, "helpdesk.canned_response_not_found", "The canned response does not exist.")
	ErrManageOnly     = errs.New(errs.Forbidden, "helpdesk.manage_forbidden",
		"Only owners change the tenant's shared macros and canned responses; keep a private one instead.")
	ErrInvalidMacro  = errs.New(errs.Invalid, "helpdesk.invalid_macro", "The macro has invalid fields.")
	ErrInvalidCanned = errs.New(errs.Invalid, "helpdesk.invalid_canned_response", "The canned response has invalid fields.")
)

// ---- placeholders

// Placeholders are the names a canned response or a macro's reply may use
// as {{name}}. Each is replaced by plain text; nothing else is evaluated.
var Placeholders = []string{"ticket.id", "ticket.subject", "ticket.status", "ticket.priority",
	"customer.name", "customer.email", "agent.name", "agent.email"}

var placeholderRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// checkPlaceholders is a detail for field naming the first unknown
// placeholder of body, or nil.
func checkPlaceholders(field, body string) *errs.Detail {
	for _, m := range placeholderRE.FindAllStringSubmatch(body, -1) {
		if !slices.Contains(Placeholders, m[1]) {
			d := invalid(field, "placeholder", "unknown placeholder {{"+m[1]+"}}; known: "+strings.Join(Placeholders, ", "))
			return &d
		}
	}
	return nil
}

// render fills body's placeholders for ticket t and the acting agent.
func (m *Module) render(ctx context.Context, body string, t *ticketRow) (string, error) {
	vals := map[string]string{"ticket.id": t.ID, "ticket.subject": t.Subject, "ticket.status": t.Status,
		"ticket.priority": t.Priority}
	c, err := m.store.customer(ctx, t.RequesterID)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return "", err
	}
	if c != nil {
		vals["customer.name"], vals["customer.email"] = c.Name, deref(c.Email)
	}
	if p, ok := security.PrincipalFrom(ctx); ok && p.Kind == security.KindUser {
		sys := security.WithPrincipal(ctx, security.System(security.TenantOf(ctx)))
		if u, err := m.k.Security.GetUser(sys, p.ID); err == nil {
			vals["agent.name"], vals["agent.email"] = u.Name, u.Email
			if u.Name == "" {
				vals["agent.name"] = u.Email
			}
		}
	}
	return placeholderRE.ReplaceAllStringFunc(body, func(s string) string {
		return vals[placeholderRE.FindStringSubmatch(s)[1]]
	}), nil
}

// ---- ownership, shared by macros and canned responses

// ownerOf is the owner_id of a new row: the caller for a private one;
// nil for a shared one, which needs PermManage.
func ownerOf(ctx context.Context, private bool) (*string, error) {
	p, _ := security.PrincipalFrom(ctx)
	if private {
		if p == nil || p.Kind != security.KindUser {
			return nil, ErrManageOnly.WithMessage("Only users keep private macros and canned responses.")
		}
		return &p.ID, nil
	}
	if p == nil || !p.Can(PermManage) {
		return nil, ErrManageOnly
	}
	return nil, nil
}

// mayEdit allows the owner of a private row, and PermManage for a shared
// one. (Others' private rows are not found at all.)
func mayEdit(ctx context.Context, owner *string) error {
	_, err := ownerOf(ctx, owner != nil)
	return err
}

// visible selects the shared rows and the caller's private ones.
func (s *store) visible(ctx context.Context) *gorm.DB {
	return s.conn(ctx).Where("(owner_id IS NULL OR owner_id = ?)", principalID(ctx))
}

// ownedList lists the rows of R (a macro or a canned response) the caller
// sees, by name.
func ownedList[R any](ctx context.Context, s *store) ([]R, error) {
	var rows []R
	return rows, s.visible(ctx).Order("name, id").Limit(1000).Find(&rows).Error
}

// ownedGet reads a row of R the caller sees; nf when there is none.
func ownedGet[R any](ctx context.Context, s *store, id string, nf error) (*R, error) {
	var r R
	if uuid.Validate(id) != nil {
		return nil, nf
	}
	if err := s.visible(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(err, nf)
	}
	return &r, nil
}

// ownedChange updates a row of R with set, or deletes it when set is nil,
// if the caller may edit a row of that owner.
func ownedChange[R any](ctx context.Context, s *store, id string, owner *string, set map[string]any) error {
	if err := mayEdit(ctx, owner); err != nil {
		return err
	}
	q := s.conn(ctx).Where("id = ?", id)
	if set == nil {
		return q.Delete(new(R)).Error
	}
	return q.Model(new(R)).Updates(set).Error
}

// ---- canned responses

type cannedRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	OwnerID   *string   `gorm:"column:owner_id"`
	Name      string    `gorm:"column:name"`
	Body      string    `gorm:"column:body"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (cannedRow) TableName() string { return "helpdesk_canned_responses" }

// CannedResponse is a reply body with {{placeholders}}, shared by the
// tenant or private to its owner.
type CannedResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Body      string    `json:"body"`
	Private   bool      `json:"private"`
	OwnerID   *string   `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewCanned(r *cannedRow) CannedResponse {
	return CannedResponse{ID: r.ID, Name: r.Name, Body: r.Body, Private: r.OwnerID != nil, OwnerID: r.OwnerID,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// CannedInput creates or changes a canned response; nil leaves a field
// alone. Private is fixed at creation.
type CannedInput struct {
	Name    *string `json:"name"`
	Body    *string `json:"body"`
	Private *bool   `json:"private"`
}

func checkName(d []errs.Detail, name *string, create bool) ([]errs.Detail, string) {
	var n string
	if name != nil {
		n = strings.TrimSpace(*name)
	}
	if (create || name != nil) && (n == "" || len(n) > 100) {
		d = append(d, invalid("name", "required", "must be 1 to 100 characters"))
	}
	return d, n
}

func checkBody(d []errs.Detail, field, body string) []errs.Detail {
	if strings.TrimSpace(body) == "" || len(body) > 65536 {
		return append(d, invalid(field, "required", "must be 1 to 65536 characters"))
	}
	if p := checkPlaceholders(field, body); p != nil {
		return append(d, *p)
	}
	return d
}

func (in CannedInput) check(create bool) (string, error) {
	d, name := checkName(nil, in.Name, create)
	if create && in.Body == nil {
		d = append(d, invalid("body", "required", "must be 1 to 65536 characters"))
	} else if in.Body != nil {
		d = checkBody(d, "body", *in.Body)
	}
	if !create && in.Private != nil {
		d = append(d, invalid("private", "fixed", "is fixed at creation"))
	}
	if len(d) > 0 {
		return "", ErrInvalidCanned.WithDetails(d...)
	}
	return name, nil
}

// CannedResponses lists the shared canned responses and the caller's own, by name.
func (m *Module) CannedResponses(ctx context.Context) ([]CannedResponse, error) {
	rows, err := ownedList[cannedRow](ctx, m.store)
	return views(rows, viewCanned), err
}

func (m *Module) canned(ctx context.Context, id string) (*cannedRow, error) {
	return ownedGet[cannedRow](ctx, m.store, id, ErrCannedNotFound)
}

// CannedResponseByID reads a canned response the caller may see.
func (m *Module) CannedResponseByID(ctx context.Context, id string) (*CannedResponse, error) {
	r, err := m.canned(ctx, id)
	if err != nil {
		return nil, err
	}
	v := viewCanned(r)
	return &v, nil
}

// CreateCannedResponse makes a canned response.
func (m *Module) CreateCannedResponse(ctx context.Context, in CannedInput) (*CannedResponse, error) {
	name, err := in.check(true)
	if err != nil {
		return nil, err
	}
	owner, err := ownerOf(ctx, in.Private != nil && *in.Private)
	if err != nil {
		return nil, err
	}
	at := now()
	r := &cannedRow{ID: newID(), TenantID: security.TenantOf(ctx), OwnerID: owner, Name: name, Body: *in.Body,
		CreatedAt: at, UpdatedAt: at}
	if err := m.store.db.Conn(ctx).Create(r).Error; err != nil {
		return nil, err
	}
	v := viewCanned(r)
	return &v, nil
}

// UpdateCannedResponse changes a canned response's name or body.
func (m *Module) UpdateCannedResponse(ctx context.Context, id string, in CannedInput) (*CannedResponse, error) {
	name, err := in.check(false)
	if err != nil {
		return nil, err
	}
	r, err := m.canned(ctx, id)
	if err != nil {
		return nil, err
	}
	set := map[string]any{"updated_at": now()}
	if in.Name != nil {
		set["name"] = name
	}
	if in.Body != nil {
		set["body"] = *in.Body
	}
	if err := ownedChange[cannedRow](ctx, m.store, r.ID, r.OwnerID, set); err != nil {
		return nil, err
	}
	return m.CannedResponseByID(ctx, r.ID)
}

// DeleteCannedResponse removes a canned response.
func (m *Module) DeleteCannedResponse(ctx context.Context, id string) error {
	r, err := m.canned(ctx, id)
	if err != nil {
		return err
	}
	return ownedChange[cannedRow](ctx, m.store, r.ID, r.OwnerID, nil)
}

// RenderCannedResponse is a canned response's body filled in for a ticket
// the caller may see.
func (m *Module) RenderCannedResponse(ctx context.Context, id, ticketID string) (string, error) {
	r, err := m.canned(ctx, id)
	if err != nil {
		return "", err
	}
	t, err := m.visibleTicket(ctx, ticketID)
	if err != nil {
		return "", err
	}
	return m.render(ctx, r.Body, t)
}

// ---- macros

type macroRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	OwnerID   *string   `gorm:"column:owner_id"`
	Name      string    `gorm:"column:name"`
	Actions   string    `gorm:"column:actions"` // MacroActions as JSON
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (macroRow) TableName() string { return "helpdesk_macros" }

// MacroActions is what a macro does to a ticket; empty fields do nothing.
type MacroActions struct {
	Status     string      `json:"status,omitempty"`
	Priority   string      `json:"priority,omitempty"`
	Type       string      `json:"type,omitempty"`
	TagsAdd    []string    `json:"tags_add,omitempty"`
	TagsRemove []string    `json:"tags_remove,omitempty"`
	Assignee   string      `json:"assignee,omitempty"` // a user id, "me" (who applies it) or "none" (unassign)
	GroupID    string      `json:"group_id,omitempty"`
	Reply      *MacroReply `json:"reply,omitempty"`
}

// MacroReply is the reply or internal note a macro adds, with placeholders.
type MacroReply struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

// Macro is a named set of actions, shared by the tenant or private to its owner.
type Macro struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Private   bool         `json:"private"`
	OwnerID   *string      `json:"owner_id"`
	Actions   MacroActions `json:"actions"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

func viewMacro(r *macroRow) Macro {
	v := Macro{ID: r.ID, Name: r.Name, Private: r.OwnerID != nil, OwnerID: r.OwnerID, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal([]byte(r.Actions), &v.Actions) // written by this module, from MacroActions
	return v
}

// MacroInput creates or changes a macro; nil leaves a field alone. Private
// is fixed at creation.
type MacroInput struct {
	Name    *string       `json:"name"`
	Private *bool         `json:"private"`
	Actions *MacroActions `json:"actions"`
}

// check validates in, returning the cleaned name and actions as JSON.
func (m *Module) checkMacro(ctx context.Context, in MacroInput, create bool) (string, string, error) {
	d, name := checkName(nil, in.Name, create)
	if !create && in.Private != nil {
		d = append(d, invalid("private", "fixed", "is fixed at creation"))
	}
	var actions string
	if create && in.Actions == nil {
		d = append(d, invalid("actions", "required", "must do something"))
	} else if a := in.Actions; a != nil {
		a.TagsAdd, a.TagsRemove = normTags(a.TagsAdd), normTags(a.TagsRemove)
		if a.Status != "" && !slices.Contains(Statuses, a.Status) {
			d = append(d, invalid("actions.status", "oneof", "must be a ticket status"))
		}
		if a.Priority != "" && !slices.Contains(Priorities, a.Priority) {
			d = append(d, invalid("actions.priority", "oneof", "must be low, normal, high or urgent"))
		}
		if len(a.Type) > 32 {
			d = append(d, invalid("actions.type", "max", "must be at most 32 characters"))
		}
		if len(a.TagsAdd) > 50 || len(a.TagsRemove) > 50 {
			d = append(d, invalid("actions.tags_add", "max", "must be at most 50 tags each"))
		}
		if a.Assignee != "" && a.Assignee != "me" && a.Assignee != "none" {
			if uuid.Validate(a.Assignee) != nil || m.checkAssignee(ctx, a.Assignee) != nil {
				d = append(d, invalid("actions.assignee", "exists", `must be "me", "none" or an owner or agent of this tenant`))
			}
		}
		if a.GroupID != "" {
			if _, err := m.validGroupID(ctx, a.GroupID); err != nil {
				d = append(d, invalid("actions.group_id", "exists", "must be a group of this tenant"))
			}
		}
		if a.Reply != nil {
			d = checkBody(d, "actions.reply.body", a.Reply.Body)
		}
		if a.Status == "" && a.Priority == "" && a.Type == "" && len(a.TagsAdd)+len(a.TagsRemove) == 0 && a.Assignee == "" &&
			a.GroupID == "" && a.Reply == nil {
			d = append(d, invalid("actions", "required", "must do something"))
		}
		b, _ := json.Marshal(a)
		actions = string(b)
	}
	if len(d) > 0 {
		return "", "", ErrInvalidMacro.WithDetails(d...)
	}
	return name, actions, nil
}

// Macros lists the shared macros and the caller's own, by name.
func (m *Module) Macros(ctx context.Context) ([]Macro, error) {
	rows, err := ownedList[macroRow](ctx, m.store)
	return views(rows, viewMacro), err
}

func (m *Module) macro(ctx context.Context, id string) (*macroRow, error) {
	return ownedGet[macroRow](ctx, m.store, id, ErrMacroNotFound)
}

// MacroByID reads a macro the caller may see.
func (m *Module) MacroByID(ctx context.Context, id string) (*Macro, error) {
	r, err := m.macro(ctx, id)
	if err != nil {
		return nil, err
	}
	v := viewMacro(r)
	return &v, nil
}

// CreateMacro makes a macro.
func (m *Module) CreateMacro(ctx context.Context, in MacroInput) (*Macro, error) {
	name, actions, err := m.checkMacro(ctx, in, true)
	if err != nil {
		return nil, err
	}
	owner, err := ownerOf(ctx, in.Private != nil && *in.Private)
	if err != nil {
		return nil, err
	}
	at := now()
	r := &macroRow{ID: newID(), TenantID: security.TenantOf(ctx), OwnerID: owner, Name: name, Actions: actions,
		CreatedAt: at, UpdatedAt: at}
	if err := m.store.db.Conn(ctx).Create(r).Error; err != nil {
		return nil, err
	}
	v := viewMacro(r)
	return &v, nil
}

// UpdateMacro changes a macro's name or actions (the whole set).
func (m *Module) UpdateMacro(ctx context.Context, id string, in MacroInput) (*Macro, error) {
	r, err := m.macro(ctx, id)
	if err != nil {
		return nil, err // a missing macro is 404 whatever the body says
	}
	name, actions, err := m.checkMacro(ctx, in, false)
	if err != nil {
		return nil, err
	}
	set := map[string]any{"updated_at": now()}
	if in.Name != nil {
		set["name"] = name
	}
	if in.Actions != nil {
		set["actions"] = actions
	}
	if err := ownedChange[macroRow](ctx, m.store, r.ID, r.OwnerID, set); err != nil {
		return nil, err
	}
	return m.MacroByID(ctx, r.ID)
}

// DeleteMacro removes a macro.
func (m *Module) DeleteMacro(ctx context.Context, id string) error {
	r, err := m.macro(ctx, id)
	if err != nil {
		return err
	}
	return ownedChange[macroRow](ctx, m.store, r.ID, r.OwnerID, nil)
}

// ApplyMacro runs a macro on a ticket at version (stale is the error for a
// ticket changed since): its field changes go through the PATCH path
// (version check, workflow, history, events), then its reply or note is
// added, all in one transaction, so a reply that fails (say, on a ticket
// the macro closed) leaves the ticket as it was. It writes a "macro"
// history row naming the macro, and returns the ticket and the message
// (nil without a reply).
func (m *Module) ApplyMacro(ctx context.Context, ticketID, macroID string, version int, stale error) (*ticketRow, *messageRow, error) {
	var (
		out *ticketRow
		msg *messageRow
	)
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		mac, err := m.MacroByID(ctx, macroID)
		if err != nil {
			return err
		}
		t, err := m.visibleTicket(ctx, ticketID)
		if err != nil {
			return err
		}
		if t.Version != version {
			return stale
		}
		a := mac.Actions
		p := ticketPatch{}
		if a.Status != "" {
			p.Status = &a.Status
		}
		if a.Priority != "" {
			p.Priority = &a.Priority
		}
		if a.Type != "" {
			p.Type = &a.Type
		}
		if len(a.TagsAdd)+len(a.TagsRemove) > 0 {
			var tags []string
			_ = json.Unmarshal([]byte(t.Tags), &tags)
			tags = slices.DeleteFunc(append(tags, a.TagsAdd...), func(s string) bool { return slices.Contains(a.TagsRemove, s) })
			p.Tags = &tags
		}
		switch a.Assignee {
		case "":
		case "none":
			var none *string
			p.AssigneeID = &none
		case "me":
			me := principalID(ctx)
			pme := &me
			p.AssigneeID = &pme
		default:
			pa := &a.Assignee
			p.AssigneeID = &pa
		}
		if a.GroupID != "" {
			g := &a.GroupID
			p.GroupID = &g
		}
		if out, err = m.patchTicket(ctx, t.ID, version, p, stale); err != nil {
			return err
		}
		name := mac.Name
		if err := m.store.addHistory(ctx, []historyRow{m.change(ctx, out, "macro", nil, &name, now())}); err != nil {
			return err
		}
		if a.Reply == nil {
			return nil
		}
		body, err := m.render(ctx, a.Reply.Body, out)
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) == "" || len(body) > 65536 {
			return ErrInvalidMacro.WithDetails(invalid("actions.reply.body", "required",
				"renders to an empty reply or one over 65536 characters for this ticket"))
		}
		msg, err = m.reply(ctx, t.ID, body, a.Reply.Internal)
		return err
	})
	return out, msg, err
}
