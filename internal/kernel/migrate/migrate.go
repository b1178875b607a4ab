// Package migrate applies versioned SQL migrations, one set per module and
// dialect, embedded in the binary. Files are named
// <dialect>/<version>_<name>.up.sql and .down.sql; the version is a number.
// Statements are separated by a semicolon at the end of a line.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is one module's migrations.
type Source struct {
	Module string
	FS     fs.FS
}

// Migration is one versioned step of one module.
type Migration struct {
	Module    string
	Version   int
	Name      string
	Up, Down  string
	AppliedAt *time.Time
}

// ID is module/version_name.
func (m Migration) ID() string { return fmt.Sprintf("%s/%04d_%s", m.Module, m.Version, m.Name) }

// Migrator applies the sources on one database.
type Migrator struct {
	db      *sql.DB
	dialect string
	sources []Source
}

// New returns a Migrator. Sources apply in the order given: the kernel first,
// then the modules in registration order.
func New(db *sql.DB, dialect string, sources ...Source) *Migrator {
	return &Migrator{db: db, dialect: dialect, sources: sources}
}

const table = "schema_migrations"

// ensureTable creates the bookkeeping table. applied_at keeps microseconds,
// because Down rolls back by the order of applying, and two deploys can
// fall within one second.
func (m *Migrator) ensureTable(ctx context.Context, c *sql.Conn) error {
	at := "DATETIME"
	if m.dialect == "mysql" {
		at = "DATETIME(6)"
	}
	q := `CREATE TABLE IF NOT EXISTS schema_migrations (
  module VARCHAR(64) NOT NULL,
  version INTEGER NOT NULL,
  name VARCHAR(255) NOT NULL,
  applied_at ` + at + ` NOT NULL,
  PRIMARY KEY (module, version))`
	_, err := c.ExecContext(ctx, q)
	return err
}

// load reads every migration of every source for the dialect.
func (m *Migrator) load() ([]Migration, error) {
	var all []Migration
	for _, s := range m.sources {
		if s.FS == nil {
			continue
		}
		entries, err := fs.ReadDir(s.FS, m.dialect)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", s.Module, err)
		}
		byVersion := map[int]*Migration{}
		seen := map[string]string{} // "<version>.<dir>" -> file name
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".sql") {
				continue // a README or .gitkeep beside the migrations
			}
			v, rest, dir, ok := parseName(name)
			if !ok {
				return nil, fmt.Errorf("migrate: %s: bad file name %q (want 0001_name.up.sql or 0001_name.down.sql)", s.Module, name)
			}
			key := fmt.Sprintf("%d.%s", v, dir)
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("migrate: %s: version %d has two %s files: %q and %q", s.Module, v, dir, other, name)
			}
			seen[key] = name
			body, err := fs.ReadFile(s.FS, path.Join(m.dialect, name))
			if err != nil {
				return nil, err
			}
			mg := byVersion[v]
			if mg == nil {
				mg = &Migration{Module: s.Module, Version: v, Name: rest}
				byVersion[v] = mg
			} else if mg.Name != rest {
				return nil, fmt.Errorf("migrate: %s: version %d is named both %q and %q (file %q)", s.Module, v, mg.Name, rest, name)
			}
			if dir == "up" {
				mg.Up = string(body)
			} else {
				mg.Down = string(body)
			}
		}
		var list []Migration
		for _, mg := range byVersion {
			if mg.Up == "" {
				return nil, fmt.Errorf("migrate: %s: version %d has no up file", s.Module, mg.Version)
			}
			list = append(list, *mg)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Version < list[j].Version })
		all = append(all, list...)
	}
	return all, nil
}

// parseName splits "0001_name.up.sql" into its version, name and direction.
func parseName(file string) (version int, name, dir string, ok bool) {
	base := strings.TrimSuffix(file, ".sql")
	switch {
	case strings.HasSuffix(base, ".up"):
		dir = "up"
	case strings.HasSuffix(base, ".down"):
		dir = "down"
	default:
		return 0, "", "", false
	}
	base = strings.TrimSuffix(base, "."+dir)
	num, name, found := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !found || err != nil || v <= 0 || name == "" || strings.ContainsAny(num, "+-") {
		return 0, "", "", false
	}
	return v, name, dir, true
}

// lock serialises migrators across processes. On SQLite each migration's
// write transaction is the lock (see begin); MariaDB gets a named lock on
// the connection.
func (m *Migrator) lock(ctx context.Context) (*sql.Conn, func(), error) {
	c, err := m.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if m.dialect == "mysql" {
		var got sql.NullInt64
		if err := c.QueryRowContext(ctx, "SELECT GET_LOCK('platform_migrate', 60)").Scan(&got); err != nil || got.Int64 != 1 {
			c.Close()
			if err == nil {
				err = errors.New("another process holds the migration lock")
			}
			return nil, nil, fmt.Errorf("migrate: lock: %w", err)
		}
		return c, func() {
			c.ExecContext(context.Background(), "SELECT RELEASE_LOCK('platform_migrate')")
			c.Close()
		}, nil
	}
	return c, func() { c.Close() }, nil
}

// Status lists every known migration with its applied time, if any.
func (m *Migrator) Status(ctx context.Context) ([]Migration, error) {
	c, unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.status(ctx, c)
}

