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
// anything but a SELECT, a WITH whose statement is a SELECT, PRAGMA or
// EXPLAIN. A statement gorm builds itself at this point has no SQL yet:
// for Row that is a SELECT.
func writesSQL(tx *gorm.DB) bool {
	return sqlWrites(tx.Statement.SQL.String())
}

func sqlWrites(sql string) bool {
	s := strings.TrimLeft(sql, " \t\r\n(")
	if s == "" {
		return false
	}
	switch strings.ToUpper(firstWord(s)) {
	case "SELECT", "PRAGMA", "EXPLAIN", "VALUES":
		return false
	case "WITH":
		return cteWrites(s)
	}
	return true
}

func firstWord(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
	if end < 0 {
		return s
	}
	return s[:end]
}

func isWordRune(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// cteWrites reports whether a statement that starts with WITH writes: the
// common table expressions are in parentheses, so a word outside them,
// and outside quotes and comments, that starts a write is the statement's.
func cteWrites(s string) bool {
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return true // unterminated: assume the worst
			}
			i += end + 2
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				return false
			}
			i += end + 1
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return true
			}
			i += end + 4
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case isWordRune(rune(c)):
			w := firstWord(s[i:])
			if depth == 0 {
				switch strings.ToUpper(w) {
				case "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE":
					return true
				case "SELECT", "VALUES":
					return false
				}
			}
			i += len(w)
		default:
			i++
		}
	}
	return false
}
