package jobs

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
)

// Errors of the buffer routes.
var (
	ErrEmptyPatch = errs.New(errs.Invalid, "jobs.empty_patch", "Name at least one of schedule, batch_size and paused.")
	ErrNullItem   = errs.New(errs.Invalid, "jobs.null_item", "An item must not be null.")
)

// The buffer routes take ?tenant_id= for a platform admin acting on
// another tenant's buffer; anyone else acts on their own tenant's.

func (m *Module) listBuffers(c echo.Context) error {
	v, err := m.ListBuffers(c.Request().Context())
	if err != nil {
		return err
	}
	if v == nil {
		v = []BufferView{}
	}
	return c.JSON(http.StatusOK, v)
}

func (m *Module) getBuffer(c echo.Context) error {
	v, err := m.Buffer(c.Request().Context(), c.Param("name"), c.QueryParam("tenant_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (m *Module) patchBuffer(c echo.Context) error {
	var p BufferPatch
	if err := httpx.Bind(c, &p); err != nil {
		return err
	}
	if p.Schedule == nil && p.BatchSize == nil && p.Paused == nil {
		return ErrEmptyPatch
	}
	v, err := m.UpdateBuffer(c.Request().Context(), c.Param("name"), c.QueryParam("tenant_id"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (m *Module) flushBuffer(c echo.Context) error {
	ctx, name, tenant := c.Request().Context(), c.Param("name"), c.QueryParam("tenant_id")
	if err := m.FlushBuffer(ctx, name, tenant); err != nil {
		return err
	}
	v, err := m.Buffer(ctx, name, tenant)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, v)
}

var itemSorts = map[string]string{"created_at": "id"}

func (m *Module) listItems(c echo.Context) error {
	lp, err := httpx.ParseList(c, itemSorts, "created_at")
	if err != nil {
		return err
	}
	items, total, err := m.BufferItems(c.Request().Context(), c.Param("name"), c.QueryParam("tenant_id"),
		c.QueryParam("state"), lp.Offset(), lp.PerPage)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewPage(items, total, lp))
}

type appendRequest struct {
	Items []json.RawMessage `json:"items" validate:"required,min=1,max=1000"`
}

// appendItems appends to a public buffer for the caller's tenant, all
// items or none.
func (m *Module) appendItems(c echo.Context) error {
	var req appendRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	b, ok := m.buffer(c.Param("name"))
	if !ok {
		return ErrBufferNotFound
	}
	if !b.Public {
		return ErrBufferNotPub.WithDetails(errs.Detail{Field: "buffer", Code: "not_public", Message: "cannot be appended to through the API"})
	}
	items := make([]any, len(req.Items))
	for i, it := range req.Items {
		if len(it) == 0 || string(it) == "null" {
			return ErrNullItem.WithDetails(errs.Detail{Field: fmt.Sprintf("items[%d]", i), Code: "required", Message: "must not be null"})
		}
		items[i] = it
	}
	if err := m.Append(c.Request().Context(), b.Name, items...); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"buffer": b.Name, "appended": len(items)})
}

func (m *Module) retryDead(c echo.Context) error {
	n, err := m.RetryDead(c.Request().Context(), c.Param("name"), c.QueryParam("tenant_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"buffer": c.Param("name"), "retried": n})
}

func (m *Module) retryItem(c echo.Context) error {
	it, err := m.RetryItem(c.Request().Context(), c.Param("name"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, it)
}

func (m *Module) deleteItem(c echo.Context) error {
	if err := m.DeleteItem(c.Request().Context(), c.Param("name"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
