package helpdesk

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// The ticket's page: its conversation (or, on the history tab, its
// history), the reply form and the properties form. A properties form
// carries the version it was read at, so that saving over someone else's
// change is refused and says so, as the API's PATCH does.

// propsForm is the properties form as entered.
type propsForm struct {
	Version                                                int
	Subject, Status, Priority, Type, Tags, Assignee, Group string
}

func formOf(t *ticketRow) *propsForm {
	var tags []string
	_ = json.Unmarshal([]byte(t.Tags), &tags)
	return &propsForm{Version: t.Version, Subject: t.Subject, Status: t.Status, Priority: t.Priority, Type: t.Type,
		Tags: strings.Join(tags, ", "), Assignee: deref(t.AssigneeID), Group: deref(t.GroupID)}
}

// entry is one message of the thread as the page shows it; Merged marks
// one of a ticket merged into this one.
type entry struct {
	*messageRow
	Author        string
	Agent, Merged bool
	Files         []attachmentView // with URLs of the backoffice
}

// linked is a link of the ticket with the other ticket's subject.
type linked struct {
	Link
	Subject, Status, Href string
}

// change is one history row as the page shows it.
type change struct {
	At               time.Time
	Actor, Field     string
	Old, New         string
	OldNull, NewNull bool
}

// staleText is what a save over someone else's change says.
const staleText = "Someone else changed this ticket after you opened it, so your changes were not saved. " +
	"Reload the ticket to see the current version, then make your changes again."

// ticketState is what a ticket page shows besides the ticket: the
// properties form as entered and why it was refused, the reply as typed
// and why it was refused.
type ticketState struct {
	Form          *propsForm
	Problem       *problem
	Stale         bool
	Reply         string
	Internal      bool
	ReplyProblem  *problem
	ActionProblem *problem // a macro, a round-robin assignment or a merge
	LinkProblem   *problem
}

func (m *Module) ticketPage(c echo.Context) error {
	return m.renderTicket(c, http.StatusOK, ticketState{})
}

