package main

// End-to-end test of the modules as cmd/platform wires them: a helpdesk
// assignment and a customer's reply, published through the jobs module,
// become notifications in the assignee's inbox.

import (
	"net/http"
	"testing"
	"time"
)

func TestHelpdeskNotifiesTheAssignee(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			mustRun(t, b, "migrate", "up")
			p, c, admin := serveAsAdmin(t, b, "serve")
			defer p.stop()
			tenant := c.CreateTenant(admin, "Desk", "desk")
			owner := c.CreateUser(admin, tenant, "owner@desk.test", "owner")
			agent := c.CreateUser(admin, tenant, "agent@desk.test", "agent")
			customer := c.CreateUser(admin, tenant, "customer@desk.test", "customer")
			var me struct{ ID string }
			getJSON(t, c, agent, "/api/v1/auth/me", &me)

			res := c.Do(http.MethodPost, "/api/v1/helpdesk/tickets", customer,
				map[string]any{"subject": "Printer on fire", "message": "Help"})
			if res.Status != http.StatusCreated {
				t.Fatalf("ticket: %d %s", res.Status, res.Body)
			}
			var tk struct {
				ID      string
				Version int
			}
			res.Decode(t, &tk)
			res = c.Do(http.MethodPatch, "/api/v1/helpdesk/tickets/"+tk.ID, owner,
				map[string]any{"version": tk.Version, "assignee_id": me.ID})
			if res.Status != http.StatusOK {
				t.Fatalf("assign: %d %s", res.Status, res.Body)
			}
			res = c.Do(http.MethodPost, "/api/v1/helpdesk/tickets/"+tk.ID+"/messages", customer, map[string]any{"body": "Still burning"})
			if res.Status != http.StatusCreated {
				t.Fatalf("reply: %d %s", res.Status, res.Body)
			}
			var inbox struct {
				Items []struct{ Title, Category, Link string }
			}
			pollUntil(t, jobsLimit, 100*time.Millisecond, "the assignee's notifications", func() (bool, string) {
				getJSON(t, c, agent, "/api/v1/notifications", &inbox)
				return len(inbox.Items) == 2, ""
			})
			// The two events are delivered by jobs of their own, in either order.
			got := map[string]bool{}
			for _, it := range inbox.Items {
				got[it.Category] = it.Link == "/admin/helpdesk/tickets/"+tk.ID
			}
			if !got["helpdesk.ticket_assigned"] || !got["helpdesk.ticket_replied"] {
				t.Fatalf("inbox: %+v", inbox.Items)
			}
			var count struct{ Count int }
			getJSON(t, c, agent, "/api/v1/notifications/unread-count", &count)
			if count.Count != 2 {
				t.Fatalf("unread count %d", count.Count)
			}
			getJSON(t, c, owner, "/api/v1/notifications", &inbox)
			if len(inbox.Items) != 0 {
				t.Fatalf("the owner, who assigned, was notified: %+v", inbox.Items)
			}
		})
	}
}
