package migrate_test

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/migrate"
	"github.com/platform/platform/migrations"
)

// dialects are the databases the tests run on: SQLite always, MariaDB too
// when the tests run against the real services.
func dialects() []string {
	if kerneltest.Driver() == db.MySQL {
		return []string{db.SQLite, db.MySQL}
	}
	return []string{db.SQLite}
}

// target is one fresh, empty database.
type target struct {
	dialect string
	dataDir string // sqlite
	dsn     string // mysql
}

func newTarget(t *testing.T, dialect string) target {
	t.Helper()
	if dialect == db.MySQL {
		return target{dialect: dialect, dsn: kerneltest.NewMySQLDatabase(t)}
	}
	return target{dialect: dialect, dataDir: t.TempDir()}
}

// open returns a new pool on the target, as a separate process would have.
func (tg target) open(t *testing.T) *sql.DB {
	t.Helper()
	d, err := db.Open(context.Background(), db.Options{Driver: tg.dialect, DSN: tg.dsn, DataDir: tg.dataDir, Logger: kerneltest.Logger(t)})
	if err != nil {
		t.Fatalf("open %s: %v", tg.dialect, err)
	}
	t.Cleanup(func() { d.Close() })
	return d.SQL()
}

func tables(t *testing.T, conn *sql.DB, dialect string) []string {
	t.Helper()
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if dialect == db.MySQL {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	}
	rows, err := conn.Query(q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// files builds a source folder: name -> SQL, under every dialect.
func files(m map[string]string) fstest.MapFS {
	fs := fstest.MapFS{}
	for name, body := range m {
		for _, d := range []string{db.SQLite, db.MySQL} {
			fs[d+"/"+name] = &fstest.MapFile{Data: []byte(body)}
		}
	}
	return fs
}

func ids(ms []migrate.Migration) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID()
	}
	return out
}

func applied(ms []migrate.Migration) []string {
	var out []string
	for _, m := range ms {
		if m.AppliedAt != nil {
			out = append(out, m.ID())
		}
	}
	return out
}

func createDrop(table string) (string, string) {
	return "CREATE TABLE " + table + " (id INTEGER NOT NULL PRIMARY KEY);\n", "DROP TABLE " + table + ";\n"
}

func kernelAndShop() []migrate.Source {
	ua, da := createDrop("k_a")
	ub, db_ := createDrop("k_b")
	uc, dc := createDrop("k_c")
	uo, do := createDrop("shop_orders")
	return []migrate.Source{
		{Module: "kernel", FS: files(map[string]string{
			"0001_a.up.sql": ua, "0001_a.down.sql": da,
			"2_b.up.sql": ub + "INSERT INTO k_b (id) VALUES (1);\n", "2_b.down.sql": db_,
			// 10 sorts after 2 as a number, not as text.
			"10_c.up.sql": uc, "10_c.down.sql": dc,
			"README.md": "not a migration",
		})},
		{Module: "shop", FS: files(map[string]string{"0001_orders.up.sql": uo, "0001_orders.down.sql": do})},
		{Module: "empty", FS: nil},
		{Module: "nosql", FS: fstest.MapFS{"other/0001_x.up.sql": {Data: []byte("SELECT 1;")}}},
	}
}

