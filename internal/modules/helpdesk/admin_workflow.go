package helpdesk

import (
	"cmp"
	"context"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/errs"
)

// The workflow settings pages: groups (members, round-robin), macros and
// canned responses, each listed on the settings page with its form; and
// the agents with their away status. Everyone who reads the desk sees
// them; owners (helpdesk:manage) change them, through the service methods
// the API calls. An agent marks themself away or back.

var (
	groupTmpl  = pageTemplate("group.html")
	macroTmpl  = pageTemplate("macro.html")
	cannedTmpl = pageTemplate("canned.html")
)

// settled ends a settings form: the settings page with the notice done,
// or the form again (again) with its problem. A missing object of an edit,
// or a fault, is the error page.
func settled(c echo.Context, editing bool, err error, done string, again func(int, *problem) error) error {
	if err == nil {
		return c.Redirect(http.StatusSeeOther, settingsBase+"?done="+done)
	}
	if editing && errs.KindOf(err) == errs.NotFound {
		return err
	}
	p, status, err := formProblem(err)
	if err != nil {
		return err
	}
	return again(status, p)
}

// setting names a workflow settings form for its template: Kind (the
// form's id), Path (under /settings) and Label say what it is, ID is the
// object's (empty for a new one).
type setting struct {
	Kind, Path, Label, ID string
}

// renderSetting shows one settings form with the data d: Form, the form
// as entered, with its Name; and Problem.
func (m *Module) renderSetting(c echo.Context, status int, tmpl *template.Template, s setting, name string,
	d map[string]any) error {
	page := pageData(c, "Settings")
	for k, v := range d {
		page[k] = v
	}
	page["CanManage"], page["Setting"] = can(c, PermManage), s
	title := name
	if s.ID == "" {
		title = "New " + s.Label
	}
	return admin.Render(c, status, tmpl, title, settingsCrumbs(), page)
}

// ---- groups

// groupForm is the group form as entered.
type groupForm struct {
	ID, Name   string
	RoundRobin bool
	Members    []string
}

// Member reports whether the form has the user as a member, for the template.
func (f *groupForm) Member(id string) bool { return slices.Contains(f.Members, id) }

func groupFormOf(g *Group) *groupForm {
	f := &groupForm{ID: g.ID, Name: g.Name, RoundRobin: g.RoundRobin, Members: []string{}}
	for _, mb := range g.Members {
		f.Members = append(f.Members, mb.UserID)
	}
	return f
}

func (m *Module) newGroupPage(c echo.Context) error {
	return m.renderGroup(c, http.StatusOK, &groupForm{}, nil)
}

