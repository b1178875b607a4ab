package contact_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contact"
)

// waitLimit bounds waits that go through retries with backoff on a slow,
// shared machine.
const waitLimit = 90 * time.Second

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	kerneltest.Eventually(t, waitLimit, what, cond)
}

// testConfig is kerneltest's configuration with modules.contact set from
// yaml (the keys under modules.contact, each line indented by four spaces).
func testConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg := kerneltest.Config(t)
	if yaml == "" {
		return cfg
	}
	path := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(path, []byte("modules:\n  contact:\n"+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newKernel starts a kernel with the contact module wired as cmd/platform
// wires it: contact.New(k), then Register and Prepare.
func newKernel(t *testing.T, cfg *config.Config) (*kernel.Kernel, *contact.Module) {
	t.Helper()
	k, m := openKernel(t, cfg)
	t.Cleanup(k.Close)
	return k, m
}

// openKernel is newKernel for a test that closes the kernel itself
// (Kernel.Close may not be called twice).
func openKernel(t *testing.T, cfg *config.Config) (*kernel.Kernel, *contact.Module) {
	t.Helper()
	k, err := kernel.New(context.Background(), cfg, kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := contact.New(k)
	if err == nil {
		err = k.Register(m)
	}
	if err == nil {
		err = k.Prepare(context.Background())
	}
	if err != nil {
		k.Close()
		t.Fatal(err)
	}
	return k, m
}

// fixture is a served kernel with tenant A (an owner, an agent and a
// customer) and tenant B (an owner).
type fixture struct {
	k                                 *kernel.Kernel
	m                                 *contact.Module
	c                                 *kerneltest.Client
	admin, ta, tb                     string
	ownerA, agentA, customerA, ownerB string
}

func newFixture(t *testing.T, yaml string) *fixture {
	t.Helper()
	k, m := newKernel(t, testConfig(t, yaml))
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	f := &fixture{k: k, m: m, c: c, admin: c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)}
	f.ta = c.CreateTenant(f.admin, "A", "tenant-a")
	f.tb = c.CreateTenant(f.admin, "B", "tenant-b")
	f.ownerA = c.CreateUser(f.admin, f.ta, "owner@a.test", "owner")
	f.agentA = c.CreateUser(f.admin, f.ta, "agent@a.test", "agent")
	f.customerA = c.CreateUser(f.admin, f.ta, "customer@a.test", "customer")
	f.ownerB = c.CreateUser(f.admin, f.tb, "owner@b.test", "owner")
	return f
}

// asTenant is a context acting for tenant as the system, as another
// module's job would.
func asTenant(tenant string) context.Context {
	return security.WithPrincipal(context.Background(), security.System(tenant))
}

// provider creates a provider in tenant as the platform admin, who alone
// may let it reach the test's servers on loopback, and returns its id.
func (f *fixture) provider(t *testing.T, tenant string, body map[string]any) string {
	t.Helper()
	body["allow_private"] = true
	res := f.c.Do(http.MethodPost, "/api/v1/contact/providers", f.admin, body, "X-Tenant-ID", tenant)
	if res.Status != http.StatusCreated {
		t.Fatalf("create provider: %d %s", res.Status, res.Body)
	}
	var out struct{ ID string }
	res.Decode(t, &out)
	return out.ID
}

// smtpProvider configures srv as an e-mail provider of tenant.
func (f *fixture) smtpProvider(t *testing.T, tenant, name string, priority int, srv *smtpServer) string {
	t.Helper()
	return f.provider(t, tenant, map[string]any{"name": name, "channel": "email", "kind": "smtp", "priority": priority,
		"settings": map[string]any{"host": "127.0.0.1", "port": srv.port(), "tls": "starttls", "username": srv.user,
			"from": "Shop <shop@example.com>", "root_ca": srv.caPEM, "unsubscribe_url": "https://example.com/u/{id}"},
		"credentials": map[string]string{"password": srv.pass}})
}

// messageView is a message as GET /messages/{id} shows it.
type messageView struct {
	ID                string
	Status            string
	Attempts          int
	ProviderID        *string `json:"provider_id"`
	ProviderMessageID *string `json:"provider_message_id"`
	LastError         *string `json:"last_error"`
	History           []struct {
		Status       string
		ProviderID   *string `json:"provider_id"`
		ProviderKind *string `json:"provider_kind"`
		Attempt      int
		Outcome      string
		Detail       *string
	}
}

func (f *fixture) message(t *testing.T, token, id string) messageView {
	t.Helper()
	res := f.c.Do(http.MethodGet, "/api/v1/contact/messages/"+id, token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("get message %s: %d %s", id, res.Status, res.Body)
	}
	var v messageView
	res.Decode(t, &v)
	return v
}

// waitStatus waits until message id of tenant A reaches status.
func (f *fixture) waitStatus(t *testing.T, id, status string) messageView {
	t.Helper()
	var v messageView
	eventually(t, "message "+id+" "+status, func() (bool, string) {
		v = f.message(t, f.ownerA, id)
		return v.Status == status, fmt.Sprintf("%+v", v)
	})
	return v
}

// history is a message's history as "status/outcome" entries.
func (v messageView) history() []string {
	out := make([]string, len(v.History))
	for i, h := range v.History {
		out[i] = h.Status
		if h.Outcome != "" {
			out[i] += "/" + h.Outcome
		}
	}
	return out
}

// openKernelOnly is a kernel without modules, for checking New itself.
func openKernelOnly(t *testing.T, cfg *config.Config) *kernel.Kernel {
	t.Helper()
	k, err := kernel.New(context.Background(), cfg, kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
