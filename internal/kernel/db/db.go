// Package db opens the platform's database and carries transactions in the
// context, so that a store call made inside db.InTx joins the transaction
// without an extra parameter.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// DB is the platform's database handle. It is passed explicitly to stores;
// there is no global handle.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	// writer holds the right to begin a transaction on SQLite, which has
	// one writer at a time (every transaction takes the write lock at
	// BEGIN). Waiting here hands the lock over the moment a transaction
	// ends, in order; without it, transactions poll for SQLite's lock
	// (busy_timeout) with sleeps of up to 100 ms, and under load some wait
	// far longer than others while the lock lies idle.
	writer     chan struct{}
	groupState // group commit (group.go)
	// stopCheckpoints ends the SQLite checkpointer (checkpoint.go).
	stopCheckpoints func()
}

// Options configure Open.
type Options struct {
	Driver          string
	DSN             string // for sqlite: empty means <DataDir>/platform.db
	DataDir         string
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	Logger          *slog.Logger
}

// Open connects and checks the connection.
func Open(ctx context.Context, o Options) (*DB, error) {
	cfg := &gorm.Config{
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		TranslateError:         false,
	}
	var (
		g   *gorm.DB
		err error
	)
	switch o.Driver {
	case SQLite:
		dsn, derr := SQLiteDSN(o.DSN, o.DataDir)
		if derr != nil {
			return nil, derr
		}
		g, err = gorm.Open(sqlite.Open(dsn), cfg)
	case MySQL:
		dsn, derr := MySQLDSN(o.DSN)
		if derr != nil {
			return nil, derr
		}
		g, err = gorm.Open(mysql.New(mysql.Config{DSN: dsn}), cfg)
	default:
		return nil, fmt.Errorf("db: unknown driver %q", o.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", o.Driver, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	maxOpen, maxIdle := o.MaxOpenConns, o.MaxIdleConns
	if maxOpen == 0 {
		maxOpen = 25
		if o.Driver == SQLite {
			maxOpen = 8
		}
	}
	if maxIdle == 0 {
		maxIdle = maxOpen
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	if o.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("db: cannot reach %s database: %w", o.Driver, err)
	}
	d := &DB{gorm: g, sql: sqlDB, dialect: o.Driver}
	if o.Driver == SQLite {
		d.writer = make(chan struct{}, 1)
		if err := d.serializeWrites(g); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("db: register the writer slot: %w", err)
		}
		d.startCheckpoints(o.Logger)
	}
	return d, nil
}

// writerWait bounds the wait for the writer slot; past it a transaction
// begins anyway and waits on SQLite's own lock, as it would without the
// slot (for a transaction begun inside another, on a context without it).
const writerWait = 10 * time.Second

// SQLiteDSN builds the DSN for the embedded database. WAL lets readers run
// beside the writer, busy_timeout makes writers wait instead of failing, and
// _txlock=immediate takes the write lock at BEGIN so that two transactions
// that read then write cannot deadlock on the lock upgrade.
func SQLiteDSN(dsn, dataDir string) (string, error) {
	if dsn == "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return "", fmt.Errorf("db: create data dir %s: %w", dataDir, err)
		}
		dsn = "file:" + filepath.Join(dataDir, "platform.db")
	}
	if strings.Contains(dsn, "_pragma") || strings.Contains(dsn, "_txlock") {
		return dsn, nil // the operator knows best
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// No _time_format: the driver stops reading parameters after it, which
	// would drop _txlock; its default format is the same "sqlite" layout.
	return dsn + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate", nil
}

// MySQLDSN makes sure that times are parsed, stored in UTC and that the
// connection speaks utf8mb4.
func MySQLDSN(dsn string) (string, error) {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("db: database.dsn: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	if _, ok := c.Params["charset"]; !ok {
		c.Params["charset"] = "utf8mb4"
	}
	c.Params["time_zone"] = "'+00:00'"
	if c.Collation == "" {
		c.Collation = "utf8mb4_unicode_ci"
	}
	// Without it the driver prepares every statement with arguments on the
	// server, then runs and closes it: three round trips a query where one
	// does. Interpolation is safe with utf8mb4 (the driver refuses it for
	// the multi-byte charsets where it is not) and honours
	// NO_BACKSLASH_ESCAPES. A DSN may still turn it off.
	if !strings.Contains(dsn, "interpolateParams=") {
		c.InterpolateParams = true
	}
	return c.FormatDSN(), nil
}

