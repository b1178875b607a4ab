package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
)

func TestPauseHoldsAQueueUntilResume(t *testing.T) {
	k := kerneltest.New(t)
	rec := newRecorder()
	k.Queue.Tasks("test").Handle("held", rec.handle)
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	if err := k.Queue.Pause(ctx, "urgent"); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("pause of an unknown queue: %v", err)
	}
	for range 2 { // pausing twice is fine
		if err := k.Queue.Pause(ctx, "low"); err != nil {
			t.Fatalf("pause: %v", err)
		}
	}
	if p, err := k.Queue.Paused(ctx, "low"); err != nil || !p {
		t.Fatalf("paused(low) = %v, %v; want true", p, err)
	}
	if p, err := k.Queue.Paused(ctx, "default"); err != nil || p {
		t.Fatalf("paused(default) = %v, %v; want false", p, err)
	}

	held := enqueue(t, ctx, k, queue.Job{Type: "test:held", Queue: "low"})
	waitState(t, k, held, queue.StateEnqueued)
	eventually(t, "the held task pending in redis", func() (bool, string) {
		info, err := k.Queue.Inspector().GetTaskInfo("low", held)
		if err != nil {
			return false, err.Error()
		}
		return info.State == asynq.TaskStatePending, info.State.String()
	})
	// Another queue keeps running meanwhile; the paused one does not.
	other := enqueue(t, ctx, k, queue.Job{Type: "test:held"})
	waitState(t, k, other, queue.StateDone)
	if n := rec.count(held); n != 0 {
		t.Fatalf("a job on the paused queue ran %d times", n)
	}
	if row, _ := readLedger(t, k, held); row.State != queue.StateEnqueued {
		t.Fatalf("held job is %q, want enqueued", row.State)
	}

	for range 2 { // resuming twice is fine
		if err := k.Queue.Resume(ctx, "low"); err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	waitState(t, k, held, queue.StateDone)
	if n := rec.count(held); n != 1 {
		t.Errorf("held job ran %d times after resume, want 1", n)
	}
	if p, _ := k.Queue.Paused(ctx, "low"); p {
		t.Errorf("low still paused after resume")
	}
}

func TestChainRunsTheFollowUpOnlyOnSuccess(t *testing.T) {
	k := kerneltest.New(t)
	var mu sync.Mutex
	var order []string
	who := map[string]string{}
	failFirst := map[string]bool{"flaky": true}
	step := func(ctx context.Context, task *queue.Task) error {
		var d struct{ Name string }
		if err := task.Decode(&d); err != nil {
			return err
		}
		p, _ := security.PrincipalFrom(ctx)
		mu.Lock()
		defer mu.Unlock()
		if d.Name == "broken" {
			return fmt.Errorf("broken step: %w", queue.SkipRetry)
		}
		if failFirst[d.Name] {
			failFirst[d.Name] = false
			return fmt.Errorf("flaky once: %w", queue.SkipRetry)
		}
		order = append(order, d.Name)
		who[d.Name] = p.String() + "@" + task.TenantID
		return nil
	}
	k.Queue.Tasks("test").Handle("step", step)
	k.Queue.Tasks("test").Handle("next", step)
	kerneltest.StartQueue(t, k)
	user := &security.Principal{Kind: security.KindUser, ID: "user-1", TenantID: "tenant-1", Role: security.RoleAgent}
	ctx := security.WithPrincipal(context.Background(), user)
	// count is how many test:next jobs the ledger holds for a step.
	count := func(name string) int {
		var payloads [][]byte
		if err := k.DB.Conn(ctx).Table("kernel_jobs").Where("type = ?", "test:next").Pluck("payload", &payloads).Error; err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range payloads {
			var env struct{ Data struct{ Name string } }
			if err := json.Unmarshal(p, &env); err != nil {
				t.Fatal(err)
			}
			if env.Data.Name == name {
				n++
			}
		}
		return n
	}
	type data struct {
		Name string `json:"name"`
	}

	t.Run("a chain of three runs in order, as the enqueuer", func(t *testing.T) {
		id := enqueue(t, ctx, k, queue.Job{Type: "test:step", Data: data{"a"},
			Then: &queue.Job{Type: "test:next", Data: data{"b"}, Queue: "critical",
				Then: &queue.Job{Type: "test:next", Data: data{"c"}}}})
		waitState(t, k, id, queue.StateDone)
		eventually(t, "the chain to finish", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(order) == 3, fmt.Sprint(order)
		})
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(order) != "[a b c]" {
			t.Errorf("order = %v, want [a b c]", order)
		}
		for _, n := range []string{"a", "b", "c"} {
			if who[n] != "user:user-1@tenant-1" {
				t.Errorf("step %s ran as %q", n, who[n])
			}
		}
		if count("b") != 1 || count("c") != 1 {
			t.Errorf("follow-ups in the ledger: b=%d c=%d, want 1 each", count("b"), count("c"))
		}
	})

	t.Run("a failed job enqueues no follow-up", func(t *testing.T) {
		id := enqueue(t, ctx, k, queue.Job{Type: "test:step", Data: data{"broken"}, Then: &queue.Job{Type: "test:next", Data: data{"never"}}})
		waitState(t, k, id, queue.StateArchived)
		// The follow-up would be written in the transaction that marks the
		// job done: an archived job has none.
		if n := count("never"); n != 0 {
			t.Errorf("the follow-up of a failed job was enqueued %d times", n)
		}
	})

	t.Run("a re-run that succeeds enqueues the follow-up", func(t *testing.T) {
		id := enqueue(t, ctx, k, queue.Job{Type: "test:step", Data: data{"flaky"}, Then: &queue.Job{Type: "test:next", Data: data{"after-rerun"}}})
		waitState(t, k, id, queue.StateArchived)
		if n := count("after-rerun"); n != 0 {
			t.Fatalf("follow-up enqueued %d times before the re-run", n)
		}
		if err := k.Queue.Rerun(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitState(t, k, id, queue.StateDone)
		eventually(t, "the follow-up to run", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			_, ok := who["after-rerun"]
			return ok, fmt.Sprint(order)
		})
		if n := count("after-rerun"); n != 1 {
			t.Errorf("follow-up enqueued %d times, want 1", n)
		}
	})

	t.Run("a bad follow-up is refused at enqueue", func(t *testing.T) {
		for _, then := range []*queue.Job{{Type: "nomodule"}, {Type: "test:next", Queue: "urgent"}, {Type: "test:next", Then: &queue.Job{}}} {
			if _, err := k.Queue.Enqueue(ctx, queue.Job{Type: "test:step", Data: data{"refused"}, Then: then}); err == nil {
				t.Errorf("enqueue with follow-up %+v succeeded", then)
			}
		}
		var n int64
		k.DB.Conn(ctx).Table("kernel_jobs").Where("type = ?", "test:step").Count(&n)
		if n != 3 {
			t.Errorf("the ledger holds %d test:step jobs, want the 3 of the steps before", n)
		}
	})
}
