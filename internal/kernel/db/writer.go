package db

import (
	"errors"
	"strings"

	"gorm.io/gorm"
)

// A write outside a transaction takes the writer slot too (SQLite only).
//
// Between the members of a group (group.go) the slot is free while the
// group's transaction still holds SQLite's write lock. A statement that
// asked SQLite for the lock without the slot would poll for it in SQLite's
// busy handler (sleeps of 1, 2, 5, 10, ... 100 ms) until the group
// commits, and under a steady stream of transactions it could lose for a
// long time. Taking the slot puts it in the queue in turn, and commits an
// open group first. The statements: an API key's last use, ledger updates
// on the pool, the search indexer's merges, ...

const writerSetting = "platform:writer_release"

// serializeWrites registers gorm callbacks that hold the writer slot around
// every write statement run outside a transaction.
func (d *DB) serializeWrites(g *gorm.DB) error {
	take := func(writes func(*gorm.DB) bool) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if tx.Error != nil || inGormTx(tx) || !writes(tx) {
				return
			}
			release, err := d.acquireWriter(tx.Statement.Context)
			if err != nil {
				_ = tx.AddError(err)
				return
			}
			tx.InstanceSet(writerSetting, release)
		}
	}
	give := func(tx *gorm.DB) {
		if r, ok := tx.InstanceGet(writerSetting); ok {
			r.(func())()
		}
	}
	always := func(*gorm.DB) bool { return true }
	const taker, giver = "platform:writer_take", "platform:writer_give"
	cb := g.Callback()
	// Taken just before the statement and given back just after it, so that
	// the statements gorm nests around it (associations) take it themselves.
	return errors.Join(
		cb.Create().Before("gorm:create").Register(taker, take(always)),
		cb.Create().After("gorm:create").Register(giver, give),
		cb.Update().Before("gorm:update").Register(taker, take(always)),
		cb.Update().After("gorm:update").Register(giver, give),
		cb.Delete().Before("gorm:delete").Register(taker, take(always)),
		cb.Delete().After("gorm:delete").Register(giver, give),
		cb.Raw().Before("gorm:raw").Register(taker, take(writesSQL)), // Exec
		cb.Raw().After("gorm:raw").Register(giver, give),
		cb.Row().Before("gorm:row").Register(taker, take(writesSQL)), // Raw(...).Scan, Row, Rows
		cb.Row().After("gorm:row").Register(giver, give),
	)
}

// inGormTx reports whether the statement runs in a transaction, which
// already holds the slot.
func inGormTx(tx *gorm.DB) bool {
	_, ok := tx.Statement.ConnPool.(gorm.TxCommitter)
	return ok
}

// writesSQL reports whether a statement given as SQL (Exec, Raw) may write:
// anything but a SELECT, a read-only WITH, PRAGMA or EXPLAIN. A statement
// gorm builds itself at this point has no SQL yet: for Row that is a
// SELECT.
func writesSQL(tx *gorm.DB) bool {
	s := strings.TrimLeft(tx.Statement.SQL.String(), " \t\r\n(")
	if s == "" {
		return false
	}
	if len(s) > 7 {
		s = s[:7]
	}
	switch strings.ToUpper(strings.TrimRight(s, " \t\r\n(")) {
	case "SELECT", "WITH", "PRAGMA", "EXPLAIN", "VALUES":
		return false
	}
	return true
}
