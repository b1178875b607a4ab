package queue

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"math/rand/v2"
	"slices"
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
// due (run_at, retries) are moved to pending by asynq's forwarder, once a
// second; the hook sees its script move them and wakes the workers too.
//
// The hook also asks all queues in one round trip where asynq makes one a
// queue (up to three a task with the platform's three weighted queues):
// the processor's first call of a round runs dequeueAny over every queue,
// in asynq's weighted random order, and the round's other calls are
// answered from its result. It does so only when the processor runs
// asynq's own dequeue script, known by its SHA1; other calls that look
// like a dequeue by their keys are sent as they are, one a queue, and only
// waited on. TestIdleWorkerStartsAPushedJobAtOnce fails if either stops
// matching what asynq sends.
type wakeup struct {
	rdb   redis.UniversalClient
	every time.Duration // the longest wait, one poll interval
	order []string      // queues in priority order

	signal chan struct{} // a task was pushed

	// The processor is the only caller of the dequeue script, one call at
	// a time; the mutex is for start and close, which other goroutines
	// call, and keeps the race detector's view of empty simple.
	mu    sync.Mutex
	stop  chan struct{}    // closed: no more waiting
	empty map[string][]any // queue: the arguments of its last empty dequeue

	// forwarded is called when asynq's forwarder has moved due tasks to
	// pending: they wake the workers as a push does.
	forwarded func()

	waiting atomic.Int32 // waits running now
	woken   atomic.Int64 // waits that a pushed task ended
	oneCall atomic.Int64 // rounds asked in one round trip
}

// asynqDequeue is asynq v0.26.0's dequeue script, word for word: the
// processor's calls are taken over only while they run this very script.
const asynqDequeue = `
if redis.call("EXISTS", KEYS[2]) == 0 then
	local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
	if id then
		local key = ARGV[2] .. id
		redis.call("HSET", key, "state", "active")
		redis.call("HDEL", key, "pending_since")
		redis.call("ZADD", KEYS[4], ARGV[1], id)
		return redis.call("HGET", key, "msg")
	end
end
return nil`

var asynqDequeueSHA = func() string {
	h := sha1.Sum([]byte(asynqDequeue))
	return hex.EncodeToString(h[:])
}()

// dequeueAny is asynqDequeue over several queues, each by four keys
// (pending, paused, active, lease) and its task key prefix in ARGV[i+1],
// tried in the order given: the first task found is taken.
var dequeueAny = redis.NewScript(`
for i = 0, #KEYS / 4 - 1 do
	local k = i * 4
	if redis.call("EXISTS", KEYS[k + 2]) == 0 then
		local id = redis.call("RPOPLPUSH", KEYS[k + 1], KEYS[k + 3])
		if id then
			local key = ARGV[i + 2] .. id
			redis.call("HSET", key, "state", "active")
			redis.call("HDEL", key, "pending_since")
			redis.call("ZADD", KEYS[k + 4], ARGV[1], id)
			return redis.call("HGET", key, "msg")
		end
	end
end
return nil`)

func newWakeup(rdb redis.UniversalClient, every time.Duration) *wakeup {
	order := make([]string, 0, len(Queues))
	for name := range Queues {
		order = append(order, name)
	}
	sort.Slice(order, func(i, j int) bool { return Queues[order[i]] > Queues[order[j]] })
	return &wakeup{rdb: rdb, every: every, order: order,
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
		if w.forwarded != nil && isForward(cmd) {
			err := next(ctx, cmd)
			if n, _ := cmd.(*redis.Cmd).Int64(); n > 0 {
				w.forwarded()
			}
			return err
		}
		call, ok := dequeueOf(cmd)
		if !ok || ctx.Value(rerunKey{}) != nil {
			return next(ctx, cmd)
		}
		c := cmd.(*redis.Cmd)
		w.mu.Lock()
		first := len(w.empty) == 0
		w.empty[call.queue] = cmd.Args()
		all := len(w.empty) >= len(w.order)
		w.mu.Unlock()
		var err error
		switch {
		case call.asynqs && first:
			w.oneCall.Add(1)
			var val any
			val, err = w.dequeueAll(ctx, call.lease, w.shuffled())
			c.SetVal(val)
			c.SetErr(err)
		case call.asynqs:
			// The round's first call found every queue empty a moment ago.
			err = redis.Nil
			c.SetErr(err)
		default:
			err = next(ctx, cmd)
		}
		if err != redis.Nil {
			w.endRound()
			return err
		}
		if !all {
			return err
		}
		return w.wait(ctx, c, call)
	}
}

func (w *wakeup) endRound() {
	w.mu.Lock()
	clear(w.empty)
	w.mu.Unlock()
}

