//go:build e2eprobe

package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

// The probe is a module for the end-to-end tests only (e2e_test.go builds
// the binary with -tags e2eprobe; a release build never has it). It gives
// them jobs and messages to kill mid-flight, and tables that prove each job
// ran and each message's side effect was written once.

func init() {
	tagged = append(tagged, func(k *kernel.Kernel, bus *jobs.Module) kernel.Module { return newProbe(k, bus) })
}

//go:embed testdata/probe
var probeSQL embed.FS

// probeBus is what the probe uses of the messaging module.
type probeBus interface {
	contracts.Publisher
	contracts.Subscriber
	contracts.BufferRegistry
}

type probe struct {
	k   *kernel.Kernel
	bus probeBus
}

// The probe's topic and the name it subscribes to it under.
const (
	probeTopic      = "probe.pinged"
	probeSubscriber = "probe"
)

// newProbe subscribes to the probe's topic when there is a kernel to run
// the deliveries (k is nil for the migrate commands).
func newProbe(k *kernel.Kernel, bus probeBus) *probe {
	p := &probe{k: k, bus: bus}
	if k != nil {
		if err := bus.Subscribe(probeTopic, probeSubscriber, p.pinged, contracts.WithMaxRetry(25)); err != nil {
			panic(err)
		}
		// A buffer for the browser tests' buffer pages; its batches succeed.
		err := bus.RegisterBuffer(contracts.Buffer{Name: "probe.items", Schedule: "@every 1h", Public: true,
			Handler: func(context.Context, *contracts.Batch) error { return nil }})
		if err != nil {
			panic(err)
		}
	}
	return p
}

// Topics implements contracts.TopicDeclarer. The topic is public so that
// the tests can publish on it through POST /api/v1/jobs/publish too.
func (*probe) Topics() []contracts.Topic {
	return []contracts.Topic{{Name: probeTopic, Public: true}}
}

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
	r.API.POST("/messages", p.publish)
	r.API.GET("/messages", p.deliveries)
}

type enqueueRequest struct {
	Count   int `json:"count" validate:"min=1,max=1000"`
	SleepMS int `json:"sleep_ms" validate:"min=0,max=60000"`
	RunInMS int `json:"run_in_ms" validate:"min=0"`
	// Direct enqueues each job on its own, outside a transaction: the
	// queue's direct path (written behind, with a Redis server).
	Direct bool `json:"direct"`
}

