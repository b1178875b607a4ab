// Package jobs makes the kernel's queue a product: topics through which
// modules message each other without knowing each other, and (in later
// parts) the API and pages that show and control every queue and job.
//
// Messages ride on the kernel's job ledger (kernel_jobs): a publish writes
// one job per subscriber in the caller's transaction, so a rollback
// publishes nothing, and each subscriber retries on its own.
package jobs

import (
	"sync"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Name is the module's name: its URL segment and task-type prefix.
const Name = "jobs"

// Permissions of the module.
const (
	PermRead    security.Permission = "jobs:read"    // see queues, tasks and schedules
	PermManage  security.Permission = "jobs:manage"  // pause, resume, retry, archive, delete
	PermPublish security.Permission = "jobs:publish" // publish on a public topic through the API
)

// Module is the jobs module.
type Module struct {
	k     *kernel.Kernel
	tasks *queue.Registry

	mu     sync.RWMutex
	topics map[string]contracts.Topic
	subs   map[string][]*subscription // by topic
}

// The module is what other modules are given as these contracts.
var (
	_ contracts.Publisher     = (*Module)(nil)
	_ contracts.Subscriber    = (*Module)(nil)
	_ contracts.TopicRegistry = (*Module)(nil)
)

// New makes the module on the kernel's database, queue and security layer.
func New(k *kernel.Kernel) *Module {
	m := &Module{k: k, topics: map[string]contracts.Topic{}, subs: map[string][]*subscription{}}
	if k != nil {
		m.tasks = k.Queue.Tasks(Name)
	}
	return m
}

// Name implements kernel.Module.
func (m *Module) Name() string { return Name }

// Permissions implements kernel.Permissioner: a tenant's owner sees and
// controls its own tenant's work; platform admins hold every permission.
func (m *Module) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{
		security.RoleOwner: {PermRead, PermManage, PermPublish},
	}
}
