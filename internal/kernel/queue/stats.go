package queue

import (
	"context"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// MaxPoints caps the buckets of one Throughput call.
const MaxPoints = 1440

// ErrBadRange is a Throughput window that is empty, reversed or cut into
// more than MaxPoints buckets.
var ErrBadRange = errs.New(errs.Invalid, "queue.bad_range", "The time range must be in the past and hold at most 1440 steps.")

// Point is one bucket of Throughput: the jobs that finished in
// [At, At+step), done and archived (failed for good or stopped by hand).
type Point struct {
	At       time.Time `json:"at"`
	Done     int64     `json:"done"`
	Archived int64     `json:"archived"`
}

// Throughput counts the jobs the principal in ctx sees that finished from
// since until now, in buckets of step. The buckets are made in Go rather
// than SQL, whose date functions differ between SQLite and MariaDB; the
// rows are streamed, two columns each, over the completed_at index.
func (q *Queue) Throughput(ctx context.Context, since time.Time, step time.Duration) ([]Point, error) {
	now := q.now()
	if step <= 0 || !since.Before(now) {
		return nil, ErrBadRange
	}
	n := int((now.Sub(since) + step - 1) / step)
	if n > MaxPoints {
		return nil, ErrBadRange
	}
	since = since.UTC()
	out := make([]Point, n)
	for i := range out {
		out[i].At = since.Add(time.Duration(i) * step)
	}
	rows, err := q.db.Conn(ctx).Model(&jobRow{}).Scopes(security.Scope(ctx)).Select("completed_at, state").
		Where("completed_at >= ? AND state IN ?", since, []string{StateDone, StateArchived}).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var at time.Time
		var state string
		if err := rows.Scan(&at, &state); err != nil {
			return nil, err
		}
		i := int(at.Sub(since) / step)
		if i < 0 || i >= n {
			continue // finished after now was read
		}
		if state == StateDone {
			out[i].Done++
		} else {
			out[i].Archived++
		}
	}
	return out, rows.Err()
}
