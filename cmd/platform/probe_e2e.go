//go:build e2eprobe

package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/queue"
)

// The probe is a module for the end-to-end tests only (e2e_test.go builds
// the binary with -tags e2eprobe; a release build never has it). It gives
// them jobs to kill mid-flight and a table that proves each job ran.

func init() {
	tagged = append(tagged, func(k *kernel.Kernel) kernel.Module { return &probe{k: k} })
}

//go:embed testdata/probe
var probeSQL embed.FS

type probe struct{ k *kernel.Kernel }

func (*probe) Name() string { return "probe" }

func (*probe) Migrations() fs.FS {
	sub, err := fs.Sub(probeSQL, "testdata/probe")
	if err != nil {
		panic(err)
	}
	return sub
}

// probeRun is one job that ran to its end, and how often it did.
type probeRun struct {
	JobID      string    `gorm:"primaryKey;column:job_id" json:"job_id"`
	Runs       int       `gorm:"column:runs" json:"runs"`
	FirstRunAt time.Time `gorm:"column:first_run_at" json:"first_run_at"`
}

func (probeRun) TableName() string { return "probe_runs" }

type probeJob struct {
	SleepMS int `json:"sleep_ms"`
}

func (p *probe) Tasks(t *queue.Registry) { t.Handle("run", p.run) }

// run sleeps, then records the run; a run cut short records nothing.
func (p *probe) run(ctx context.Context, task *queue.Task) error {
	var j probeJob
	if err := task.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", queue.SkipRetry, err)
	}
	select {
	case <-time.After(time.Duration(j.SleepMS) * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	row := probeRun{JobID: task.ID, Runs: 1, FirstRunAt: time.Now().UTC()}
	return p.k.DB.Conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "job_id"}},
		DoUpdates: clause.Assignments(map[string]any{"runs": gorm.Expr("runs + 1")}),
	}).Create(&row).Error
}

func (p *probe) Routes(r kernel.Routes) {
	r.API.POST("/jobs", p.enqueue)
	r.API.GET("/runs", p.runs)
}

type enqueueRequest struct {
	Count   int `json:"count" validate:"min=1,max=1000"`
	SleepMS int `json:"sleep_ms" validate:"min=0,max=60000"`
	RunInMS int `json:"run_in_ms" validate:"min=0"`
}

// enqueue writes count jobs in one transaction and returns their ids.
func (p *probe) enqueue(c echo.Context) error {
	var req enqueueRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	ids := make([]string, 0, req.Count)
	err := p.k.DB.InTx(c.Request().Context(), func(ctx context.Context) error {
		for range req.Count {
			j := queue.Job{Type: "probe:run", Data: probeJob{SleepMS: req.SleepMS}, MaxRetry: 25}
			if req.RunInMS > 0 {
				j.RunAt = time.Now().Add(time.Duration(req.RunInMS) * time.Millisecond)
			}
			id, err := p.k.Queue.Enqueue(ctx, j)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ids": ids})
}

// runs reports the recorded runs and the ledger's probe jobs by state.
func (p *probe) runs(c echo.Context) error {
	ctx := c.Request().Context()
	var rows []probeRun
	if err := p.k.DB.Conn(ctx).Find(&rows).Error; err != nil {
		return err
	}
	var states []struct {
		State string
		N     int
	}
	if err := p.k.DB.Conn(ctx).Table("kernel_jobs").Select("state, COUNT(*) AS n").
		Where("type = ?", "probe:run").Group("state").Scan(&states).Error; err != nil {
		return err
	}
	runs := map[string]int{}
	for _, r := range rows {
		runs[r.JobID] = r.Runs
	}
	ledger := map[string]int{}
	for _, s := range states {
		ledger[s.State] = s.N
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": runs, "ledger": ledger})
}