// Dialect is SQLite or MySQL.
func (d *DB) Dialect() string { return d.dialect }

// SQL is the underlying pool, for migrations, metrics and health checks.
func (d *DB) SQL() *sql.DB { return d.sql }

// Close closes the pool.
func (d *DB) Close() error {
	if d.stopCheckpoints != nil {
		d.stopCheckpoints()
	}
	return d.sql.Close()
}

// Ping checks the connection.
func (d *DB) Ping(ctx context.Context) error { return d.sql.PingContext(ctx) }

type txKey struct{}

type txState struct {
	tx         *gorm.DB
	after      []func()
	onRollback []func()
}

// rolledBack runs the AfterRollback hooks, unless the transaction
// committed.
func (st *txState) rolledBack(committed bool) {
	if committed {
		return
	}
	for _, h := range st.onRollback {
		h()
	}
}

// Conn is the handle to run queries on: the transaction in ctx when there is
// one, the pool otherwise.
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return d.gorm.WithContext(ctx)
}

// InTx runs fn in a transaction carried by the ctx passed to fn. A nested
// call joins the outer transaction. Hooks registered with AfterCommit run
// once the outermost transaction has committed, and never after a rollback.
func (d *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.inTx(ctx, fn, nil)
}

func (d *DB) inTx(ctx context.Context, fn func(ctx context.Context) error, opts *sql.TxOptions) error {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx)
	}
	if d.writer != nil {
		return d.inGroup(ctx, fn)
	}
	return d.plainTx(ctx, fn, opts)
}

// plainTx runs fn in a transaction of its own.
func (d *DB) plainTx(ctx context.Context, fn func(ctx context.Context) error, opts *sql.TxOptions) error {
	st := &txState{}
	var o []*sql.TxOptions
	if opts != nil {
		o = append(o, opts)
	}
	committed := false
	defer func() { st.rolledBack(committed) }() // also when fn panics
	err := d.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st.tx = tx
		return fn(context.WithValue(ctx, txKey{}, st))
	}, o...)
	if err != nil {
		return err
	}
	committed = true
	for _, h := range st.after {
		h()
	}
	return nil
}

// InTxReadCommitted is InTx at READ COMMITTED on MySQL, for a claim that
// locks the rows it takes (FOR UPDATE SKIP LOCKED) and nothing else: under
// REPEATABLE READ its scan also locks the gaps between index entries, and
// a transaction that inserts meanwhile deadlocks with it. SQLite, which
// has one writer at a time, runs it as InTx. A nested call joins the
// outer transaction at its level.
func (d *DB) InTxReadCommitted(ctx context.Context, fn func(ctx context.Context) error) error {
	if d.dialect != MySQL {
		return d.inTx(ctx, fn, nil)
	}
	return d.inTx(ctx, fn, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
}

// WithoutTx is ctx without its transaction: queries on it run on the pool,
// outside the caller's transaction and its locks.
func WithoutTx(ctx context.Context) context.Context {
	return context.WithValue(ctx, txKey{}, nil)
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// AfterCommit runs fn after the transaction in ctx commits, or at once when
// ctx carries none. It is the point for side effects such as waking the
// outbox relay.
func AfterCommit(ctx context.Context, fn func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.after = append(st.after, fn)
		return
	}
	fn()
}

// AfterRollback runs fn if the transaction in ctx does not commit: fn, or
// a caller's fn it is nested in, fails or panics, or the commit fails. It
// never runs when ctx carries no transaction. It is the point to give back
// what was taken outside the database for the transaction's sake, such as
// a count in Redis.
func AfterRollback(ctx context.Context, fn func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.onRollback = append(st.onRollback, fn)
	}
}

// ErrNotFound is what stores return for a missing row, whichever driver.
var ErrNotFound = errors.New("db: not found")

// IsNotFound reports whether err is a missing row.
func IsNotFound(err error) bool {
	return errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, ErrNotFound) || errors.Is(err, sql.ErrNoRows)
}

// IsUniqueViolation reports whether err is a duplicate key on either driver.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
