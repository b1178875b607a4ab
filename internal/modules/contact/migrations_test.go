package contact_test

import (
	"context"
	"strings"
	"testing"
)

// The contact migrations go down, every one, and up again on the dialect
// under test.
func TestMigrationDownAndUp(t *testing.T) {
	k, _ := newKernel(t, testConfig(t, ""))
	ctx := context.Background()
	tables := []string{"contact_messages", "contact_message_events", "contact_providers", "contact_outbox", "contact_templates"}
	has := func(table string) bool { return k.DB.Conn(ctx).Migrator().HasTable(table) }
	for _, tb := range tables {
		if !has(tb) {
			t.Fatalf("%s missing after up", tb)
		}
	}
	st, err := k.Migrator().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mg := range st {
		if strings.HasPrefix(mg.ID(), "contact/") {
			n++
		}
	}
	done, err := k.Migrator().Down(ctx, n)
	if err != nil || len(done) != n || done[n-1].ID() != "contact/0001_init" {
		t.Fatalf("down: %v, %v", done, err)
	}
	for _, mg := range done {
		if !strings.HasPrefix(mg.ID(), "contact/") {
			t.Fatalf("down went past the contact migrations: %v", done)
		}
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
