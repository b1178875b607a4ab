package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// wakeup turns asynq's idle poll into a wait that an enqueue ends.
//
// asynq's processor asks each queue for a task with a Lua script, one
// queue after another; when all are empty it sleeps (TaskCheckInterval,
// with jitter) and no new task can cut that sleep short, so a job enqueued
// on an idle worker waits half a poll interval on average. wakeup is a
// go-redis hook on the workers' client: when the processor has found every
// queue empty, the hook holds the last empty answer back for up to one
// poll interval, and a signal that a task was pushed, from this process or
// through Redis pub/sub from another one, makes it ask the queues again at
// once, in priority order, and hand the task it finds to the processor as
// the answer. asynq itself then sleeps only a millisecond. Tasks that come
// due (run_at, retries) are moved to pending by asynq without a signal and
// are found at the next poll, as before.
//
// The hook recognises the dequeue script by its keys. If asynq changed
// them, the hook would let every call through and asynq would poll at its
// own interval; TestWakeupEngages fails then.
type wakeup struct {
	rdb     redis.UniversalClient
	every   time.Duration // the longest wait, one poll interval
	channel string        // pub/sub channel for other processes; "" in-process only
	order   []string      // queues in priority order

	signal chan struct{} // a task was pushed

	// The processor is the only caller of the dequeue script, one call at
	// a time; the mutex is for start and close, which other goroutines call.
	mu    sync.Mutex
	stop  chan struct{}    // closed: no more waiting
	empty map[string][]any // queue: the arguments of its last empty dequeue

	waiting      atomic.Int32 // waits running now
	waits, woken atomic.Int64 // waits begun; waits that a pushed task ended
}

func newWakeup(rdb redis.UniversalClient, every time.Duration, channel string) *wakeup {
	order := make([]string, 0, len(Queues))
	for name := range Queues {
		order = append(order, name)
	}
	sort.Slice(order, func(i, j int) bool { return Queues[order[i]] > Queues[order[j]] })
	return &wakeup{rdb: rdb, every: every, channel: channel, order: order,
		signal: make(chan struct{}, 1), stop: closed(), empty: map[string][]any{}}
}

func closed() chan struct{} { c := make(chan struct{}); close(c); return c }

// start lets the hook wait; the workers call it as they start.
func (w *wakeup) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.stop:
		w.stop = make(chan struct{})
	default:
	}
}

// close ends any wait, and makes the hook answer at once until the next
// start: asynq's processor then stops at its own pace.
func (w *wakeup) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}

// poke ends a wait, or the next one if none is running.
func (w *wakeup) poke() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

type rerunKey struct{}

func (w *wakeup) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w *wakeup) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (w *wakeup) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		qname, ok := dequeueOf(cmd)
		if !ok || ctx.Value(rerunKey{}) != nil {
			return next(ctx, cmd)
		}
		err := next(ctx, cmd)
		w.mu.Lock()
		if err != redis.Nil {
			clear(w.empty)
			w.mu.Unlock()
			return err
		}
		w.empty[qname] = cmd.Args()
		all := len(w.empty) >= len(w.order)
		w.mu.Unlock()
		if !all {
			return err
		}
		return w.wait(ctx, cmd)
	}
}

// wait holds back the processor's last empty answer until a task is pushed
// or the poll interval is over. It answers with the first task it finds.
func (w *wakeup) wait(ctx context.Context, cmd redis.Cmder) error {
	c, ok := cmd.(*redis.Cmd)
	if !ok {
		return redis.Nil
	}
	w.mu.Lock()
	stop := w.stop
	w.mu.Unlock()
	w.waits.Add(1)
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	t := time.NewTimer(w.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return redis.Nil
		case <-t.C:
			w.mu.Lock()
			clear(w.empty)
			w.mu.Unlock()
			return redis.Nil
		case <-w.signal:
		}
		val, err := w.dequeue(ctx)
		if err == redis.Nil {
			continue // another worker was quicker, or the task is not due
		}
		w.mu.Lock()
		clear(w.empty)
		w.mu.Unlock()
		if err != nil {
			c.SetErr(err)
			return err
		}
		w.woken.Add(1)
		c.SetErr(nil)
		c.SetVal(val)
		return nil
	}
}

// dequeue runs the processor's own empty calls again, in priority order.
func (w *wakeup) dequeue(ctx context.Context) (any, error) {
	ctx = context.WithValue(ctx, rerunKey{}, true)
	for _, name := range w.order {
		w.mu.Lock()
		args := w.empty[name]
		w.mu.Unlock()
		if args == nil {
			continue
		}
		val, err := w.rdb.Do(ctx, args...).Result()
		if err == redis.Nil {
			continue
		}
		return val, err
	}
	return nil, redis.Nil
}

// dequeueOf tells asynq's dequeue script by its keys (pending, paused,
// active and lease of one queue) and returns the queue's name.
func dequeueOf(cmd redis.Cmder) (string, bool) {
	name := cmd.Name()
	if name != "evalsha" && name != "eval" {
		return "", false
	}
	args := cmd.Args()
	if len(args) < 7 || fmt.Sprint(args[2]) != "4" {
		return "", false
	}
	var keys [4]string
	for i := range keys {
		s, ok := args[3+i].(string)
		if !ok {
			return "", false
		}
		keys[i] = s
	}
	q, ok := strings.CutPrefix(keys[0], "asynq:{")
	if !ok {
		return "", false
	}
	q, ok = strings.CutSuffix(q, "}:pending")
	if !ok {
		return "", false
	}
	prefix := "asynq:{" + q + "}:"
	if keys[1] != prefix+"paused" || keys[2] != prefix+"active" || keys[3] != prefix+"lease" {
		return "", false
	}
	return q, true
}

// announcer tells other processes' workers that a task was pushed, with at
// most one PUBLISH a millisecond however many tasks are pushed, and none
// while no other process listens.
type announcer struct {
	rdb     redis.UniversalClient
	channel string
	own     atomic.Int64 // this process's own subscriptions to the channel
	pending chan struct{}
	others  atomic.Bool
}

func newAnnouncer(rdb redis.UniversalClient, channel string) *announcer {
	a := &announcer{rdb: rdb, channel: channel, pending: make(chan struct{}, 1)}
	a.others.Store(true) // until the first count says otherwise
	return a
}

// announce asks for a PUBLISH without waiting for it.
func (a *announcer) announce() {
	if !a.others.Load() {
		return
	}
	select {
	case a.pending <- struct{}{}:
	default:
	}
}

// run publishes until ctx ends, and counts the listeners every second.
func (a *announcer) run(ctx context.Context) {
	count := func() {
		n, err := a.rdb.PubSubNumSub(ctx, a.channel).Result()
		if err == nil {
			a.others.Store(n[a.channel] > a.own.Load())
		}
	}
	count()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			count()
		case <-a.pending:
			a.rdb.Publish(ctx, a.channel, "")
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}
}
