package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

func TestThroughputCountsFinishedJobsPerStepWithinTheTenant(t *testing.T) {
	k := kerneltest.New(t)
	now := time.Date(2026, 3, 1, 12, 30, 20, 0, time.UTC)
	k.Queue.SetClock(func() time.Time { return now })
	as := func(tenant string) context.Context {
		return security.WithPrincipal(context.Background(),
			&security.Principal{Kind: security.KindUser, ID: "u-" + tenant, TenantID: tenant, Role: security.RoleOwner})
	}
	a, b := as("tenant-a"), as("tenant-b")
	admin := security.WithPrincipal(context.Background(),
		&security.Principal{Kind: security.KindUser, ID: "root", TenantID: "root", Role: security.RolePlatformAdmin})

	// finished writes a job of ctx's tenant that ended in state at t; the
	// queue is not started, so nothing else touches the rows.
	finished := func(ctx context.Context, state string, at time.Time) {
		t.Helper()
		id := enqueueTx(t, ctx, k, queue.Job{Type: "test:stat"}) // written at commit
		err := k.DB.Conn(context.Background()).Table("kernel_jobs").Where("id = ?", id).
			Updates(map[string]any{"state": state, "completed_at": at}).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	since := now.Truncate(time.Minute).Add(-2 * time.Minute) // 12:28:00; buckets 12:28, 12:29, 12:30
	finished(a, queue.StateDone, since.Add(-time.Second))    // before the window
	finished(a, queue.StateDone, since)
	finished(a, queue.StateDone, since.Add(59*time.Second))
	finished(a, queue.StateArchived, since.Add(90*time.Second))
	finished(b, queue.StateDone, since.Add(2*time.Minute+10*time.Second))
	finished(b, queue.StateArchived, since.Add(2*time.Minute+15*time.Second))
	enqueue(t, a, k, queue.Job{Type: "test:stat"}) // pending: not counted

	cases := []struct {
		name           string
		ctx            context.Context
		done, archived []int64
	}{
		{"tenant a sees its own", a, []int64{2, 0, 0}, []int64{0, 1, 0}},
		{"tenant b sees its own", b, []int64{0, 0, 1}, []int64{0, 0, 1}},
		{"platform admin sees all", admin, []int64{2, 0, 1}, []int64{0, 1, 1}},
		{"no principal sees nothing", context.Background(), []int64{0, 0, 0}, []int64{0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := k.Queue.Throughput(tc.ctx, since, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 3 {
				t.Fatalf("%d points, want 3: %+v", len(pts), pts)
			}
			for i, p := range pts {
				if !p.At.Equal(since.Add(time.Duration(i)*time.Minute)) || p.Done != tc.done[i] || p.Archived != tc.archived[i] {
					t.Errorf("point %d = %+v, want at %s done %d archived %d", i, p, since.Add(time.Duration(i)*time.Minute),
						tc.done[i], tc.archived[i])
				}
			}
		})
	}

	bad := []struct {
		name  string
		since time.Time
		step  time.Duration
	}{
		{"no step", since, 0},
		{"negative step", since, -time.Minute},
		{"since in the future", now.Add(time.Minute), time.Minute},
		{"too many steps", now.Add(-25 * time.Hour), time.Minute},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Queue.Throughput(admin, tc.since, tc.step); !errors.Is(err, queue.ErrBadRange) {
				t.Errorf("err = %v, want ErrBadRange", err)
			}
		})
	}
}
