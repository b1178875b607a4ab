package helpdesk

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
)

// The ticket's page: its conversation (or, on the history tab, its
// history), the reply form and the properties form. A properties form
// carries the version it was read at, so that saving over someone else's
// change is refused and says so, as the API's PATCH does.

// propsForm is the properties form as entered.
type propsForm struct {
	Version                                         int
	Subject, Status, Priority, Type, Tags, Assignee string
}

func formOf(t *ticketRow) *propsForm {
	var tags []string
	_ = json.Unmarshal([]byte(t.Tags), &tags)
	return &propsForm{Version: t.Version, Subject: t.Subject, Status: t.Status, Priority: t.Priority, Type: t.Type,
		Tags: strings.Join(tags, ", "), Assignee: deref(t.AssigneeID)}
}

// entry is one message of the thread as the page shows it.
type entry struct {
	*messageRow
	Author string
	Agent  bool
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
	Form         *propsForm
	Problem      *problem
	Stale        bool
	Reply        string
	Internal     bool
	ReplyProblem *problem
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
		msgs, err := m.store.messages(ctx, t.ID, true)
		if err != nil {
			return err
		}
		thread := make([]entry, len(msgs))
		for i := range msgs {
			e := entry{messageRow: &msgs[i], Agent: msgs[i].AuthorKind == AuthorAgent}
			if e.Agent {
				e.Author = agents[msgs[i].AuthorID]
				if e.Author == "" {
					e.Author = "(former agent)"
				}
			} else {
				e.Author = customerLabel(req)
			}
			thread[i] = e
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
	return admin.Render(c, status, ticketTmpl, t.Subject, crumbs(), d)
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
		Type: strings.TrimSpace(c.FormValue("type")), Tags: c.FormValue("tags"), Assignee: c.FormValue("assignee")}
	version, err := strconv.Atoi(c.FormValue("version"))
	if err != nil || version < 1 {
		return m.renderTicket(c, http.StatusUnprocessableEntity, ticketState{Form: f, Stale: true,
			Problem: &problem{Text: "The form lost the ticket's version. " + staleText}})
	}
	f.Version = version
	tags := splitTags(f.Tags)
	assignee := json.RawMessage("null")
	if f.Assignee != "" {
		assignee, _ = json.Marshal(f.Assignee)
	}
	p, err := checkPatch(&ticketPatchRequest{Subject: &f.Subject, Status: &f.Status, Priority: &f.Priority, Type: &f.Type,
		Tags: &tags, AssigneeID: assignee}, nil)
	if err == nil {
		_, err = m.patchTicket(c.Request().Context(), c.Param("id"), version, p, ErrStaleVersion)
	}
	switch {
	case errors.Is(err, ErrStaleVersion):
		return m.renderTicket(c, http.StatusConflict, ticketState{Stale: true, Problem: &problem{Text: staleText}})
	case errors.Is(err, ErrTicketNotFound):
		return err
	case err != nil:
		pr, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderTicket(c, status, ticketState{Form: f, Problem: pr})
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done=saved")
}

// replyForm adds an agent's reply or internal note to the conversation.
func (m *Module) replyForm(c echo.Context) error {
	body, internal := c.FormValue("body"), c.FormValue("internal") == "on"
	err := checkMessage(body)
	var msg *messageRow
	if err == nil {
		msg, err = m.reply(c.Request().Context(), c.Param("id"), body, internal)
	}
	if errors.Is(err, ErrTicketNotFound) {
		return err
	}
	if err != nil {
		pr, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderTicket(c, status, ticketState{Reply: body, Internal: internal, ReplyProblem: pr})
	}
	done := "replied"
	if internal {
		done = "noted"
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/tickets/"+c.Param("id")+"?done="+done+"#m-"+msg.ID)
}
