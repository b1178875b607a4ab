package db_test

import (
	"testing"

	"github.com/platform/platform/internal/kernel/db"
)

func TestWhichRawStatementsWrite(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                             false,
		"  (SELECT a FROM t) UNION SELECT b":   false,
		"select * from t for update":           false,
		"PRAGMA wal_checkpoint(PASSIVE)":       false,
		"EXPLAIN QUERY PLAN SELECT 1":          false,
		"VALUES (1), (2)":                      false,
		"UPDATE t SET n = n + 1":               true,
		"insert into t values (1)":             true,
		"DELETE FROM t":                        true,
		"REPLACE INTO t VALUES (1)":            true,
		"CREATE TABLE x (a)":                   true,
		"":                                     false,
		"WITH x AS (SELECT 1) SELECT * FROM x": false,
		"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT n FROM c":                     false,
		"WITH stale AS (SELECT id FROM jobs WHERE at < ?) UPDATE jobs SET state = 'x' WHERE id IN (SELECT id FROM stale)": true,
		"with d as (select id from t) delete from t where id in (select id from d)":                                       true,
		"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x":                                                              true,
		// Words in quotes, comments and the common table expressions are
		// not the statement's.
		"WITH \"update\" AS (SELECT 'delete') SELECT * FROM \"update\"": false,
		"WITH x AS (SELECT 1) -- then UPDATE\nSELECT * FROM x":          false,
		"WITH x AS (SELECT 1) /* DELETE */ SELECT * FROM x":             false,
		"WITH x AS (SELECT 'it''s') SELECT * FROM x":                    false,
		"WITH x AS (SELECT 1) /* unterminated":                          true,
	} {
		if got := db.SQLWrites(sql); got != want {
			t.Errorf("SQLWrites(%q) = %v, want %v", sql, got, want)
		}
	}
}
