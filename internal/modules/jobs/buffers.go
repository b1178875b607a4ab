package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Buffers: items wait in jobs_buffer_items until their tenant's schedule
// comes round. A ticker in every worker process claims the due schedules
// (jobs_buffer_settings) with a conditional update and enqueues one flush
// job per tenant and buffer; the flush cuts the ready items into batches,
// each claimed and enqueued as a batch job in one transaction; the batch
// job runs the handler and deletes its items on success. Every step is in
// the database, so a crash anywhere loses nothing and at worst hands a
// batch over again, under the same batch id.

// Item states.
const (
	ItemReady   = "ready"   // waiting for a flush
	ItemBatched = "batched" // in a batch that is being handed over
	ItemDead    = "dead"    // its batch failed for good; retry or delete by hand
)

// Defaults and bounds of a buffer.
const (
	DefaultBufferSchedule = "@every 1m"
	DefaultBatchSize      = 100
	DefaultBatchRetry     = 5
	MaxBatchSize          = 10000
	maxBatchesPerFlush    = 1000 // the rest waits for the next tick
	maxItemBytes          = 64 << 10
)

// Errors of buffers.
var (
	ErrBadBufferName  = errs.New(errs.Invalid, "jobs.bad_buffer_name", "A buffer is named <module>.<name>, in lower-case letters, digits and underscores.")
	ErrDuplicateBuf   = errs.New(errs.Conflict, "jobs.duplicate_buffer", "A buffer with this name is already registered.")
	ErrBadSchedule    = errs.New(errs.Invalid, "jobs.bad_schedule", "The schedule must be five cron fields such as \"*/15 * * * *\", a descriptor such as \"@hourly\", or \"@every 5m\" (at least 1s).")
	ErrBadBatchSize   = errs.New(errs.Invalid, "jobs.bad_batch_size", fmt.Sprintf("The batch size must be between 1 and %d.", MaxBatchSize))
	ErrBufferNotFound = errs.New(errs.NotFound, "jobs.buffer_not_found", "No such buffer.")
	ErrItemNotFound   = errs.New(errs.NotFound, "jobs.item_not_found", "No such item.")
	ErrItemBatched    = errs.New(errs.Conflict, "jobs.item_batched", "The item is in a batch being handed over; wait for it to finish or fail.")
	ErrItemTooLarge   = errs.New(errs.Invalid, "jobs.item_too_large", fmt.Sprintf("An item may hold at most %d bytes of JSON.", maxItemBytes))
	ErrBufferNotPub   = errs.New(errs.Invalid, "jobs.buffer_not_public", "The buffer cannot be appended to through the API.")
	ErrUnknownState   = errs.New(errs.Invalid, "jobs.unknown_item_state", "The state must be ready, batched or dead.")
)

var bufferName = topicName // <module>.<name>, like a topic

