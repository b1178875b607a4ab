package jobs

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// ErrPlatformOnly refuses a tenant's admin what touches every tenant, such
// as pausing a queue.
var ErrPlatformOnly = errs.New(errs.Forbidden, "jobs.platform_only", "Only a platform admin may do this.")

// ErrNoData is a publish without data.
var ErrNoData = errs.New(errs.Invalid, "jobs.no_data", "A message needs data.")

// Routes implements kernel.Router.
func (m *Module) Routes(r kernel.Routes) {
	read, manage := security.Require(PermRead), security.Require(PermManage)
	r.API.GET("/queues", m.listQueues, read)
	r.API.POST("/queues/:name/pause", m.pauseQueue, manage)
	r.API.POST("/queues/:name/resume", m.resumeQueue, manage)
	r.API.GET("/tasks", m.listTasks, read)
	r.API.GET("/tasks/:id", m.getTask, read)
	r.API.POST("/tasks/:id/retry", m.retryTask, manage)
	r.API.POST("/tasks/:id/archive", m.archiveTask, manage)
	r.API.DELETE("/tasks/:id", m.deleteTask, manage)
	r.API.GET("/schedules", m.listSchedules, read)
	r.API.GET("/buffers", m.listBuffers, read)
	r.API.GET("/buffers/:name", m.getBuffer, read)
	r.API.PATCH("/buffers/:name", m.patchBuffer, manage)
	r.API.POST("/buffers/:name/flush", m.flushBuffer, manage)
	r.API.POST("/buffers/:name/retry", m.retryDead, manage)
	r.API.GET("/buffers/:name/items", m.listItems, read)
	r.API.POST("/buffers/:name/items", m.appendItems, security.Require(PermPublish))
	r.API.POST("/buffers/:name/items/:id/retry", m.retryItem, manage)
	r.API.DELETE("/buffers/:name/items/:id", m.deleteItem, manage)
	if r.Admin != nil {
		m.adminRoutes(r.Admin)
	}
	r.API.POST("/publish", m.publishMessage, security.Require(PermPublish))
}

// queueView is one queue: the ledger's counts of the caller's jobs, and
// for a platform admin asynq's own counts, which span every tenant.
type queueView struct {
	Name   string           `json:"name"`
	Weight int              `json:"weight"`
	Paused *bool            `json:"paused,omitempty"`
	Ledger map[string]int64 `json:"ledger"`
	Redis  map[string]int   `json:"redis,omitempty"`
}

func unrestricted(c echo.Context) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Unrestricted()
}

func (m *Module) listQueues(c echo.Context) error {
	ctx := c.Request().Context()
	counts, err := m.k.Queue.CountJobs(ctx)
	if err != nil {
		return err
	}
	out := make([]queueView, 0, len(queue.Queues))
	for name, w := range queue.Queues {
		v := queueView{Name: name, Weight: w, Ledger: counts[name]}
		if unrestricted(c) {
			info, err := m.k.Queue.QueueInfo(ctx, name)
			if err != nil {
				return err
			}
			paused := info.Paused
			v.Paused = &paused
			v.Redis = map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
				"retry": info.Retry, "archived": info.Archived, "completed": info.Completed}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Weight > out[j].Weight })
	return c.JSON(http.StatusOK, out)
}

func (m *Module) pauseQueue(c echo.Context) error  { return m.setPaused(c, true) }
func (m *Module) resumeQueue(c echo.Context) error { return m.setPaused(c, false) }

func (m *Module) setPaused(c echo.Context, pause bool) error {
	if !unrestricted(c) {
		return ErrPlatformOnly
	}
	ctx, name := c.Request().Context(), c.Param("name")
	if _, ok := queue.Queues[name]; !ok {
		return errs.ErrNotFound
	}
	var err error
	if pause {
		err = m.k.Queue.Pause(ctx, name)
	} else {
		err = m.k.Queue.Resume(ctx, name)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": name, "paused": pause})
}

var taskSorts = map[string]string{"created_at": "created_at"}

func (m *Module) listTasks(c echo.Context) error {
	lp, err := httpx.ParseList(c, taskSorts, "-created_at")
	if err != nil {
		return err
	}
	f := queue.JobFilter{Queue: c.QueryParam("queue"), State: c.QueryParam("state"), Type: c.QueryParam("type"),
		Offset: lp.Offset(), Limit: lp.PerPage, Desc: lp.Desc}
	items, total, err := m.k.Queue.ListJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewPage(items, total, lp))
}

func (m *Module) getTask(c echo.Context) error {
	j, err := m.k.Queue.Job(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// taskAction checks that the caller sees the job, runs op, and returns the
// job as it is now.
func (m *Module) taskAction(c echo.Context, op func(id string) error) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := m.k.Queue.Job(ctx, id); err != nil {
		return err
	}
	if err := op(id); err != nil {
		return err
	}
	j, err := m.k.Queue.Job(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

func (m *Module) retryTask(c echo.Context) error {
	return m.taskAction(c, func(id string) error { return m.k.Queue.Rerun(c.Request().Context(), id) })
}

func (m *Module) archiveTask(c echo.Context) error {
	return m.taskAction(c, func(id string) error { return m.k.Queue.Archive(c.Request().Context(), id) })
}

func (m *Module) deleteTask(c echo.Context) error {
	if err := m.k.Queue.Delete(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (m *Module) listSchedules(c echo.Context) error {
	s, err := m.k.Queue.ListSchedules(c.Request().Context())
	if err != nil {
		return err
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return c.JSON(http.StatusOK, s)
}

type publishRequest struct {
	Topic string          `json:"topic" validate:"required,max=200"`
	Data  json.RawMessage `json:"data"`
}

func (m *Module) publishMessage(c echo.Context) error {
	var req publishRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if len(req.Data) == 0 || string(req.Data) == "null" {
		return ErrNoData.WithDetails(errs.Detail{Field: "data", Code: "required", Message: "is required"})
	}
	t, ok := m.topic(req.Topic)
	if !ok {
		return contracts.ErrUnknownTopic.WithDetails(errs.Detail{Field: "topic", Code: "unknown", Message: "is not registered"})
	}
	if !t.Public {
		return ErrTopicNotPublic.WithDetails(errs.Detail{Field: "topic", Code: "not_public", Message: "cannot be published through the API"})
	}
	id, err := m.publish(c.Request().Context(), req.Topic, req.Data)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"id": id, "topic": req.Topic})
}
