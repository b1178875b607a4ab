package helpdesk

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// BenchmarkTicketList lists pages of 20 out of 10,000 tickets of a tenant
// (and 2,000 of another), each with two messages:
//
//	go test -run '^$' -bench TicketList ./internal/modules/helpdesk/
func BenchmarkTicketList(b *testing.B) {
	k, err := kernel.New(context.Background(), kerneltest.Config(b), kerneltest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(k.Close)
	m := New(k, nil)
	if err := k.Register(m); err != nil {
		b.Fatal(err)
	}
	if err := k.Prepare(context.Background()); err != nil {
		b.Fatal(err)
	}
	const tenant = "0193a000-0000-7000-8000-00000000000a"
	words := []string{"printer", "invoice", "password", "delivery", "refund", "crash", "login", "screen"}
	for _, tn := range []struct {
		id string
		n  int
	}{{tenant, 10000}, {"0193a000-0000-7000-8000-00000000000b", 2000}} {
		var ts []ticketRow
		var ms []messageRow
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range tn.n {
			at := start.Add(time.Duration(i) * time.Minute)
			t := ticketRow{ID: newID(), TenantID: tn.id, Subject: fmt.Sprintf("%s problem %d", words[i%len(words)], i),
				Status: Statuses[i%len(Statuses)], Priority: Priorities[i%len(Priorities)], Tags: `["vip"]`,
				RequesterID: newID(), Channel: "api", Version: 1, CreatedAt: at, UpdatedAt: at.Add(time.Duration(i%97) * time.Hour)}
			if i%3 == 0 {
				t.Tags = "[]"
			}
			ts = append(ts, t)
			for j := range 2 {
				ms = append(ms, messageRow{ID: newID(), TenantID: tn.id, TicketID: t.ID, AuthorKind: AuthorCustomer, AuthorID: t.RequesterID,
					Body: fmt.Sprintf("The %s does not work since %d, see case %d", words[(i+j+1)%len(words)], i%50, i), Internal: j == 1,
					CreatedAt: at})
			}
		}
		conn := k.DB.Conn(context.Background())
		if err := conn.CreateInBatches(ts, 500).Error; err != nil {
			b.Fatal(err)
		}
		if err := conn.CreateInBatches(ms, 500).Error; err != nil {
			b.Fatal(err)
		}
	}
	ctx := security.WithPrincipal(context.Background(), security.System(tenant))
	explain := "EXPLAIN QUERY PLAN "
	if k.DB.Dialect() == db.MySQL {
		explain = "EXPLAIN "
	}
	rows, err := k.DB.SQL().QueryContext(ctx, explain+"SELECT helpdesk_tickets.*, 0 AS score FROM helpdesk_tickets"+
		" WHERE helpdesk_tickets.tenant_id = ? AND helpdesk_tickets.status IN (?)"+
		" ORDER BY helpdesk_tickets.updated_at DESC, helpdesk_tickets.id DESC LIMIT 21", tenant, StatusOpen)
	if err != nil {
		b.Fatal(err)
	}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		_ = rows.Scan(ptrs...)
		line := ""
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			line += fmt.Sprintf("%s=%v ", cols[i], v)
		}
		b.Logf("plan (%s): %s", k.DB.Dialect(), line)
	}
	_ = rows.Close()
	for _, bc := range []struct{ name, query string }{
		{"status_updated", "status=open&sort=updated_at"},
		{"status_updated_page5", "status=open&sort=updated_at"},
		{"newest", ""},
		{"multi_filter", "status=new,open,pending&priority=high,urgent&tag=vip&assignee=none"},
		{"priority", "sort=priority"},
		{"search_word", "q=printer"},
		{"search_prefix", "q=deliv&sort=updated_at"},
		{"search_two_words", "q=login+case"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			vals, _ := url.ParseQuery(bc.query)
			if bc.name == "status_updated_page5" {
				for range 4 {
					p, err := m.ticketList(ctx, vals)
					if err != nil || p.Next == nil {
						b.Fatal(err)
					}
					vals.Set("cursor", *p.Next)
				}
			}
			for b.Loop() {
				p, err := m.ticketList(ctx, vals)
				if err != nil || len(p.Items) == 0 {
					b.Fatalf("%v, %d items", err, len(p.Items))
				}
			}
		})
	}
}