func (m *Module) renderTicket(c echo.Context, status int, st ticketState) error {
	ctx := c.Request().Context()
	t, err := m.visibleTicket(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	people, err := m.agents(ctx)
	if err != nil {
		return err
	}
	agents := names(people)
	req, err := m.store.customer(ctx, t.RequesterID)
	if err != nil {
		return err
	}
	d := pageData(c, "Inbox")
	history := strings.HasSuffix(c.Path(), "/history")
	if history {
		rows, err := m.store.history(ctx, t.ID)
		if err != nil {
			return err
		}
		d["History"] = historyEntries(rows, agents)
	} else {
		msgs, err := m.conversation(ctx, t.ID, true)
		if err != nil {
			return err
		}
		files, err := m.Attachments(ctx, t.ID, true)
		if err != nil {
			return err
		}
		thread := make([]entry, len(msgs))
		for i := range msgs {
			e := entry{messageRow: &msgs[i], Agent: msgs[i].AuthorKind == AuthorAgent, Merged: msgs[i].TicketID != t.ID}
			for _, a := range files[msgs[i].ID] {
				a.URL = adminBase + strings.TrimPrefix(a.URL, "/api/v1/"+Name)
				e.Files = append(e.Files, a)
			}
			switch {
			case e.Agent:
				e.Author = agents[msgs[i].AuthorID]
				if e.Author == "" {
					e.Author = "(former agent)"
				}
			case msgs[i].AuthorID == req.ID:
				e.Author = customerLabel(req)
			default:
				who, err := m.store.customer(ctx, msgs[i].AuthorID)
				if err != nil && !errors.Is(err, ErrCustomerNotFound) {
					return err
				}
				e.Author = customerLabel(who)
			}
			thread[i] = e
		}
		if st.Reply == "" && c.QueryParam("canned") != "" {
			if st.Reply, err = m.RenderCannedResponse(ctx, c.QueryParam("canned"), t.ID); err != nil {
				if st.ReplyProblem, _, err = formProblem(err); err != nil {
					return err
				}
			}
		}
		d["Thread"] = thread
	}
	if st.Form == nil || st.Stale {
		st.Form = formOf(t)
	}
	var tags []string
	_ = json.Unmarshal([]byte(t.Tags), &tags)
	base := adminBase + "/tickets/" + t.ID
	d["Ticket"], d["Tags"], d["Requester"], d["RequesterLabel"], d["Agents"] = t, tags, req, customerLabel(req), people
	d["Assignee"] = "Unassigned"
	if t.AssigneeID != nil {
		d["Assignee"] = agents[*t.AssigneeID]
	}
	d["State"], d["Href"], d["HistoryTab"], d["Priorities"] = st, base, history, Priorities
	d["Statuses"] = append([]string{t.Status}, transitions[t.Status]...)
	d["Closed"] = t.Status == StatusClosed
	d["MaxFiles"], d["MaxFileSize"] = m.cfg.AttachmentMaxFiles, sizeText(m.cfg.AttachmentMaxBytes)
	d["CSAT"] = viewCSAT(t)
	if err := m.workflowData(c, t, d); err != nil {
		return err
	}
	if d["SLA"], err = m.ticketSLA(ctx, t); err != nil {
		return err
	}
	return admin.Render(c, status, ticketTmpl, t.Subject, crumbs(), d)
}

// workflowData adds what the ticket's actions offer: the groups, macros
// and canned responses, and the ticket's links.
func (m *Module) workflowData(c echo.Context, t *ticketRow, d map[string]any) error {
	ctx := c.Request().Context()
	groups, err := m.Groups(ctx)
	if err != nil {
		return err
	}
	d["Groups"] = groups
	for _, g := range groups {
		if t.GroupID != nil && g.ID == *t.GroupID {
			d["Group"], d["RoundRobin"] = g.Name, g.RoundRobin
		}
	}
	if d["Macros"], err = m.Macros(ctx); err != nil {
		return err
	}
	if d["Canned"], err = m.CannedResponses(ctx); err != nil {
		return err
	}
	links, err := m.Links(ctx, t.ID)
	if err != nil {
		return err
	}
	out := make([]linked, len(links))
	for i, l := range links {
		out[i] = linked{Link: l, Href: adminBase + "/tickets/" + l.TicketID, Subject: "(gone)"}
		if o, err := m.store.ticket(ctx, l.TicketID); err == nil {
			out[i].Subject, out[i].Status = o.Subject, o.Status
		} else if !errors.Is(err, ErrTicketNotFound) {
			return err
		}
	}
	d["Links"], d["LinkKinds"], d["MergedInto"] = out, LinkKinds, deref(t.MergedInto)
	return nil
}

func historyEntries(rows []historyRow, agents map[string]string) []change {
	out := make([]change, len(rows))
	for i, h := range rows {
		e := change{At: h.At, Actor: h.Actor, Field: h.Field, Old: deref(h.OldValue), New: deref(h.NewValue),
			OldNull: h.OldValue == nil, NewNull: h.NewValue == nil}
		if id, ok := strings.CutPrefix(h.Actor, "user:"); ok && agents[id] != "" {
			e.Actor = agents[id]
		}
		if h.Field == "assignee_id" {
			e.Field = "assignee"
			if n := agents[e.Old]; n != "" {
				e.Old = n
			}
			if n := agents[e.New]; n != "" {
				e.New = n
			}
		}
		out[i] = e
	}
	return out
}

// saveTicketForm changes a ticket's properties, if it is still at the
// version the form was read at.
func (m *Module) saveTicketForm(c echo.Context) error {
	f := &propsForm{Subject: c.FormValue("subject"), Status: c.FormValue("status"), Priority: c.FormValue("priority"),
		Type: strings.TrimSpace(c.FormValue("type")), Tags: c.FormValue("tags"), Assignee: c.FormValue("assignee"),
		Group: c.FormValue("group")}
	version := formVersion(c)
	f.Version = version
	tags := splitTags(f.Tags)
	p, err := checkPatch(&ticketPatchRequest{Subject: &f.Subject, Status: &f.Status, Priority: &f.Priority, Type: &f.Type,
		Tags: &tags, AssigneeID: orNull(f.Assignee), GroupID: orNull(f.Group)}, nil)
	if err == nil {
		_, err = m.patchTicket(c.Request().Context(), c.Param("id"), version, p, ErrStaleVersion)
	}
	if err != nil {
		return m.refused(c, err, func(st *ticketState, p *problem) { st.Form, st.Problem = f, p })
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done=saved")
}

// orNull is a form's id as JSON: null when empty.
func orNull(id string) json.RawMessage {
	if id == "" {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(id)
	return b
}

// refused shows the ticket again after an action failed: a stale version
// says so over the properties, another problem goes where put puts it. A
// ticket that is gone, or a fault, is the error page.
func (m *Module) refused(c echo.Context, err error, put func(*ticketState, *problem)) error {
	if errors.Is(err, ErrStaleVersion) {
		return m.renderTicket(c, http.StatusConflict, ticketState{Stale: true, Problem: &problem{Text: staleText}})
	}
	if errors.Is(err, ErrTicketNotFound) {
		return err
	}
	p, status, err := formProblem(err)
	if err != nil {
		return err
	}
	var st ticketState
	put(&st, p)
	return m.renderTicket(c, status, st)
}

// ticketRef reads a ticket named in a form by its id or its page's
// address.
func ticketRef(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return s
}

// formVersion is the ticket version a form carries; 0 (which no ticket
// has) when it lost it.
func formVersion(c echo.Context) int {
	v, err := strconv.Atoi(c.FormValue("version"))
	if err != nil || v < 1 {
		return 0
	}
	return v
}

// actionForm runs an action on the ticket and goes back to it with a
// notice, or shows the ticket with the action's problem.
func (m *Module) actionForm(done string, act func(c echo.Context) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := act(c); err != nil {
			return m.refused(c, err, func(st *ticketState, p *problem) { st.ActionProblem = p })
		}
		return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done="+done)
	}
}

func (m *Module) applyMacroForm(c echo.Context) error {
	_, _, err := m.ApplyMacro(c.Request().Context(), c.Param("id"), c.FormValue("macro"), formVersion(c), ErrStaleVersion)
	return err
}

func (m *Module) assignForm(c echo.Context) error {
	_, err := m.AssignRoundRobin(c.Request().Context(), c.Param("id"), max(formVersion(c), 1))
	return err
}

// mergeForm folds the ticket into another and shows that one.
func (m *Module) mergeForm(c echo.Context) error {
	into := ticketRef(c.FormValue("into"))
	if _, err := m.Merge(c.Request().Context(), c.Param("id"), into); err != nil {
		return m.refused(c, err, func(st *ticketState, p *problem) { st.ActionProblem = p })
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+into+"?done=merged")
}

func (m *Module) linkForm(c echo.Context) error {
	_, err := m.AddLink(c.Request().Context(), c.Param("id"), ticketRef(c.FormValue("ticket")), c.FormValue("kind"))
	if err != nil {
		return m.refused(c, err, func(st *ticketState, p *problem) { st.LinkProblem = p })
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done=linked")
}

func (m *Module) unlinkForm(c echo.Context) error {
	if err := m.RemoveLink(c.Request().Context(), c.Param("id"), c.Param("other")); err != nil {
		return m.refused(c, err, func(st *ticketState, p *problem) { st.LinkProblem = p })
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done=unlinked")
}

// replyForm adds an agent's reply or internal note to the conversation,
// with the files of a multipart form: read, limited and attached as the
// API's multipart reply is. A refused reply attaches nothing.
func (m *Module) replyForm(c echo.Context) error {
	var in *messageUpload
	var err error
	if isMultipart(c) {
		in, err = m.readMessageUpload(c, security.CSRFField)
		if err != nil {
			// The rest of a refused upload is read (up to the route's
			// limit), so that the browser gets the page rather than a
			// connection closed mid-upload.
			_, _ = io.Copy(io.Discard, c.Request().Body)
		}
	} else {
		in = &messageUpload{Body: c.FormValue("body"), Internal: c.FormValue("internal") == "on"}
		err = checkMessage(in.Body)
	}
	var msg *messageRow
	if err == nil {
		msg, _, err = m.replyWith(c.Request().Context(), c.Param("id"), in.Body, in.Internal, in.Files)
		if err != nil {
			discardAll(in.Files)
		}
	}
	if err != nil {
		if errors.Is(err, errs.ErrTooLarge) {
			err = errTooLargeForm(m.cfg)
		}
		return m.refused(c, err, func(st *ticketState, p *problem) { st.Reply, st.Internal, st.ReplyProblem = in.Body, in.Internal, p })
	}
	done := "replied"
	if in.Internal {
		done = "noted"
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done="+done+"#m-"+msg.ID)
}

// sizeText is a size in bytes for reading: "10 MB", "512 KB", "100 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// errTooLargeForm is what the reply form says of a body over its limit.
func errTooLargeForm(cfg Config) error {
	return errs.ErrTooLarge.WithMessage("The files are too large: at most %d files of %s each.", cfg.AttachmentMaxFiles,
		sizeText(cfg.AttachmentMaxBytes))
}
