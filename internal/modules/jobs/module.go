// Package jobs makes the kernel's queue a product: topics through which
// modules message each other without knowing each other, buffers that hold
// data until each tenant's schedule hands it over in batches, and the API
// and pages that show and control every queue and job.
//
// Messages ride on the kernel's job ledger (kernel_jobs): a publish writes
// one job per subscriber in the caller's transaction, so a rollback
// publishes nothing, and each subscriber retries on its own. Buffers keep
// their items in jobs_buffer_items (see buffers.go).
package jobs

import (
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/migrations"
)

// Name is the module's name: its URL segment and task-type prefix.
const Name = "jobs"

// Permissions of the module.
const (
	PermRead    security.Permission = "jobs:read"    // see queues, tasks and schedules
	PermManage  security.Permission = "jobs:manage"  // pause, resume, retry, archive, delete
	PermPublish security.Permission = "jobs:publish" // publish on a public topic, append to a public buffer, through the API
)

// Module is the jobs module.
type Module struct {
	k     *kernel.Kernel
	tasks *queue.Registry

	mu      sync.RWMutex
	topics  map[string]contracts.Topic
	subs    map[string][]*subscription // by topic
	buffers map[string]*buffer
	ensured sync.Map     // "<buffer>\x00<tenant>": its schedule row exists
	sweeps  atomic.Int64 // ticks of flushDue
}

// The module is what other modules are given as these contracts.
var (
	_ contracts.Publisher     = (*Module)(nil)
	_ contracts.Subscriber    = (*Module)(nil)
	_ contracts.TopicRegistry = (*Module)(nil)
)

// New makes the module on the kernel's database, queue and security layer.
func New(k *kernel.Kernel) *Module {
	m := &Module{k: k, topics: map[string]contracts.Topic{}, subs: map[string][]*subscription{},
		buffers: map[string]*buffer{}}
	if k != nil {
		m.tasks = k.Queue.Tasks(Name)
		m.tasks.Handle(taskFlush, m.flush)
		m.tasks.Handle(taskBatch, m.runBatch)
		m.tasks.OnDelete(taskBatch, m.batchDeleted)
	}
	return m
}

// Migrations implements kernel.Migrator: the buffers' tables.
func (m *Module) Migrations() fs.FS { return migrations.For(Name) }

// Schedules implements kernel.Periodic: every worker process looks for due
// buffer schedules each second.
func (m *Module) Schedules(s *queue.Schedule) { s.Every("buffers", time.Second, m.flushDue) }

// Name implements kernel.Module.
func (m *Module) Name() string { return Name }

// Permissions implements kernel.Permissioner: a tenant's owner sees and
// controls its own tenant's work; platform admins hold every permission.
func (m *Module) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{
		security.RoleOwner: {PermRead, PermManage, PermPublish},
	}
}
