package db

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// Group commit on SQLite.
//
// SQLite has one writer, and a commit costs more than most transactions'
// statements: it appends every page the transaction changed to the
// write-ahead log, two write calls a page. A ticket create changes about
// twenty pages (the ticket's table and nine indexes, its message, its
// history, ...), a quarter of its CPU went into COMMIT, and the next
// transaction changed most of the same pages again.
//
// So transactions that queue for the writer slot share one SQLite
// transaction: each runs inside a SAVEPOINT of its own, in turn, and the
// transaction commits when nobody waits for the slot any more (or after
// groupMax of them). Each caller returns once the whole group has committed,
// so nobody is told of a write that is not durable; a caller whose function
// fails rolls back to its savepoint and returns at once, and the others go
// on. Should the shared transaction break (an I/O error, which makes SQLite
// roll it all back), every member of the group gets the error and none of
// their writes stays.
//
// What members see: the writes of those before them in the group, as they
// would after those commits. Statements of a grouped transaction run on a
// context without its cancellation: interrupting a statement inside a
// transaction makes SQLite roll back the whole transaction, the others'
// work with it. A member's own code still sees its ctx cancelled.
//
// The slot is the order: it is a channel of one, so waiters get it in turn.
// Between members the slot is free and the SQLite transaction stays open;
// only the slot's holder touches the open group. A holder that leaves the
// group open makes sure a flusher is queued for the slot, which commits
// whatever group is open when its turn comes: a group never waits on a
// caller that gave up waiting.

// groupMax bounds the transactions in one commit.
const groupMax = 32

type group struct {
	tx      *gorm.DB     // the open transaction, on a context never cancelled
	members []chan error // those whose work is in tx, waiting for its commit
	broken  error        // the transaction failed; it is rolled back
}

// errGroupBroken wraps the failure of a shared transaction for its members.
var errGroupBroken = errors.New("db: the transaction was rolled back")

// takeSlot waits for the writer slot. It reports false when writerWait
// passed first: the caller then goes on without it.
func (d *DB) takeSlot(ctx context.Context) (bool, error) {
	select {
	case d.writer <- struct{}{}:
		return true, nil
	default:
	}
	d.waiting.Add(1)
	defer d.waiting.Add(-1)
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case d.writer <- struct{}{}:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

func (d *DB) giveSlot() { <-d.writer }

// acquireWriter takes the writer slot for a statement or transaction of
// its own: an open group is committed first. release gives the slot back.
func (d *DB) acquireWriter(ctx context.Context) (release func(), err error) {
	if d.writer == nil {
		return func() {}, nil
	}
	ok, err := d.takeSlot(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return func() {}, nil
	}
	if d.grp != nil {
		d.endGroup(d.grp)
	}
	return d.giveSlot, nil
}

// inGroup runs fn as a member of the open group, or of a new one.
func (d *DB) inGroup(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	ok, err := d.takeSlot(ctx)
	if err != nil {
		return err
	}
	if !ok { // past writerWait: a transaction of its own, on SQLite's lock
		return d.plainTx(ctx, fn, nil)
	}
	g := d.grp
	if g == nil {
		tx := d.gorm.WithContext(context.WithoutCancel(ctx)).Begin()
		if tx.Error != nil {
			d.giveSlot()
			return tx.Error
		}
		g = &group{tx: tx}
		d.grp = g
	}
	st := &txState{tx: g.tx.WithContext(context.WithoutCancel(ctx))}
	var done chan error
	finished, committed := false, false
	defer func() {
		if !finished { // fn panicked
			d.undo(g, st)
			d.endTurn(g, true)
		}
		st.rolledBack(committed)
	}()
	err = d.member(ctx, g, st, fn)
	if err == nil {
		done = make(chan error, 1)
		g.members = append(g.members, done)
	}
	finished = true
	d.endTurn(g, err != nil)
	if done == nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	committed = true
	for _, h := range st.after {
		h()
	}
	return nil
}

// member runs fn in a savepoint of the group's transaction; on failure it
// rolls back to the savepoint.
func (d *DB) member(ctx context.Context, g *group, st *txState, fn func(ctx context.Context) error) error {
	if err := st.tx.Exec("SAVEPOINT member").Error; err != nil {
		g.broken = err
		return err
	}
	if err := fn(context.WithValue(ctx, txKey{}, st)); err != nil {
		d.undo(g, st)
		return err
	}
	if err := st.tx.Exec("RELEASE member").Error; err != nil {
		g.broken = err
		return err
	}
	return nil
}

// undo rolls a member's work back to its savepoint. When that fails, the
// transaction is gone (SQLite rolled it back), and the group with it.
func (d *DB) undo(g *group, st *txState) {
	if g.broken != nil {
		return
	}
	if err := st.tx.Exec("ROLLBACK TO member").Error; err != nil {
		g.broken = err
		return
	}
	if err := st.tx.Exec("RELEASE member").Error; err != nil {
		g.broken = err
	}
}

// endTurn ends the slot holder's turn: it commits the group when nobody
// waits (or it is full, or broken), else leaves it open for the next holder
// and makes sure a flusher is queued. It gives the slot back.
//
// A holder whose work failed commits the others' at once: a caller that
// met a unique key of a row a member before it wrote reads that row next,
// outside any transaction, and must find it.
//
// Before it decides, a holder that sees nobody waiting yields the processor
// once, so that requests that are ready to run reach the slot and join the
// group: on one core (GOMAXPROCS=1) nobody else runs while it holds the
// slot, and groups would hold one transaction.
func (d *DB) endTurn(g *group, failed bool) {
	if !failed && g.broken == nil && len(g.members) > 0 && len(g.members) < groupMax && d.waiting.Load() == 0 {
		runtime.Gosched()
	}
	if failed || g.broken != nil || len(g.members) >= groupMax || d.waiting.Load() == 0 {
		d.endGroup(g)
	} else if d.flusher.CompareAndSwap(false, true) {
		go d.flush()
	}
	d.giveSlot()
}

// flush commits the open group once its turn for the slot comes. It does
// not count as a waiter: a holder that sees nobody else waiting commits
// itself.
func (d *DB) flush() {
	d.writer <- struct{}{}
	d.flusher.Store(false)
	if d.grp != nil {
		d.endGroup(d.grp)
	}
	d.giveSlot()
}

// endGroup commits the group (rolls it back when broken or empty) and
// tells its members. The caller holds the slot.
func (d *DB) endGroup(g *group) {
	d.grp = nil
	var err error
	switch {
	case g.broken != nil:
		_ = g.tx.Rollback()
		err = fmt.Errorf("%w: %w", errGroupBroken, g.broken)
	case len(g.members) == 0:
		err = g.tx.Rollback().Error
	default:
		err = g.tx.Commit().Error
		d.commits.Add(1)
		d.committed.Add(int64(len(g.members)))
	}
	for _, m := range g.members {
		m <- err
	}
}

// groupState is what DB keeps for group commit.
type groupState struct {
	grp     *group       // the open group; only the slot's holder touches it
	waiting atomic.Int32 // goroutines waiting for the slot
	flusher atomic.Bool  // a flusher is queued for the slot

	commits, committed atomic.Int64 // group commits, and transactions in them
}

// GroupCommits reports, on SQLite, how many commits the groups made and how
// many transactions they held; both 0 on MariaDB.
func (d *DB) GroupCommits() (commits, transactions int64) {
	return d.commits.Load(), d.committed.Load()
}
