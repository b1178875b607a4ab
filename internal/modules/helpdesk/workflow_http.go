package helpdesk

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// workflowRoutes serves groups, assignment, merge and links, macros, canned responses and saved views.
func (m *Module) workflowRoutes(r kernel.Routes) {
	read, write, manage := security.Require(PermRead), security.Require(PermWrite), security.Require(PermManage)
	r.API.GET("/agents", m.listAgents, read)
	r.API.PUT("/agents/me/status", m.putAgentStatus, write)
	r.API.GET("/groups", m.listGroups, read)
	r.API.POST("/groups", m.postGroup, manage)
	r.API.GET("/groups/:id", m.getGroup, read)
	r.API.PATCH("/groups/:id", m.patchGroup, manage)
	r.API.DELETE("/groups/:id", m.deleteGroup, manage)
	r.API.POST("/tickets/:id/assign", m.postAssign, write)
	r.API.POST("/tickets/:id/merge", m.postMerge, write)
	r.API.GET("/tickets/:id/links", m.listLinks, read)
	r.API.POST("/tickets/:id/links", m.postLink, write)
	r.API.DELETE("/tickets/:id/links/:other", m.deleteLink, write)
	r.API.GET("/macros", m.listMacros, read)
	r.API.POST("/macros", m.postMacro, write)
	r.API.GET("/macros/:id", m.getMacro, read)
	r.API.PATCH("/macros/:id", m.patchMacro, write)
	r.API.DELETE("/macros/:id", m.deleteMacro, write)
	r.API.POST("/tickets/:id/macros/:mid", m.postApplyMacro, write)
	r.API.GET("/canned-responses", m.listCanned, read)
	r.API.POST("/canned-responses", m.postCanned, write)
	r.API.GET("/canned-responses/:id", m.getCanned, read)
	r.API.PATCH("/canned-responses/:id", m.patchCanned, write)
	r.API.DELETE("/canned-responses/:id", m.deleteCanned, write)
	r.API.POST("/canned-responses/:id/render", m.postRenderCanned, read)
}

func items[T any](c echo.Context, list []T, err error) error {
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": list})
}

func (m *Module) listAgents(c echo.Context) error {
	list, err := m.Agents(c.Request().Context())
	return items(c, list, err)
}

func (m *Module) putAgentStatus(c echo.Context) error {
	var req struct {
		Away *bool `json:"away"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if req.Away == nil {
		return ErrInvalidInput.WithDetails(invalid("away", "required", "must be true or false"))
	}
	a, err := m.SetAway(c.Request().Context(), *req.Away)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (m *Module) listGroups(c echo.Context) error {
	list, err := m.Groups(c.Request().Context())
	return items(c, list, err)
}

func (m *Module) getGroup(c echo.Context) error {
	g, err := m.Group(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

func (m *Module) postGroup(c echo.Context) error {
	var in GroupInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	g, err := m.CreateGroup(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, g)
}

func (m *Module) patchGroup(c echo.Context) error {
	var in GroupInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	g, err := m.UpdateGroup(c.Request().Context(), c.Param("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

func (m *Module) deleteGroup(c echo.Context) error {
	if err := m.DeleteGroup(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// postAssign assigns a ticket by a strategy; "round_robin" is the one.
// The version (body or If-Match) is optional here: the server decides.
func (m *Module) postAssign(c echo.Context) error {
	var req struct {
		Strategy string `json:"strategy"`
		Version  *int   `json:"version"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	version, stale := 0, error(ErrStaleVersion)
	if req.Version != nil || c.Request().Header.Get("If-Match") != "" {
		var d []errs.Detail
		var err error
		if version, stale, d, err = ticketVersion(c, req.Version); err != nil {
			return err
		}
		if len(d) > 0 {
			return ErrInvalidInput.WithDetails(d...)
		}
	}
	if req.Strategy != "round_robin" {
		return ErrInvalidInput.WithDetails(invalid("strategy", "oneof", "must be round_robin"))
	}
	t, err := m.patchLatest(c.Request().Context(), c.Param("id"), version, ticketPatch{RoundRobin: true}, stale)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(t.Version)+`"`)
	return c.JSON(http.StatusOK, viewTicket(t))
}

