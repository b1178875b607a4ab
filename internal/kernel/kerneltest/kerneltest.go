// Package kerneltest starts a real kernel for tests, on the embedded default
// (SQLite in a temp dir, in-process Redis) or, when PLATFORM_TEST_DATABASE_DRIVER
// is mysql and PLATFORM_TEST_REDIS_ADDR is set, on the real MariaDB and
// Redis. A real service that cannot be reached fails the test: it is never
// skipped.
package kerneltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
)

// Env names.
const (
	EnvDriver = "PLATFORM_TEST_DATABASE_DRIVER" // sqlite (default) or mysql
	EnvDSN    = "PLATFORM_TEST_DATABASE_DSN"    // server DSN for mysql; default root@tcp(127.0.0.1:3306)/test
	EnvRedis  = "PLATFORM_TEST_REDIS_ADDR"      // empty: embedded
)

// AdminEmail and AdminPassword are the bootstrap admin of every test kernel.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "admin-password-123"
)

// Driver is the database driver the tests run on.
func Driver() string {
	if d := os.Getenv(EnvDriver); d != "" {
		return d
	}
	return "sqlite"
}

// RedisAddr is the real Redis the tests run on, or "" for the embedded one.
func RedisAddr() string { return os.Getenv(EnvRedis) }

// Config returns a configuration for a fresh, isolated kernel: a new SQLite
// file, or a new MariaDB database dropped when the test ends; the real Redis
// is flushed first.
func Config(t testing.TB) *config.Config {
	t.Helper()
	t.Setenv("PLATFORM_CONFIG", "")
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PLATFORM_") && !strings.HasPrefix(kv, "PLATFORM_TEST_") {
			k, _, _ := strings.Cut(kv, "=")
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Setenv("PLATFORM_DATA_DIR", dir)
	t.Setenv("PLATFORM_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("PLATFORM_BOOTSTRAP_ADMIN_EMAIL", AdminEmail)
	t.Setenv("PLATFORM_BOOTSTRAP_ADMIN_PASSWORD", AdminPassword)
	t.Setenv("PLATFORM_HTTP_ACCESS_LOG", "false")
	t.Setenv("PLATFORM_QUEUE_RELAY_INTERVAL", "50ms")
	t.Setenv("PLATFORM_QUEUE_POLL_INTERVAL", "50ms")
	if Driver() == "mysql" {
		t.Setenv("PLATFORM_DATABASE_DRIVER", "mysql")
		t.Setenv("PLATFORM_DATABASE_DSN", NewMySQLDatabase(t))
		t.Setenv("PLATFORM_DATABASE_AUTO_MIGRATE", "true")
	}
	if addr := RedisAddr(); addr != "" {
		n := ClaimRedisDB(t, addr)
		t.Setenv("PLATFORM_REDIS_ADDR", addr)
		t.Setenv("PLATFORM_REDIS_DB", strconv.Itoa(n))
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatalf("kerneltest: config: %v", err)
	}
	return cfg
}

// NewMySQLDatabase creates an empty database on the test server, dropped at
// cleanup, and returns its DSN.
func NewMySQLDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		base = "root@tcp(127.0.0.1:3306)/test"
	}
	c, err := mysqldrv.ParseDSN(base)
	if err != nil {
		t.Fatalf("kerneltest: %s: %v", EnvDSN, err)
	}
	admin, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatalf("kerneltest: mysql: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("kerneltest: MariaDB at %s cannot be reached: %v", c.Addr, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pt_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("kerneltest: create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("mysql", c.FormatDSN())
		if err == nil {
			a.Exec("DROP DATABASE IF EXISTS " + name)
			a.Close()
		}
	})
	c.DBName = name
	return c.FormatDSN()
}

// ClaimRedisDB reserves one of the logical databases 1-15 of the test Redis
// for this test, flushes it and releases it at cleanup, so that tests in
// parallel packages do not share queues. The claim is a key in database 0
// that expires, so a crashed test run frees its database by itself.
func ClaimRedisDB(t testing.TB, addr string) int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("kerneltest: Redis at %s cannot be reached: %v", addr, err)
	}
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			key := "kerneltest:claim:" + strconv.Itoa(n)
			ok, err := rdb.SetNX(ctx, key, hex.EncodeToString(token), 10*time.Minute).Result()
			if err != nil {
				rdb.Close()
				t.Fatalf("kerneltest: Redis at %s: %v", addr, err)
			}
			if !ok {
				continue
			}
			db := redis.NewClient(&redis.Options{Addr: addr, DB: n})
			err = db.FlushDB(ctx).Err()
			db.Close()
			if err != nil {
				rdb.Close()
				t.Fatalf("kerneltest: flush Redis db %d: %v", n, err)
			}
			t.Cleanup(func() {
				rdb.Del(context.Background(), key)
				rdb.Close()
			})
			return n
		}
		if time.Now().After(deadline) {
			rdb.Close()
			t.Fatalf("kerneltest: no free Redis database on %s for two minutes", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logger is a logger that writes to the test log only when -v is given.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// New starts a kernel with the given modules registered and prepared
// (migrated, admin bootstrapped). It is closed at cleanup.
func New(t testing.TB, mods ...kernel.Module) *kernel.Kernel {
	t.Helper()
	return NewWithConfig(t, Config(t), mods...)
}

// NewWithConfig is New with a configuration from Config, changed by the test.
func NewWithConfig(t testing.TB, cfg *config.Config, mods ...kernel.Module) *kernel.Kernel {
	t.Helper()
	ctx := context.Background()
	k, err := kernel.New(ctx, cfg, Logger(t))
	if err != nil {
		t.Fatalf("kerneltest: kernel: %v", err)
	}
	t.Cleanup(k.Close)
	if err := k.Register(mods...); err != nil {
		t.Fatalf("kerneltest: register: %v", err)
	}
	if err := k.Prepare(ctx); err != nil {
		t.Fatalf("kerneltest: prepare: %v", err)
	}
	return k
}

// Server serves the kernel's HTTP stack on a loopback port.
func Server(t testing.TB, k *kernel.Kernel) *httptest.Server {
	t.Helper()
	e, err := k.HTTP()
	if err != nil {
		t.Fatalf("kerneltest: http: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// StartQueue runs the relay, scheduler and workers until the test ends.
func StartQueue(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	ctx := context.Background()
	if err := k.Queue.StartRelay(ctx); err != nil {
		t.Fatalf("kerneltest: relay: %v", err)
	}
	if err := k.Queue.StartScheduler(ctx); err != nil {
		t.Fatalf("kerneltest: scheduler: %v", err)
	}
	if err := k.Queue.StartWorkers(ctx); err != nil {
		t.Fatalf("kerneltest: workers: %v", err)
	}
	t.Cleanup(k.Queue.Shutdown)
}

// FlushRedis empties database 0 of the test Redis. Prefer ClaimRedisDB,
// which isolates parallel tests.
func FlushRedis(t testing.TB, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("kerneltest: Redis at %s cannot be reached: %v", addr, err)
	}
}

// Eventually polls cond until it holds, and fails the test if it has not
// within limit, with cond's last detail. It is for work another goroutine
// or process finishes (a queued job, a delivery), never for timing it.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() (ok bool, detail string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %s", what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
