package helpdesk

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// slaRoutes serves calendars and SLA policies: staff read them, owners
// (PermManage) change them.
func (m *Module) slaRoutes(r kernel.Routes) {
	read, conf := security.Require(PermRead), security.Require(PermManage)
	r.API.POST("/calendars", create(m.CreateCalendar), conf)
	r.API.GET("/calendars", list(m.Calendars), read)
	r.API.GET("/calendars/:id", get(m.Calendar), read)
	r.API.PATCH("/calendars/:id", update(m.UpdateCalendar), conf)
	r.API.DELETE("/calendars/:id", remove(m.DeleteCalendar), conf)
	r.API.POST("/sla-policies", create(m.CreateSLAPolicy), conf)
	r.API.GET("/sla-policies", list(m.SLAPolicies), read)
	r.API.GET("/sla-policies/:id", get(m.SLAPolicy), read)
	r.API.PATCH("/sla-policies/:id", update(m.UpdateSLAPolicy), conf)
	r.API.DELETE("/sla-policies/:id", remove(m.DeleteSLAPolicy), conf)
}

// create serves POST of a settings resource: bind, save, 201.
func create[In, Out any](save func(context.Context, In) (Out, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in In
		if err := httpx.Bind(c, &in); err != nil {
			return err
		}
		out, err := save(c.Request().Context(), in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, out)
	}
}

// list serves GET of all of a tenant's settings resources, {"items": [...]}.
func list[Out any](all func(context.Context) ([]Out, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		out, err := all(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"items": out})
	}
}

func get[Out any](one func(context.Context, string) (Out, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		out, err := one(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

// update serves PATCH: the resource is looked up before the body is
// checked, so another tenant's id is 404 whatever the body.
func update[In, Out any](save func(context.Context, string, In) (Out, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in In
		if err := httpx.Bind(c, &in); err != nil {
			return err
		}
		out, err := save(c.Request().Context(), c.Param("id"), in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

func remove(del func(context.Context, string) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := del(c.Request().Context(), c.Param("id")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
