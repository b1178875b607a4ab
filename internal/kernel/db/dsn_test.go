package db_test

import (
	"context"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/platform/platform/internal/kernel/db"
)

func TestMySQLDSN(t *testing.T) {
	for _, tc := range []struct {
		in          string
		interpolate bool
		charset     string
	}{
		{"root@tcp(127.0.0.1:3306)/test", true, "utf8mb4"},
		{"u:p@tcp(db:3306)/app?charset=utf8mb4&interpolateParams=false", false, "utf8mb4"},
		{"u:p@tcp(db:3306)/app?interpolateParams=true", true, "utf8mb4"},
	} {
		out, err := db.MySQLDSN(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		c, err := mysqldrv.ParseDSN(out)
		if err != nil {
			t.Fatalf("%s -> %s: %v", tc.in, out, err)
		}
		if c.InterpolateParams != tc.interpolate || !c.ParseTime || c.Loc.String() != "UTC" ||
			c.Params["charset"] != tc.charset || c.Params["time_zone"] != "'+00:00'" {
			t.Errorf("%s -> %s", tc.in, out)
		}
	}
	if _, err := db.MySQLDSN("not a dsn"); err == nil || !strings.Contains(err.Error(), "database.dsn") {
		t.Errorf("a bad DSN: %v", err)
	}
}

// On MariaDB a query with arguments is one round trip: the driver
// interpolates them instead of preparing a statement on the server, running
// it and closing it. The session's prepare counter stays where it was.
func TestMySQLQueriesAreNotPrepared(t *testing.T) {
	d := open(t)
	if d.Dialect() != db.MySQL {
		t.Log("SQLite runs in the process; there is no round trip to save")
		return
	}
	err := d.InTx(context.Background(), func(ctx context.Context) error { // one connection
		prepares := func() int {
			var name string
			var n int
			if err := d.Conn(ctx).Raw("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").Row().Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := prepares()
		var c counter
		for range 3 {
			if err := d.Conn(ctx).Table("counters").Where("name = ? AND n >= ?", "c", 0).Take(&c).Error; err != nil {
				return err
			}
		}
		if after := prepares(); after != before {
			t.Errorf("Com_stmt_prepare went from %d to %d for three queries", before, after)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
