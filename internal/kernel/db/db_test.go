package db_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

func open(t *testing.T) *db.DB {
	t.Helper()
	cfg := kerneltest.Config(t)
	d, err := db.Open(context.Background(), db.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Conn(context.Background()).Exec("CREATE TABLE counters (name VARCHAR(20) NOT NULL PRIMARY KEY, n INTEGER NOT NULL)").Error; err != nil {
		t.Fatal(err)
	}
	if err := d.Conn(context.Background()).Exec("INSERT INTO counters (name, n) VALUES ('c', 0)").Error; err != nil {
		t.Fatal(err)
	}
	return d
}

type counter struct {
	Name string `gorm:"primaryKey"`
	N    int
}

// TestReadThenWriteUnderConcurrency runs transactions that read a row and
// then write it back, from many goroutines at once. On SQLite this only
// works when BEGIN takes the write lock (_txlock=immediate): with a
// deferred BEGIN two readers deadlock on the upgrade and one fails with
// "database is locked". On MariaDB the row lock keeps updates from being
// lost.
func TestReadThenWriteUnderConcurrency(t *testing.T) {
	d := open(t)
	const workers = 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.InTx(context.Background(), func(ctx context.Context) error {
				var c counter
				if err := d.Conn(ctx).Table("counters").Clauses(clause.Locking{Strength: "UPDATE"}).
					Where("name = ?", "c").Take(&c).Error; err != nil {
					return err
				}
				return d.Conn(ctx).Table("counters").Where("name = ?", "c").Update("n", c.N+1).Error
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	var c counter
	if err := d.Conn(context.Background()).Table("counters").Where("name = ?", "c").Take(&c).Error; err != nil {
		t.Fatal(err)
	}
	if c.N != workers {
		t.Fatalf("counter = %d after %d increments: updates were lost", c.N, workers)
	}
}

// TestInTxJoinsAndRunsHooksAfterCommit checks that a nested InTx joins the
// outer transaction, that after-commit hooks run once the outer one commits,
// and never after a rollback.
func TestInTxJoinsAndRunsHooksAfterCommit(t *testing.T) {
	d := open(t)
	ctx := context.Background()
	var ran []string
	errBoom := errors.New("boom")
	err := d.InTx(ctx, func(ctx context.Context) error {
		if !db.InTx(ctx) {
			t.Fatal("no transaction in ctx")
		}
		return d.InTx(ctx, func(ctx context.Context) error {
			db.AfterCommit(ctx, func() { ran = append(ran, "rolled back") })
			if err := d.Conn(ctx).Exec("UPDATE counters SET n = 99").Error; err != nil {
				return err
			}
			return errBoom
		})
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if len(ran) != 0 {
		t.Fatalf("a hook ran after a rollback: %v", ran)
	}
	var c counter
	d.Conn(ctx).Table("counters").Take(&c)
	if c.N != 0 {
		t.Fatalf("the rolled-back write stayed: n = %d", c.N)
	}
	err = d.InTx(ctx, func(ctx context.Context) error {
		db.AfterCommit(ctx, func() { ran = append(ran, "committed") })
		if len(ran) != 0 {
			t.Fatal("a hook ran before commit")
		}
		return d.Conn(ctx).Exec("UPDATE counters SET n = 1").Error
	})
	if err != nil || len(ran) != 1 || ran[0] != "committed" {
		t.Fatalf("err = %v, hooks = %v", err, ran)
	}
	// Outside a transaction a hook runs at once.
	db.AfterCommit(ctx, func() { ran = append(ran, "now") })
	if len(ran) != 2 {
		t.Fatalf("hook outside a transaction did not run at once: %v", ran)
	}
}

// AfterRollback hooks run when the transaction does not commit, whichever
// way it ends: an error of a nested call, a panic, or a failing member of a
// group among others that commit. They never run after a commit, nor
// without a transaction.
func TestAfterRollbackRunsOnlyWhenNothingCommits(t *testing.T) {
	d := open(t)
	ctx := context.Background()
	var mu sync.Mutex
	var ran []string
	hook := func(ctx context.Context, name string) {
		db.AfterRollback(ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, name)
		})
	}
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := ran
		ran = nil
		return out
	}
	errBoom := errors.New("boom")

	err := d.InTx(ctx, func(ctx context.Context) error {
		if err := d.InTx(ctx, func(ctx context.Context) error {
			hook(ctx, "nested")
			return d.Conn(ctx).Exec("UPDATE counters SET n = 5").Error
		}); err != nil {
			return err
		}
		if got := took(); len(got) != 0 {
			t.Errorf("a hook ran before the outer transaction ended: %v", got)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if got := took(); len(got) != 1 || got[0] != "nested" {
		t.Fatalf("after a rollback the hooks ran %v, want [nested]", got)
	}

	func() {
		defer func() { _ = recover() }()
		_ = d.InTx(ctx, func(ctx context.Context) error {
			hook(ctx, "panicked")
			panic("boom")
		})
	}()
	if got := took(); len(got) != 1 || got[0] != "panicked" {
		t.Fatalf("after a panic the hooks ran %v, want [panicked]", got)
	}

	if err := d.InTx(ctx, func(ctx context.Context) error {
		hook(ctx, "committed")
		return d.Conn(ctx).Exec("UPDATE counters SET n = 6").Error
	}); err != nil {
		t.Fatal(err)
	}
	hook(ctx, "no transaction")
	if got := took(); len(got) != 0 {
		t.Fatalf("hooks ran after a commit or without a transaction: %v", got)
	}

	// Members of one group (SQLite) or transactions of their own: only the
	// failing ones' hooks run.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.InTx(ctx, func(ctx context.Context) error {
				hook(ctx, fmt.Sprint(i))
				if err := d.Conn(ctx).Exec("UPDATE counters SET n = n + 1").Error; err != nil {
					return err
				}
				if i%2 == 1 {
					return errBoom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	got := took()
	sort.Strings(got)
	want := []string{"1", "11", "13", "15", "17", "19", "3", "5", "7", "9"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the hooks that ran: %v, want the failing members' %v", got, want)
	}
	var c counter
	d.Conn(ctx).Table("counters").Take(&c)
	if c.N != 16 {
		t.Fatalf("n = %d, want 6 + the 10 members that committed", c.N)
	}
}

func TestUniqueViolationIsRecognised(t *testing.T) {
	d := open(t)
	err := d.Conn(context.Background()).Exec("INSERT INTO counters (name, n) VALUES ('c', 1)").Error
	if !db.IsUniqueViolation(err) {
		t.Fatalf("duplicate key not recognised: %v", err)
	}
	if db.IsUniqueViolation(errors.New("other")) || db.IsUniqueViolation(nil) {
		t.Fatal("a non-duplicate error was taken for one")
	}
}

// TestWriterSlot checks what the SQLite writer slot must not break: a
// transaction that panics gives the slot back, and a transaction whose
// context ends while it waits for another one returns the context's error
// and writes nothing. On MariaDB there is no slot and both hold trivially.
func TestWriterSlot(t *testing.T) {
	d := open(t)
	ctx := context.Background()
	func() {
		defer func() { _ = recover() }()
		_ = d.InTx(ctx, func(ctx context.Context) error { panic("boom") })
	}()
	if err := d.InTx(ctx, func(ctx context.Context) error {
		return d.Conn(ctx).Exec("UPDATE counters SET n = 1").Error
	}); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
	if d.Dialect() != db.SQLite {
		return
	}
	hold, done := make(chan struct{}), make(chan struct{})
	go func() {
		_ = d.InTx(ctx, func(ctx context.Context) error {
			close(hold)
			<-done
			return nil
		})
	}()
	<-hold
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := d.InTx(cctx, func(ctx context.Context) error {
		return d.Conn(ctx).Exec("UPDATE counters SET n = 2").Error
	})
	close(done)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var c counter
	d.Conn(ctx).Table("counters").Take(&c)
	if c.N != 1 {
		t.Fatalf("n = %d, want 1", c.N)
	}
}
