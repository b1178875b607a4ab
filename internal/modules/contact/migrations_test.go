package contact_test

import (
	"context"
	"testing"
)

// The migration goes down and up again on the dialect under test.
func TestMigrationDownAndUp(t *testing.T) {
	k, _ := newKernel(t, testConfig(t, ""))
	ctx := context.Background()
	tables := []string{"contact_messages", "contact_message_events", "contact_providers", "contact_outbox"}
	has := func(table string) bool { return k.DB.Conn(ctx).Migrator().HasTable(table) }
	for _, tb := range tables {
		if !has(tb) {
			t.Fatalf("%s missing after up", tb)
		}
	}
	done, err := k.Migrator().Down(ctx, 1)
	if err != nil || len(done) != 1 || done[0].ID() != "contact/0001_init" {
		t.Fatalf("down: %v, %v", done, err)
	}
	for _, tb := range tables {
		if has(tb) {
			t.Errorf("%s still there after down", tb)
		}
	}
	if done, err := k.Migrator().Up(ctx); err != nil || len(done) != 1 {
		t.Fatalf("up again: %v, %v", done, err)
	}
	for _, tb := range tables {
		if !has(tb) {
			t.Errorf("%s missing after up again", tb)
		}
	}
}
