// Command jobsbench measures the jobs queue end to end: jobs per second and
// the latency from enqueue to the start of an empty handler, through raw
// asynq, through the platform's queue (a direct enqueue outside any
// transaction), or through the jobs module (Publish inside db.InTx, one
// subscriber). bench/jobs.sh runs it beside Gearman; see docs/benchmarks.md.
//
// It prints one machine-readable line per run on stdout, for example
//
//	mode=direct store=sqlite redis=embedded n=20000 producers=4 conc=10 rate=0 jobs_per_s=1234 p50_ms=.. p99_ms=.. ...
//
// The platform modes build the kernel as cmd/platform does (config.Load of
// a YAML file, kernel.New, the jobs module registered, Prepare applying the
// migrations) on a temporary SQLite file or a fresh MariaDB database that
// is dropped at the end.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/bench/benchkit"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

// Names of the benchmark's task type, topic and subscriber.
const (
	taskModule = "bench"
	taskName   = "noop"
	topic      = "bench.tick"
	subscriber = "bench"
)

type options struct {
	mode        string
	redisAddr   string
	redisDB     int
	store       string
	dsn         string
	n           int
	warmup      int
	producers   int
	concurrency int
	rate        float64
	timeout     time.Duration
	cpuProfile  string
	logLevel    string
	gearman     string
	gearmanFunc string
	weighted    bool
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "direct", "asynq | direct | outbox | gearman")
	flag.StringVar(&o.redisAddr, "redis", "", "Redis address; empty: the platform's embedded in-process Redis (direct and outbox only)")
	flag.IntVar(&o.redisDB, "redis-db", 0, "Redis database number; the run deletes its asynq:* keys before and after")
	flag.StringVar(&o.store, "db", "sqlite", "sqlite | mysql (direct and outbox)")
	flag.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/bench_jobs", "MySQL DSN; its database is created fresh and dropped at the end")
	flag.IntVar(&o.n, "n", 20000, "measured jobs")
	flag.IntVar(&o.warmup, "warmup", 500, "jobs run before the measurement, not measured")
	flag.IntVar(&o.producers, "producers", 4, "goroutines enqueueing")
	flag.IntVar(&o.concurrency, "concurrency", 10, "worker concurrency")
	flag.Float64Var(&o.rate, "rate", 0, "total enqueue rate in jobs/s, paced; 0: as fast as the producers go")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up when the measured jobs have not all started by then")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.StringVar(&o.logLevel, "log-level", "warn", "the kernel's and asynq's log level")
	flag.StringVar(&o.gearman, "gearman", "", "gearmand host:port (-mode gearman)")
	flag.StringVar(&o.gearmanFunc, "gearman-func", "jobsbench", "the Gearman function name the jobs are submitted to")
	flag.BoolVar(&o.weighted, "weighted", false, "-mode asynq: serve the platform's three weighted queues (critical 6, default 3, low 1) instead of asynq's one default queue")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "jobsbench:", err)
		os.Exit(1)
	}
}

// payload is what every job carries: when it was enqueued, and whether it
// belongs to the warm-up.
type payload struct {
	EnqNS  int64 `json:"enq_ns"`
	Warmup bool  `json:"warmup,omitempty"`
}

// recorder collects the enqueue-to-start latency of the measured jobs.
// Delivery is at least once, so a job may start twice; only the first
// target starts count.
type recorder struct {
	warmN, n   int64
	warmSeen   atomic.Int64
	seen       atomic.Int64
	lat        []int64 // ns, by arrival
	lastNS     atomic.Int64
	warmDone   chan struct{}
	done       chan struct{}
	warmOnce   sync.Once
	doneOnce   sync.Once
	duplicates atomic.Int64
}

func newRecorder(warm, n int) *recorder {
	r := &recorder{warmN: int64(warm), n: int64(n), lat: make([]int64, n),
		warmDone: make(chan struct{}), done: make(chan struct{})}
	if warm == 0 {
		close(r.warmDone)
	}
	return r
}

