package notifications_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts/contacttest"
	"github.com/platform/platform/internal/modules/contracts/messagestest"
	"github.com/platform/platform/internal/modules/notifications"
)

// waitLimit bounds waits for the queue on a slow, shared machine.
const waitLimit = 90 * time.Second

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	kerneltest.Eventually(t, waitLimit, what, cond)
}

// gateway records what the module pushes, and answers Online from a set.
type gateway struct {
	mu     sync.Mutex
	events []notifications.Event
	online map[string]bool
}

func (g *gateway) Publish(_ context.Context, ev notifications.Event) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, ev)
	return nil
}

func (g *gateway) Online(_ context.Context, tenant, user string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.online[tenant+"/"+user], nil
}

func (g *gateway) setOnline(tenant, user string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.online == nil {
		g.online = map[string]bool{}
	}
	g.online[tenant+"/"+user] = on
}

// pushed is the events named name pushed to user so far.
func (g *gateway) pushed(user, name string) []notifications.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []notifications.Event
	for _, ev := range g.events {
		if ev.Name == name && slices.Contains(ev.Users, user) {
			out = append(out, ev)
		}
	}
	return out
}

// clock is the module's clock: the real time moved by an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// user is a signed-in user of a tenant.
type user struct{ id, token string }

// fixture is a served kernel with the module, a recording gateway, a fake
// sender and a fake bus; tenant A has an owner, two agents and a customer,
// tenant B an owner.
type fixture struct {
	k      *kernel.Kernel
	m      *notifications.Module
	c      *kerneltest.Client
	url    string
	gw     *gateway
	sender *contacttest.Sender
	bus    *messagestest.Bus
	clock  *clock

	admin                       string
	ta, tb                      string
	ownerA, agentA, agent2A, cA user
	ownerB                      user
}

func newFixture(t *testing.T) *fixture { t.Helper(); return newFixtureWith(t, true) }

// newFixtureWith is newFixture with the recording gateway (fake) or the
// real one, which New makes and Routes mounts and starts.
func newFixtureWith(t *testing.T, fake bool) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{gw: &gateway{}, sender: &contacttest.Sender{}, clock: &clock{},
		bus: messagestest.New("helpdesk.ticket_assigned", "helpdesk.ticket_replied")}
	k, err := kernel.New(ctx, kerneltest.Config(t), kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	opts := []notifications.Option{notifications.WithSender(f.sender), notifications.WithSubscriber(f.bus),
		notifications.WithClock(f.clock.now)}
	if fake {
		opts = append(opts, notifications.WithGateway(f.gw))
	}
	m, err := notifications.New(k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Register(m); err != nil {
		t.Fatal(err)
	}
	if err := k.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	k.UseShell(admin.New(k))
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	f.k, f.m, f.url = k, m, srv.URL
	f.c = kerneltest.NewClient(t, srv.URL)
	f.admin = f.c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	f.ta = f.c.CreateTenant(f.admin, "A", "tenant-a")
	f.tb = f.c.CreateTenant(f.admin, "B", "tenant-b")
	f.ownerA = f.user(t, f.ta, "owner@a.test", "owner")
	f.agentA = f.user(t, f.ta, "agent@a.test", "agent")
	f.agent2A = f.user(t, f.ta, "agent2@a.test", "agent")
	f.cA = f.user(t, f.ta, "customer@a.test", "customer")
	f.ownerB = f.user(t, f.tb, "owner@b.test", "owner")
	return f
}

func (f *fixture) user(t *testing.T, tenant, email, role string) user {
	t.Helper()
	token := f.c.CreateUser(f.admin, tenant, email, role)
	res := f.c.Do(http.MethodGet, "/api/v1/auth/me", token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}
	var me struct{ ID string }
	res.Decode(t, &me)
	return user{id: me.ID, token: token}
}

// asTenant is a context acting for tenant as the system, as another
// module's job would.
func asTenant(tenant string) context.Context {
	return security.WithPrincipal(context.Background(), security.System(tenant))
}

// count counts a table's rows.
func (f *fixture) count(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := f.k.DB.Conn(context.Background()).Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// jobs counts the ledger's jobs of a type.
func (f *fixture) jobs(t *testing.T, typ string) int64 {
	t.Helper()
	var n int64
	if err := f.k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type = ?", typ).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// runAts is the due times of the ledger's jobs of a type whose data
// mentions about (every one for "").
func (f *fixture) runAts(t *testing.T, typ, about string) []time.Time {
	t.Helper()
	var out []time.Time
	if err := f.k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type = ? AND CAST(payload AS CHAR) LIKE ?", typ, "%"+about+"%").
		Order("run_at").Pluck("run_at", &out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// inbox is a user's inbox page.
type inbox struct {
	Items []notifications.Item
	Next  *string `json:"next_cursor"`
}

func (f *fixture) inbox(t *testing.T, u user, query string) inbox {
	t.Helper()
	res := f.c.Do(http.MethodGet, "/api/v1/notifications"+query, u.token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("inbox%s: %d %s", query, res.Status, res.Body)
	}
	var p inbox
	res.Decode(t, &p)
	return p
}

func (f *fixture) unread(t *testing.T, u user) int {
	t.Helper()
	res := f.c.Do(http.MethodGet, "/api/v1/notifications/unread-count", u.token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("unread count: %d %s", res.Status, res.Body)
	}
	var out struct{ Count int }
	res.Decode(t, &out)
	return out.Count
}

func titles(items []notifications.Item) string {
	s := ""
	for _, it := range items {
		s += fmt.Sprintf("[%s]", it.Title)
	}
	return s
}
