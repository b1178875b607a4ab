// Command pbbench is PocketBase v0.36.8 set up as the peer of the
// platform's helpdesk in bench/helpdesk.sh (see docs/benchmarks.md). It is a
// Go module of its own, so that the platform's go.mod never carries
// PocketBase.
//
// On `serve` it makes, once, collections shaped like the helpdesk's tables,
// with the same indexes:
//
//	tickets    tenant, subject, status, priority, type, tags (json), requester
//	           (relation to customers), assignee, group, channel, version,
//	           created, updated; the indexes of PB_BENCH_TICKET_INDEXES, by
//	           default (tenant, created, id), (tenant, requester),
//	           (tenant, assignee)
//	customers  tenant, name, email; unique (tenant, email), (tenant, created)
//	messages   tenant, ticket, author_kind, author_id, body, internal;
//	           (tenant, ticket, created)
//	history    tenant, ticket, actor, field, old_value, new_value, created;
//	           (tenant, ticket, created)
//
// and the superuser PB_BENCH_EMAIL / PB_BENCH_PASSWORD. No API rules are
// set: the load authenticates as that superuser (a JWT, and the superuser
// row read on every request), as the platform's load sends an API key.
//
// A create request on tickets that carries "message" does what the
// platform's POST /api/v1/helpdesk/tickets does, in one transaction: finds
// or creates the customer by (tenant, requester_email), creates the ticket
// with status "new" and version 1, its first message and one history row
// (status: null -> new). Without "message" it is PocketBase's plain record
// create.
package main

import (
	"errors"
	"log"
	"os"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
)

func main() {
	app := pocketbase.NewWithConfig(pocketbase.Config{HideStartBanner: true})
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		if err := setUp(e.App); err != nil {
			return err
		}
		return e.Next()
	})
	app.OnRecordCreateRequest("tickets").BindFunc(createTicket)
	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}

// setUp makes the collections and the superuser unless they exist.
func setUp(app core.App) error {
	if _, err := app.FindCollectionByNameOrId("tickets"); err == nil {
		return nil
	}
	text := func(name string, required bool) *core.TextField {
		return &core.TextField{Name: name, Required: required, Max: 65536}
	}
	autodates := func(c *core.Collection) {
		c.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true},
			&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
	}
	customers := core.NewBaseCollection("customers")
	customers.Fields.Add(text("tenant", true), text("name", false), &core.EmailField{Name: "email"})
	autodates(customers)
	customers.AddIndex("ux_customers_email", true, "tenant, email", "")
	customers.AddIndex("ix_customers_list", false, "tenant, created", "")
	if err := app.Save(customers); err != nil {
		return err
	}
	tickets := core.NewBaseCollection("tickets")
	tickets.Fields.Add(text("tenant", true), text("subject", true),
		&core.SelectField{Name: "status", Required: true, MaxSelect: 1,
			Values: []string{"new", "open", "pending", "on_hold", "solved", "closed"}},
		&core.SelectField{Name: "priority", Required: true, MaxSelect: 1, Values: []string{"low", "normal", "high", "urgent"}},
		text("type", false), &core.JSONField{Name: "tags"},
		&core.RelationField{Name: "requester", Required: true, MaxSelect: 1, CollectionId: customers.Id},
		text("assignee", false), text("group", false),
		&core.SelectField{Name: "channel", Required: true, MaxSelect: 1, Values: []string{"api", "web", "email"}},
		&core.NumberField{Name: "version", OnlyInt: true})
	autodates(tickets)
	for _, ix := range ticketIndexes() {
		tickets.AddIndex(ix.name, ix.unique, ix.columns, "")
	}
	if err := app.Save(tickets); err != nil {
		return err
	}
	messages := core.NewBaseCollection("messages")
	messages.Fields.Add(text("tenant", true),
		&core.RelationField{Name: "ticket", Required: true, MaxSelect: 1, CollectionId: tickets.Id},
		text("author_kind", true), text("author_id", true), text("body", true), &core.BoolField{Name: "internal"})
	autodates(messages)
	messages.AddIndex("ix_messages_ticket", false, "tenant, ticket, created", "")
	if err := app.Save(messages); err != nil {
		return err
	}
	history := core.NewBaseCollection("history")
	history.Fields.Add(text("tenant", true),
		&core.RelationField{Name: "ticket", Required: true, MaxSelect: 1, CollectionId: tickets.Id},
		text("actor", true), text("field", true), text("old_value", false), text("new_value", false))
	autodates(history)
	history.AddIndex("ix_history_ticket", false, "tenant, ticket, created", "")
	if err := app.Save(history); err != nil {
		return err
	}
	email, password := os.Getenv("PB_BENCH_EMAIL"), os.Getenv("PB_BENCH_PASSWORD")
	if email == "" || password == "" {
		return errors.New("pbbench: set PB_BENCH_EMAIL and PB_BENCH_PASSWORD")
	}
	su, err := app.FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return err
	}
	r := core.NewRecord(su)
	r.SetEmail(email)
	r.SetPassword(password)
	return app.Save(r)
}

