package helpdesk_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/contracts/messagestest"
	"github.com/platform/platform/internal/modules/helpdesk"
)

// bus is the fake bus that also records whether each publish ran inside a
// transaction, and can be made to fail.
type bus struct {
	*messagestest.Bus
	mu   sync.Mutex
	inTx []bool
	fail error
}

func (b *bus) Publish(ctx context.Context, topic string, data any) error {
	b.mu.Lock()
	b.inTx = append(b.inTx, db.InTx(ctx))
	fail := b.fail
	b.mu.Unlock()
	if fail != nil {
		return fail
	}
	return b.Bus.Publish(ctx, topic, data)
}

// topics lists the topics published so far, in order.
func (b *bus) topics() []string {
	var out []string
	for _, m := range b.Sent() {
		out = append(out, m.Topic)
	}
	return out
}

func (b *bus) setFail(err error) { b.mu.Lock(); b.fail = err; b.mu.Unlock() }

var errBusDown = errors.New("bus down")

// fixture is a served kernel with the helpdesk on a fake bus and two
// tenants: A with an owner, an agent and two customers, B with an owner.
type fixture struct {
	k                                     *kernel.Kernel
	hd                                    *helpdesk.Module
	c                                     *kerneltest.Client
	base                                  string // the server's URL, for the backoffice's pages
	bus                                   *bus
	ta, tb                                string
	ownerA, agentA, custA, cust2A, ownerB string
	agentAID                              string
	cfg                                   *config.Config // to start a second process on the same database
}

func newFixture(t *testing.T, opts ...helpdesk.Option) *fixture {
	t.Helper()
	var names []string
	for _, tp := range helpdesk.New(nil, nil).Topics() {
		names = append(names, tp.Name)
	}
	b := &bus{Bus: messagestest.New(names...)}
	cfg := kerneltest.Config(t)
	k, err := kernel.New(context.Background(), cfg, kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	hd := helpdesk.New(k, b, opts...)
	if err := k.Register(hd); err != nil {
		t.Fatal(err)
	}
	if err := k.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("helpdesk on %s", k.DB.Dialect())
	k.UseShell(admin.New(k))
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	admin := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	f := &fixture{k: k, c: c, bus: b, cfg: cfg, base: srv.URL}
	f.hd = hd
	f.ta = c.CreateTenant(admin, "A", "tenant-a")
	f.tb = c.CreateTenant(admin, "B", "tenant-b")
	f.ownerA = c.CreateUser(admin, f.ta, "owner@a.test", "owner")
	f.agentA = c.CreateUser(admin, f.ta, "agent@a.test", "agent")
	f.custA = c.CreateUser(admin, f.ta, "cust@a.test", "customer")
	f.cust2A = c.CreateUser(admin, f.ta, "cust2@a.test", "customer")
	f.ownerB = c.CreateUser(admin, f.tb, "owner@b.test", "owner")
	me := c.Do(http.MethodGet, "/api/v1/auth/me", f.agentA, nil)
	var who struct{ ID string }
	me.Decode(t, &who)
	f.agentAID = who.ID
	return f
}

// do sends a request and checks its status (and error code, when given).
func (f *fixture) do(t *testing.T, method, path, token string, body any, want int, code string, headers ...string) *kerneltest.Response {
	t.Helper()
	res := f.c.Do(method, "/api/v1/helpdesk"+path, token, body, headers...)
	if res.Status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, res.Status, res.Body, want)
	}
	if code != "" && res.ErrorCode() != code {
		t.Fatalf("%s %s: code %q, want %q (%s)", method, path, res.ErrorCode(), code, res.Body)
	}
	return res
}

type ticket struct {
	ID          string   `json:"id"`
	Subject     string   `json:"subject"`
	Status      string   `json:"status"`
	Priority    string   `json:"priority"`
	Tags        []string `json:"tags"`
	RequesterID string   `json:"requester_id"`
	AssigneeID  *string  `json:"assignee_id"`
	Channel     string   `json:"channel"`
	Version     int      `json:"version"`
	SolvedAt    *string  `json:"solved_at"`
	ClosedAt    *string  `json:"closed_at"`
}

// open creates a ticket as token (staff name a requester).
func (f *fixture) open(t *testing.T, token, subject, email string) ticket {
	t.Helper()
	body := map[string]any{"subject": subject, "message": "Help with " + subject}
	if email != "" {
		body["requester"] = map[string]string{"email": email, "name": "Req " + email}
	}
	var tk ticket
	f.do(t, "POST", "/tickets", token, body, 201, "").Decode(t, &tk)
	return tk
}

// patch changes a ticket as the agent of A.
func (f *fixture) patch(t *testing.T, tk *ticket, body map[string]any, want int, code string) {
	t.Helper()
	body["version"] = tk.Version
	res := f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, body, want, code)
	if want == 200 {
		res.Decode(t, tk)
	}
}

// historyItem is a row of a ticket's history, as the API shows it.
type historyItem struct {
	Actor, Field string
	Old, New     *string
}

// history is a ticket's history, read by the owner of A.
func (f *fixture) history(t *testing.T, id string) []historyItem {
	t.Helper()
	var h struct{ Items []historyItem }
	f.do(t, "GET", "/tickets/"+id+"/history", f.ownerA, nil, 200, "").Decode(t, &h)
	return h.Items
}

// count is the number of rows of a table.
func (f *fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int64
	if err := f.k.DB.Conn(context.Background()).Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// counts is the number of rows of every helpdesk table.
func (f *fixture) counts(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, tb := range []string{"helpdesk_customers", "helpdesk_organizations", "helpdesk_tickets", "helpdesk_messages",
		"helpdesk_ticket_history", "helpdesk_attachments", "helpdesk_mail_ids", "helpdesk_views", "helpdesk_groups",
		"helpdesk_group_members", "helpdesk_macros", "helpdesk_canned_responses"} {
		out[tb] = f.count(t, tb)
	}
	return out
}

var _ contracts.Publisher = (*bus)(nil)