func TestUpStatusDown(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			conn := newTarget(t, dialect).open(t)
			m := migrate.New(conn, dialect, kernelAndShop()...)
			all := []string{"kernel/0001_a", "kernel/0002_b", "kernel/0010_c", "shop/0001_orders"}

			st, err := m.Status(ctx)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			if got := ids(st); !reflect.DeepEqual(got, all) {
				t.Fatalf("status lists %v, want %v", got, all)
			}
			if got := applied(st); len(got) != 0 {
				t.Fatalf("applied before up: %v", got)
			}
			if n, err := m.Pending(ctx); err != nil || n != 4 {
				t.Fatalf("pending = %d, %v; want 4", n, err)
			}

			done, err := m.Up(ctx)
			if err != nil {
				t.Fatalf("up: %v", err)
			}
			if got := ids(done); !reflect.DeepEqual(got, all) {
				t.Fatalf("up applied %v, want %v", got, all)
			}
			if got, want := tables(t, conn, dialect), []string{"k_a", "k_b", "k_c", "schema_migrations", "shop_orders"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("tables = %v, want %v", got, want)
			}
			var n int
			if err := conn.QueryRow("SELECT COUNT(*) FROM k_b").Scan(&n); err != nil || n != 1 {
				t.Fatalf("the second statement of 2_b did not run: %d, %v", n, err)
			}

			// Up again is a no-op.
			done, err = m.Up(ctx)
			if err != nil || len(done) != 0 {
				t.Fatalf("second up applied %v, %v", ids(done), err)
			}
			st, _ = m.Status(ctx)
			if got := applied(st); !reflect.DeepEqual(got, all) {
				t.Fatalf("applied = %v, want %v", got, all)
			}
			if n, _ := m.Pending(ctx); n != 0 {
				t.Fatalf("pending after up = %d", n)
			}

			// Down rolls back the last one only.
			done, err = m.Down(ctx, 1)
			if err != nil {
				t.Fatalf("down: %v", err)
			}
			if got := ids(done); !reflect.DeepEqual(got, []string{"shop/0001_orders"}) {
				t.Fatalf("down 1 rolled back %v", got)
			}
			if got, want := tables(t, conn, dialect), []string{"k_a", "k_b", "k_c", "schema_migrations"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("tables after down 1 = %v, want %v", got, want)
			}
			st, _ = m.Status(ctx)
			if got := applied(st); !reflect.DeepEqual(got, all[:3]) {
				t.Fatalf("applied after down 1 = %v", got)
			}

			done, err = m.Up(ctx)
			if err != nil || !reflect.DeepEqual(ids(done), []string{"shop/0001_orders"}) {
				t.Fatalf("up after down applied %v, %v", ids(done), err)
			}
			done, err = m.Down(ctx, 2)
			if err != nil || !reflect.DeepEqual(ids(done), []string{"shop/0001_orders", "kernel/0010_c"}) {
				t.Fatalf("down 2 rolled back %v, %v", ids(done), err)
			}
			done, err = m.Down(ctx, 10)
			if err != nil || !reflect.DeepEqual(ids(done), []string{"kernel/0002_b", "kernel/0001_a"}) {
				t.Fatalf("down 10 rolled back %v, %v", ids(done), err)
			}
			if got := tables(t, conn, dialect); !reflect.DeepEqual(got, []string{"schema_migrations"}) {
				t.Fatalf("tables after rolling back everything = %v", got)
			}
			if done, err := m.Down(ctx, 1); err != nil || len(done) != 0 {
				t.Fatalf("down with nothing applied: %v, %v", ids(done), err)
			}
		})
	}
}

// A migration added to the kernel after a module's was applied is the most
// recent one, and the first to roll back, however soon it follows.
func TestDownFollowsTheOrderOfApplying(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			conn := newTarget(t, dialect).open(t)
			ua, da := createDrop("k_a")
			ub, db_ := createDrop("k_b")
			uo, do := createDrop("shop_orders")
			shop := migrate.Source{Module: "shop", FS: files(map[string]string{"0001_orders.up.sql": uo, "0001_orders.down.sql": do})}
			v1 := migrate.New(conn, dialect,
				migrate.Source{Module: "kernel", FS: files(map[string]string{"0001_a.up.sql": ua, "0001_a.down.sql": da})}, shop)
			if _, err := v1.Up(ctx); err != nil {
				t.Fatalf("up v1: %v", err)
			}
			v2 := migrate.New(conn, dialect,
				migrate.Source{Module: "kernel", FS: files(map[string]string{"0001_a.up.sql": ua, "0001_a.down.sql": da,
					"0002_b.up.sql": ub, "0002_b.down.sql": db_})}, shop)
			done, err := v2.Up(ctx)
			if err != nil || !reflect.DeepEqual(ids(done), []string{"kernel/0002_b"}) {
				t.Fatalf("up v2 applied %v, %v", ids(done), err)
			}
			done, err = v2.Down(ctx, 1)
			if err != nil || !reflect.DeepEqual(ids(done), []string{"kernel/0002_b"}) {
				t.Fatalf("down 1 rolled back %v, %v; want the newest, kernel/0002_b", ids(done), err)
			}
		})
	}
}

