package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
)

// hourlyWorker starts a kernel whose idle workers look for tasks once an
// hour: within a test, only a wakeup can start a job on them. Its handler
// for test:<name> reports each job; expect waits for the next report.
func hourlyWorker(t *testing.T, name string) (k *kernel.Kernel, expect func(what, id string)) {
	t.Helper()
	cfg := kerneltest.Config(t)
	cfg.Queue.PollInterval = time.Hour
	k = kerneltest.NewWithConfig(t, cfg)
	ran := make(chan string, 4)
	k.Queue.Tasks("test").Handle(name, func(_ context.Context, task *queue.Task) error {
		ran <- task.ID
		return nil
	})
	kerneltest.StartQueue(t, k)
	return k, func(what, id string) {
		t.Helper()
		select {
		case got := <-ran:
			if got != id {
				t.Fatalf("%s: ran %s, want %s", what, got, id)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s did not start on a worker polling hourly (woken=%d)", what, queue.Woken(k.Queue))
		}
	}
}

// waitIdle waits until a worker found every queue empty and waits in the
// hook, which it can only do if the hook knows asynq's dequeue script.
func waitIdle(t *testing.T, k *kernel.Kernel) {
	t.Helper()
	eventually(t, "the idle worker to wait in the hook", func() (bool, string) {
		return queue.IdleWaiting(k.Queue), ""
	})
}

func TestIdleWorkerStartsAPushedJobAtOnce(t *testing.T) {
	k, expect := hourlyWorker(t, "wake")
	ctx := context.Background()
	for i := range 3 {
		waitIdle(t, k)
		id := enqueue(t, ctx, k, queue.Job{Type: "test:wake"})
		expect(fmt.Sprintf("job %d", i), id)
		waitState(t, k, id, queue.StateDone)
	}
	if n := queue.Woken(k.Queue); n < 3 {
		t.Errorf("woken = %d, want each of the 3 jobs handed over by the hook", n)
	}
	// asynq runs the dequeue script the hook knows, so its rounds took one
	// round trip each. If asynq's script changes, this fails: compare
	// asynqDequeue in wakeup.go with asynq's dequeueCmd.
	if queue.OneCallRounds(k.Queue) == 0 {
		t.Error("no dequeue round was asked in one round trip: asynq's dequeue script is not the one the hook knows")
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

func TestDequeuersShareConcurrencyAndEachIsWoken(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Queue.PollInterval = time.Hour
	cfg.Queue.Concurrency = 2
	cfg.Queue.Dequeuers = 2
	k := kerneltest.NewWithConfig(t, cfg)
	started := make(chan string, 2)
	release := make(chan struct{})
	k.Queue.Tasks("test").Handle("hold", func(_ context.Context, task *queue.Task) error {
		started <- task.ID
		<-release
		return nil
	})
	kerneltest.StartQueue(t, k)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	ctx := context.Background()

	eventually(t, "two asynq servers of concurrency 1 each", func() (bool, string) {
		servers, err := k.Queue.Inspector().Servers()
		if err != nil {
			return false, err.Error()
		}
		var conc []int
		for _, s := range servers {
			conc = append(conc, s.Concurrency)
		}
		return len(conc) == 2 && conc[0] == 1 && conc[1] == 1, fmt.Sprint(conc)
	})

	// The first job fills one server; with an hourly poll, the second can
	// only start if the other server, waiting idle, is woken for it.
	var ids []string
	for i := range 2 {
		eventually(t, "a server to wait idle", func() (bool, string) {
			return queue.IdleWaiting(k.Queue), ""
		})
		ids = append(ids, enqueue(t, ctx, k, queue.Job{Type: "test:hold"}))
		select {
		case got := <-started:
			if got != ids[i] {
				t.Fatalf("started %s, want %s", got, ids[i])
			}
		case <-time.After(waitLimit):
			t.Fatalf("job %d did not start while the other one held its server", i)
		}
	}
	close(release)
	for _, id := range ids {
		waitState(t, k, id, queue.StateDone)
	}
}

func TestDueAndResumedJobsWakeIdleWorkers(t *testing.T) {
	k, expect := hourlyWorker(t, "later")
	ctx := context.Background()

	// asynq's forwarder moves the job to pending when it is due; the hook
	// sees it and wakes the workers.
	waitIdle(t, k)
	id := enqueue(t, ctx, k, queue.Job{Type: "test:later", Delay: 1500 * time.Millisecond})
	expect("a job due in 1.5s", id)

	// A job held in a paused queue starts when the queue is resumed.
	if err := k.Queue.Pause(ctx, queue.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	id = enqueue(t, ctx, k, queue.Job{Type: "test:later"})
	waitTaskState(t, k, id, asynq.TaskStatePending)
	waitIdle(t, k)
	if err := k.Queue.Resume(ctx, queue.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	expect("a job in a resumed queue", id)
}
