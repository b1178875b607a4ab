// Command contactbench measures the contact module end to end: messages
// accepted per second through POST /api/v1/contact/messages, and messages
// delivered per second to an SMTP server. bench/contact.sh runs it on the
// embedded queue, and on SQLite and MariaDB with Redis; see
// docs/benchmarks.md.
//
// It builds the kernel as cmd/platform does (config.Load of a YAML file,
// kernel.New, the jobs and contact modules registered, Prepare applying the
// migrations), serves its HTTP stack on a loopback port and starts the
// relay, scheduler and workers in the same process. A tenant gets one SMTP
// provider pointing at an SMTP sink this command serves itself
// (net/textproto: it accepts every message and counts it). CLIENTS
// goroutines then post N e-mails over HTTP as the tenant's owner, each one
// as soon as its previous answer came back, while the workers deliver.
//
// It prints one machine-readable line per run on stdout:
//
//	store=sqlite redis=embedded n=2000 clients=8 conc=10 accepted_per_s=.. delivered_per_s=.. api_p50_ms=.. e2e_p99_ms=.. cpu_ms_per_msg=..
//
// accepted_per_s is N over the time from the first request to the last 202;
// delivered_per_s is N over the time from the first request to the last
// message's arrival at the sink. The CPU figure is the whole process's
// (HTTP clients, server, workers and sink) per message; the database's and
// Redis's are not in it (Redis's is redis_cpu_s, when it is a server).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/bench/benchkit"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/jobs"
)

type options struct {
	store, dsn  string
	redisAddr   string
	redisDB     int
	n, warmup   int
	clients     int
	concurrency int
	timeout     time.Duration
	logLevel    string
	cpuProfile  string
}

func main() {
	var o options
	flag.StringVar(&o.store, "db", "sqlite", "sqlite | mysql")
	flag.StringVar(&o.dsn, "dsn", "", "-db mysql: the DSN of an empty database, such as root@tcp(127.0.0.1:3306)/bench_contact")
	flag.StringVar(&o.redisAddr, "redis", "", "Redis address; empty: the platform's embedded in-process Redis")
	flag.IntVar(&o.redisDB, "redis-db", 0, "Redis database number; empty it before a run")
	flag.IntVar(&o.n, "n", 2000, "measured messages")
	flag.IntVar(&o.warmup, "warmup", 100, "messages sent and delivered before the measurement, not measured")
	flag.IntVar(&o.clients, "clients", 8, "concurrent HTTP clients")
	flag.IntVar(&o.concurrency, "concurrency", 10, "worker concurrency (queue.concurrency)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up when the messages have not all arrived by then")
	flag.StringVar(&o.logLevel, "log-level", "warn", "the kernel's log level")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contactbench:", err)
		os.Exit(1)
	}
}

func run(o options, out io.Writer) error {
	if o.n < 1 || o.clients < 1 || o.concurrency < 1 || o.warmup < 0 {
		return errors.New("-n, -clients and -concurrency must be at least 1, -warmup at least 0")
	}
	ctx := context.Background()
	sink, err := newSink()
	if err != nil {
		return err
	}
	defer sink.ln.Close()
	p, err := openPlatform(ctx, o)
	if err != nil {
		return err
	}
	defer p.close()
	api := &client{base: p.base, hc: &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}}}
	owner, err := setUp(api, sink.port())
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}

	// Warm-up: connections, statement caches, the workers' first polls.
	if _, _, err := post(api, owner, "warm", o.warmup, o.clients); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := sink.wait(int64(o.warmup), o.timeout); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	sink.reset()

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
	redisCPU0 := redisCPU(ctx, p.rdb)
	cpu0 := processCPU()
	start := time.Now()
	sent, apiLat, err := post(api, owner, "run", o.n, o.clients)
	if err != nil {
		pprof.StopCPUProfile()
		return err
	}
	accepted := time.Since(start)
	waitErr := sink.wait(int64(o.n), o.timeout)
	cpu := processCPU() - cpu0
	pprof.StopCPUProfile()
	redisCPU1 := redisCPU(ctx, p.rdb)
	arrived := sink.arrivals()

	var e2e []time.Duration
	var last time.Time
	for id, at := range arrived {
		if t0, ok := sent[id]; ok {
			e2e = append(e2e, at.Sub(t0))
		}
		if at.After(last) {
			last = at
		}
	}
	slices.Sort(apiLat)
	slices.Sort(e2e)
	got := len(arrived)
	line := fmt.Sprintf("store=%s redis=%s n=%d clients=%d conc=%d accepted_per_s=%.0f delivered_per_s=%.0f "+
		"api_p50_ms=%.2f api_p99_ms=%.2f e2e_p50_ms=%.1f e2e_p99_ms=%.1f accept_s=%.3f deliver_s=%.3f cpu_s=%.3f cpu_ms_per_msg=%.3f",
		o.store, p.redisLabel, o.n, o.clients, o.concurrency, float64(o.n)/accepted.Seconds(),
		float64(got)/last.Sub(start).Seconds(), ms(quantile(apiLat, 0.5)), ms(quantile(apiLat, 0.99)),
		ms(quantile(e2e, 0.5)), ms(quantile(e2e, 0.99)), accepted.Seconds(), last.Sub(start).Seconds(), cpu.Seconds(),
		cpu.Seconds()*1e3/float64(max(got, 1)))
	if redisCPU0 >= 0 && redisCPU1 >= 0 {
		line += fmt.Sprintf(" redis_cpu_s=%.3f", redisCPU1-redisCPU0)
	}
	if d := sink.duplicates.Load(); d > 0 {
		line += fmt.Sprintf(" duplicates=%d", d)
	}
	if waitErr != nil {
		line += fmt.Sprintf(" timeout=1 arrived=%d", got)
	}
	fmt.Fprintln(out, line)
	return waitErr
}

