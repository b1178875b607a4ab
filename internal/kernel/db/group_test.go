package db_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/db"
)

// queueBehind holds the writer slot with a transaction that inserts name,
// starts the others, each a transaction in a goroutine of its own, one
// after the other once the previous one waits for the slot, and then lets
// the holder finish. It returns each transaction's error, in order.
func queueBehind(t *testing.T, d *db.DB, hold func(ctx context.Context) error, others ...func(ctx context.Context) error) []error {
	t.Helper()
	ctx := context.Background()
	errs := make([]error, 1+len(others))
	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[0] = d.InTx(ctx, func(ctx context.Context) error {
			close(held)
			<-release
			return hold(ctx)
		})
	}()
	<-held
	for i, fn := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[1+i] = fmt.Errorf("panic: %v", r)
				}
			}()
			errs[1+i] = d.InTx(ctx, fn)
		}()
		deadline := time.Now().Add(5 * time.Second)
		for d.Waiting() != int32(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("transaction %d never waited for the slot", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	wg.Wait()
	return errs
}

// insertName is a transaction's work: a counter row named name.
func insertName(d *db.DB, name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return d.Conn(ctx).Exec("INSERT INTO counters (name, n) VALUES (?, 1)", name).Error
	}
}

func names(t *testing.T, d *db.DB) map[string]int {
	t.Helper()
	var rows []counter
	if err := d.Conn(context.Background()).Table("counters").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Name] = r.N
	}
	return out
}

// TestGroupCommit: on SQLite, transactions that queue for the writer slot
// commit together, each in a savepoint of its own. A failing one leaves the
// others' work, and every caller finds its work committed when InTx
// returns, its AfterCommit hooks run after that commit.
func TestGroupCommit(t *testing.T) {
	d := open(t)
	if d.Dialect() != db.SQLite {
		t.Skip("group commit is SQLite's")
	}
	add := func(name string, then error) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if err := d.Conn(ctx).Exec("INSERT INTO counters (name, n) VALUES (?, 1)", name).Error; err != nil {
				return err
			}
			db.AfterCommit(ctx, func() {
				// After the commit, outside any transaction, the row is there.
				var n int64
				d.Conn(context.Background()).Table("counters").Where("name = ?", name).Count(&n)
				if n != 1 {
					t.Errorf("after %s's commit its row is not visible", name)
				}
			})
			return then
		}
	}
	boom := errors.New("boom")
	commits0, txs0 := d.GroupCommits()
	errs := queueBehind(t, d, add("a", nil), add("b", boom), add("c1", nil),
		func(ctx context.Context) error {
			// A later member sees the writes of those before it.
			var n int64
			if err := d.Conn(ctx).Table("counters").Where("name IN ?", []string{"a", "c1"}).Count(&n).Error; err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("the member sees %d of a and c1, want 2", n)
			}
			return add("d", nil)(ctx)
		})
	want := []error{nil, boom, nil, nil}
	for i := range want {
		if !errors.Is(errs[i], want[i]) {
			t.Fatalf("transaction %d: %v, want %v", i, errs[i], want[i])
		}
	}
	got := names(t, d)
	for _, n := range []string{"a", "c1", "d"} {
		if got[n] != 1 {
			t.Errorf("%s's row is missing: %v", n, got)
		}
	}
	if _, ok := got["b"]; ok {
		t.Errorf("the failed transaction's row is there: %v", got)
	}
	// b's failure committed a at once (a caller that fails on another's
	// unique key reads that row next); c and d went together.
	commits, txs := d.GroupCommits()
	if commits-commits0 != 2 || txs-txs0 != 3 {
		t.Errorf("%d commits of %d transactions, want 2 of 3", commits-commits0, txs-txs0)
	}

	// A unique key met in the group: the loser's error, the winner's row
	// readable outside any transaction once the loser's InTx returns.
	errs = queueBehind(t, d, add("e", nil), func(ctx context.Context) error {
		err := d.Conn(ctx).Exec("INSERT INTO counters (name, n) VALUES ('e', 2)").Error
		if !db.IsUniqueViolation(err) {
			return fmt.Errorf("want a unique violation, got %v", err)
		}
		return err
	})
	if errs[0] != nil || !db.IsUniqueViolation(errs[1]) {
		t.Fatalf("errors %v", errs)
	}
	if got := names(t, d); got["e"] != 1 {
		t.Fatalf("e = %d after the loser returned, want the winner's 1", got["e"])
	}
}