func (m *Migrator) status(ctx context.Context, c *sql.Conn) ([]Migration, error) {
	if err := m.ensureTable(ctx, c); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	all, err := m.load()
	if err != nil {
		return nil, err
	}
	rows, err := c.QueryContext(ctx, "SELECT module, version, applied_at FROM "+table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]time.Time{}
	for rows.Next() {
		var mod string
		var v int
		var at time.Time
		if err := rows.Scan(&mod, &v, &at); err != nil {
			return nil, err
		}
		applied[fmt.Sprintf("%s/%d", mod, v)] = at
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range all {
		if at, ok := applied[fmt.Sprintf("%s/%d", all[i].Module, all[i].Version)]; ok {
			at := at.UTC()
			all[i].AppliedAt = &at
		}
	}
	return all, nil
}

// Pending counts migrations not yet applied.
func (m *Migrator) Pending(ctx context.Context) (int, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if s.AppliedAt == nil {
			n++
		}
	}
	return n, nil
}

// Up applies every pending migration and returns those it applied.
func (m *Migrator) Up(ctx context.Context) ([]Migration, error) {
	c, unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := m.status(ctx, c)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, mg := range st {
		if mg.AppliedAt != nil {
			continue
		}
		ran, err := m.apply(ctx, c, mg, mg.Up, true)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, mg)
		}
	}
	return done, nil
}

// Down rolls back the n most recently applied migrations.
func (m *Migrator) Down(ctx context.Context, n int) ([]Migration, error) {
	c, unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := m.status(ctx, c)
	if err != nil {
		return nil, err
	}
	var applied []Migration
	for _, mg := range st {
		if mg.AppliedAt != nil {
			applied = append(applied, mg)
		}
	}
	// Newest first: by applied time, then by position in the source order.
	pos := map[string]int{}
	for i, mg := range st {
		pos[mg.ID()] = i
	}
	sort.SliceStable(applied, func(i, j int) bool {
		ai, aj := applied[i].AppliedAt, applied[j].AppliedAt
		if !ai.Equal(*aj) {
			return ai.After(*aj)
		}
		return pos[applied[i].ID()] > pos[applied[j].ID()]
	})
	var done []Migration
	for i := 0; i < n && i < len(applied); i++ {
		mg := applied[i]
		if strings.TrimSpace(mg.Down) == "" {
			return done, fmt.Errorf("migrate: %s has no down migration", mg.ID())
		}
		ran, err := m.apply(ctx, c, mg, mg.Down, false)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, mg)
		}
	}
	return done, nil
}

// apply runs one migration and reports whether it did: another process may
// have done it since the status was read, so the check and the change are
// one step under the write lock. On SQLite the statements and the
// bookkeeping share a transaction. MariaDB commits DDL implicitly, so there
// each statement stands alone, the named lock keeps migrators apart, and a
// failed migration is reported with the statement that failed.
func (m *Migrator) apply(ctx context.Context, c *sql.Conn, mg Migration, body string, up bool) (bool, error) {
	tx, end, err := m.begin(ctx, c)
	if err != nil {
		return false, fmt.Errorf("migrate: %s: begin: %w", mg.ID(), err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE module = ? AND version = ?",
		mg.Module, mg.Version).Scan(&n); err != nil {
		end(false)
		return false, fmt.Errorf("migrate: %s: %w", mg.ID(), err)
	}
	if (n > 0) == up {
		return false, end(false)
	}
	for _, stmt := range Split(body) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			end(false)
			return false, fmt.Errorf("migrate: %s: %w\nstatement: %s", mg.ID(), err, stmt)
		}
	}
	if up {
		_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" (module, version, name, applied_at) VALUES (?, ?, ?, ?)",
			mg.Module, mg.Version, mg.Name, time.Now().UTC())
	} else {
		_, err = tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE module = ? AND version = ?", mg.Module, mg.Version)
	}
	if err != nil {
		end(false)
		return false, fmt.Errorf("migrate: %s: record: %w", mg.ID(), err)
	}
	if err := end(true); err != nil {
		return false, fmt.Errorf("migrate: %s: commit: %w", mg.ID(), err)
	}
	return true, nil
}

// execer is a transaction's handle.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// begin starts a transaction on c; end commits or rolls it back. SQLite
// gets BEGIN IMMEDIATE, which takes the write lock at once: a deferred
// transaction that reads and then writes fails with SQLITE_BUSY when
// another process wrote in between. It is said explicitly because the
// driver drops the DSN's _txlock when _time_format is set too.
func (m *Migrator) begin(ctx context.Context, c *sql.Conn) (execer, func(commit bool) error, error) {
	if m.dialect == "sqlite" {
		if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return nil, nil, err
		}
		return c, func(commit bool) error {
			stmt := "ROLLBACK"
			if commit {
				stmt = "COMMIT"
			}
			_, err := c.ExecContext(context.WithoutCancel(ctx), stmt)
			return err
		}, nil
	}
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	return tx, func(commit bool) error {
		if commit {
			return tx.Commit()
		}
		return tx.Rollback()
	}, nil
}

// Split cuts a script into statements at semicolons that end a line,
// skipping blank statements and lines that are only comments.
func Split(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			s := strings.TrimSpace(cur.String())
			s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
			if s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
