// Package helpdesk is the customer-support desk: customers and their
// organizations, tickets with a status workflow, their conversation
// (public replies and internal notes) and the history of every change.
//
// A ticket carries a version: a change names the version it read and an
// atomic UPDATE ... WHERE version = ? refuses a stale one, so two agents
// never overwrite each other. Every change writes its history rows and its
// event (helpdesk.ticket_*) in the change's transaction.
package helpdesk

import (
	"io/fs"
	"slices"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/migrations"
)

// Name is the module's name: its URL segment and table prefix.
const Name = "helpdesk"

// Permissions of the module.
const (
	PermRead  security.Permission = "helpdesk:read"  // see every ticket and customer of the tenant
	PermWrite security.Permission = "helpdesk:write" // work tickets, customers and organizations
	// PermSubmit lets a customer open tickets and see and reply to their
	// own; staff hold it too, with PermRead deciding what they see.
	PermSubmit security.Permission = "helpdesk:submit"
	// PermManage edits the tenant's groups and its shared macros and canned
	// responses, calendars and SLA policies; agents keep private macros and
	// canned responses with PermWrite.
	PermManage security.Permission = "helpdesk:manage"
)

// Topics the module publishes.
const (
	TopicTicketCreated  = "helpdesk.ticket_created"
	TopicTicketUpdated  = "helpdesk.ticket_updated"
	TopicTicketReplied  = "helpdesk.ticket_replied"
	TopicTicketAssigned = "helpdesk.ticket_assigned"
	TopicTicketSolved   = "helpdesk.ticket_solved"
	TopicSLABreached    = "helpdesk.sla_breached"
)

// Module is the helpdesk module.
type Module struct {
	k      *kernel.Kernel
	store  *store
	bus    contracts.Publisher // nil: no events
	sender contracts.Sender    // nil: replies and CSAT requests are only logged
	now    func() time.Time
	cfg    Config // modules.helpdesk (config.go)
	cfgSet bool   // WithConfig: modules.helpdesk is not read
	cfgErr error
}

// Option configures the module.
type Option func(*Module)

// WithSender sends agents' public replies and CSAT requests to requesters
// through the contact module.
func WithSender(s contracts.Sender) Option { return func(m *Module) { m.sender = s } }

// WithClock replaces time.Now, for tests of SLA clocks.
func WithClock(now func() time.Time) Option { return func(m *Module) { m.now = now } }

// New makes the module. bus publishes its events; nil publishes none.
func New(k *kernel.Kernel, bus contracts.Publisher, opts ...Option) *Module {
	m := &Module{k: k, bus: bus, now: time.Now, cfg: DefaultConfig()}
	for _, o := range opts {
		o(m)
	}
	if k != nil {
		m.store = &store{db: k.DB, search: newSearchIndexer(k.DB, k.Log)}
		m.loadConfig() // config.go
	}
	return m
}

// Name implements kernel.Module.
func (m *Module) Name() string { return Name }

// Migrations implements kernel.Migrator.
func (m *Module) Migrations() fs.FS { return migrations.For(Name) }

// Topics implements contracts.TopicDeclarer.
func (m *Module) Topics() []contracts.Topic {
	return []contracts.Topic{{Name: TopicTicketCreated}, {Name: TopicTicketUpdated}, {Name: TopicTicketReplied},
		{Name: TopicTicketAssigned}, {Name: TopicTicketSolved}, {Name: TopicSLABreached}}
}

// Permissions implements kernel.Permissioner: owners and agents work the
// desk; customers submit and follow their own tickets.
func (m *Module) Permissions() map[security.Role][]security.Permission {
	staff := []security.Permission{PermRead, PermWrite, PermSubmit}
	return map[security.Role][]security.Permission{
		security.RoleOwner:    append(slices.Clone(staff), PermManage),
		security.RoleAgent:    staff,
		security.RoleCustomer: {PermSubmit},
	}
}

// Schedules implements kernel.Periodic: every process that runs the
// scheduler sweeps for SLA breaches each 30 seconds (the markers' atomic
// updates keep each breach to one event), and closes solved tickets each
// minute (autoclose.go).
func (m *Module) Schedules(s *queue.Schedule) {
	s.Every("sla", 30*time.Second, m.SweepSLA)
	s.Every("close_solved", time.Minute, m.CloseSolved)
}