// itemRow is a buffered item.
type itemRow struct {
	ID        string    `gorm:"primaryKey"`
	Buffer    string    `gorm:"column:buffer"`
	TenantID  string    `gorm:"column:tenant_id"`
	State     string    `gorm:"column:state"`
	BatchID   *string   `gorm:"column:batch_id"`
	Data      []byte    `gorm:"column:data"`
	Attempts  int       `gorm:"column:attempts"`
	LastError *string   `gorm:"column:last_error"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (itemRow) TableName() string { return "jobs_buffer_items" }

// settingsRow is one tenant's schedule of one buffer.
type settingsRow struct {
	Buffer      string     `gorm:"primaryKey;column:buffer"`
	TenantID    string     `gorm:"primaryKey;column:tenant_id"`
	Schedule    *string    `gorm:"column:schedule"`
	BatchSize   *int       `gorm:"column:batch_size"`
	Paused      bool       `gorm:"column:paused"`
	NextFlushAt time.Time  `gorm:"column:next_flush_at"`
	LastFlushAt *time.Time `gorm:"column:last_flush_at"`
	UpdatedAt   time.Time  `gorm:"column:updated_at"`
}

func (settingsRow) TableName() string { return "jobs_buffer_settings" }

// buffer is a registered buffer with its parsed default schedule.
type buffer struct {
	contracts.Buffer
	sched cron.Schedule
}

// The module is what other modules are given as these contracts.
var (
	_ contracts.Buffers        = (*Module)(nil)
	_ contracts.BufferRegistry = (*Module)(nil)
)

// parseSchedule checks a schedule a tenant or a module sets.
func parseSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || len(spec) > 100 {
		return nil, ErrBadSchedule
	}
	s, err := queue.ParseSpec(spec)
	if err != nil {
		return nil, ErrBadSchedule.WithDetails(errs.Detail{Field: "schedule", Code: "invalid", Message: err.Error()})
	}
	// cron rounds "@every 100ms" up to a second; say so instead.
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err != nil || d < time.Second {
			return nil, ErrBadSchedule.WithDetails(errs.Detail{Field: "schedule", Code: "too_often", Message: "must be at least 1s apart"})
		}
	}
	return s, nil
}

// RegisterBuffer implements contracts.BufferRegistry.
func (m *Module) RegisterBuffer(b contracts.Buffer) error {
	if !bufferName.MatchString(b.Name) {
		return ErrBadBufferName.WithDetails(errs.Detail{Field: "name", Code: "invalid", Message: b.Name})
	}
	if b.Handler == nil {
		return errors.New("jobs: buffer " + b.Name + ": nil handler")
	}
	if b.Schedule == "" {
		b.Schedule = DefaultBufferSchedule
	}
	sched, err := parseSchedule(b.Schedule)
	if err != nil {
		return fmt.Errorf("jobs: buffer %s: %w", b.Name, err)
	}
	switch {
	case b.BatchSize == 0:
		b.BatchSize = DefaultBatchSize
	case b.BatchSize < 0 || b.BatchSize > MaxBatchSize:
		return fmt.Errorf("jobs: buffer %s: %w", b.Name, ErrBadBatchSize)
	}
	switch {
	case b.MaxRetry == 0:
		b.MaxRetry = DefaultBatchRetry
	case b.MaxRetry < 0:
		b.MaxRetry = -1 // the queue's "no retry"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.buffers[b.Name]; dup {
		return ErrDuplicateBuf
	}
	m.buffers[b.Name] = &buffer{Buffer: b, sched: sched}
	return nil
}

func (m *Module) buffer(name string) (*buffer, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.buffers[name]
	return b, ok
}

// Append implements contracts.Buffers.
func (m *Module) Append(ctx context.Context, name string, items ...any) error {
	b, ok := m.buffer(name)
	if !ok {
		return contracts.ErrUnknownBuffer.WithDetails(errs.Detail{Field: "buffer", Code: "unknown", Message: name})
	}
	if len(items) == 0 {
		return nil
	}
	tenant := security.TenantOf(ctx)
	now := time.Now().UTC()
	rows := make([]itemRow, len(items))
	for i, it := range items {
		raw, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("jobs: encode an item of %s: %w", name, err)
		}
		if len(raw) > maxItemBytes {
			return ErrItemTooLarge.WithDetails(errs.Detail{Field: fmt.Sprintf("items[%d]", i), Code: "too_large"})
		}
		rows[i] = itemRow{ID: uuid.Must(uuid.NewV7()).String(), Buffer: name, TenantID: tenant, State: ItemReady,
			Data: raw, CreatedAt: now, UpdatedAt: now}
	}
	if err := m.ensureSettings(ctx, b, tenant); err != nil {
		return err
	}
	return m.k.DB.Conn(ctx).CreateInBatches(rows, 500).Error
}

// ensureSettings makes the tenant's schedule row of a buffer if it has
// none. On MySQL that happens outside the caller's transaction, so that
// appends never wait on each other's row locks; SQLite has one writer at a
// time, which is the caller's transaction, so the row is written in it. A
// process remembers the rows it has seen committed.
func (m *Module) ensureSettings(ctx context.Context, b *buffer, tenant string) error {
	key := b.Name + "\x00" + tenant
	if _, ok := m.ensured.Load(key); ok {
		return nil
	}
	if m.k.DB.Dialect() == db.MySQL {
		ctx = db.WithoutTx(ctx)
	}
	now := time.Now().UTC()
	row := settingsRow{Buffer: b.Name, TenantID: tenant, NextFlushAt: b.sched.Next(now), UpdatedAt: now}
	err := m.k.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("jobs: buffer %s: %w", b.Name, err)
	}
	db.AfterCommit(ctx, func() { m.ensured.Store(key, true) })
	return nil
}

// flushJob and batchJob are the data of the buffer's queue jobs.
type flushJob struct {
	Buffer   string `json:"buffer"`
	TenantID string `json:"tenant_id"`
}

type batchJob struct {
	flushJob
	BatchID string `json:"batch_id"`
}

// openJob decodes a buffer job's data into data, whose buffer is ref's,
// and looks the buffer up.
func (m *Module) openJob(t *queue.Task, data any, ref *flushJob) (*buffer, error) {
	if err := t.Decode(data); err != nil {
		return nil, fmt.Errorf("jobs: %s: %v: %w", t.Type, err, queue.SkipRetry)
	}
	b, ok := m.buffer(ref.Buffer)
	if !ok {
		return nil, fmt.Errorf("jobs: %s: buffer %s is not registered: %w", t.Type, ref.Buffer, queue.SkipRetry)
	}
	return b, nil
}

// Task types of buffers.
const (
	taskFlush = "buffer.flush"
	taskBatch = "buffer.batch"
)

// flushDue claims every due schedule and enqueues its flush, each claim
// and its job in one transaction. Every worker process runs it each
// second; the claim (next_flush_at moves past now) lets one of them win.
// Once a minute it also gives a schedule row to buffered items without one
// (their append's own write of it failed).
func (m *Module) flushDue(ctx context.Context) error {
	now := time.Now().UTC()
	if m.sweeps.Add(1)%60 == 1 {
		if err := m.sweepOrphans(ctx); err != nil {
			return err
		}
	}
	var due []settingsRow
	if err := m.k.DB.Conn(ctx).Where("next_flush_at <= ? AND paused = ?", now, false).
		Order("next_flush_at").Limit(200).Find(&due).Error; err != nil {
		return err
	}
	for _, s := range due {
		b, ok := m.buffer(s.Buffer)
		if !ok {
			continue // a buffer no longer registered keeps its items
		}
		next := m.scheduleOf(b, &s).Next(now)
		err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
			res := m.k.DB.Conn(ctx).Model(&settingsRow{}).
				Where("buffer = ? AND tenant_id = ? AND next_flush_at <= ?", s.Buffer, s.TenantID, now).
				Updates(map[string]any{"next_flush_at": next, "last_flush_at": now})
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error // another process took this tick
			}
			var ready []string
			if err := m.k.DB.Conn(ctx).Model(&itemRow{}).
				Where("buffer = ? AND tenant_id = ? AND state = ?", s.Buffer, s.TenantID, ItemReady).
				Limit(1).Pluck("id", &ready).Error; err != nil || len(ready) == 0 {
				return err
			}
			return m.enqueueFlush(ctx, s.Buffer, s.TenantID)
		})
		if err != nil {
			return fmt.Errorf("buffer %s of tenant %q: %w", s.Buffer, s.TenantID, err)
		}
	}
	return nil
}

// sweepOrphans makes the missing schedule rows of buffered items.
func (m *Module) sweepOrphans(ctx context.Context) error {
	var pairs []struct{ Buffer, TenantID string }
	err := m.k.DB.Conn(ctx).Model(&itemRow{}).Distinct("buffer", "tenant_id").
		Where("state = ? AND NOT EXISTS (SELECT 1 FROM jobs_buffer_settings s WHERE s.buffer = jobs_buffer_items.buffer AND s.tenant_id = jobs_buffer_items.tenant_id)", ItemReady).
		Limit(100).Scan(&pairs).Error
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if b, ok := m.buffer(p.Buffer); ok {
			m.ensured.Delete(p.Buffer + "\x00" + p.TenantID)
			if err := m.ensureSettings(ctx, b, p.TenantID); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Module) enqueueFlush(ctx context.Context, name, tenant string) error {
	_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskFlush, TenantID: tenant,
		Data: flushJob{Buffer: name, TenantID: tenant}, MaxRetry: 5})
	return err
}

// scheduleOf is the tenant's schedule of b, or b's default.
func (m *Module) scheduleOf(b *buffer, s *settingsRow) cron.Schedule {
	if s != nil && s.Schedule != nil {
		if sched, err := parseSchedule(*s.Schedule); err == nil {
			return sched
		}
	}
	return b.sched
}

func batchSizeOf(b *buffer, s *settingsRow) int {
	if s != nil && s.BatchSize != nil {
		return *s.BatchSize
	}
	return b.BatchSize
}

// flush cuts the tenant's ready items into batches, oldest first, and
// enqueues a batch job for each, in the transaction that claims them.
func (m *Module) flush(ctx context.Context, t *queue.Task) error {
	var j flushJob
	b, err := m.openJob(t, &j, &j)
	if err != nil {
		return err
	}
	var s settingsRow
	err = m.k.DB.Conn(ctx).Where("buffer = ? AND tenant_id = ?", j.Buffer, j.TenantID).Take(&s).Error
	if err != nil && !db.IsNotFound(err) {
		return err
	}
	size := batchSizeOf(b, &s)
	for range maxBatchesPerFlush {
		var n int
		err := m.k.DB.InTxReadCommitted(ctx, func(ctx context.Context) error {
			var ids []string
			sel := m.k.DB.Conn(ctx).Model(&itemRow{}).
				Where("buffer = ? AND tenant_id = ? AND state = ?", j.Buffer, j.TenantID, ItemReady).
				Order("id").Limit(size)
			if m.k.DB.Dialect() == db.MySQL {
				sel = sel.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
			}
			if err := sel.Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
				return err
			}
			batch := uuid.Must(uuid.NewV7()).String()
			res := m.k.DB.Conn(ctx).Model(&itemRow{}).Where("id IN ? AND state = ?", ids, ItemReady).
				Updates(map[string]any{"state": ItemBatched, "batch_id": batch, "updated_at": time.Now().UTC()})
			if res.Error != nil {
				return res.Error
			}
			n = len(ids)
			_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskBatch, TenantID: j.TenantID,
				Data: batchJob{flushJob: j, BatchID: batch}, MaxRetry: b.MaxRetry})
			return err
		})
		if err != nil {
			return err
		}
		if n < size {
			return nil
		}
	}
	return nil
}

// runBatch hands one batch to its buffer's handler, as a service principal
// of the buffer's module acting for the tenant. Success deletes the items;
// the last failure makes them dead letters.
func (m *Module) runBatch(ctx context.Context, t *queue.Task) error {
	var j batchJob
	b, err := m.openJob(t, &j, &j.flushJob)
	if err != nil {
		return err
	}
	var rows []itemRow
	if err := m.k.DB.Conn(ctx).Where("batch_id = ? AND state = ?", j.BatchID, ItemBatched).
		Order("id").Find(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil // done before a crash, or retried by hand as dead letters
	}
	batch := &contracts.Batch{ID: j.BatchID, Buffer: j.Buffer, TenantID: j.TenantID, Attempt: t.Attempt,
		Items: make([]contracts.BufferItem, len(rows))}
	for i, r := range rows {
		batch.Items[i] = contracts.BufferItem{ID: r.ID, Data: r.Data, CreatedAt: r.CreatedAt.UTC()}
	}
	// The batch is the tenant's, whoever flushed it.
	owner, _, _ := strings.Cut(j.Buffer, ".")
	hctx, err := m.asModule(security.WithPrincipal(ctx, security.System(j.TenantID)), Name, owner)
	if err != nil {
		return fmt.Errorf("jobs: %s: %w", j.Buffer, err)
	}
	herr := runHandler(hctx, b.Handler, batch)
	ctx = context.WithoutCancel(ctx) // record the outcome even past the attempt's timeout
	if herr == nil {
		return m.k.DB.Conn(ctx).Where("batch_id = ? AND state = ?", j.BatchID, ItemBatched).Delete(&itemRow{}).Error
	}
	final := t.Attempt >= t.MaxRetry || errors.Is(herr, queue.SkipRetry)
	msg := herr.Error()
	if len(msg) > 4000 {
		msg = msg[:4000]
	}
	upd := map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": msg, "updated_at": time.Now().UTC()}
	if final {
		upd["state"], upd["batch_id"] = ItemDead, nil
	}
	if err := m.k.DB.Conn(ctx).Model(&itemRow{}).Where("batch_id = ? AND state = ?", j.BatchID, ItemBatched).
		Updates(upd).Error; err != nil {
		return errors.Join(herr, err)
	}
	return herr
}

// batchDeleted runs when an admin deletes a batch's job before it
// succeeded: its items would otherwise stay in a batch that never runs.
// They become dead letters, which the tenant sees, retries or deletes.
func (m *Module) batchDeleted(ctx context.Context, t *queue.Task) error {
	var j batchJob
	if err := t.Decode(&j); err != nil || j.BatchID == "" {
		return nil // not a batch this module made: nothing is held back
	}
	return m.k.DB.Conn(ctx).Model(&itemRow{}).Where("batch_id = ? AND state = ?", j.BatchID, ItemBatched).
		Updates(map[string]any{"state": ItemDead, "batch_id": nil, "last_error": "its batch job was deleted by hand",
			"updated_at": time.Now().UTC()}).Error
}

func runHandler(ctx context.Context, h contracts.BatchHandler, b *contracts.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return h(ctx, b)
}

// BufferView is one tenant's view of one buffer.
type BufferView struct {
	Name        string     `json:"name"`
	TenantID    string     `json:"tenant_id"`
	Schedule    string     `json:"schedule"`
	BatchSize   int        `json:"batch_size"`
	MaxRetry    int        `json:"max_retry"`
	Paused      bool       `json:"paused"`
	Custom      bool       `json:"custom"` // the tenant changed the buffer's defaults
	Public      bool       `json:"public"`
	LastFlushAt *time.Time `json:"last_flush_at,omitempty"`
	NextFlushAt *time.Time `json:"next_flush_at,omitempty"`
	Ready       int64      `json:"ready"`
	Batched     int64      `json:"batched"`
	Dead        int64      `json:"dead"`
}

// BufferPatch changes a tenant's schedule of a buffer; nil fields stay. An
// empty schedule, or a batch size of 0, goes back to the buffer's default.
type BufferPatch struct {
	Schedule  *string `json:"schedule"`
	BatchSize *int    `json:"batch_size"`
	Paused    *bool   `json:"paused"`
}

func (m *Module) view(b *buffer, tenant string, s *settingsRow) BufferView {
	v := BufferView{Name: b.Name, TenantID: tenant, Schedule: b.Schedule, BatchSize: b.BatchSize,
		MaxRetry: max(b.MaxRetry, 0), Public: b.Public}
	if s == nil {
		return v
	}
	if s.Schedule != nil {
		v.Schedule, v.Custom = *s.Schedule, true
	}
	if s.BatchSize != nil {
		v.BatchSize, v.Custom = *s.BatchSize, true
	}
	v.Paused = s.Paused
	next := s.NextFlushAt.UTC()
	v.NextFlushAt = &next
	if s.LastFlushAt != nil {
		l := s.LastFlushAt.UTC()
		v.LastFlushAt = &l
	}
	return v
}

// ListBuffers lists the buffers of the tenant in ctx, each registered
// buffer once, and for a platform admin also every other tenant's that has
// a schedule row.
func (m *Module) ListBuffers(ctx context.Context) ([]BufferView, error) {
	var settings []settingsRow
	if err := m.k.DB.Conn(ctx).Scopes(security.Scope(ctx)).Order("buffer, tenant_id").Find(&settings).Error; err != nil {
		return nil, err
	}
	var counts []struct {
		Buffer, TenantID, State string
		N                       int64
	}
	if err := m.k.DB.Conn(ctx).Model(&itemRow{}).Scopes(security.Scope(ctx)).
		Select("buffer, tenant_id, state, COUNT(*) AS n").Group("buffer, tenant_id, state").Scan(&counts).Error; err != nil {
		return nil, err
	}
	own := security.TenantOf(ctx)
	var out []BufferView
	seen := map[string]bool{}
	for i := range settings {
		s := &settings[i]
		if b, ok := m.buffer(s.Buffer); ok {
			out = append(out, m.view(b, s.TenantID, s))
			seen[s.Buffer+"\x00"+s.TenantID] = true
		}
	}
	m.mu.RLock()
	for _, b := range m.buffers {
		if !seen[b.Name+"\x00"+own] {
			out = append(out, m.view(b, own, nil))
		}
	}
	m.mu.RUnlock()
	for i := range out {
		for _, c := range counts {
			if c.Buffer != out[i].Name || c.TenantID != out[i].TenantID {
				continue
			}
			switch c.State {
			case ItemReady:
				out[i].Ready = c.N
			case ItemBatched:
				out[i].Batched = c.N
			case ItemDead:
				out[i].Dead = c.N
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].TenantID < out[j].TenantID
	})
	return out, nil
}

// tenantOf is the tenant a buffer operation is for: the caller's own when
// none is named; another only for an unrestricted caller.
func tenantOf(ctx context.Context, tenant string) (string, error) {
	own := security.TenantOf(ctx)
	if tenant == "" || tenant == own {
		return own, nil
	}
	if p, ok := security.PrincipalFrom(ctx); ok && p.Unrestricted() {
		return tenant, nil
	}
	return "", ErrBufferNotFound
}

// Buffer is one tenant's view of one buffer.
func (m *Module) Buffer(ctx context.Context, name, tenant string) (*BufferView, error) {
	b, ok := m.buffer(name)
	if !ok {
		return nil, ErrBufferNotFound
	}
	tenant, err := tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	views, err := m.ListBuffers(ctx)
	if err != nil {
		return nil, err
	}
	for i := range views {
		if views[i].Name == name && views[i].TenantID == tenant {
			return &views[i], nil
		}
	}
	v := m.view(b, tenant, nil)
	return &v, nil
}

// UpdateBuffer changes a tenant's schedule, batch size or pause switch of
// a buffer. A new schedule takes effect from now.
func (m *Module) UpdateBuffer(ctx context.Context, name, tenant string, p BufferPatch) (*BufferView, error) {
	b, ok := m.buffer(name)
	if !ok {
		return nil, ErrBufferNotFound
	}
	tenant, err := tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var sched cron.Schedule
	if p.Schedule != nil && strings.TrimSpace(*p.Schedule) != "" {
		if sched, err = parseSchedule(*p.Schedule); err != nil {
			return nil, err
		}
		trimmed := strings.TrimSpace(*p.Schedule)
		p.Schedule = &trimmed
	}
	if p.BatchSize != nil && (*p.BatchSize < 0 || *p.BatchSize > MaxBatchSize) {
		return nil, ErrBadBatchSize.WithDetails(errs.Detail{Field: "batch_size", Code: "out_of_range"})
	}
	now := time.Now().UTC()
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		var s settingsRow
		err := m.k.DB.Conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("buffer = ? AND tenant_id = ?", name, tenant).Take(&s).Error
		fresh := db.IsNotFound(err)
		if err != nil && !fresh {
			return err
		}
		if fresh {
			s = settingsRow{Buffer: name, TenantID: tenant}
		}
		if p.Schedule != nil {
			if *p.Schedule == "" {
				s.Schedule = nil
			} else {
				s.Schedule = p.Schedule
			}
		}
		if p.BatchSize != nil {
			if *p.BatchSize == 0 {
				s.BatchSize = nil
			} else {
				s.BatchSize = p.BatchSize
			}
		}
		if p.Paused != nil {
			s.Paused = *p.Paused
		}
		if sched == nil {
			sched = m.scheduleOf(b, &s)
		}
		if fresh || p.Schedule != nil {
			s.NextFlushAt = sched.Next(now)
		}
		s.UpdatedAt = now
		if fresh {
			return m.k.DB.Conn(ctx).Create(&s).Error
		}
		return m.k.DB.Conn(ctx).Model(&settingsRow{}).Where("buffer = ? AND tenant_id = ?", name, tenant).
			Updates(map[string]any{"schedule": s.Schedule, "batch_size": s.BatchSize, "paused": s.Paused,
				"next_flush_at": s.NextFlushAt, "updated_at": now}).Error
	})
	if err != nil {
		return nil, err
	}
	m.ensured.Store(name+"\x00"+tenant, true)
	return m.Buffer(ctx, name, tenant)
}

// FlushBuffer hands the tenant's ready items over now, whatever the
// schedule says, paused or not.
func (m *Module) FlushBuffer(ctx context.Context, name, tenant string) error {
	if _, ok := m.buffer(name); !ok {
		return ErrBufferNotFound
	}
	tenant, err := tenantOf(ctx, tenant)
	if err != nil {
		return err
	}
	return m.enqueueFlush(ctx, name, tenant)
}

// BufferItem is a buffered item as admins see it.
type BufferItem struct {
	ID        string          `json:"id"`
	Buffer    string          `json:"buffer"`
	TenantID  string          `json:"tenant_id"`
	State     string          `json:"state"`
	BatchID   string          `json:"batch_id,omitempty"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (r *itemRow) view() BufferItem {
	it := BufferItem{ID: r.ID, Buffer: r.Buffer, TenantID: r.TenantID, State: r.State, Attempts: r.Attempts,
		Data: r.Data, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.BatchID != nil {
		it.BatchID = *r.BatchID
	}
	if r.LastError != nil {
		it.LastError = *r.LastError
	}
	return it
}

var itemStates = regexp.MustCompile(`^(ready|batched|dead)$`)

// BufferItems lists a tenant's items of a buffer, oldest first, in one
// state or all, with the total before paging.
func (m *Module) BufferItems(ctx context.Context, name, tenant, state string, offset, limit int) ([]BufferItem, int64, error) {
	if _, ok := m.buffer(name); !ok {
		return nil, 0, ErrBufferNotFound
	}
	if state != "" && !itemStates.MatchString(state) {
		return nil, 0, ErrUnknownState
	}
	tenant, err := tenantOf(ctx, tenant)
	if err != nil {
		return nil, 0, err
	}
	sel := m.k.DB.Conn(ctx).Model(&itemRow{}).Where("buffer = ? AND tenant_id = ?", name, tenant)
	if state != "" {
		sel = sel.Where("state = ?", state)
	}
	var total int64
	if err := sel.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	var rows []itemRow
	if err := sel.Order("id").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]BufferItem, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, total, nil
}

// RetryDead puts a tenant's dead letters of a buffer back in line for the
// next flush, with their attempts reset, and returns how many.
func (m *Module) RetryDead(ctx context.Context, name, tenant string) (int64, error) {
	if _, ok := m.buffer(name); !ok {
		return 0, ErrBufferNotFound
	}
	tenant, err := tenantOf(ctx, tenant)
	if err != nil {
		return 0, err
	}
	res := m.k.DB.Conn(ctx).Model(&itemRow{}).Where("buffer = ? AND tenant_id = ? AND state = ?", name, tenant, ItemDead).
		Updates(map[string]any{"state": ItemReady, "attempts": 0, "updated_at": time.Now().UTC()})
	return res.RowsAffected, res.Error
}

// scopedItem reads one item the caller may see.
func (m *Module) scopedItem(ctx context.Context, name, id string) (*itemRow, error) {
	var r itemRow
	err := m.k.DB.Conn(ctx).Scopes(security.Scope(ctx)).Where("id = ? AND buffer = ?", id, name).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrItemNotFound
	}
	return &r, err
}

// RetryItem puts one dead letter back in line for the next flush.
func (m *Module) RetryItem(ctx context.Context, name, id string) (*BufferItem, error) {
	r, err := m.scopedItem(ctx, name, id)
	if err != nil {
		return nil, err
	}
	if r.State == ItemBatched {
		return nil, ErrItemBatched
	}
	now := time.Now().UTC()
	if err := m.k.DB.Conn(ctx).Model(&itemRow{}).Where("id = ? AND state <> ?", id, ItemBatched).
		Updates(map[string]any{"state": ItemReady, "attempts": 0, "updated_at": now}).Error; err != nil {
		return nil, err
	}
	r.State, r.Attempts, r.UpdatedAt = ItemReady, 0, now
	v := r.view()
	return &v, nil
}

// DeleteItem drops an item that is not in a batch being handed over.
func (m *Module) DeleteItem(ctx context.Context, name, id string) error {
	if _, err := m.scopedItem(ctx, name, id); err != nil {
		return err
	}
	res := m.k.DB.Conn(ctx).Where("id = ? AND state <> ?", id, ItemBatched).Delete(&itemRow{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrItemBatched
	}
	return nil
}