func (m *Module) postMerge(c echo.Context) error {
	var req struct {
		IntoID string `json:"into_id"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if req.IntoID == "" {
		return ErrInvalidMerge.WithDetails(invalid("into_id", "required", "name the ticket to merge into"))
	}
	t, err := m.Merge(c.Request().Context(), c.Param("id"), req.IntoID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTicket(t))
}

func (m *Module) listLinks(c echo.Context) error {
	list, err := m.Links(c.Request().Context(), c.Param("id"))
	return items(c, list, err)
}

func (m *Module) postLink(c echo.Context) error {
	var req struct {
		TicketID string `json:"ticket_id"`
		Kind     string `json:"kind"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	l, err := m.AddLink(c.Request().Context(), c.Param("id"), req.TicketID, req.Kind)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, l)
}

func (m *Module) deleteLink(c echo.Context) error {
	if err := m.RemoveLink(c.Request().Context(), c.Param("id"), c.Param("other")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- macros and canned responses

func (m *Module) listMacros(c echo.Context) error {
	list, err := m.Macros(c.Request().Context())
	return items(c, list, err)
}

func (m *Module) getMacro(c echo.Context) error {
	mac, err := m.MacroByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mac)
}

func (m *Module) postMacro(c echo.Context) error {
	var in MacroInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	mac, err := m.CreateMacro(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, mac)
}

func (m *Module) patchMacro(c echo.Context) error {
	var in MacroInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	mac, err := m.UpdateMacro(c.Request().Context(), c.Param("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mac)
}

func (m *Module) deleteMacro(c echo.Context) error {
	if err := m.DeleteMacro(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// postApplyMacro applies a macro at the version the caller read (body or
// If-Match, as for PATCH) and returns the ticket and the message it added.
func (m *Module) postApplyMacro(c echo.Context) error {
	var req struct {
		Version *int `json:"version"`
	}
	if c.Request().ContentLength != 0 {
		if err := httpx.Bind(c, &req); err != nil {
			return err
		}
	}
	version, stale, d, err := ticketVersion(c, req.Version)
	if err != nil {
		return err
	}
	if len(d) > 0 {
		return ErrInvalidTicket.WithDetails(d...)
	}
	t, msg, err := m.ApplyMacro(c.Request().Context(), c.Param("id"), c.Param("mid"), version, stale)
	if err != nil {
		return err
	}
	out := map[string]any{"ticket": viewTicket(t), "message": nil}
	if msg != nil {
		out["message"] = viewMessage(msg)
	}
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(t.Version)+`"`)
	return c.JSON(http.StatusOK, out)
}

func (m *Module) listCanned(c echo.Context) error {
	list, err := m.CannedResponses(c.Request().Context())
	return items(c, list, err)
}

func (m *Module) getCanned(c echo.Context) error {
	r, err := m.CannedResponseByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (m *Module) postCanned(c echo.Context) error {
	var in CannedInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	r, err := m.CreateCannedResponse(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (m *Module) patchCanned(c echo.Context) error {
	var in CannedInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	r, err := m.UpdateCannedResponse(c.Request().Context(), c.Param("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (m *Module) deleteCanned(c echo.Context) error {
	if err := m.DeleteCannedResponse(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (m *Module) postRenderCanned(c echo.Context) error {
	tid := c.QueryParam("ticket_id")
	if tid == "" {
		return ErrInvalidQuery.WithDetails(invalid("ticket_id", "required", "name the ticket to fill the placeholders from"))
	}
	body, err := m.RenderCannedResponse(c.Request().Context(), c.Param("id"), tid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"body": body})
}