// shuffled is the queues in asynq's order for a round: each place goes to
// one of the queues left with a chance that follows its weight, which is
// the order of first appearances in asynq's shuffle of weighted names.
func (w *wakeup) shuffled() []string {
	out := slices.Clone(w.order)
	total := 0
	for _, q := range out {
		total += Queues[q]
	}
	for i := range out {
		r := rand.IntN(total)
		j := i
		for r >= Queues[out[j]] {
			r -= Queues[out[j]]
			j++
		}
		out[i], out[j] = out[j], out[i]
		total -= Queues[out[i]]
	}
	return out
}

// wait holds back the processor's last empty answer until a task is pushed
// or the poll interval is over. It answers with the first task it finds.
func (w *wakeup) wait(ctx context.Context, c *redis.Cmd, call dequeueCall) error {
	w.mu.Lock()
	stop := w.stop
	w.mu.Unlock()
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	defer w.endRound()
	t := time.NewTimer(w.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return redis.Nil
		case <-t.C:
			return redis.Nil
		case <-w.signal:
		}
		var val any
		var err error
		if call.asynqs {
			val, err = w.dequeueAll(ctx, call.lease, w.order)
		} else {
			val, err = w.dequeue(ctx)
		}
		if err == redis.Nil {
			continue // another worker was quicker, or the task is not due
		}
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

// dequeueAll asks the queues in order, in one round trip.
func (w *wakeup) dequeueAll(ctx context.Context, lease any, order []string) (any, error) {
	keys := make([]string, 0, 4*len(order))
	args := make([]any, 0, 1+len(order))
	args = append(args, lease)
	for _, q := range order {
		p := "asynq:{" + q + "}:"
		keys = append(keys, p+"pending", p+"paused", p+"active", p+"lease")
		args = append(args, p+"t:")
	}
	return dequeueAny.Run(context.WithValue(ctx, rerunKey{}, true), w.rdb, keys, args...).Result()
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

// scriptCall returns the keys and arguments of a Lua script run with
// nkeys keys and nargs arguments, as go-redis's Script sends it.
func scriptCall(cmd redis.Cmder, nkeys, nargs int) (keys []string, argv []any, ok bool) {
	if _, isCmd := cmd.(*redis.Cmd); !isCmd {
		return nil, nil, false
	}
	if name := cmd.Name(); name != "evalsha" && name != "eval" {
		return nil, nil, false
	}
	args := cmd.Args()
	if len(args) != 3+nkeys+nargs {
		return nil, nil, false
	}
	if n, _ := args[2].(int); n != nkeys {
		return nil, nil, false
	}
	keys = make([]string, nkeys)
	for i := range keys {
		if keys[i], ok = args[3+i].(string); !ok {
			return nil, nil, false
		}
	}
	return keys, args[3+nkeys:], true
}

// isForward tells asynq's forward script, which moves due scheduled and
// retry tasks to pending, by its keys.
func isForward(cmd redis.Cmder) bool {
	keys, _, ok := scriptCall(cmd, 2, 4)
	if !ok {
		return false
	}
	q, ok := strings.CutSuffix(keys[1], "}:pending")
	if !ok || !strings.HasPrefix(q, "asynq:{") {
		return false
	}
	return keys[0] == q+"}:scheduled" || keys[0] == q+"}:retry"
}

// dequeueCall is a call of asynq's dequeue script for one queue.
type dequeueCall struct {
	queue  string
	lease  any  // ARGV[1]: the lease's expiry
	asynqs bool // the very script asynqDequeue
}

// dequeueOf tells asynq's dequeue script by its keys (pending, paused,
// active and lease of one queue) and its arguments.
func dequeueOf(cmd redis.Cmder) (dequeueCall, bool) {
	keys, argv, ok := scriptCall(cmd, 4, 2)
	if !ok {
		return dequeueCall{}, false
	}
	q, ok := strings.CutPrefix(keys[0], "asynq:{")
	if !ok {
		return dequeueCall{}, false
	}
	q, ok = strings.CutSuffix(q, "}:pending")
	if !ok {
		return dequeueCall{}, false
	}
	prefix := "asynq:{" + q + "}:"
	if keys[1] != prefix+"paused" || keys[2] != prefix+"active" || keys[3] != prefix+"lease" || argv[1] != prefix+"t:" {
		return dequeueCall{}, false
	}
	script, _ := cmd.Args()[1].(string)
	known := cmd.Name() == "evalsha" && script == asynqDequeueSHA || cmd.Name() == "eval" && script == asynqDequeue
	return dequeueCall{queue: q, lease: argv[0], asynqs: known}, true
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

// announce asks for a PUBLISH without waiting for it; on the in-process
// server, where a is nil, there is nobody to tell.
func (a *announcer) announce() {
	if a == nil || !a.others.Load() {
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