// started is the empty handler's whole body.
func (r *recorder) started(p payload) {
	now := time.Now().UnixNano()
	if p.Warmup {
		if r.warmSeen.Add(1) == r.warmN {
			r.warmOnce.Do(func() { close(r.warmDone) })
		}
		return
	}
	i := r.seen.Add(1) - 1
	if i >= r.n {
		r.duplicates.Add(1)
		return
	}
	r.lat[i] = now - p.EnqNS
	r.lastNS.Store(max(r.lastNS.Load(), now))
	if i == r.n-1 {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

// system is one way of enqueueing and running jobs.
type system struct {
	label   string // store=... redis=...
	enqueue func(ctx context.Context, p payload) error
	redis   redis.UniversalClient // for Redis's own CPU time; nil when embedded
	close   func()
}

func run(o options, out io.Writer) error {
	if o.n < 1 || o.producers < 1 || o.concurrency < 1 || o.warmup < 0 {
		return errors.New("-n, -producers and -concurrency must be at least 1, -warmup at least 0")
	}
	level := slog.LevelWarn
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx := context.Background()
	rec := newRecorder(o.warmup, o.n)

	var sys *system
	var err error
	switch o.mode {
	case "asynq":
		sys, err = openAsynq(o, rec)
	case "direct", "outbox":
		sys, err = openPlatform(ctx, o, log, rec)
	case "gearman":
		sys, err = openGearman(o, rec)
	default:
		err = fmt.Errorf("-mode must be asynq, direct, outbox or gearman, got %q", o.mode)
	}
	if err != nil {
		return err
	}
	defer sys.close()

	// Warm-up: connections, statement caches, the workers' first polls.
	if err := produce(ctx, sys, o.warmup, o.producers, 0, true); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	select {
	case <-rec.warmDone:
	case <-time.After(o.timeout):
		return fmt.Errorf("warm-up: %d of %d jobs started in %s", rec.warmSeen.Load(), o.warmup, o.timeout)
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	redisCPU0 := redisCPU(ctx, sys.redis)
	cpu0 := processCPU()
	start := time.Now()
	if err := produce(ctx, sys, o.n, o.producers, o.rate, false); err != nil {
		pprof.StopCPUProfile()
		return err
	}
	enqueued := time.Since(start)
	var timedOut bool
	select {
	case <-rec.done:
	case <-time.After(o.timeout):
		timedOut = true
	}
	wall := time.Duration(rec.lastNS.Load() - start.UnixNano())
	cpu := processCPU() - cpu0
	redisCPU1 := redisCPU(ctx, sys.redis)
	pprof.StopCPUProfile()

	got := min(rec.seen.Load(), rec.n)
	lat := slices.Clone(rec.lat[:got])
	slices.Sort(lat)
	line := fmt.Sprintf("mode=%s %s n=%d producers=%d conc=%d rate=%g jobs_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f wall_s=%.3f enqueue_s=%.3f cpu_s=%.3f cpu_us_per_job=%.0f",
		o.mode, sys.label, o.n, o.producers, o.concurrency, o.rate,
		float64(got)/wall.Seconds(), ms(quantile(lat, 0.50)), ms(quantile(lat, 0.90)), ms(quantile(lat, 0.99)), ms(quantile(lat, 1)),
		wall.Seconds(), enqueued.Seconds(), cpu.Seconds(), cpu.Seconds()*1e6/float64(max(got, 1)))
	if redisCPU0 >= 0 && redisCPU1 >= 0 {
		line += fmt.Sprintf(" redis_cpu_s=%.3f", redisCPU1-redisCPU0)
	}
	if d := rec.duplicates.Load(); d > 0 {
		line += fmt.Sprintf(" duplicates=%d", d)
	}
	if timedOut {
		line += fmt.Sprintf(" timeout=1 started=%d", got)
	}
	fmt.Fprintln(out, line)
	if timedOut {
		return fmt.Errorf("%d of %d jobs started within %s", got, o.n, o.timeout)
	}
	return nil
}

// produce enqueues n jobs from p goroutines, paced to rate jobs/s in all
// when rate > 0. The enqueue time is taken just before each enqueue call.
func produce(ctx context.Context, sys *system, n, p int, rate float64, warm bool) error {
	var wg sync.WaitGroup
	errc := make(chan error, p)
	start := time.Now()
	for w := range p {
		share := n / p
		if w < n%p {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range share {
				if rate > 0 {
					// Job i of producer w is due at (i*p + w) / rate.
					due := start.Add(time.Duration(float64(i*p+w) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				if err := sys.enqueue(ctx, payload{EnqNS: time.Now().UnixNano(), Warmup: warm}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// openAsynq is the peer: asynq v0.26's own client and server, with its
// defaults, on the same Redis as the platform.
func openAsynq(o options, rec *recorder) (*system, error) {
	if o.redisAddr == "" {
		return nil, errors.New("-mode asynq needs -redis")
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr, DB: o.redisDB})
	if err := clearAsynqKeys(context.Background(), rdb); err != nil {
		rdb.Close()
		return nil, err
	}
	opt := asynq.RedisClientOpt{Addr: o.redisAddr, DB: o.redisDB}
	client := asynq.NewClient(opt)
	cfg := asynq.Config{Concurrency: o.concurrency, LogLevel: asynq.WarnLevel}
	label := "store=none"
	if o.weighted {
		// What the platform's workers serve: each dequeue tries the queues
		// in weighted random order until one has a task.
		cfg.Queues = queue.Queues
		label = "store=none queues=weighted"
	}
	srv := asynq.NewServer(opt, cfg)
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskModule+":"+taskName, func(_ context.Context, t *asynq.Task) error {
		p, err := decode(t.Payload())
		if err != nil {
			return err
		}
		rec.started(p)
		return nil
	})
	if err := srv.Start(mux); err != nil {
		client.Close()
		rdb.Close()
		return nil, err
	}
	return &system{
		label: label + " redis=" + o.redisAddr + "/" + strconv.Itoa(o.redisDB),
		enqueue: func(ctx context.Context, p payload) error {
			_, err := client.EnqueueContext(ctx, asynq.NewTask(taskModule+":"+taskName, encode(p)))
			return err
		},
		redis: rdb,
		close: func() {
			srv.Shutdown()
			client.Close()
			_ = clearAsynqKeys(context.Background(), rdb)
			rdb.Close()
		},
	}, nil
}

// openPlatform builds the kernel the way cmd/platform does and starts its
// relay, scheduler and workers.
func openPlatform(ctx context.Context, o options, log *slog.Logger, rec *recorder) (_ *system, err error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	dir, err := os.MkdirTemp("", "jobsbench-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })

	yaml := []string{
		"data_dir: " + strconv.Quote(dir),
		"http: {addr: \"127.0.0.1:0\", access_log: false}",
		"log: {level: " + o.logLevel + ", format: text}",
		"queue: {concurrency: " + strconv.Itoa(o.concurrency) + "}",
		"bootstrap: {admin_email: admin@bench.local, admin_password: bench-password-0123}",
	}
	storeLabel := "sqlite"
	switch o.store {
	case "sqlite":
	case "mysql":
		dsn, drop, err := freshDatabase(ctx, o.dsn)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, drop)
		yaml = append(yaml, "database: {driver: mysql, dsn: "+strconv.Quote(dsn)+", auto_migrate: \"true\"}")
		storeLabel = "mysql"
	default:
		return nil, fmt.Errorf("-db must be sqlite or mysql, got %q", o.store)
	}
	redisLabel := "embedded"
	var rdb *redis.Client
	if o.redisAddr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: o.redisAddr, DB: o.redisDB})
		cleanups = append(cleanups, func() { rdb.Close() })
		if err := clearAsynqKeys(ctx, rdb); err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { _ = clearAsynqKeys(context.Background(), rdb) })
		yaml = append(yaml, fmt.Sprintf("redis: {addr: %q, db: %d}", o.redisAddr, o.redisDB))
		redisLabel = o.redisAddr + "/" + strconv.Itoa(o.redisDB)
	}
	k, err := benchkit.Kernel(ctx, dir, yaml, log)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, k.Close)

	m := jobs.New(k)
	var enqueue func(ctx context.Context, p payload) error
	switch o.mode {
	case "direct":
		k.Queue.Tasks(taskModule).Handle(taskName, func(_ context.Context, t *queue.Task) error {
			var p payload
			if err := t.Decode(&p); err != nil {
				return err
			}
			rec.started(p)
			return nil
		})
		enqueue = func(ctx context.Context, p payload) error {
			_, err := k.Queue.Enqueue(ctx, queue.Job{Type: taskModule + ":" + taskName, Data: p})
			return err
		}
	case "outbox":
		if err := m.RegisterTopic(contracts.Topic{Name: topic}); err != nil {
			return nil, err
		}
		err := m.Subscribe(topic, subscriber, func(_ context.Context, msg *contracts.Message) error {
			var p payload
			if err := msg.Decode(&p); err != nil {
				return err
			}
			rec.started(p)
			return nil
		})
		if err != nil {
			return nil, err
		}
		enqueue = func(ctx context.Context, p payload) error {
			return k.DB.InTx(ctx, func(ctx context.Context) error { return m.Publish(ctx, topic, p) })
		}
	}
	if err := k.Register(m); err != nil {
		return nil, err
	}
	if err := k.Prepare(ctx); err != nil {
		return nil, err
	}
	// What kernel.Run starts for the worker role.
	if err := k.Queue.StartRelay(ctx); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, k.Queue.Shutdown)
	if err := k.Queue.StartScheduler(ctx); err != nil {
		return nil, err
	}
	if err := k.Queue.StartWorkers(ctx); err != nil {
		return nil, err
	}
	sys := &system{label: "store=" + storeLabel + " redis=" + redisLabel, enqueue: enqueue, close: cleanup}
	if rdb != nil {
		sys.redis = rdb
	}
	return sys, nil
}

// freshDatabase creates the DSN's database anew and returns a function that
// drops it.
func freshDatabase(ctx context.Context, dsn string) (string, func(), error) {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("-dsn: %w", err)
	}
	name := c.DBName
	if name == "" {
		name = "bench_jobs"
	}
	if strings.ContainsAny(name, "`\\") {
		return "", nil, fmt.Errorf("-dsn: database name %q", name)
	}
	c.DBName = ""
	server := c.FormatDSN()
	admin, err := sql.Open("mysql", server)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`",
		"CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"} {
		if _, err := admin.ExecContext(cctx, q); err != nil {
			return "", nil, fmt.Errorf("mysql at %s: %w", c.Addr, err)
		}
	}
	c.DBName = name
	drop := func() {
		if a, err := sql.Open("mysql", server); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS `" + name + "`")
			a.Close()
		}
	}
	return c.FormatDSN(), drop, nil
}

// clearAsynqKeys deletes asynq's keys, and only those, from the database
// the client is on: other users of the same Redis keep theirs.
func clearAsynqKeys(ctx context.Context, rdb *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, "asynq:*", 1000).Result()
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// redisCPU is the Redis server's user+system CPU seconds, or -1.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) float64 {
	if rdb == nil {
		return -1
	}
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return -1
	}
	var total float64
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// encode and decode are the raw asynq payload: JSON, as the platform's
// jobs carry their data.
func encode(p payload) []byte {
	b, _ := json.Marshal(p)
	return b
}

func decode(b []byte) (payload, error) {
	var p payload
	err := json.Unmarshal(b, &p)
	return p, err
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }
