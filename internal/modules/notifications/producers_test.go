package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// The helpdesk's events become notifications for the ticket's assignee.
func TestHelpdeskEvents(t *testing.T) {
	f := newFixture(t)
	as := func(u user, role security.Role) context.Context {
		return security.WithPrincipal(context.Background(), &security.Principal{Kind: security.KindUser, ID: u.id,
			TenantID: f.ta, Role: role})
	}
	publish := func(t *testing.T, ctx context.Context, topic string, data map[string]any) {
		t.Helper()
		if err := f.bus.Publish(ctx, topic, data); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
	}
	ticket := "0190a000-0000-7000-8000-000000000001"
	titlesOf := func(u user) string { return titles(f.inbox(t, u, "").Items) }

	t.Run("assigned to someone else notifies them", func(t *testing.T) {
		publish(t, as(f.ownerA, security.RoleOwner), "helpdesk.ticket_assigned", map[string]any{"ticket_id": ticket,
			"assignee_id": f.agentA.id, "previous_assignee_id": nil, "group_id": nil, "by": "user:" + f.ownerA.id})
		items := f.inbox(t, f.agentA, "").Items
		if len(items) != 1 || items[0].Title != "A ticket was assigned to you" || items[0].Category != "helpdesk.ticket_assigned" ||
			items[0].Link != "/admin/helpdesk/tickets/"+ticket || items[0].Priority != "high" {
			t.Fatalf("agent's inbox: %+v", items)
		}
		var data map[string]string
		if err := json.Unmarshal(items[0].Data, &data); err != nil || data["ticket_id"] != ticket {
			t.Fatalf("data: %s", items[0].Data)
		}
	})

	t.Run("a redelivered event notifies once", func(t *testing.T) {
		msg := f.bus.Sent()[len(f.bus.Sent())-1]
		if err := f.m.HandleForTest(context.Background(), &msg); err != nil {
			t.Fatal(err)
		}
		if got := titlesOf(f.agentA); got != "[A ticket was assigned to you]" {
			t.Fatalf("after a redelivery: %s", got)
		}
	})

	t.Run("taking a ticket yourself notifies nobody", func(t *testing.T) {
		publish(t, as(f.agent2A, security.RoleAgent), "helpdesk.ticket_assigned", map[string]any{"ticket_id": ticket,
			"assignee_id": f.agent2A.id, "by": "user:" + f.agent2A.id})
		if got := titlesOf(f.agent2A); got != "" {
			t.Fatalf("self-assigned: %s", got)
		}
	})

	t.Run("a customer's reply notifies the assignee", func(t *testing.T) {
		publish(t, as(f.cA, security.RoleCustomer), "helpdesk.ticket_replied", map[string]any{"ticket_id": ticket,
			"message_id": "m1", "status": "open", "assignee_id": f.agentA.id})
		if got := titlesOf(f.agentA); got != "[The customer replied][A ticket was assigned to you]" {
			t.Fatalf("after the reply: %s", got)
		}
	})

	t.Run("notes and the staff's replies notify nobody", func(t *testing.T) {
		publish(t, as(f.agent2A, security.RoleAgent), "helpdesk.ticket_replied", map[string]any{"ticket_id": ticket,
			"message_id": "m2", "internal": true, "assignee_id": f.agentA.id})
		publish(t, as(f.agent2A, security.RoleAgent), "helpdesk.ticket_replied", map[string]any{"ticket_id": ticket,
			"message_id": "m3", "assignee_id": f.agentA.id})
		publish(t, as(f.cA, security.RoleCustomer), "helpdesk.ticket_replied", map[string]any{"ticket_id": ticket,
			"message_id": "m4"}) // unassigned
		if got := titlesOf(f.agentA); got != "[The customer replied][A ticket was assigned to you]" {
			t.Fatalf("after notes: %s", got)
		}
	})

	t.Run("an assignee who is gone is dropped, not retried", func(t *testing.T) {
		publish(t, as(f.ownerA, security.RoleOwner), "helpdesk.ticket_assigned", map[string]any{"ticket_id": ticket,
			"assignee_id": f.ownerB.id, "by": "user:" + f.ownerA.id})
		if got := titlesOf(f.ownerB); got != "" {
			t.Fatalf("another tenant's user: %s", got)
		}
	})
}

// The backoffice page sends to a role or to the whole tenant.
func TestSendPage(t *testing.T) {
	f := newFixture(t)
	b := kerneltest.NewBrowser(t, f.url)
	b.Login("owner@a.test", kerneltest.UserPassword)
	b.Get("/admin/notifications").Must(t, http.StatusOK, "Send a notification", `name="target"`)

	t.Run("a refused form sends nothing", func(t *testing.T) {
		p := b.Post("/admin/notifications", url.Values{"target": {"role"}, "role": {"agent"}, "title": {""},
			"link": {"javascript:x"}, "priority": {"normal"}})
		p.Must(t, http.StatusUnprocessableEntity, "Title is required", "javascript:x")
		if n := f.count(t, "notifications_messages"); n != 0 {
			t.Fatalf("a refused form stored %d", n)
		}
	})

	t.Run("without the CSRF token", func(t *testing.T) {
		p := b.Post("/admin/notifications", url.Values{"_csrf": {""}, "target": {"tenant"}, "title": {"x"}})
		if p.Status != http.StatusForbidden {
			t.Fatalf("no CSRF: %d", p.Status)
		}
	})

	t.Run("to a role", func(t *testing.T) {
		p := b.Post("/admin/notifications", url.Values{"target": {"role"}, "role": {"agent"}, "title": {"Agents, listen"},
			"priority": {"high"}})
		if p.Status != http.StatusSeeOther || p.Location() != "/admin/notifications?sent=2" {
			t.Fatalf("send: %d %s", p.Status, p.Location())
		}
		b.Get(p.Location()).Must(t, http.StatusOK, "The notification went to 2 people.")
		if got := titles(f.inbox(t, f.agentA, "").Items); got != "[Agents, listen]" {
			t.Fatalf("agent: %s", got)
		}
		if got := titles(f.inbox(t, f.cA, "").Items); got != "" {
			t.Fatalf("customer: %s", got)
		}
	})

	t.Run("to the tenant", func(t *testing.T) {
		p := b.Post("/admin/notifications", url.Values{"target": {"tenant"}, "title": {"Everyone"}, "priority": {"normal"}})
		if p.Location() != "/admin/notifications?sent=4" {
			t.Fatalf("send: %d %s", p.Status, p.Location())
		}
		if got := titles(f.inbox(t, f.cA, "").Items); got != "[Everyone]" {
			t.Fatalf("customer: %s", got)
		}
		if got := titles(f.inbox(t, f.ownerB, "").Items); got != "" {
			t.Fatalf("tenant B: %s", got)
		}
	})

	t.Run("an agent may not", func(t *testing.T) {
		a := kerneltest.NewBrowser(t, f.url)
		a.Login("agent@a.test", kerneltest.UserPassword)
		if p := a.Get("/admin/notifications"); p.Status != http.StatusForbidden {
			t.Fatalf("agent: %d", p.Status)
		}
	})
}
