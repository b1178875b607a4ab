package helpdesk_test

import (
	"context"
	"testing"

	"github.com/platform/platform/internal/kernel/db"
)

// The helpdesk migrations go down, newest first, and up again on the dialect
// under test. Each change that adds tables lists them here.
func TestMigrationDownAndUp(t *testing.T) {
	f := newFixture(t)
	k, ctx := f.k, context.Background()
	tables := []string{"helpdesk_customers", "helpdesk_organizations", "helpdesk_tickets", "helpdesk_messages",
		"helpdesk_ticket_history",
		"helpdesk_groups", "helpdesk_group_members", "helpdesk_agents", "helpdesk_ticket_links", "helpdesk_ticket_followers",
		"helpdesk_macros", "helpdesk_canned_responses", "helpdesk_calendars", "helpdesk_sla_policies", "helpdesk_views",
		"helpdesk_attachments", "helpdesk_mail_ids", "helpdesk_inbound_secrets"}
	n := 8                           // helpdesk/0001 to 0005, the quoted text, the solved and the CSAT index
	if k.DB.Dialect() == db.SQLite { // MariaDB searches with FULLTEXT indexes instead
		tables = append(tables, "helpdesk_search_docs", "helpdesk_search_fts", "helpdesk_search_pending")
		n = 12 // and 0006-0009, the indexing queue, the index without prefix indexes, incremental merges, and 0010-0012
	}
	has := func(table string) bool { return k.DB.Conn(ctx).Migrator().HasTable(table) }
	done, err := k.Migrator().Down(ctx, n)
	if err != nil || len(done) != n || done[n-1].ID() != "helpdesk/0001_init" {
		t.Fatalf("down: %v, %v", done, err)
	}
	for _, tb := range tables {
		if has(tb) {
			t.Errorf("%s still there after down", tb)
		}
	}
	if done, err := k.Migrator().Up(ctx); err != nil || len(done) != n {
		t.Fatalf("up again: %v, %v", done, err)
	}
	for _, tb := range tables {
		if !has(tb) {
			t.Errorf("%s missing after up again", tb)
		}
	}
}
