package contracts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
)

// Buffer holds items, such as page views or the rows of an import, until
// a schedule hands them to Handler in batches. Each tenant has its own
// schedule, batch size and pause switch, which its admin sets through the
// API or the backoffice; the fields here are the defaults.
type Buffer struct {
	Name      string       // "<module>.<name>", such as "statistics.pageviews"
	Handler   BatchHandler // required
	Schedule  string       // a cron spec ("*/15 * * * *") or "@every 5m"; "": "@every 1m"
	BatchSize int          // items per batch; 0: 100
	MaxRetry  int          // retries of a failed batch before its items are dead letters; 0: 5, -1: none
	Public    bool         // may be appended to through POST /api/v1/jobs/buffers/{name}/items
}

// BatchHandler processes one batch. Its items are acknowledged (deleted)
// only when it returns nil. An error retries the batch with backoff; after
// MaxRetry retries, or at once for an error wrapping queue.SkipRetry, the
// items become dead letters that an admin can inspect, retry or delete.
// A batch may be handed over again after a crash: Batch.ID is its
// idempotency key.
type BatchHandler func(ctx context.Context, b *Batch) error

// Batch is what a BatchHandler receives, under a service principal of the
// buffer's module acting for the tenant.
type Batch struct {
	ID       string
	Buffer   string
	TenantID string
	Attempt  int // 0 on the first run
	Items    []BufferItem
}

// BufferItem is one buffered item.
type BufferItem struct {
	ID        string          `json:"id"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Decode unmarshals the item's data.
func (i *BufferItem) Decode(v any) error { return json.Unmarshal(i.Data, v) }

// Buffers appends to buffers. Items go in for the tenant of the principal
// in ctx, inside ctx's transaction when there is one: a rollback buffers
// nothing.
type Buffers interface {
	Append(ctx context.Context, buffer string, items ...any) error
}

// BufferRegistry declares buffers; register at wiring time, before the
// workers start.
type BufferRegistry interface {
	RegisterBuffer(b Buffer) error
}

// ErrUnknownBuffer is an append to a buffer nobody registered.
var ErrUnknownBuffer = errs.New(errs.Invalid, "jobs.unknown_buffer", "The buffer is not registered.")
