package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Errors of the ledger's admin operations.
var (
	ErrJobNotFound  = errs.New(errs.NotFound, "queue.job_not_found", "No such job.")
	ErrJobRunning   = errs.New(errs.Conflict, "queue.job_running", "The job is running; wait for it to finish.")
	ErrJobFinished  = errs.New(errs.Conflict, "queue.job_finished", "The job has already finished.")
	ErrUnknownState = errs.New(errs.Invalid, "queue.unknown_state", "The state must be pending, enqueued, done or archived.")
)

// States lists the ledger states.
var States = []string{StatePending, StateEnqueued, StateDone, StateArchived}

// JobInfo is a ledger row as admins see it.
type JobInfo struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Queue       string          `json:"queue"`
	TenantID    string          `json:"tenant_id,omitempty"`
	State       string          `json:"state"`
	RunAt       time.Time       `json:"run_at"`
	MaxRetry    int             `json:"max_retry"`
	Deadline    *time.Time      `json:"deadline,omitempty"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	Principal   string          `json:"principal,omitempty"` // "user:<id>": who enqueued it
	Data        json.RawMessage `json:"data,omitempty"`      // only from Job
	History     []Attempt       `json:"history,omitempty"`   // failed attempts, oldest first; only from Job
}

// Attempt is one failed attempt of a job.
type Attempt struct {
	N     int       `json:"attempt"` // from 1
	Error string    `json:"error"`
	At    time.Time `json:"failed_at"`
}

// JobFilter selects ledger rows. Empty fields match everything.
type JobFilter struct {
	Queue, State, Type string
	Offset, Limit      int
	Desc               bool // newest first
}

func (r *jobRow) info(withData bool) JobInfo {
	in := JobInfo{ID: r.ID, Type: r.Type, Queue: r.Queue, State: r.State, RunAt: r.RunAt.UTC(), MaxRetry: r.MaxRetry,
		Attempts: r.Attempts, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: r.CompletedAt}
	if r.Deadline != nil {
		d := r.Deadline.UTC()
		in.Deadline = &d
	}
	if r.TenantID != nil {
		in.TenantID = *r.TenantID
	}
	if r.LastError != nil {
		in.LastError = *r.LastError
	}
	if in.CompletedAt != nil {
		t := in.CompletedAt.UTC()
		in.CompletedAt = &t
	}
	var env envelope
	if json.Unmarshal(r.Payload, &env) == nil {
		if env.Principal != nil {
			in.Principal = env.Principal.String()
		}
		if withData {
			in.Data = env.Data
		}
	}
	return in
}

// ListJobs lists ledger rows of the tenant the principal in ctx sees (every
// tenant's for an unrestricted one), with the total before paging.
func (q *Queue) ListJobs(ctx context.Context, f JobFilter) ([]JobInfo, int64, error) {
	if f.Queue != "" {
		if _, ok := Queues[f.Queue]; !ok {
			return nil, 0, ErrUnknownQueue
		}
	}
	if f.State != "" && !validState(f.State) {
		return nil, 0, ErrUnknownState
	}
	sel := q.db.Conn(ctx).Model(&jobRow{}).Scopes(security.Scope(ctx))
	if f.Queue != "" {
		sel = sel.Where("queue = ?", f.Queue)
	}
	if f.State != "" {
		sel = sel.Where("state = ?", f.State)
	}
	if f.Type != "" {
		sel = sel.Where("type = ?", f.Type)
	}
	var total int64
	if err := sel.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	order := "created_at ASC, id ASC"
	if f.Desc {
		order = "created_at DESC, id DESC"
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	var rows []jobRow
	if err := sel.Order(order).Offset(f.Offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]JobInfo, len(rows))
	for i := range rows {
		out[i] = rows[i].info(false)
	}
	return out, total, nil
}

// CountJobs counts the ledger rows the principal in ctx sees, by queue and
// state.
func (q *Queue) CountJobs(ctx context.Context) (map[string]map[string]int64, error) {
	var rows []struct {
		Queue, State string
		N            int64
	}
	err := q.db.Conn(ctx).Model(&jobRow{}).Scopes(security.Scope(ctx)).Select("queue, state, COUNT(*) AS n").
		Group("queue, state").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for name := range Queues {
		out[name] = map[string]int64{}
		for _, s := range States {
			out[name][s] = 0
		}
	}
	for _, r := range rows {
		if out[r.Queue] == nil {
			out[r.Queue] = map[string]int64{}
		}
		out[r.Queue][r.State] = r.N
	}
	return out, nil
}

// Job reads one ledger row the principal in ctx may see, with its data.
func (q *Queue) Job(ctx context.Context, id string) (*JobInfo, error) {
	r, err := q.scopedRow(ctx, id)
	if err != nil {
		return nil, err
	}
	in := r.info(true)
	var hist []attemptRow
	if err := q.db.Conn(ctx).Where("job_id = ?", id).Order("attempt").Limit(100).Find(&hist).Error; err != nil {
		return nil, err
	}
	for _, a := range hist {
		in.History = append(in.History, Attempt{N: a.Attempt, Error: a.Error, At: a.FailedAt.UTC()})
	}
	return &in, nil
}

func (q *Queue) scopedRow(ctx context.Context, id string) (*jobRow, error) {
	var r jobRow
	err := q.db.Conn(ctx).Scopes(security.Scope(ctx)).Where("id = ?", id).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrJobNotFound
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func validState(s string) bool {
	for _, st := range States {
		if s == st {
			return true
		}
	}
	return false
}

// Archive stops a job that has not finished: it will not run (again) until
// it is re-run by hand. A running job cannot be archived.
func (q *Queue) Archive(ctx context.Context, id string) error {
	r, err := q.scopedRow(ctx, id)
	if err != nil {
		return err
	}
	switch r.State {
	case StateDone, StateArchived:
		return ErrJobFinished
	case StateEnqueued:
		if err := q.insp.ArchiveTask(r.Queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) &&
			!errors.Is(err, asynq.ErrQueueNotFound) {
			if info, ierr := q.insp.GetTaskInfo(r.Queue, id); ierr == nil && info.State == asynq.TaskStateActive {
				return ErrJobRunning
			}
			if !strings.Contains(err.Error(), "already archived") {
				return fmt.Errorf("queue: archive %s: %w", id, err)
			}
		}
	}
	now := q.now()
	res := q.db.Conn(ctx).Model(&jobRow{}).Where("id = ? AND state = ?", id, r.State).
		Updates(map[string]any{"state": StateArchived, "completed_at": now, "updated_at": now, "last_error": "archived by hand"})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrJobRunning // it moved on meanwhile
	}
	return nil
}

// Delete removes a job that is not running from Redis and the ledger.
func (q *Queue) Delete(ctx context.Context, id string) error {
	r, err := q.scopedRow(ctx, id)
	if err != nil {
		return err
	}
	if r.State == StateEnqueued || r.State == StateArchived {
		if info, ierr := q.insp.GetTaskInfo(r.Queue, id); ierr == nil && info.State == asynq.TaskStateActive {
			return ErrJobRunning
		}
		if err := q.deleteTask(r.Queue, id); err != nil {
			return err
		}
	}
	q.mu.Lock()
	hook := q.onDelete[r.Type]
	q.mu.Unlock()
	return q.db.InTx(ctx, func(ctx context.Context) error {
		res := q.db.Conn(ctx).Where("id = ? AND state = ?", id, r.State).Delete(&jobRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrJobRunning
		}
		if err := q.db.Conn(ctx).Where("job_id = ?", id).Delete(&attemptRow{}).Error; err != nil {
			return err
		}
		if hook == nil || r.State == StateDone {
			return nil
		}
		t, err := r.task()
		if err != nil {
			return err
		}
		return hook(ctx, t)
	})
}

// task is the job of r as its handler sees it, read from the ledger.
func (r *jobRow) task() (*Task, error) {
	var e envelope
	if err := json.Unmarshal(r.Payload, &e); err != nil {
		return nil, fmt.Errorf("queue: job %s: %w", r.ID, err)
	}
	t := &Task{ID: r.ID, Type: r.Type, Data: e.Data, Attempt: r.Attempts, MaxRetry: r.MaxRetry}
	if r.TenantID != nil {
		t.TenantID = *r.TenantID
	}
	return t, nil
}