// platform is the served kernel.
type platform struct {
	base       string
	rdb        *redis.Client // nil on the embedded queue
	redisLabel string
	close      func()
}

const (
	adminEmail    = "admin@bench.local"
	adminPassword = "bench-password-0123"
)

// openPlatform builds the kernel the way cmd/platform does, serves its HTTP
// stack and starts what kernel.Run starts for the worker role.
func openPlatform(ctx context.Context, o options) (_ *platform, err error) {
	level := slog.LevelWarn
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var cleanups []func()
	p := &platform{redisLabel: "embedded", close: func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	dir, err := os.MkdirTemp("", "contactbench-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	yaml := []string{
		"data_dir: " + strconv.Quote(dir),
		"http: {addr: \"127.0.0.1:0\", access_log: false}",
		"log: {level: " + o.logLevel + ", format: text}",
		"queue: {concurrency: " + strconv.Itoa(o.concurrency) + "}",
		"bootstrap: {admin_email: " + adminEmail + ", admin_password: " + adminPassword + "}",
		// The sink never fails; a breaker would only add Redis round trips
		// to a failure path the run never takes.
		"modules: {contact: {log_fallback: \"false\"}}",
	}
	switch o.store {
	case "sqlite":
	case "mysql":
		if o.dsn == "" {
			return nil, errors.New("-db mysql needs -dsn")
		}
		yaml = append(yaml, "database: {driver: mysql, dsn: "+strconv.Quote(o.dsn)+", auto_migrate: \"true\"}")
	default:
		return nil, fmt.Errorf("-db must be sqlite or mysql, got %q", o.store)
	}
	if o.redisAddr != "" {
		p.rdb = redis.NewClient(&redis.Options{Addr: o.redisAddr, DB: o.redisDB})
		cleanups = append(cleanups, func() { p.rdb.Close() })
		yaml = append(yaml, fmt.Sprintf("redis: {addr: %q, db: %d}", o.redisAddr, o.redisDB))
		p.redisLabel = o.redisAddr + "/" + strconv.Itoa(o.redisDB)
	}
	k, err := benchkit.Kernel(ctx, dir, yaml, log)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, k.Close)
	sender, err := contact.New(k)
	if err != nil {
		return nil, err
	}
	if err := k.Register(jobs.New(k), sender); err != nil {
		return nil, err
	}
	if err := k.Prepare(ctx); err != nil {
		return nil, err
	}
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
	e, err := k.HTTP()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cleanups = append(cleanups, func() { _ = srv.Close() })
	p.base = "http://" + ln.Addr().String()
	return p, nil
}

// client calls the platform's API.
type client struct {
	base string
	hc   *http.Client
}

func (c *client) call(method, path, token string, body any, want int, out any, headers ...string) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (c *client) login(email, password string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := c.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password},
		http.StatusOK, &out)
	return out.AccessToken, err
}