func TestFailedMigrationStopsAndNamesTheStatement(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			conn := newTarget(t, dialect).open(t)
			ua, da := createDrop("k_a")
			m := migrate.New(conn, dialect, migrate.Source{Module: "kernel", FS: files(map[string]string{
				"0001_a.up.sql": ua, "0001_a.down.sql": da,
				"0002_bad.up.sql": "CREATE TABLE k_half (id INTEGER NOT NULL PRIMARY KEY);\nCREATE TABEL k_oops (id INTEGER);\n",
				"0003_c.up.sql":   "CREATE TABLE k_c (id INTEGER NOT NULL PRIMARY KEY);\n",
			})})
			done, err := m.Up(ctx)
			if err == nil {
				t.Fatalf("up of a broken migration succeeded")
			}
			if !strings.Contains(err.Error(), "kernel/0002_bad") || !strings.Contains(err.Error(), "CREATE TABEL k_oops") {
				t.Errorf("error %q does not name the migration and the statement", err)
			}
			if got := ids(done); !reflect.DeepEqual(got, []string{"kernel/0001_a"}) {
				t.Errorf("applied %v before the failure, want kernel/0001_a", got)
			}
			st, err := m.Status(ctx)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			if got := applied(st); !reflect.DeepEqual(got, []string{"kernel/0001_a"}) {
				t.Errorf("recorded as applied: %v", got)
			}
			got := tables(t, conn, dialect)
			if slices.Contains(got, "k_c") {
				t.Errorf("the migration after the failed one ran: %v", got)
			}
			// SQLite runs DDL in the transaction: nothing of 0002 stays.
			if dialect == db.SQLite && slices.Contains(got, "k_half") {
				t.Errorf("the failed migration's first statement stayed: %v", got)
			}
		})
	}
}

func TestDownWithoutDownFileFails(t *testing.T) {
	ctx := context.Background()
	conn := newTarget(t, db.SQLite).open(t)
	ua, da := createDrop("k_a")
	ub, _ := createDrop("k_b")
	m := migrate.New(conn, db.SQLite, migrate.Source{Module: "kernel", FS: files(map[string]string{
		"0001_a.up.sql": ua, "0001_a.down.sql": da, "0002_b.up.sql": ub,
	})})
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	done, err := m.Down(ctx, 2)
	if err == nil || !strings.Contains(err.Error(), "kernel/0002_b has no down migration") {
		t.Fatalf("down: %v, want an error naming kernel/0002_b", err)
	}
	if len(done) != 0 {
		t.Fatalf("rolled back %v past a missing down file", ids(done))
	}
	if n, _ := m.Pending(ctx); n != 0 {
		t.Fatalf("pending after the refused down = %d", n)
	}
}

func TestBadFileNamesAreRejected(t *testing.T) {
	up := "CREATE TABLE k_a (id INTEGER);\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string // in the error
	}{
		{"no version", map[string]string{"init.up.sql": up}, `"init.up.sql"`},
		{"version not a number", map[string]string{"v1_init.up.sql": up}, `"v1_init.up.sql"`},
		{"version zero", map[string]string{"0000_init.up.sql": up}, `"0000_init.up.sql"`},
		{"negative version", map[string]string{"-1_init.up.sql": up}, `"-1_init.up.sql"`},
		{"no name", map[string]string{"0001_.up.sql": up}, `"0001_.up.sql"`},
		{"no direction", map[string]string{"0001_init.sql": up}, `"0001_init.sql"`},
		{"unknown direction", map[string]string{"0001_init.sideways.sql": up}, `"0001_init.sideways.sql"`},
		{"down without up", map[string]string{"0001_init.down.sql": "DROP TABLE k_a;"}, "version 1 has no up file"},
		{"two names for one version", map[string]string{"0001_a.up.sql": up, "0001_b.up.sql": up}, "0001_b"},
		{"up and down disagree", map[string]string{"0001_a.up.sql": up, "0001_b.down.sql": up}, "0001_b.down.sql"},
		{"same version twice", map[string]string{"1_a.up.sql": up, "0001_a.up.sql": up}, "version 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			conn := newTarget(t, db.SQLite).open(t)
			m := migrate.New(conn, db.SQLite, migrate.Source{Module: "shop", FS: files(tc.files)})
			_, err := m.Up(ctx)
			if err == nil {
				t.Fatalf("up accepted %v", tc.files)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "shop") {
				t.Errorf("error %q should name the module and %s", err, tc.want)
			}
			if _, err := m.Status(ctx); err == nil {
				t.Errorf("status accepted %v", tc.files)
			}
			if got := tables(t, conn, db.SQLite); slices.Contains(got, "k_a") {
				t.Errorf("a rejected set was partly applied: %v", got)
			}
		})
	}
}

