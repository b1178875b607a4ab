package contact

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/calendar"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/modules/contracts"
)

// outcomeDeferred is a history entry of a marketing message held back
// until its recipient's quiet hours end.
const outcomeDeferred = "deferred"

// quietGrace is how near the end of quiet hours a message goes anyway:
// asynq keeps due times in whole seconds and may start a deferred
// delivery a little early, which must not defer it again.
const quietGrace = 2 * time.Second

// checkTimeZone names a message's time zone when it is not an IANA name.
func checkTimeZone(tz string) []errs.Detail {
	if tz == "" {
		return nil
	}
	if _, err := calendar.LoadLocation(tz); err != nil {
		return []errs.Detail{{Field: "time_zone", Code: "zone", Message: "must be an IANA time zone, such as Europe/Vienna"}}
	}
	return nil
}

// quietEnd reports whether a message of category, to a recipient in time
// zone tz (the tenant's when empty), falls in the tenant's quiet hours at
// now, and if so until when, with the history entry's text. Quiet hours
// hold back marketing only.
func quietEnd(set *settings, category, tz string, now time.Time) (time.Time, string, bool) {
	if set.quiet == nil || category != string(contracts.CategoryMarketing) {
		return time.Time{}, "", false
	}
	loc := set.zone
	if l, err := calendar.LoadLocation(tz); err == nil {
		loc = l
	}
	until := set.quiet.NextOpen(now, loc)
	if until.Sub(now) < quietGrace {
		return time.Time{}, "", false
	}
	return until, fmt.Sprintf("quiet hours %s-%s in %s: deferred until %s", set.quiet.Start, set.quiet.End, loc,
		until.UTC().Format(time.RFC3339)), true
}

// quietUntil is when the delivery of a new message may start: for a
// marketing message sent in its recipient's quiet hours, their end, which
// ev, its first history entry, then tells; otherwise zero, at once.
func (m *Module) quietUntil(set *settings, row *messageRow, tz string, ev *eventRow) time.Time {
	until, detail, ok := quietEnd(set, row.Category, tz, m.now())
	if !ok {
		return time.Time{}
	}
	ev.Outcome, ev.Detail = outcomeDeferred, &detail
	return until
}

// deliveryJob is the delivery job of a message, due at runAt (zero: now).
func (m *Module) deliveryJob(id, tenant, tz string, runAt time.Time) queue.Job {
	retries := m.cfg.MaxAttempts - 1
	if retries == 0 {
		retries = -1 // the queue's "no retry"; 0 would be its default
	}
	return queue.Job{Type: Name + ":" + taskDeliver, Data: deliverJob{V: 1, MessageID: id, TimeZone: tz}, Queue: m.cfg.Queue,
		RunAt: runAt, MaxRetry: retries, Timeout: m.cfg.SendTimeout + time.Minute, UniqueKey: Name + ":deliver:" + id,
		TenantID: tenant}
}

// waitQuiet checks a delivery against the quiet hours again, since a
// retry's backoff or a settings change can bring it into them: a
// marketing message that is due in them waits for their end, in a new
// job, and this one is done. It reports whether the message waits.
func (m *Module) waitQuiet(ctx context.Context, msg *messageRow, j deliverJob, taskID string) (bool, error) {
	if msg.Category != string(contracts.CategoryMarketing) {
		return false, nil
	}
	set, err := m.settingsOf(ctx)
	if err != nil {
		return false, err
	}
	now := m.now()
	until, detail, ok := quietEnd(set, msg.Category, j.TimeZone, now)
	if !ok {
		return false, nil
	}
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.hold(ctx, msg.ID, now); err != nil {
			return err
		}
		if err := m.store.addEvent(ctx, m.event(msg, StatusQueued, nil, outcomeDeferred, detail)); err != nil {
			return err
		}
		next := m.deliveryJob(msg.ID, msg.TenantID, j.TimeZone, until)
		next.UniqueKey += ":after:" + taskID // the first job's key holds for a day; this job defers once
		_, err := m.k.Queue.Enqueue(ctx, next)
		return err
	})
	if errors.Is(err, queue.ErrDuplicate) {
		return true, nil // an earlier run of this job deferred it already
	}
	return err == nil, err
}

// hold keeps a message queued, in the caller's transaction, unless it is
// no longer queued or waiting for a dead worker's claim to run out
// (errInProgress: the job runs again and finds out).
func (s *store) hold(ctx context.Context, id string, now time.Time) error {
	var r messageRow
	err := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Select("status", "claimed_until").
		Where("id = ?", id).Take(&r).Error
	if err != nil {
		return err
	}
	if r.Status != StatusQueued && (r.Status != StatusSending || r.ClaimedUntil == nil || !r.ClaimedUntil.Before(now)) {
		return errInProgress
	}
	return s.conn(ctx).Model(&messageRow{}).Where("id = ?", id).
		Updates(map[string]any{"status": StatusQueued, "claimed_until": nil, "updated_at": now}).Error
}
