package queue

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// dequeueWith runs script as asynq's processor runs its dequeue script for
// one queue.
func dequeueWith(ctx context.Context, rdb *redis.Client, script *redis.Script, q string) (string, error) {
	p := "asynq:{" + q + "}:"
	keys := []string{p + "pending", p + "paused", p + "active", p + "lease"}
	return script.Run(ctx, rdb, keys, time.Now().Add(30*time.Second).Unix(), p+"t:").Text()
}

func pushTask(t *testing.T, rdb *redis.Client, q, id, msg string) {
	t.Helper()
	ctx := context.Background()
	p := "asynq:{" + q + "}:"
	if err := rdb.HSet(ctx, p+"t:"+id, "msg", msg, "state", "pending", "pending_since", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, p+"pending", id).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestWakeupRoundsOnAsynqsScriptAndOnAnother(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	w := newWakeup(rdb, time.Hour)
	rdb.AddHook(w)
	w.start()
	t.Cleanup(w.close)

	// asynq's own script: the round's first call takes a task from any
	// queue, in one round trip, and the task is active as asynq leaves it.
	asynqs := redis.NewScript(asynqDequeue)
	pushTask(t, rdb, "low", "t1", "m1")
	if got, err := dequeueWith(ctx, rdb, asynqs, "critical"); err != nil || got != "m1" {
		t.Fatalf("dequeue = %q, %v; want m1 from low", got, err)
	}
	if n := w.oneCall.Load(); n != 1 {
		t.Fatalf("one-call rounds = %d, want 1", n)
	}
	if state, _ := rdb.HGet(ctx, "asynq:{low}:t:t1", "state").Result(); state != "active" {
		t.Errorf("state = %q, want active", state)
	}
	if n, _ := rdb.LLen(ctx, "asynq:{low}:active").Result(); n != 1 {
		t.Errorf("active list holds %d, want 1", n)
	}
	if _, err := rdb.ZScore(ctx, "asynq:{low}:lease", "t1").Result(); err != nil {
		t.Errorf("no lease: %v", err)
	}

	// A paused queue gives nothing; its task waits.
	pushTask(t, rdb, "default", "t2", "m2")
	rdb.Set(ctx, "asynq:{default}:paused", 1, 0)
	for _, q := range []string{"critical", "default"} {
		if _, err := dequeueWith(ctx, rdb, asynqs, q); err != redis.Nil {
			t.Fatalf("dequeue %s with default paused: %v, want nil", q, err)
		}
	}
	// The round's last call waits, and a push ends the wait.
	got := lastOfRound(t, w, asynqs)
	pushTask(t, rdb, "critical", "t3", "m3")
	w.poke()
	if v := <-got; v != "m3" {
		t.Fatalf("woken dequeue = %q, want m3", v)
	}
	if n, _ := rdb.LLen(ctx, "asynq:{default}:pending").Result(); n != 1 {
		t.Errorf("the paused queue's task was taken")
	}
	rdb.Del(ctx, "asynq:{default}:paused")
	rdb.Del(ctx, "asynq:{default}:pending")

	// Another script with asynq's keys (another asynq version) is sent as
	// it is, one call a queue, and its rounds are still woken.
	other := redis.NewScript("-- another version\n" + asynqDequeue)
	rounds := w.oneCall.Load()
	for _, q := range []string{"critical", "default"} {
		if _, err := dequeueWith(ctx, rdb, other, q); err != redis.Nil {
			t.Fatalf("dequeue %s: %v, want nil", q, err)
		}
	}
	got = lastOfRound(t, w, other)
	pushTask(t, rdb, "default", "t4", "m4")
	w.poke()
	if v := <-got; v != "m4" {
		t.Fatalf("woken dequeue = %q, want m4", v)
	}
	if n := w.oneCall.Load(); n != rounds {
		t.Errorf("another script's rounds were taken over (%d one-call rounds, want %d)", n, rounds)
	}
	if n := w.woken.Load(); n != 2 {
		t.Errorf("woken = %d, want 2", n)
	}
}

// lastOfRound makes the round's last call, for "low", which waits in the
// hook, and returns its answer when it comes.
func lastOfRound(t *testing.T, w *wakeup, script *redis.Script) <-chan string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		v, err := dequeueWith(context.Background(), w.rdb.(*redis.Client), script, "low")
		if err != nil {
			v = err.Error()
		}
		got <- v
	}()
	waitFor(t, func() bool { return w.waiting.Load() == 1 })
	return got
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
	}
}