// Several processes starting at once apply each migration once.
func TestConcurrentUpAppliesEachMigrationOnce(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			tg := newTarget(t, dialect)
			const procs = 4
			conns := make([]*sql.DB, procs)
			for i := range conns {
				conns[i] = tg.open(t)
			}
			var wg sync.WaitGroup
			results := make([][]migrate.Migration, procs)
			errs := make([]error, procs)
			for i := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = migrate.New(conns[i], dialect, kernelAndShop()...).Up(ctx)
				}()
			}
			wg.Wait()
			var all []string
			for i := range procs {
				if errs[i] != nil {
					t.Errorf("migrator %d: %v", i, errs[i])
				}
				all = append(all, ids(results[i])...)
			}
			slices.Sort(all)
			want := []string{"kernel/0001_a", "kernel/0002_b", "kernel/0010_c", "shop/0001_orders"}
			if !reflect.DeepEqual(all, want) {
				t.Errorf("applied across migrators: %v, want each of %v once", all, want)
			}
			var n int
			if err := conns[0].QueryRow("SELECT COUNT(*) FROM k_b").Scan(&n); err != nil || n != 1 {
				t.Errorf("k_b has %d rows (%v), want 1", n, err)
			}
		})
	}
}

// The kernel's own migrations go up, all the way down, and up again.
func TestKernelMigrationsRoundTrip(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			conn := newTarget(t, dialect).open(t)
			m := migrate.New(conn, dialect, migrate.Source{Module: "kernel", FS: migrations.For("kernel")})
			done, err := m.Up(ctx)
			if err != nil || len(done) == 0 {
				t.Fatalf("up: %v, %v", ids(done), err)
			}
			got := tables(t, conn, dialect)
			for _, want := range []string{"kernel_jobs", "kernel_schedules", "kernel_tenants", "kernel_users"} {
				if !slices.Contains(got, want) {
					t.Errorf("table %s missing after up: %v", want, got)
				}
			}
			if _, err := m.Down(ctx, len(done)); err != nil {
				t.Fatalf("down: %v", err)
			}
			if got := tables(t, conn, dialect); !reflect.DeepEqual(got, []string{"schema_migrations"}) {
				t.Errorf("tables left after down: %v", got)
			}
			if again, err := m.Up(ctx); err != nil || len(again) != len(done) {
				t.Fatalf("up again: %v, %v", ids(again), err)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		name   string
		script string
		want   []string
	}{
		{"empty", "", nil},
		{"only blanks and comments", "\n  \n-- a comment;\n   -- another\n", nil},
		{"one statement", "CREATE TABLE a (id INT);", []string{"CREATE TABLE a (id INT)"}},
		{"no final semicolon", "SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"multi-line statement", "CREATE TABLE a (\n  id INT,\n  name TEXT\n);\n", []string{"CREATE TABLE a (\n  id INT,\n  name TEXT\n)"}},
		{"semicolon inside a line does not split", "INSERT INTO a VALUES ('x;y');\n", []string{"INSERT INTO a VALUES ('x;y')"}},
		{"semicolon mid-line stays with its statement", "SELECT 1; SELECT 2;\n", []string{"SELECT 1; SELECT 2"}},
		{"comments between statements", "-- first\nSELECT 1;\n\n-- second\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"indented comment inside a statement", "CREATE TABLE a (\n  -- the key\n  id INT\n);", []string{"CREATE TABLE a (\n  id INT\n)"}},
		{"CRLF line ends", "SELECT 1;\r\nSELECT 2;\r\n", []string{"SELECT 1", "SELECT 2"}},
		{"trailing spaces after the semicolon", "SELECT 1;   \nSELECT 2;\t\n", []string{"SELECT 1", "SELECT 2"}},
		{"lone semicolons", ";\n;\nSELECT 1;\n", []string{"SELECT 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := migrate.Split(tc.script); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Split(%q) = %q, want %q", tc.script, got, tc.want)
			}
		})
	}
}

func TestMigrationID(t *testing.T) {
	if got := (migrate.Migration{Module: "shop", Version: 7, Name: "add_index"}).ID(); got != "shop/0007_add_index" {
		t.Fatalf("ID = %q", got)
	}
}
