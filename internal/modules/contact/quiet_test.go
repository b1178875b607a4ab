package contact_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/modules/contact"
)

// testClock is the module's clock, which the test moves; the queue keeps
// real time, so tests set it near now.
type testClock struct{ ns atomic.Int64 }

// useClock gives f's module a clock at at; call it before any sending.
func useClock(f *fixture, at time.Time) *testClock {
	c := &testClock{}
	c.set(at)
	contact.SetClock(f.m, c.now)
	return c
}

func (c *testClock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) set(at time.Time) { c.ns.Store(at.UnixNano()) }

// ledgerJob is the kernel's ledger row of the job with a unique key.
type ledgerJob struct {
	ID    string
	Queue string
	RunAt time.Time
}

func (f *fixture) ledgerJob(t *testing.T, key string) ledgerJob {
	t.Helper()
	var j ledgerJob
	if err := f.k.DB.Conn(context.Background()).Table("kernel_jobs").Select("id, queue, run_at").
		Where("unique_key = ?", key).Take(&j).Error; err != nil {
		t.Fatalf("ledger job %s: %v", key, err)
	}
	return j
}

// runNow moves a scheduled job in Redis to run at once, once the relay
// has handed it over.
func (f *fixture) runNow(t *testing.T, j ledgerJob) {
	t.Helper()
	eventually(t, "job "+j.ID+" scheduled in redis", func() (bool, string) {
		info, err := f.k.Queue.Inspector().GetTaskInfo(j.Queue, j.ID)
		if err != nil {
			return false, err.Error()
		}
		return info.State == asynq.TaskStateScheduled, info.State.String()
	})
	if err := f.k.Queue.Inspector().RunTask(j.Queue, j.ID); err != nil {
		t.Fatal(err)
	}
}

// A marketing message sent in its recipient's quiet hours is queued with
// a history entry saying until when, and its delivery job is due at their
// end; it is not delivered before, and a delivery started early waits
// again. A transactional message, and one to a recipient whose day it
// is, go at once.
func TestQuietHoursDeferMarketing(t *testing.T) {
	f := newFixture(t, "    log_fallback: \"true\"\n")
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := useClock(f, t0)
	// Quiet hours from an hour ago to two hours ahead in Tokyo, which the
	// tenant's own zone (UTC, nine hours behind) is far from.
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	local := t0.In(tokyo)
	quiet := map[string]any{"quiet_start": local.Add(-time.Hour).Format("15:04"), "quiet_end": local.Add(2 * time.Hour).Format("15:04"),
		"time_zone": "UTC"}
	if res := f.c.Do(http.MethodPut, "/api/v1/contact/settings", f.ownerA, quiet); res.Status != http.StatusOK {
		t.Fatalf("put settings: %d %s", res.Status, res.Body)
	}
	end := t0.Add(2 * time.Hour).Truncate(time.Minute)

	send := func(category, tz string) string {
		t.Helper()
		res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.agentA, map[string]any{"channel": "sms",
			"to": "+14155550123", "body": category + " " + tz, "category": category, "time_zone": tz})
		if res.Status != http.StatusAccepted || res.JSON()["status"] != "queued" {
			t.Fatalf("send %s %s: %d %s", category, tz, res.Status, res.Body)
		}
		return res.JSON()["id"].(string)
	}
	deferred := send("marketing", "Asia/Tokyo")
	transactional := send("transactional", "Asia/Tokyo")
	daytime := send("marketing", "")

	job := f.ledgerJob(t, "contact:deliver:"+deferred)
	if !job.RunAt.Equal(end) {
		t.Errorf("the deferred job runs at %s, want the end of quiet hours %s", job.RunAt.UTC(), end)
	}
	v := f.message(t, f.ownerA, deferred)
	wantDetail := "deferred until " + end.Format(time.RFC3339)
	if len(v.History) != 1 || v.History[0].Status != "queued" || v.History[0].Outcome != "deferred" ||
		v.History[0].Detail == nil || !strings.Contains(*v.History[0].Detail, wantDetail) {
		t.Errorf("history %+v, want queued/deferred saying %q", v.History, wantDetail)
	}
	for _, id := range []string{transactional, daytime} {
		f.waitStatus(t, id, "sent")
		if j := f.ledgerJob(t, "contact:deliver:"+id); j.RunAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("job of %s runs at %s, want at once", id, j.RunAt)
		}
	}
	// The others are through; the deferred one is not, nor in the outbox.
	if v := f.message(t, f.ownerA, deferred); v.Status != "queued" || len(v.History) != 1 {
		t.Errorf("deferred message before the end: %+v", v)
	}
	if res := f.c.Do(http.MethodGet, "/api/v1/contact/outbox", f.ownerA, nil); strings.Contains(string(res.Body), deferred) {
		t.Errorf("the deferred message is in the outbox before its time: %s", res.Body)
	}

	// Started early, the delivery finds quiet hours and waits again.
	f.runNow(t, job)
	var again ledgerJob
	eventually(t, "a second deferral", func() (bool, string) {
		v := f.message(t, f.ownerA, deferred)
		return len(v.History) == 2, fmt.Sprint(v.history())
	})
	again = f.ledgerJob(t, "contact:deliver:"+deferred+":after:"+job.ID)
	if !again.RunAt.Equal(end) {
		t.Errorf("deferred again to %s, want %s", again.RunAt.UTC(), end)
	}
	if v := f.message(t, f.ownerA, deferred); v.Status != "queued" || strings.Join(v.history(), ",") != "queued/deferred,queued/deferred" {
		t.Errorf("after an early start: %s %v", v.Status, v.history())
	}

	// At the end of quiet hours it goes.
	clock.set(end.Add(time.Second))
	f.runNow(t, again)
	v = f.waitStatus(t, deferred, "sent")
	if got := strings.Join(v.history(), ","); got != "queued/deferred,queued/deferred,sending,sent/accepted" {
		t.Errorf("history %s", got)
	}
}
