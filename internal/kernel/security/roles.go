package security

import (
	"maps"
	"slices"
	"sort"
	"sync"
)

// Role is a user's role within its tenant.
type Role string

// Roles.
const (
	RolePlatformAdmin Role = "platform_admin"
	RoleOwner         Role = "owner"
	RolePartner       Role = "partner"
	RoleAgent         Role = "agent"
	RoleCustomer      Role = "customer"
)

// Roles lists every role, highest first.
var Roles = []Role{RolePlatformAdmin, RoleOwner, RolePartner, RoleAgent, RoleCustomer}

// rank orders roles: a user may grant and manage only roles at or below its
// own, and only a platform admin makes platform admins.
var rank = map[Role]int{RolePlatformAdmin: 100, RoleOwner: 50, RolePartner: 40, RoleAgent: 30, RoleCustomer: 10}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := rank[r]; return ok }

// CanGrant reports whether a holder of r may give role target to a user, or
// manage a user who has it.
func (r Role) CanGrant(target Role) bool {
	if !target.Valid() {
		return false
	}
	if target == RolePlatformAdmin {
		return r == RolePlatformAdmin
	}
	return rank[r] >= rank[target]
}

// Permission names one thing a principal may do, as "<area>:<verb>".
type Permission string

// Kernel permissions. Modules declare theirs with Grant.
const (
	PermAll          Permission = "*"
	PermTenantsRead  Permission = "tenants:read"
	PermTenantsWrite Permission = "tenants:write"
	PermUsersRead    Permission = "users:read"
	PermUsersWrite   Permission = "users:write"
	PermKeysRead     Permission = "api_keys:read"
	PermKeysWrite    Permission = "api_keys:write"
	PermAuditRead    Permission = "audit:read"
	PermSettings     Permission = "settings:write"
	PermSystem       Permission = "system:read"
)

// The one table from roles to permissions. Modules add theirs at wiring
// time with Grant; after start-up it is only read.
var (
	tableMu sync.RWMutex
	table   = map[Role]map[Permission]bool{
		RolePlatformAdmin: set(PermAll),
		RoleOwner:         set(PermTenantsRead, PermUsersRead, PermUsersWrite, PermKeysRead, PermKeysWrite, PermAuditRead, PermSettings),
		RolePartner:       set(PermTenantsRead, PermUsersRead, PermAuditRead),
		RoleAgent:         set(PermUsersRead),
		RoleCustomer:      set(),
	}
)

func set(ps ...Permission) map[Permission]bool {
	m := make(map[Permission]bool, len(ps))
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// Grant adds permissions to a role. Modules call it when they are wired.
func Grant(r Role, perms ...Permission) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if table[r] == nil {
		table[r] = map[Permission]bool{}
	}
	for _, p := range perms {
		table[r][p] = true
	}
}

// RoleCan reports whether role r holds perm.
func RoleCan(r Role, perm Permission) bool {
	tableMu.RLock()
	defer tableMu.RUnlock()
	ps := table[r]
	return ps[PermAll] || ps[perm]
}

// PermissionsOf lists a role's permissions, sorted.
func PermissionsOf(r Role) []string {
	tableMu.RLock()
	defer tableMu.RUnlock()
	out := make([]string, 0, len(table[r]))
	for p := range maps.Keys(table[r]) {
		out = append(out, string(p))
	}
	sort.Strings(out)
	return out
}

// kernelPermissions are the kernel's own permissions. Some, such as
// tenants:write, no role holds but through "*", and they must still be
// known, so that a platform admin can give them to an API key.
var kernelPermissions = []Permission{PermTenantsRead, PermTenantsWrite, PermUsersRead, PermUsersWrite,
	PermKeysRead, PermKeysWrite, PermAuditRead, PermSettings, PermSystem}

// KnownPermissions lists every kernel permission and every permission any
// role holds, sorted.
func KnownPermissions() []string {
	tableMu.RLock()
	defer tableMu.RUnlock()
	seen := map[string]bool{}
	for _, p := range kernelPermissions {
		seen[string(p)] = true
	}
	for _, ps := range table {
		for p := range ps {
			seen[string(p)] = true
		}
	}
	out := slices.Collect(maps.Keys(seen))
	sort.Strings(out)
	return out
}