// TestGroupCommitBroken: when the shared transaction breaks, every member
// of the group gets an error and none of their writes stays; the next
// transaction starts a group of its own.
func TestGroupCommitBroken(t *testing.T) {
	d := open(t)
	if d.Dialect() != db.SQLite {
		t.Skip("group commit is SQLite's")
	}
	ins := func(name string) func(ctx context.Context) error { return insertName(d, name) }
	errs := queueBehind(t, d, ins("a"), func(ctx context.Context) error {
		if err := ins("b")(ctx); err != nil {
			return err
		}
		// What SQLite does to a transaction on an I/O error or an interrupt.
		return d.Conn(ctx).Exec("ROLLBACK").Error
	}, ins("c1"))
	if errs[0] == nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errors %v, want a's and b's, not c's", errs)
	}
	got := names(t, d)
	if _, ok := got["a"]; ok {
		t.Errorf("a's row stayed in a broken group: %v", got)
	}
	if _, ok := got["b"]; ok {
		t.Errorf("b's row stayed: %v", got)
	}
	if got["c1"] != 1 {
		t.Errorf("c's row is missing: %v", got)
	}
}

// TestGroupCommitPanic: a transaction that panics rolls back its own work,
// lets the others commit, and the slot is free afterwards.
func TestGroupCommitPanic(t *testing.T) {
	d := open(t)
	if d.Dialect() != db.SQLite {
		t.Skip("group commit is SQLite's")
	}
	ctx := context.Background()
	ins := func(name string) func(ctx context.Context) error { return insertName(d, name) }
	errs := queueBehind(t, d, ins("a"), func(ctx context.Context) error {
		if err := ins("b")(ctx); err != nil {
			return err
		}
		panic("boom")
	}, ins("c1"))
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errors %v, want only the panic", errs)
	}
	got := names(t, d)
	if _, ok := got["b"]; ok || got["a"] != 1 || got["c1"] != 1 {
		t.Fatalf("rows %v, want a and c", got)
	}
	if err := d.InTx(ctx, ins("d")); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

// TestWritesOutsideTxTakeTheSlot: on SQLite a write outside a transaction
// queues for the writer slot like a transaction (instead of polling for
// SQLite's lock beside the queue), and commits any open group first.
func TestWritesOutsideTxTakeTheSlot(t *testing.T) {
	d := open(t)
	if d.Dialect() != db.SQLite {
		t.Skip("the writer slot is SQLite's")
	}
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- d.InTx(ctx, func(ctx context.Context) error {
			close(held)
			<-release
			return d.Conn(ctx).Exec("UPDATE counters SET n = n + 1 WHERE name = 'c'").Error
		})
	}()
	<-held
	wrote := make(chan error, 1)
	go func() { wrote <- d.Conn(ctx).Exec("UPDATE counters SET n = n * 10 WHERE name = 'c'").Error }()
	deadline := time.Now().Add(5 * time.Second)
	for d.Waiting() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the write outside a transaction did not wait for the slot")
		}
		time.Sleep(time.Millisecond)
	}
	// A read does not wait.
	if got := names(t, d)["c"]; got != 0 {
		t.Fatalf("c = %d before the transaction, want 0", got)
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	// In order: the transaction's +1, then the write's *10.
	if got := names(t, d)["c"]; got != 10 {
		t.Fatalf("c = %d, want 10", got)
	}
}
