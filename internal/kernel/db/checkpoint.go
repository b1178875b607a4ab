package db

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SQLite copies the write-ahead log back into the database file in a
// checkpoint. By default the connection that commits past 1000 WAL pages
// runs it, inside its COMMIT: while it copies and syncs, that transaction
// still holds the writer slot and every other writer waits behind it, a
// stall of tens of milliseconds every few hundred writes. The platform's
// DSN turns that off (wal_autocheckpoint(0)) and this goroutine checkpoints
// instead, PASSIVE, on a connection of its own: in WAL mode a checkpoint
// runs beside the writer and readers, so nobody waits for it.

// checkpointEvery is how often the checkpointer looks at the log.
const checkpointEvery = 250 * time.Millisecond

func (d *DB) startCheckpoints(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := d.sql.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil && log != nil {
				log.Warn("db: checkpoint failed", "error", err)
			}
		}
	}()
	d.stopCheckpoints = func() { cancel(); wg.Wait() }
}