func (m *Module) groupPage(c echo.Context) error {
	g, err := m.Group(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderGroup(c, http.StatusOK, groupFormOf(g), nil)
}

func (m *Module) renderGroup(c echo.Context, status int, f *groupForm, p *problem) error {
	people, err := m.agents(c.Request().Context())
	if err != nil {
		return err
	}
	return m.renderSetting(c, status, groupTmpl, setting{"group", "groups", "group", f.ID}, f.Name,
		map[string]any{"Form": f, "Problem": p, "Agents": people})
}

func (m *Module) saveGroupForm(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	f := &groupForm{ID: c.Param("id"), Name: form.Get("name"), RoundRobin: form.Get("round_robin") == "on",
		Members: append([]string{}, form["members"]...)}
	in := GroupInput{Name: &f.Name, RoundRobin: &f.RoundRobin, Members: &f.Members}
	ctx := c.Request().Context()
	if f.ID == "" {
		_, err = m.CreateGroup(ctx, in)
	} else {
		_, err = m.UpdateGroup(ctx, f.ID, in)
	}
	return settled(c, f.ID != "", err, "group_saved", func(status int, p *problem) error { return m.renderGroup(c, status, f, p) })
}

func (m *Module) deleteGroupForm(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := m.Group(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	err = m.DeleteGroup(ctx, g.ID)
	return settled(c, true, err, "group_deleted", func(status int, p *problem) error {
		return m.renderGroup(c, status, groupFormOf(g), p)
	})
}

// ---- macros

// macroForm is the macro form as entered: tags separated by commas, and
// a reply only when its text is not empty.
type macroForm struct {
	ID, Name, Status, Priority, Type, TagsAdd, TagsRemove, Assignee, Group, Reply string
	Private, Internal                                                             bool
}

func macroFormOf(mc *Macro) *macroForm {
	a := mc.Actions
	f := &macroForm{ID: mc.ID, Name: mc.Name, Private: mc.Private, Status: a.Status, Priority: a.Priority, Type: a.Type,
		TagsAdd: strings.Join(a.TagsAdd, ", "), TagsRemove: strings.Join(a.TagsRemove, ", "), Assignee: a.Assignee,
		Group: a.GroupID}
	if a.Reply != nil {
		f.Reply, f.Internal = a.Reply.Body, a.Reply.Internal
	}
	return f
}

func readMacroForm(c echo.Context) (*macroForm, MacroInput) {
	f := &macroForm{ID: c.Param("id"), Name: c.FormValue("name"), Private: c.FormValue("private") == "on",
		Status: c.FormValue("status"), Priority: c.FormValue("priority"), Type: strings.TrimSpace(c.FormValue("type")),
		TagsAdd: c.FormValue("tags_add"), TagsRemove: c.FormValue("tags_remove"), Assignee: c.FormValue("assignee"),
		Group: c.FormValue("group"), Reply: c.FormValue("reply"), Internal: c.FormValue("internal") == "on"}
	a := MacroActions{Status: f.Status, Priority: f.Priority, Type: f.Type, TagsAdd: splitTags(f.TagsAdd),
		TagsRemove: splitTags(f.TagsRemove), Assignee: f.Assignee, GroupID: f.Group}
	if strings.TrimSpace(f.Reply) != "" {
		a.Reply = &MacroReply{Body: f.Reply, Internal: f.Internal}
	}
	in := MacroInput{Name: &f.Name, Actions: &a}
	if f.ID == "" {
		in.Private = &f.Private // fixed at creation
	}
	return f, in
}

func (m *Module) newMacroPage(c echo.Context) error {
	return m.renderMacro(c, http.StatusOK, &macroForm{}, nil)
}

func (m *Module) macroPage(c echo.Context) error {
	mc, err := m.MacroByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderMacro(c, http.StatusOK, macroFormOf(mc), nil)
}

func (m *Module) renderMacro(c echo.Context, status int, f *macroForm, p *problem) error {
	ctx := c.Request().Context()
	people, err := m.agents(ctx)
	if err != nil {
		return err
	}
	groups, err := m.Groups(ctx)
	if err != nil {
		return err
	}
	return m.renderSetting(c, status, macroTmpl, setting{"macro", "macros", "macro", f.ID}, f.Name, map[string]any{"Form": f, "Problem": p,
		"Agents": people, "Groups": groups, "Statuses": Statuses, "Priorities": Priorities})
}

func (m *Module) saveMacroForm(c echo.Context) error {
	ctx := c.Request().Context()
	f, in := readMacroForm(c)
	var err error
	if f.ID == "" {
		_, err = m.CreateMacro(ctx, in)
	} else {
		_, err = m.UpdateMacro(ctx, f.ID, in)
	}
	return settled(c, f.ID != "", err, "macro_saved", func(status int, p *problem) error { return m.renderMacro(c, status, f, p) })
}

func (m *Module) deleteMacroForm(c echo.Context) error {
	ctx := c.Request().Context()
	mc, err := m.MacroByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	err = m.DeleteMacro(ctx, mc.ID)
	return settled(c, true, err, "macro_deleted", func(status int, p *problem) error {
		return m.renderMacro(c, status, macroFormOf(mc), p)
	})
}

// macroLine is a macro with what it does in words, for the settings page.
type macroLine struct {
	Macro
	Does []string
}

func macroLines(macros []Macro, groups []Group, people []person) []macroLine {
	groupName := groupNames(groups)
	agents := names(people)
	out := make([]macroLine, len(macros))
	for i, mc := range macros {
		a := mc.Actions
		var does []string
		for _, x := range []struct{ label, value string }{{"status", a.Status}, {"priority", a.Priority}, {"type", a.Type}} {
			if x.value != "" {
				does = append(does, x.label+" → "+x.value)
			}
		}
		if len(a.TagsAdd) > 0 {
			does = append(does, "add tags "+strings.Join(a.TagsAdd, ", "))
		}
		if len(a.TagsRemove) > 0 {
			does = append(does, "remove tags "+strings.Join(a.TagsRemove, ", "))
		}
		switch a.Assignee {
		case "":
		case "me":
			does = append(does, "assign to whoever applies it")
		case "none":
			does = append(does, "unassign")
		default:
			does = append(does, "assign to "+cmp.Or(agents[a.Assignee], "(former agent)"))
		}
		if a.GroupID != "" {
			does = append(does, "group → "+cmp.Or(groupName[a.GroupID], "(deleted group)"))
		}
		switch {
		case a.Reply != nil && a.Reply.Internal:
			does = append(does, "add an internal note")
		case a.Reply != nil:
			does = append(does, "add a reply")
		}
		out[i] = macroLine{Macro: mc, Does: does}
	}
	return out
}

// ---- canned responses

// cannedForm is the canned-response form as entered.
type cannedForm struct {
	ID, Name, Body string
	Private        bool
}

func (m *Module) newCannedPage(c echo.Context) error {
	return m.renderCanned(c, http.StatusOK, &cannedForm{}, nil)
}

func (m *Module) cannedPage(c echo.Context) error {
	r, err := m.CannedResponseByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return m.renderCanned(c, http.StatusOK, &cannedForm{ID: r.ID, Name: r.Name, Body: r.Body, Private: r.Private}, nil)
}

func (m *Module) renderCanned(c echo.Context, status int, f *cannedForm, p *problem) error {
	return m.renderSetting(c, status, cannedTmpl, setting{"canned", "canned-responses", "canned response", f.ID}, f.Name,
		map[string]any{"Form": f, "Problem": p})
}

func (m *Module) saveCannedForm(c echo.Context) error {
	ctx := c.Request().Context()
	f := &cannedForm{ID: c.Param("id"), Name: c.FormValue("name"), Body: c.FormValue("body"),
		Private: c.FormValue("private") == "on"}
	in := CannedInput{Name: &f.Name, Body: &f.Body}
	var err error
	if f.ID == "" {
		in.Private = &f.Private
		_, err = m.CreateCannedResponse(ctx, in)
	} else {
		_, err = m.UpdateCannedResponse(ctx, f.ID, in)
	}
	return settled(c, f.ID != "", err, "canned_saved", func(status int, p *problem) error { return m.renderCanned(c, status, f, p) })
}

func (m *Module) deleteCannedForm(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := m.CannedResponseByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	err = m.DeleteCannedResponse(ctx, r.ID)
	return settled(c, true, err, "canned_deleted", func(status int, p *problem) error {
		return m.renderCanned(c, status, &cannedForm{ID: r.ID, Name: r.Name, Body: r.Body, Private: r.Private}, p)
	})
}

// ---- agents

// workflowSettings adds the settings page's groups, macros, canned
// responses and agents to d.
func (m *Module) workflowSettings(ctx context.Context, d map[string]any) error {
	groups, err := m.Groups(ctx)
	if err != nil {
		return err
	}
	people, err := m.agents(ctx)
	if err != nil {
		return err
	}
	macros, err := m.Macros(ctx)
	if err != nil {
		return err
	}
	agents, err := m.Agents(ctx)
	if err != nil {
		return err
	}
	groupName := groupNames(groups)
	lines := make([]agentLine, len(agents))
	for i, a := range agents {
		lines[i] = agentLine{Agent: a, Me: a.ID == principalID(ctx)}
		for _, g := range a.Groups {
			lines[i].GroupNames = append(lines[i].GroupNames, groupName[g])
		}
	}
	d["Groups"], d["Macros"], d["Agents"] = groups, macroLines(macros, groups, people), lines
	d["Canned"], err = m.CannedResponses(ctx)
	return err
}

// agentLine is an agent with their groups' names, for the settings page.
type agentLine struct {
	Agent
	GroupNames []string
	Me         bool
}

// awayForm marks the viewer away (skipped by round-robin assignment) or
// back.
func (m *Module) awayForm(c echo.Context) error {
	if _, err := m.SetAway(c.Request().Context(), c.FormValue("away") == "true"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, settingsBase+"?done=away_saved#agents")
}

// ---- inbound e-mail

// inboundState is the settings page's inbound e-mail section: whether the
// tenant has a secret (Since), where mail is posted, and a new secret to
// show once.
type inboundState struct {
	Since               *time.Time
	URL, Header, Secret string
}

// inboundSecretForm makes a new inbound secret, replacing the old one, and
// shows it on the settings page this once.
func (m *Module) inboundSecretForm(c echo.Context) error {
	secret, _, err := m.rotateInboundSecret(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return m.renderSettings(c, secret)
}
