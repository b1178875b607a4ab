package helpdesk

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Errors of groups and assignment.
var (
	ErrGroupNotFound   = errs.New(errs.NotFound, "helpdesk.group_not_found", "The group does not exist.")
	ErrGroupNameTaken  = errs.New(errs.Conflict, "helpdesk.group_name_taken", "Another group of this tenant has this name.")
	ErrGroupInUse      = errs.New(errs.Conflict, "helpdesk.group_in_use", "Tickets are in this group; move them first.")
	ErrNoGroup         = errs.New(errs.Invalid, "helpdesk.no_group", "The ticket is in no group to assign it from.")
	ErrNoAgentFree     = errs.New(errs.Invalid, "helpdesk.no_agent_available", "Every member of the group is away.")
	ErrNotRoundRobin   = errs.New(errs.Invalid, "helpdesk.group_not_round_robin", "The ticket's group does not assign round-robin.")
	ErrNotAgent        = errs.New(errs.Forbidden, "helpdesk.not_an_agent", "Only owners and agents have a presence.")
	errMemberNotStaff  = invalid("members", "exists", "must be owners or agents of this tenant")
	errGroupIDNotFound = invalid("group_id", "exists", "must be a group of this tenant")
)

type groupRow struct {
	ID             string    `gorm:"column:id;primaryKey"`
	TenantID       string    `gorm:"column:tenant_id"`
	Name           string    `gorm:"column:name"`
	RoundRobin     bool      `gorm:"column:round_robin"`
	LastAssigneeID *string   `gorm:"column:last_assignee_id"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	UpdatedAt      time.Time `gorm:"column:updated_at"`
}

func (groupRow) TableName() string { return "helpdesk_groups" }

type memberRow struct {
	GroupID   string    `gorm:"column:group_id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	UserID    string    `gorm:"column:user_id;primaryKey"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (memberRow) TableName() string { return "helpdesk_group_members" }

type agentRow struct {
	UserID    string    `gorm:"column:user_id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	Away      bool      `gorm:"column:away"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (agentRow) TableName() string { return "helpdesk_agents" }

// Agent is an owner or agent of the tenant, who works tickets.
type Agent struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Role   string   `json:"role"`
	Away   bool     `json:"away"`
	Groups []string `json:"groups"` // ids of the groups the agent is a member of
}

// Group is a team of agents that tickets are routed to.
type Group struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	RoundRobin bool      `json:"round_robin"`
	Members    []Member  `json:"members"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Member is an agent in a group.
type Member struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Away   bool   `json:"away"`
}

// GroupInput creates or changes a group; nil leaves a field alone (a new
// group needs a name).
type GroupInput struct {
	Name       *string   `json:"name"`
	RoundRobin *bool     `json:"round_robin"`
	Members    *[]string `json:"members"` // user ids: the whole new list
}

// staffUsers are the tenant's active owners and agents, by id.
func (m *Module) staffUsers(ctx context.Context) (map[string]security.User, error) {
	sys := security.WithPrincipal(ctx, security.System(security.TenantOf(ctx)))
	out := map[string]security.User{}
	for _, role := range []security.Role{security.RoleOwner, security.RoleAgent} {
		us, _, err := m.k.Security.ListUsers(sys, security.UserFilter{Role: string(role), Status: security.StatusActive,
			Limit: 10000, OrderBy: "email"})
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			out[u.ID] = u
		}
	}
	return out, nil
}

// Agents lists the tenant's owners and agents with their presence and
// groups, by e-mail address.
func (m *Module) Agents(ctx context.Context) ([]Agent, error) {
	users, err := m.staffUsers(ctx)
	if err != nil {
		return nil, err
	}
	away, err := m.store.awaySet(ctx)
	if err != nil {
		return nil, err
	}
	members, err := m.store.allMembers(ctx)
	if err != nil {
		return nil, err
	}
	groups := map[string][]string{}
	for _, mr := range members {
		groups[mr.UserID] = append(groups[mr.UserID], mr.GroupID)
	}
	out := []Agent{}
	for _, u := range users {
		out = append(out, Agent{ID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role), Away: away[u.ID],
			Groups: append([]string{}, groups[u.ID]...)})
	}
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

// SetAway marks the calling agent away (skipped by round-robin) or back.
func (m *Module) SetAway(ctx context.Context, away bool) (*Agent, error) {
	p, _ := security.PrincipalFrom(ctx)
	if p == nil || p.Kind != security.KindUser || (p.Role != security.RoleOwner && p.Role != security.RoleAgent) {
		return nil, ErrNotAgent
	}
	if err := m.store.setAway(ctx, &agentRow{UserID: p.ID, TenantID: security.TenantOf(ctx), Away: away, UpdatedAt: now()}); err != nil {
		return nil, err
	}
	agents, err := m.Agents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range agents {
		if agents[i].ID == p.ID {
			return &agents[i], nil
		}
	}
	return nil, ErrNotAgent
}

// Groups lists the tenant's groups by name.
func (m *Module) Groups(ctx context.Context) ([]Group, error) {
	rows, err := m.store.groups(ctx)
	if err != nil {
		return nil, err
	}
	return m.viewGroups(ctx, rows)
}

// Group reads one group of the tenant.
func (m *Module) Group(ctx context.Context, id string) (*Group, error) {
	g, err := m.store.group(ctx, id, false)
	if err != nil {
		return nil, err
	}
	gs, err := m.viewGroups(ctx, []groupRow{*g})
	if err != nil {
		return nil, err
	}
	return &gs[0], nil
}

func (m *Module) viewGroups(ctx context.Context, rows []groupRow) ([]Group, error) {
	users, err := m.staffUsers(ctx)
	if err != nil {
		return nil, err
	}
	away, err := m.store.awaySet(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Group, len(rows))
	for i, g := range rows {
		ms, err := m.store.members(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		out[i] = Group{ID: g.ID, Name: g.Name, RoundRobin: g.RoundRobin, Members: []Member{},
			CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC()}
		for _, id := range ms {
			u := users[id] // a member who is no longer staff shows without name
			out[i].Members = append(out[i].Members, Member{UserID: id, Name: u.Name, Email: u.Email, Away: away[id]})
		}
	}
	return out, nil
}

// checkGroupInput validates in and returns the cleaned name and members.
func (m *Module) checkGroupInput(ctx context.Context, in GroupInput, create bool) (name string, members []string, err error) {
	var d []errs.Detail
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if (create || in.Name != nil) && (name == "" || len(name) > 100) {
		d = append(d, invalid("name", "required", "must be 1 to 100 characters"))
	}
	if in.Members != nil {
		if len(*in.Members) > 500 {
			d = append(d, invalid("members", "max", "must be at most 500 users"))
		} else {
			users, err := m.staffUsers(ctx)
			if err != nil {
				return "", nil, err
			}
			for _, id := range *in.Members {
				if _, ok := users[id]; !ok {
					d = append(d, errMemberNotStaff)
					break
				}
				if !slices.Contains(members, id) {
					members = append(members, id)
				}
			}
		}
	}
	if len(d) > 0 {
		return "", nil, ErrInvalidInput.WithDetails(d...)
	}
	return name, members, nil
}

// CreateGroup makes a group.
func (m *Module) CreateGroup(ctx context.Context, in GroupInput) (*Group, error) {
	name, members, err := m.checkGroupInput(ctx, in, true)
	if err != nil {
		return nil, err
	}
	at := now()
	g := &groupRow{ID: newID(), TenantID: security.TenantOf(ctx), Name: name, RoundRobin: in.RoundRobin != nil && *in.RoundRobin,
		CreatedAt: at, UpdatedAt: at}
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.createGroup(ctx, g); err != nil {
			return err
		}
		return m.store.setMembers(ctx, g, members, at)
	})
	if err != nil {
		return nil, err
	}
	return m.Group(ctx, g.ID)
}

// UpdateGroup changes a group's name, round-robin flag or members.
func (m *Module) UpdateGroup(ctx context.Context, id string, in GroupInput) (*Group, error) {
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		g, err := m.store.group(ctx, id, true)
		if err != nil {
			return err // a missing group is 404 whatever the body says
		}
		name, members, err := m.checkGroupInput(ctx, in, false)
		if err != nil {
			return err
		}
		at := now()
		set := map[string]any{"updated_at": at}
		if in.Name != nil {
			set["name"] = name
		}
		if in.RoundRobin != nil {
			set["round_robin"] = *in.RoundRobin
		}
		if err := m.store.updateGroup(ctx, g.ID, set); err != nil {
			return err
		}
		if in.Members != nil {
			return m.store.setMembers(ctx, g, members, at)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m.Group(ctx, id)
}

// DeleteGroup removes a group no ticket is in.
func (m *Module) DeleteGroup(ctx context.Context, id string) error {
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		g, err := m.store.group(ctx, id, true)
		if err != nil {
			return err
		}
		n, err := m.store.ticketsInGroup(ctx, g.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrGroupInUse
		}
		return m.store.deleteGroup(ctx, g.ID)
	})
}

// validGroupID is id as a group id for a ticket: a group of the tenant, or
// a 422 naming group_id.
func (m *Module) validGroupID(ctx context.Context, id string) (*groupRow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrInvalidTicket.WithDetails(errGroupIDNotFound)
	}
	g, err := m.store.group(ctx, id, false)
	if errs.KindOf(err) == errs.NotFound {
		return nil, ErrInvalidTicket.WithDetails(errGroupIDNotFound)
	}
	return g, err
}
