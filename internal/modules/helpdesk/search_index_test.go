package helpdesk_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// On SQLite a new ticket or message is queued for the full-text index in
// its transaction and indexed in batches: in the background after the
// commit, and before every search, so that a search sees every committed
// row, as it was when indexed. MariaDB's FULLTEXT indexes need no queue.
func TestSearchIndexQueue(t *testing.T) {
	f := newFixture(t)
	if f.k.DB.Dialect() != db.SQLite {
		t.Log("MariaDB indexes in the writing transaction; nothing is queued there")
		return
	}
	conn := func() *gormConn { return &gormConn{f, t, context.Background()} }

	// The background drain empties the queue after a commit.
	walrus := f.open(t, f.agentA, "Walrus tusks", "w@x.test")
	kerneltest.Eventually(t, 10*time.Second, "the queue drained", func() (bool, string) {
		n := f.count(t, "helpdesk_search_pending")
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	if n := conn().scalar("SELECT COUNT(*) FROM helpdesk_search_docs WHERE ticket_id = ?", walrus.ID); n != 2 {
		t.Fatalf("walrus has %d search documents, want its subject and its message", n)
	}

	// Queued rows stay queued until a search (rows written here as the
	// store writes them, with their queue rows, but without the commit
	// hook that schedules the background drain); the search then finds
	// them as they are, skipping deleted ones, in batches of any size.
	const bulk = 1234
	conn().exec(func(tx *gormConn) {
		for i := range bulk {
			tx.copyTicket(walrus.ID, fmt.Sprintf("0193b000-0000-7000-8000-%012d", i), fmt.Sprintf("Narwhal %d", i))
		}
		tx.copyTicket(walrus.ID, "0193b000-0000-7000-9000-000000000001", "Okapi before renaming")
		tx.copyTicket(walrus.ID, "0193b000-0000-7000-9000-000000000002", "Quokka gone")
		tx.run("INSERT INTO helpdesk_messages (id, tenant_id, ticket_id, author_kind, author_id, body, internal, created_at)"+
			" SELECT '0193b000-0000-7000-9000-000000000003', tenant_id, id, 'agent', 'x', 'Platypus note', 1, created_at"+
			" FROM helpdesk_tickets WHERE id = ?", walrus.ID)
		tx.run("INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (1, '0193b000-0000-7000-9000-000000000003')")
		tx.run("UPDATE helpdesk_tickets SET subject = 'Okapi after renaming' WHERE id = '0193b000-0000-7000-9000-000000000001'")
		tx.run("DELETE FROM helpdesk_tickets WHERE id = '0193b000-0000-7000-9000-000000000002'")
	})
	if n := f.count(t, "helpdesk_search_pending"); n != bulk+3 {
		t.Fatalf("%d pending, want %d", n, bulk+3)
	}
	if got := f.list(t, f.agentA, "q=okapi"); !slices.Equal(got, []string{"0193b000-0000-7000-9000-000000000001"}) {
		t.Errorf("okapi: %v", got)
	}
	if n := f.count(t, "helpdesk_search_pending"); n != 0 {
		t.Fatalf("%d still pending after a search", n)
	}
	for q, want := range map[string]int{"narwhal": bulk, "renaming": 1, "before": 0, "quokka": 0, "platypus": 1, "walrus": 1} {
		if got := len(f.walk(t, f.agentA, "limit=100&q="+url.QueryEscape(q))); got != want {
			t.Errorf("agent %q: %d tickets, want %d", q, got, want)
		}
	}
	if got := f.list(t, f.custA, "q=platypus"); len(got) != 0 {
		t.Errorf("a customer finds a note queued before indexing: %v", got)
	}
	if docs, fts := conn().scalar("SELECT COUNT(*) FROM helpdesk_search_docs"),
		conn().scalar("SELECT COUNT(*) FROM helpdesk_search_fts"); docs != fts {
		t.Errorf("%d documents, %d FTS rows", docs, fts)
	}
}

// settleSearch brings SQLite's search index up to date, as any search does
// first, so that a snapshot of the tables is not taken while the background
// indexer moves rows.
func (f *fixture) settleSearch(t *testing.T) {
	t.Helper()
	f.list(t, f.ownerA, "q=settle")
}

// gormConn runs raw SQL for the queue test.
type gormConn struct {
	f   *fixture
	t   *testing.T
	ctx context.Context
}

func (g *gormConn) scalar(q string, args ...any) int64 {
	g.t.Helper()
	var n int64
	if err := g.f.k.DB.Conn(g.ctx).Raw(q, args...).Scan(&n).Error; err != nil {
		g.t.Fatal(err)
	}
	return n
}

func (g *gormConn) run(q string, args ...any) {
	g.t.Helper()
	if err := g.f.k.DB.Conn(g.ctx).Exec(q, args...).Error; err != nil {
		g.t.Fatal(err)
	}
}

// exec runs fn's statements in one transaction.
func (g *gormConn) exec(fn func(tx *gormConn)) {
	g.t.Helper()
	err := g.f.k.DB.InTx(g.ctx, func(ctx context.Context) error {
		fn(&gormConn{g.f, g.t, ctx})
		return nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
}

// copyTicket inserts a ticket like from, with id and subject, and queues it
// for the index as the store does.
func (g *gormConn) copyTicket(from, id, subject string) {
	g.run("INSERT INTO helpdesk_tickets (id, tenant_id, subject, status, priority, tags, requester_id, channel, version,"+
		" created_at, updated_at) SELECT ?, tenant_id, ?, status, priority, tags, requester_id, channel, 1, created_at, updated_at"+
		" FROM helpdesk_tickets WHERE id = ?", id, subject, from)
	g.run("INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (0, ?)", id)
}
