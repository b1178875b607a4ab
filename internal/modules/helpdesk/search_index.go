package helpdesk

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/platform/platform/internal/kernel/db"
)

// searchIndexer keeps SQLite's full-text index in step with tickets and
// messages, a batch at a time.
//
// Writing to FTS5 inside every ticket's transaction doubled the cost of a
// create: each statement flushes FTS5's pending terms as a new segment
// (three of them with the 2- and 3-letter prefix indexes), which later
// merges rewrite, all under SQLite's one write lock. Instead, the store
// appends a new row's id to helpdesk_search_pending in the writing
// transaction, so nothing is lost on a crash, and the indexer moves
// pending rows into the index in batches: after a commit, in the
// background, and before any search, which therefore always sees every
// committed ticket and message. Updates and deletes of rows already indexed
// still go through triggers; a pending row is read as it is when indexed.
//
// The queue row is written by the store, not by an insert trigger (0006 had
// them, 0007 drops them): a statement that fires a trigger makes SQLite keep
// a statement journal of every page it touches, a tenth of a create's CPU.
// Every insert of a ticket or message goes through store.createTicket or
// store.addMessage.
//
// MariaDB needs none of this: its FULLTEXT indexes are on the tables.
type searchIndexer struct {
	db        *db.DB
	log       *slog.Logger
	scheduled atomic.Bool // a background drain is due
	draining  sync.Mutex  // one background drain at a time
}

const (
	// searchBatch is how many pending rows one indexing transaction takes
	// before a search; searchBackgroundBatch in the background, where a
	// smaller batch holds the write lock for less time while requests
	// wait for it.
	searchBatch           = 500
	searchBackgroundBatch = 32
	// searchDelay is how long the background drain waits after a commit,
	// so that it indexes the commits of that while in one batch: FTS5's
	// cost is mostly per statement, not per row. Searches do not wait for
	// it; they catch up first.
	searchDelay = 100 * time.Millisecond
	// searchMergePages bounds the segment merging after each batch, in a
	// statement (and write lock) of its own; FTS5 merges nothing by itself
	// (automerge 0, migration 0009), as its own merges grow with the index.
	searchMergePages = 16
)

func newSearchIndexer(d *db.DB, log *slog.Logger) *searchIndexer {
	if d == nil || d.Dialect() != db.SQLite {
		return nil
	}
	return &searchIndexer{db: d, log: log}
}

// What a queued row is.
const (
	searchTicket  = 0 // a ticket's subject
	searchMessage = 1 // a message
)

// queue queues a new ticket or message for the index, in the transaction in
// ctx, and a background drain after its commit. Nil-safe, for MariaDB.
func (ix *searchIndexer) queue(ctx context.Context, kind int, id string) error {
	if ix == nil {
		return nil
	}
	if err := ix.db.Conn(ctx).Exec("INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (?, ?)", kind, id).Error; err != nil {
		return err
	}
	db.AfterCommit(ctx, ix.kick)
	return nil
}

// kick schedules a background drain searchDelay from now, unless one is
// already scheduled: commits in between join its batches.
func (ix *searchIndexer) kick() {
	if ix.scheduled.CompareAndSwap(false, true) {
		time.AfterFunc(searchDelay, ix.drain)
	}
}

func (ix *searchIndexer) drain() {
	ix.draining.Lock()
	defer ix.draining.Unlock()
	ix.scheduled.Store(false) // a commit from now on schedules the next
	if err := ix.index(context.Background(), searchBackgroundBatch); err != nil && ix.log != nil {
		ix.log.Warn("helpdesk: search indexing failed; the next commit or search retries", "error", err)
	}
}

// catchUp indexes every pending row, a batch a transaction. Nil-safe.
func (ix *searchIndexer) catchUp(ctx context.Context) error {
	if ix == nil {
		return nil
	}
	return ix.index(ctx, searchBatch)
}

// index indexes every pending row, batch rows a transaction.
func (ix *searchIndexer) index(ctx context.Context, batch int) error {
	ctx = db.WithoutTx(ctx)
	for {
		var pending int
		if err := ix.db.Conn(ctx).Raw("SELECT COUNT(*) FROM (SELECT 1 FROM helpdesk_search_pending LIMIT 1)").
			Scan(&pending).Error; err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		if err := ix.db.InTx(ctx, func(ctx context.Context) error { return ix.indexBatch(ctx, batch) }); err != nil {
			return err
		}
		if err := ix.db.Conn(ctx).Exec("INSERT INTO helpdesk_search_fts (helpdesk_search_fts, rank) VALUES ('merge', ?)", searchMergePages).Error; err != nil {
			return err
		}
	}
}

// indexBatch moves up to batch pending rows into the index, in the
// transaction in ctx: a search document each (a ticket's subject or one
// message), its FTS5 row, and the pending rows gone. A row deleted since it
// was queued is skipped.
func (ix *searchIndexer) indexBatch(ctx context.Context, batch int) error {
	conn := ix.db.Conn(ctx)
	var hi, lo int64
	if err := conn.Raw("SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM helpdesk_search_pending ORDER BY id LIMIT ?)",
		batch).Scan(&hi).Error; err != nil || hi == 0 {
		return err
	}
	if err := conn.Raw("SELECT COALESCE(MAX(id), 0) FROM helpdesk_search_docs").Scan(&lo).Error; err != nil {
		return err
	}
	for _, q := range []string{
		"INSERT OR IGNORE INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal)" +
			" SELECT t.tenant_id, t.id, t.id, 0 FROM helpdesk_search_pending p JOIN helpdesk_tickets t ON t.id = p.source_id" +
			" WHERE p.id <= @hi AND p.kind = 0 ORDER BY p.id",
		"INSERT OR IGNORE INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal)" +
			" SELECT m.tenant_id, m.ticket_id, m.id, m.internal FROM helpdesk_search_pending p JOIN helpdesk_messages m ON m.id = p.source_id" +
			" WHERE p.id <= @hi AND p.kind = 1 ORDER BY p.id",
		"INSERT INTO helpdesk_search_fts (rowid, subject, body)" +
			" SELECT d.id, t.subject, '' FROM helpdesk_search_docs d JOIN helpdesk_tickets t ON t.id = d.source_id WHERE d.id > @lo",
		"INSERT INTO helpdesk_search_fts (rowid, subject, body)" +
			" SELECT d.id, '', m.body FROM helpdesk_search_docs d JOIN helpdesk_messages m ON m.id = d.source_id WHERE d.id > @lo",
		"DELETE FROM helpdesk_search_pending WHERE id <= @hi",
	} {
		if err := conn.Exec(q, map[string]any{"hi": hi, "lo": lo}).Error; err != nil {
			return err
		}
	}
	return nil
}