type index struct {
	name, columns string
	unique        bool
}

// ticketIndexes are the indexes of the tickets collection:
// PB_BENCH_TICKET_INDEXES, one "name|unique (0 or 1)|columns" a line, which
// bench/helpdesk.sh reads from the platform's helpdesk_tickets, or else
// those of the helpdesk's first migration.
func ticketIndexes() []index {
	spec := os.Getenv("PB_BENCH_TICKET_INDEXES")
	if strings.TrimSpace(spec) == "" {
		spec = "ix_tickets_list|0|tenant, created, id\nix_tickets_requester|0|tenant, requester\nix_tickets_assignee|0|tenant, assignee"
	}
	var out []index
	for _, line := range strings.Split(spec, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "|", 3)
		if len(f) == 3 {
			out = append(out, index{name: f[0], unique: f[1] == "1", columns: f[2]})
		}
	}
	return out
}

// createTicket makes a create request that carries "message" do the
// platform's ticket-create work in one transaction; see the package comment.
func createTicket(e *core.RecordRequestEvent) error {
	info, err := e.RequestInfo()
	if err != nil {
		return err
	}
	body, _ := info.Body["message"].(string)
	if body == "" {
		return e.Next()
	}
	email, _ := info.Body["requester_email"].(string)
	name, _ := info.Body["requester_name"].(string)
	if email == "" {
		return e.BadRequestError("requester_email is required with message", nil)
	}
	return e.App.RunInTransaction(func(tx core.App) error {
		e.App = tx
		tenant := e.Record.GetString("tenant")
		cust, err := tx.FindFirstRecordByFilter("customers", "tenant = {:t} && email = {:e}", dbx.Params{"t": tenant, "e": email})
		if err != nil {
			col, err := tx.FindCachedCollectionByNameOrId("customers")
			if err != nil {
				return err
			}
			cust = core.NewRecord(col)
			cust.Set("tenant", tenant)
			cust.Set("name", name)
			cust.Set("email", email)
			if err := tx.Save(cust); err != nil {
				return err
			}
		}
		e.Record.Set("requester", cust.Id)
		e.Record.Set("status", "new")
		e.Record.Set("version", 1)
		if err := e.Next(); err != nil {
			return err
		}
		mcol, err := tx.FindCachedCollectionByNameOrId("messages")
		if err != nil {
			return err
		}
		msg := core.NewRecord(mcol)
		msg.Set("tenant", tenant)
		msg.Set("ticket", e.Record.Id)
		msg.Set("author_kind", "agent")
		msg.Set("author_id", info.Auth.Id)
		msg.Set("body", body)
		if err := tx.Save(msg); err != nil {
			return err
		}
		hcol, err := tx.FindCachedCollectionByNameOrId("history")
		if err != nil {
			return err
		}
		h := core.NewRecord(hcol)
		h.Set("tenant", tenant)
		h.Set("ticket", e.Record.Id)
		h.Set("actor", "superuser:"+info.Auth.Id)
		h.Set("field", "status")
		h.Set("new_value", "new")
		return tx.Save(h)
	})
}