// enqueue writes count jobs in one transaction and returns their ids.
func (p *probe) enqueue(c echo.Context) error {
	var req enqueueRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	ids, err := p.times(c.Request().Context(), req.Count, !req.Direct, func(ctx context.Context, _ int) (string, error) {
		j := queue.Job{Type: "probe:run", Data: probeJob{SleepMS: req.SleepMS}, MaxRetry: 25}
		if req.RunInMS > 0 {
			j.RunAt = time.Now().Add(time.Duration(req.RunInMS) * time.Millisecond)
		}
		return p.k.Queue.Enqueue(ctx, j)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ids": ids})
}

// times runs fn count times, in one transaction when inTx, and collects
// what it returns.
func (p *probe) times(ctx context.Context, count int, inTx bool, fn func(ctx context.Context, i int) (string, error)) ([]string, error) {
	out := make([]string, 0, count)
	run := p.k.DB.InTx
	if !inTx {
		run = func(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
	}
	err := run(ctx, func(ctx context.Context) error {
		for i := range count {
			s, err := fn(ctx, i)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// runs reports the recorded runs and the ledger's probe jobs by state.
func (p *probe) runs(c echo.Context) error {
	ctx := c.Request().Context()
	var rows []probeRun
	if err := p.k.DB.Conn(ctx).Find(&rows).Error; err != nil {
		return err
	}
	ledger, err := ledgerStates(p.k.DB.Conn(ctx), "probe:run")
	if err != nil {
		return err
	}
	runs := map[string]int{}
	for _, r := range rows {
		runs[r.JobID] = r.Runs
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": runs, "ledger": ledger})
}

// probePing is the data of a message on the probe's topic: ref names it
// for the tests, which do not see the message's id when the probe publishes.
type probePing struct {
	Ref     string `json:"ref"`
	SleepMS int    `json:"sleep_ms"`
}

// probeCall counts the subscriber's invocations for one idempotency key, and
// those that found the side effect already written.
type probeCall struct {
	IdemKey string `gorm:"primaryKey;column:idem_key"`
	Ref     string `gorm:"column:ref"`
	Calls   int    `gorm:"column:calls"`
	Deduped int    `gorm:"column:deduped"`
}

func (probeCall) TableName() string { return "probe_message_calls" }

// probeEffect is the subscriber's side effect, written once per key.
type probeEffect struct {
	IdemKey   string    `gorm:"primaryKey;column:idem_key"`
	Ref       string    `gorm:"column:ref"`
	TenantID  string    `gorm:"column:tenant_id"`
	AppliedAt time.Time `gorm:"column:applied_at"`
}

func (probeEffect) TableName() string { return "probe_message_effects" }

// pinged is the probe's subscriber. It counts the invocation, sleeps, then
// writes its side effect under the idempotency key (the message's id and
// the subscriber's name); a delivery that finds the key taken writes
// nothing. A delivery cut short writes no effect.
func (p *probe) pinged(ctx context.Context, m *contracts.Message) error {
	var ping probePing
	if err := m.Decode(&ping); err != nil || ping.Ref == "" {
		return fmt.Errorf("probe: a ping needs a ref: %s: %w", m.Data, queue.SkipRetry)
	}
	key := m.ID + ":" + probeSubscriber
	conn := p.k.DB.Conn(ctx)
	err := conn.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "idem_key"}},
		DoUpdates: clause.Assignments(map[string]any{"calls": gorm.Expr("calls + 1")}),
	}).Create(&probeCall{IdemKey: key, Ref: ping.Ref, Calls: 1}).Error
	if err != nil {
		return err
	}
	select {
	case <-time.After(time.Duration(ping.SleepMS) * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	res := conn.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&probeEffect{IdemKey: key, Ref: ping.Ref, TenantID: m.TenantID, AppliedAt: time.Now().UTC()})
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	return conn.Model(&probeCall{}).Where("idem_key = ?", key).Update("deduped", gorm.Expr("deduped + 1")).Error
}

type publishPingsRequest struct {
	Count   int `json:"count" validate:"min=1,max=1000"`
	SleepMS int `json:"sleep_ms" validate:"min=0,max=60000"`
}

// publish publishes count pings in one transaction and returns their refs.
func (p *probe) publish(c echo.Context) error {
	var req publishPingsRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	batch := uuid.NewString()
	refs, err := p.times(c.Request().Context(), req.Count, true, func(ctx context.Context, i int) (string, error) {
		ref := fmt.Sprintf("%s-%d", batch, i)
		return ref, p.bus.Publish(ctx, probeTopic, probePing{Ref: ref, SleepMS: req.SleepMS})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"refs": refs})
}

// deliveries reports the side effects by ref, the subscriber's invocations,
// and the ledger's deliveries of the probe's topic by state.
func (p *probe) deliveries(c echo.Context) error {
	conn := p.k.DB.Conn(c.Request().Context())
	var effects []struct {
		Ref string
		N   int
	}
	if err := conn.Model(&probeEffect{}).Select("ref, COUNT(*) AS n").Group("ref").Scan(&effects).Error; err != nil {
		return err
	}
	var calls struct{ Calls, Deduped int }
	if err := conn.Model(&probeCall{}).Select("COALESCE(SUM(calls), 0) AS calls, COALESCE(SUM(deduped), 0) AS deduped").
		Scan(&calls).Error; err != nil {
		return err
	}
	ledger, err := ledgerStates(conn, jobs.Name+":deliver:"+probeTopic+":"+probeSubscriber)
	if err != nil {
		return err
	}
	byRef := map[string]int{}
	for _, e := range effects {
		byRef[e.Ref] = e.N
	}
	return c.JSON(http.StatusOK, map[string]any{"effects": byRef, "calls": calls.Calls, "deduped": calls.Deduped, "ledger": ledger})
}

// ledgerStates counts the ledger's jobs of one type by state.
func ledgerStates(conn *gorm.DB, typ string) (map[string]int, error) {
	var states []struct {
		State string
		N     int
	}
	if err := conn.Table("kernel_jobs").Select("state, COUNT(*) AS n").Where("type = ?", typ).
		Group("state").Scan(&states).Error; err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range states {
		out[s.State] = s.N
	}
	return out, nil
}
