package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/jobs"
)

const waitLimit = 30 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	kerneltest.Eventually(t, waitLimit, what, cond)
}

// newKernel starts a kernel with the jobs module; wire subscribes before
// the workers start, as cmd/platform does.
func newKernel(t *testing.T, wire func(m *jobs.Module), mods ...kernel.Module) (*kernel.Kernel, *jobs.Module) {
	t.Helper()
	cfg := kerneltest.Config(t)
	k, err := kernel.New(context.Background(), cfg, kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	m := jobs.New(k)
	if wire != nil {
		wire(m)
	}
	if err := k.Register(append([]kernel.Module{m}, mods...)...); err != nil {
		t.Fatal(err)
	}
	if err := k.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k, m
}

// ledger is the part of a kernel_jobs row the tests read.
type ledger struct {
	ID       string
	Type     string
	State    string
	Attempts int
	TenantID *string
}

func rowsOfType(t *testing.T, k *kernel.Kernel, like string) []ledger {
	t.Helper()
	var rows []ledger
	if err := k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type LIKE ?", like).Order("type").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// inbox remembers the messages one subscriber got, and as whom.
type inbox struct {
	mu   sync.Mutex
	msgs []contracts.Message
	as   []security.Principal
}

func (b *inbox) handle(ctx context.Context, m *contracts.Message) error {
	p, _ := security.PrincipalFrom(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, *m)
	if p != nil {
		b.as = append(b.as, *p)
	}
	return nil
}

func (b *inbox) got() ([]contracts.Message, []security.Principal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]contracts.Message(nil), b.msgs...), append([]security.Principal(nil), b.as...)
}

func TestPublishDeliversToEachSubscriberOnItsOwn(t *testing.T) {
	var alpha, gamma inbox
	var mu sync.Mutex
	betaCalls := 0
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.order_placed", Version: 2}))
		must(t, m.Subscribe("orders.order_placed", "alpha", alpha.handle))
		must(t, m.Subscribe("orders.order_placed", "beta", func(context.Context, *contracts.Message) error {
			mu.Lock()
			betaCalls++
			mu.Unlock()
			return errors.New("beta is down")
		}, contracts.WithMaxRetry(1)))
		must(t, m.Subscribe("orders.order_placed", "gamma.audit", gamma.handle, contracts.WithQueue("low")))
	})
	kerneltest.StartQueue(t, k)

	user := &security.Principal{Kind: security.KindUser, ID: "user-1", TenantID: "tenant-1", Role: security.RoleAgent}
	ctx := security.WithPrincipal(context.Background(), user)
	before := time.Now().UTC().Add(-time.Second)
	if err := m.Publish(ctx, "orders.order_placed", map[string]any{"order": 42}); err != nil {
		t.Fatalf("publish: %v", err)
	}

	eventually(t, "alpha and gamma to get the message", func() (bool, string) {
		a, _ := alpha.got()
		g, _ := gamma.got()
		return len(a) == 1 && len(g) == 1, fmt.Sprintf("alpha %d, gamma %d", len(a), len(g))
	})
	msgs, as := alpha.got()
	msg := msgs[0]
	var data struct{ Order int }
	if err := msg.Decode(&data); err != nil || data.Order != 42 {
		t.Errorf("data = %s (%v), want order 42", msg.Data, err)
	}
	if msg.ID == "" || msg.Topic != "orders.order_placed" || msg.TenantID != "tenant-1" || msg.Version != 2 {
		t.Errorf("envelope = %+v", msg)
	}
	if msg.OccurredAt.Before(before) || msg.OccurredAt.After(time.Now().UTC()) {
		t.Errorf("occurred_at = %v, want about now", msg.OccurredAt)
	}
	if msg.Principal == nil || msg.Principal.ID != "user-1" || msg.Principal.Kind != security.KindUser {
		t.Errorf("publisher principal = %+v, want user-1", msg.Principal)
	}
	// The handler runs as the kernel's service credential for its module.
	want := security.Principal{Kind: security.KindService, ID: "orders", TenantID: "tenant-1", Audience: "alpha", Subject: "user-1"}
	if len(as) != 1 || as[0].Kind != want.Kind || as[0].ID != want.ID || as[0].TenantID != want.TenantID ||
		as[0].Audience != want.Audience || as[0].Subject != want.Subject || len(as[0].Scopes) != 0 {
		t.Errorf("alpha ran as %+v, want %+v", as, want)
	}
	if _, gas := gamma.got(); len(gas) != 1 || gas[0].Audience != "gamma" {
		t.Errorf("gamma.audit ran as %+v, want audience gamma", gas)
	}
	gm, _ := gamma.got()
	if gm[0].ID != msg.ID {
		t.Errorf("subscribers got different message ids: %s and %s", gm[0].ID, msg.ID)
	}

	// beta fails on its own: two attempts, then archived; the others are done.
	eventually(t, "beta's delivery to be archived", func() (bool, string) {
		rows := rowsOfType(t, k, "jobs:deliver:orders.order_placed:%")
		return len(rows) == 3 && rows[1].State == queue.StateArchived, fmt.Sprintf("%+v", rows)
	})
	rows := rowsOfType(t, k, "jobs:deliver:orders.order_placed:%")
	wantRows := []struct{ typ, state string }{
		{"jobs:deliver:orders.order_placed:alpha", queue.StateDone},
		{"jobs:deliver:orders.order_placed:beta", queue.StateArchived},
		{"jobs:deliver:orders.order_placed:gamma.audit", queue.StateDone},
	}
	for i, w := range wantRows {
		if rows[i].Type != w.typ || rows[i].State != w.state || rows[i].TenantID == nil || *rows[i].TenantID != "tenant-1" {
			t.Errorf("row %d = %+v, want %s %s for tenant-1", i, rows[i], w.typ, w.state)
		}
	}
	if rows[1].Attempts != 2 {
		t.Errorf("beta attempts = %d, want 2", rows[1].Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if betaCalls != 2 {
		t.Errorf("beta ran %d times, want 2", betaCalls)
	}
	if a, _ := alpha.got(); len(a) != 1 {
		t.Errorf("alpha got %d messages, want 1", len(a))
	}
}

func TestPublishFollowsTheTransaction(t *testing.T) {
	var got inbox
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.order_placed"}))
		must(t, m.Subscribe("orders.order_placed", "alpha", got.handle))
		must(t, m.Subscribe("orders.order_placed", "beta", got.handle))
	})
	kerneltest.StartQueue(t, k)
	ctx := security.WithPrincipal(context.Background(), security.System("tenant-1"))

	boom := errors.New("boom")
	err := k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.Publish(ctx, "orders.order_placed", map[string]string{"n": "rolled back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if rows := rowsOfType(t, k, "jobs:deliver:%"); len(rows) != 0 {
		t.Fatalf("a rolled-back publish left %d ledger rows", len(rows))
	}

	err = k.DB.InTx(ctx, func(ctx context.Context) error {
		return m.Publish(ctx, "orders.order_placed", map[string]string{"n": "committed"})
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both subscribers to get the committed message", func() (bool, string) {
		msgs, _ := got.got()
		return len(msgs) == 2, fmt.Sprintf("%d messages", len(msgs))
	})
	for _, msg := range func() []contracts.Message { m, _ := got.got(); return m }() {
		var d struct{ N string }
		if err := msg.Decode(&d); err != nil || d.N != "committed" {
			t.Errorf("a subscriber got %s", msg.Data)
		}
	}
	if rows := rowsOfType(t, k, "jobs:deliver:%"); len(rows) != 2 {
		t.Errorf("ledger holds %d deliveries, want 2", len(rows))
	}
}

