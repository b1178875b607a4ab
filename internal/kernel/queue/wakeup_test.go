package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
)

func TestIdleWorkerStartsAPushedJobAtOnce(t *testing.T) {
	cfg := kerneltest.Config(t)
	// An idle worker looks for tasks once an hour: within the test, only
	// the wakeup can start a job on it.
	cfg.Queue.PollInterval = time.Hour
	k := kerneltest.NewWithConfig(t, cfg)
	ran := make(chan string, 1)
	k.Queue.Tasks("test").Handle("wake", func(_ context.Context, task *queue.Task) error {
		ran <- task.ID
		return nil
	})
	kerneltest.StartQueue(t, k)
	ctx := context.Background()

	for i := range 3 {
		// The worker found every queue empty and waits, which it can only
		// do if the hook knows asynq's dequeue script when it sees it.
		eventually(t, "the idle worker to wait in the hook", func() (bool, string) {
			return queue.IdleWaiting(k.Queue), ""
		})
		id := enqueue(t, ctx, k, queue.Job{Type: "test:wake"})
		select {
		case got := <-ran:
			if got != id {
				t.Fatalf("ran %s, want %s", got, id)
			}
		case <-time.After(waitLimit):
			t.Fatalf("job %d did not start on an idle worker polling hourly (woken=%d)", i, queue.Woken(k.Queue))
		}
		waitState(t, k, id, queue.StateDone)
	}
	if n := queue.Woken(k.Queue); n < 3 {
		t.Errorf("woken = %d, want each of the 3 jobs handed over by the hook", n)
	}

	// Shutting down ends the hour-long wait at once.
	done := make(chan struct{})
	go func() { k.Queue.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("shutdown waited for the idle poll")
	}
}

func TestWorkersOfAnotherProcessAreWoken(t *testing.T) {
	if kerneltest.RedisAddr() == "" {
		t.Skip("the embedded Redis belongs to one process; the real-services run covers this")
	}
	cfg := kerneltest.Config(t)
	cfg.Queue.PollInterval = time.Hour
	// An API process, which enqueues and relays but runs no workers, and a
	// worker process, on one database and one Redis.
	api := kerneltest.NewWithConfig(t, cfg)
	worker := kerneltest.NewWithConfig(t, cfg)
	ran := make(chan string, 1)
	for _, k := range []*kernel.Kernel{api, worker} {
		k.Queue.Tasks("test").Handle("remote", func(_ context.Context, task *queue.Task) error {
			ran <- task.ID
			return nil
		})
	}
	ctx := context.Background()
	if err := api.Queue.StartRelay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Queue.Shutdown)
	kerneltest.StartQueue(t, worker)

	eventually(t, "the worker process to wait idle", func() (bool, string) {
		return queue.IdleWaiting(worker.Queue), ""
	})
	eventually(t, "the API process to see a listener", func() (bool, string) {
		return queue.Announcing(api.Queue), ""
	})
	if queue.Announcing(worker.Queue) {
		t.Error("the worker process announces its pushes with no other listener")
	}
	id := enqueue(t, ctx, api, queue.Job{Type: "test:remote"})
	select {
	case got := <-ran:
		if got != id {
			t.Fatalf("ran %s, want %s", got, id)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the job did not start on the other process's idle worker (woken=%d)", queue.Woken(worker.Queue))
	}
	if queue.Woken(worker.Queue) < 1 {
		t.Error("the job started without the hook handing it over")
	}
}
