package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Pause stops workers everywhere from taking new tasks off a queue; tasks
// already running finish. Pausing a paused queue is fine.
func (q *Queue) Pause(ctx context.Context, name string) error {
	paused, err := q.Paused(ctx, name)
	if err != nil || paused {
		return err
	}
	if err := q.insp.PauseQueue(name); err != nil {
		if paused, perr := q.Paused(ctx, name); perr == nil && paused {
			return nil // another caller was quicker
		}
		return fmt.Errorf("queue: pause %s: %w", name, err)
	}
	return nil
}

// Resume lets workers take tasks off a paused queue again. Resuming a
// running queue is fine.
func (q *Queue) Resume(ctx context.Context, name string) error {
	paused, err := q.Paused(ctx, name)
	if err != nil || !paused {
		return err
	}
	if err := q.insp.UnpauseQueue(name); err != nil {
		if paused, perr := q.Paused(ctx, name); perr == nil && !paused {
			return nil
		}
		return fmt.Errorf("queue: resume %s: %w", name, err)
	}
	// What waited in the queue is due now, here and in other processes.
	q.wakeAll()
	q.announce.announce()
	return nil
}

// Paused reports whether a queue is paused.
func (q *Queue) Paused(ctx context.Context, name string) (bool, error) {
	info, err := q.QueueInfo(ctx, name)
	if err != nil {
		return false, err
	}
	return info.Paused, nil
}

// QueueInfo is asynq's view of one of the platform's queues.
func (q *Queue) QueueInfo(ctx context.Context, name string) (*asynq.QueueInfo, error) {
	if _, ok := Queues[name]; !ok {
		return nil, ErrUnknownQueue
	}
	if err := q.knowQueues(ctx); err != nil {
		return nil, err
	}
	return q.insp.GetQueueInfo(name)
}

// knowQueues lists the platform's queues in Redis: asynq's client does so
// only on a queue's first enqueue, and its inspector calls a queue it does
// not list unknown.
func (q *Queue) knowQueues(ctx context.Context) error {
	names := make([]any, 0, len(Queues))
	for name := range Queues {
		names = append(names, name)
	}
	return q.rdb.SAdd(ctx, asynqQueuesKey, names...).Err()
}

// chainJob is a follow-up job as the envelope carries it: enqueued, with the
// parent's principal, in the transaction that marks the parent done.
type chainJob struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Queue     string          `json:"queue,omitempty"`
	DelayMS   int64           `json:"delay_ms,omitempty"`
	MaxRetry  int             `json:"max_retry,omitempty"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
	UniqueKey string          `json:"unique_key,omitempty"`
	UniqueMS  int64           `json:"unique_for_ms,omitempty"`
	TenantID  string          `json:"tenant_id,omitempty"`
	Deadline  *time.Time      `json:"deadline,omitempty"`
	Then      *chainJob       `json:"then,omitempty"`
}

// chainOf checks and encodes j's follow-ups.
func chainOf(j *Job) (*chainJob, error) {
	if j == nil {
		return nil, nil
	}
	if err := j.check(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(j.Data)
	if err != nil {
		return nil, fmt.Errorf("queue: encode %s: %w", j.Type, err)
	}
	then, err := chainOf(j.Then)
	if err != nil {
		return nil, err
	}
	c := &chainJob{Type: j.Type, Data: data, Queue: j.Queue, DelayMS: j.Delay.Milliseconds(), MaxRetry: j.MaxRetry,
		TimeoutMS: j.Timeout.Milliseconds(), UniqueKey: j.UniqueKey, UniqueMS: j.UniqueFor.Milliseconds(),
		TenantID: j.TenantID, Then: then}
	if !j.Deadline.IsZero() {
		d := j.Deadline.UTC()
		c.Deadline = &d
	}
	return c, nil
}

// job turns the chain entry back into a job.
func (c *chainJob) job() Job {
	j := Job{Type: c.Type, Data: c.Data, Queue: c.Queue, Delay: time.Duration(c.DelayMS) * time.Millisecond,
		MaxRetry: c.MaxRetry, Timeout: time.Duration(c.TimeoutMS) * time.Millisecond, UniqueKey: c.UniqueKey,
		UniqueFor: time.Duration(c.UniqueMS) * time.Millisecond, TenantID: c.TenantID}
	if c.Deadline != nil {
		j.Deadline = *c.Deadline
	}
	if c.Then != nil {
		j.Then = c.Then.jobPtr()
	}
	return j
}

func (c *chainJob) jobPtr() *Job { j := c.job(); return &j }