// declarer is a module that declares its topics as a capability.
type declarer struct{}

func (declarer) Name() string { return "billing" }
func (declarer) Topics() []contracts.Topic {
	return []contracts.Topic{{Name: "billing.invoice_paid", Version: 3}}
}

func TestPublishChecksTheTopic(t *testing.T) {
	var got inbox
	k, m := newKernel(t, func(m *jobs.Module) {
		must(t, m.RegisterTopic(contracts.Topic{Name: "orders.nobody_listens"}))
		must(t, m.Subscribe("billing.invoice_paid", "alpha", got.handle))
		must(t, m.Subscribe("orders.never_registered", "alpha", got.handle))
	}, declarer{})
	kerneltest.StartQueue(t, k)
	ctx := security.WithPrincipal(context.Background(), security.System("tenant-1"))

	cases := []struct {
		name, topic string
		wantErr     error
		wantRows    int
	}{
		{"no subscribers is fine", "orders.nobody_listens", nil, 0},
		{"unknown topic", "orders.unheard_of", contracts.ErrUnknownTopic, 0},
		{"subscribed but never registered", "orders.never_registered", contracts.ErrUnknownTopic, 0},
		{"declared by a module", "billing.invoice_paid", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Publish(ctx, tc.topic, map[string]int{"x": 1})
			if (tc.wantErr == nil && err != nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("publish %s = %v, want %v", tc.topic, err, tc.wantErr)
			}
			if rows := rowsOfType(t, k, "jobs:deliver:"+tc.topic+":%"); len(rows) != tc.wantRows {
				t.Fatalf("%d ledger rows for %s, want %d", len(rows), tc.topic, tc.wantRows)
			}
		})
	}
	eventually(t, "the declared topic's message", func() (bool, string) {
		msgs, _ := got.got()
		return len(msgs) == 1 && msgs[0].Version == 3, fmt.Sprintf("%+v", msgs)
	})
}

func TestSubscribeAndRegisterCheckNames(t *testing.T) {
	m := jobs.New(nil)
	nop := func(context.Context, *contracts.Message) error { return nil }
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"topic without module", m.RegisterTopic(contracts.Topic{Name: "placed"}), jobs.ErrBadTopicName},
		{"topic with a colon", m.RegisterTopic(contracts.Topic{Name: "orders.a:b"}), jobs.ErrBadTopicName},
		{"upper-case topic", m.RegisterTopic(contracts.Topic{Name: "Orders.placed"}), jobs.ErrBadTopicName},
		{"good topic", m.RegisterTopic(contracts.Topic{Name: "orders.order_placed"}), nil},
		{"subscriber with a colon", m.Subscribe("orders.order_placed", "a:b", nop), jobs.ErrBadSubscriberName},
		{"subscriber with two dots", m.Subscribe("orders.order_placed", "ab.c.d", nop), jobs.ErrBadSubscriberName},
		{"unknown queue", m.Subscribe("orders.order_placed", "alpha", nop, contracts.WithQueue("urgent")), queue.ErrUnknownQueue},
		{"good subscriber", m.Subscribe("orders.order_placed", "alpha", nop), nil},
		{"same subscriber twice", m.Subscribe("orders.order_placed", "alpha", nop), jobs.ErrDuplicateSub},
		{"same name on another topic", m.Subscribe("orders.order_shipped", "alpha", nop), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.want == nil && tc.err != nil) || (tc.want != nil && !errors.Is(tc.err, tc.want)) {
				t.Fatalf("got %v, want %v", tc.err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