// setUp makes a tenant with an owner and an SMTP provider at the sink,
// and returns the owner's access token.
func setUp(c *client, smtpPort int) (string, error) {
	root, err := c.login(adminEmail, adminPassword)
	if err != nil {
		return "", err
	}
	var tenant struct{ ID string }
	if err := c.call(http.MethodPost, "/api/v1/tenants", root, map[string]string{"name": "Bench", "slug": "bench"},
		http.StatusCreated, &tenant); err != nil {
		return "", err
	}
	const ownerEmail, ownerPassword = "owner@bench.local", "bench-owner-password-1"
	if err := c.call(http.MethodPost, "/api/v1/tenants/"+tenant.ID+"/users", root,
		map[string]string{"email": ownerEmail, "password": ownerPassword, "role": "owner"}, http.StatusCreated, nil); err != nil {
		return "", err
	}
	// Only a platform admin may let a provider reach loopback.
	if err := c.call(http.MethodPost, "/api/v1/contact/providers", root, map[string]any{"name": "sink", "channel": "email",
		"kind": "smtp", "allow_private": true, "credentials": map[string]string{"password": "unused"},
		"settings": map[string]any{"host": "127.0.0.1", "port": smtpPort, "tls": "none", "from": "bench@example.com"}},
		http.StatusCreated, nil, "X-Tenant-ID", tenant.ID); err != nil {
		return "", err
	}
	return c.login(ownerEmail, ownerPassword)
}

// post sends n messages from the given number of clients, each client
// sending its next one when the previous answer came back. It returns
// when each message was posted, by id, and each call's latency.
func post(c *client, token, tag string, n, clients int) (map[string]time.Time, []time.Duration, error) {
	var (
		mu   sync.Mutex
		sent = make(map[string]time.Time, n)
		lat  = make([]time.Duration, 0, n)
		next atomic.Int64
		wg   sync.WaitGroup
	)
	errc := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				var out struct{ ID string }
				t0 := time.Now()
				err := c.call(http.MethodPost, "/api/v1/contact/messages", token, map[string]any{"channel": "email",
					"to": fmt.Sprintf("rcpt-%s-%d@example.net", tag, i), "subject": "Order " + strconv.FormatInt(i, 10),
					"body": "Your order has shipped.\nThank you for shopping with us.",
					"html": "<p>Your order has shipped.</p><p>Thank you for shopping with us.</p>"},
					http.StatusAccepted, &out)
				if err != nil {
					errc <- err
					return
				}
				d := time.Since(t0)
				mu.Lock()
				sent[out.ID], lat = t0, append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	return sent, lat, <-errc
}

// sink is an SMTP server that accepts every message and notes when each
// arrived, by the platform's message id (the left part of its Message-ID).
type sink struct {
	ln         net.Listener
	mu         sync.Mutex
	arrived    map[string]time.Time
	count      atomic.Int64
	duplicates atomic.Int64
}

func newSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, arrived: map[string]time.Time{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.session(c)
		}
	}()
	return s, nil
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sink) session(nc net.Conn) {
	defer nc.Close()
	c := textproto.NewConn(nc)
	reply := func(line string) bool { return c.PrintfLine("%s", line) == nil }
	if !reply("220 sink ESMTP") {
		return
	}
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO":
			if !reply("250-sink") || !reply("250 8BITMIME") {
				return
			}
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 OK")
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			id, err := messageID(c.DotReader())
			if err != nil {
				return
			}
			s.arrive(id)
			reply("250 OK queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// messageID reads a message to its end and returns the local part of its
// Message-ID header.
func messageID(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Message-ID: <"); ok && id == "" {
			id, _, _ = strings.Cut(v, "@")
		}
	}
	return id, sc.Err()
}

func (s *sink) arrive(id string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.arrived[id]; ok {
		s.duplicates.Add(1) // delivery is at least once
		return
	}
	s.arrived[id] = now
	s.count.Add(1)
}

// wait waits until n distinct messages have arrived.
func (s *sink) wait(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.count.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages arrived within %s", s.count.Load(), n, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived = map[string]time.Time{}
	s.count.Store(0)
	s.duplicates.Store(0)
}

func (s *sink) arrivals() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrived
}

// redisCPU is the Redis server's user+system CPU seconds, or -1.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	if rdb == nil {
		return -1
	}
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return -1
	}
	total := 0.0
	for _, l := range strings.Fields(info) {
		if k, v, ok := strings.Cut(l, ":"); ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
