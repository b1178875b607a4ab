package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// On SQLite no commit checkpoints the write-ahead log (wal_autocheckpoint
// is 0 on every connection); the background checkpointer copies it into
// the database file, so the file grows with the data while nothing but
// the checkpointer could have written it.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	cfg := kerneltest.Config(t)
	if cfg.Database.Driver != db.SQLite {
		t.Log("MariaDB has no write-ahead log to checkpoint")
		return
	}
	d := open(t)
	ctx := context.Background()
	var auto int
	if err := d.Conn(ctx).Raw("PRAGMA wal_autocheckpoint").Scan(&auto).Error; err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	var file string
	if err := d.Conn(ctx).Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file).Error; err != nil || file == "" {
		t.Fatalf("database file %q: %v", file, err)
	}
	size := func() int64 {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	pad := strings.Repeat("x", 1000)
	for i := range 2000 { // ~2 MB, some 500 pages
		if err := d.Conn(ctx).Exec("INSERT INTO counters (name, n) VALUES (?, ?)", fmt.Sprintf("k%05d%s", i, pad[:10]), i).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Conn(ctx).Exec("CREATE TABLE blobs (b TEXT)").Error; err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if err := d.Conn(ctx).Exec("INSERT INTO blobs (b) VALUES (?)", pad+pad+pad).Error; err != nil {
			t.Fatal(err)
		}
	}
	kerneltest.Eventually(t, 10*time.Second, "the database file to take the log's pages", func() (bool, string) {
		s := size()
		return s > before+1<<20, fmt.Sprintf("%s: %d bytes, %d before", filepath.Base(file), s, before)
	})
}
