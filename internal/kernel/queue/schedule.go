package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"gorm.io/gorm/clause"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec parses a schedule as Add takes it: five cron fields
// ("*/15 * * * *"), a descriptor such as "@hourly", or "@every 90s".
func ParseSpec(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// ticker is a function every scheduler process runs at an interval.
type ticker struct {
	name  string
	every time.Duration
	fn    func(ctx context.Context) error
}

// entry is one periodic schedule.
type entry struct {
	name  string
	spec  string
	sched cron.Schedule
	job   Job
}

// Schedule registers one module's periodic jobs.
type Schedule struct {
	q      *Queue
	prefix string
}

// Schedules returns the schedule registry for module.
func (q *Queue) Schedules(module string) *Schedule { return &Schedule{q: q, prefix: module} }

// Add runs job on a cron spec ("*/5 * * * *", "@hourly", "@every 30s").
// The name is unique within the module. A bad spec panics at wiring time,
// where it is a programming error.
func (s *Schedule) Add(name, spec string, job Job) {
	sched, err := cronParser.Parse(spec)
	if err != nil {
		panic(fmt.Sprintf("queue: schedule %s:%s: bad spec %q: %v", s.prefix, name, spec, err))
	}
	full := s.prefix + ":" + name
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if _, dup := s.q.schedules[full]; dup {
		panic("queue: schedule registered twice: " + full)
	}
	s.q.schedules[full] = &entry{name: full, spec: spec, sched: sched, job: job}
}

// Every runs fn every d in each process that runs the scheduler. Unlike
// Add, whose job is enqueued once per tick across all processes, fn runs in
// every one of them: it must claim its work itself (a conditional update)
// and be cheap when there is none. It suits work whose timing is data, such
// as a schedule per tenant.
func (s *Schedule) Every(name string, d time.Duration, fn func(ctx context.Context) error) {
	if d <= 0 || fn == nil {
		panic("queue: ticker " + s.prefix + ":" + name + " needs a positive interval and a function")
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	s.q.tickers = append(s.q.tickers, ticker{name: s.prefix + ":" + name, every: d, fn: fn})
}

// ScheduleInfo describes a periodic entry.
type ScheduleInfo struct {
	Name      string    `json:"name"`
	Spec      string    `json:"spec"`
	Type      string    `json:"type"`
	LastRunAt time.Time `json:"last_run_at"`
	NextRunAt time.Time `json:"next_run_at"`
}

type scheduleRow struct {
	Name      string    `gorm:"primaryKey"`
	Spec      string    `gorm:"column:spec"`
	LastRunAt time.Time `gorm:"column:last_run_at"`
}

func (scheduleRow) TableName() string { return "kernel_schedules" }

// registerSchedules makes a row for each new schedule, starting from now,
// so that a new schedule first fires at its next tick.
func (q *Queue) registerSchedules(ctx context.Context) error {
	now := q.now().Truncate(time.Second)
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.schedules {
		row := scheduleRow{Name: e.name, Spec: e.spec, LastRunAt: now}
		err := q.db.Conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"spec"}),
		}).Create(&row).Error
		if err != nil {
			return fmt.Errorf("queue: register schedule %s: %w", e.name, err)
		}
	}
	return nil
}

// fireDue enqueues every schedule whose next tick has come. Missed ticks
// (the platform was down) fire once, not once each. The claim is a
// conditional update, so among several workers exactly one fires a tick,
// and the job is written in the same transaction as the claim.
func (q *Queue) fireDue(ctx context.Context) error {
	q.mu.Lock()
	entries := make([]*entry, 0, len(q.schedules))
	for _, e := range q.schedules {
		entries = append(entries, e)
	}
	q.mu.Unlock()
	if len(entries) == 0 {
		return nil
	}
	var rows []scheduleRow
	if err := q.db.Conn(ctx).Find(&rows).Error; err != nil {
		return err
	}
	last := map[string]time.Time{}
	for _, r := range rows {
		last[r.Name] = r.LastRunAt.UTC()
	}
	now := q.now()
	for _, e := range entries {
		prev, ok := last[e.name]
		if !ok {
			continue
		}
		next := e.sched.Next(prev)
		if next.After(now) {
			continue
		}
		tick := next
		for i := 0; i < 100000; i++ { // the latest due tick
			n := e.sched.Next(tick)
			if n.After(now) {
				break
			}
			tick = n
		}
		err := q.db.InTx(ctx, func(ctx context.Context) error {
			res := q.db.Conn(ctx).Model(&scheduleRow{}).Where("name = ? AND last_run_at < ?", e.name, tick).
				Update("last_run_at", tick)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error // another worker fired this tick
			}
			_, err := q.Enqueue(ctx, e.job)
			return err
		})
		if err != nil {
			q.log.Warn("queue: fire schedule", "schedule", e.name, "error", err)
		}
	}
	return nil
}

// ListSchedules describes the registered schedules.
func (q *Queue) ListSchedules(ctx context.Context) ([]ScheduleInfo, error) {
	var rows []scheduleRow
	if err := q.db.Conn(ctx).Find(&rows).Error; err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, r := range rows {
		last[r.Name] = r.LastRunAt.UTC()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]ScheduleInfo, 0, len(q.schedules))
	for _, e := range q.schedules {
		l := last[e.name]
		out = append(out, ScheduleInfo{Name: e.name, Spec: e.spec, Type: e.job.Type, LastRunAt: l, NextRunAt: e.sched.Next(l)})
	}
	return out, nil
}
