package helpdesk

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel/db"
)

// locked adds FOR UPDATE to q when lock is set (SQLite drops it: its
// transactions take the write lock at BEGIN).
func locked(q *gorm.DB, lock bool) *gorm.DB {
	if lock {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}

func (s *store) groups(ctx context.Context) ([]groupRow, error) {
	var out []groupRow
	return out, s.conn(ctx).Order("name, id").Limit(1000).Find(&out).Error
}

// group reads a group; lock holds its row to the end of the transaction,
// which is what serialises round-robin picks of one group.
func (s *store) group(ctx context.Context, id string, lock bool) (*groupRow, error) {
	var g groupRow
	if err := locked(s.conn(ctx), lock).Where("id = ?", id).Take(&g).Error; err != nil {
		return nil, notFound(err, ErrGroupNotFound)
	}
	return &g, nil
}

func (s *store) createGroup(ctx context.Context, g *groupRow) error {
	err := s.db.Conn(ctx).Create(g).Error
	if db.IsUniqueViolation(err) {
		return ErrGroupNameTaken
	}
	return err
}

func (s *store) updateGroup(ctx context.Context, id string, set map[string]any) error {
	err := s.conn(ctx).Model(&groupRow{}).Where("id = ?", id).Updates(set).Error
	if db.IsUniqueViolation(err) {
		return ErrGroupNameTaken
	}
	return err
}

func (s *store) deleteGroup(ctx context.Context, id string) error {
	if err := s.conn(ctx).Where("group_id = ?", id).Delete(&memberRow{}).Error; err != nil {
		return err
	}
	return s.conn(ctx).Where("id = ?", id).Delete(&groupRow{}).Error
}

func (s *store) ticketsInGroup(ctx context.Context, id string) (int64, error) {
	var n int64
	return n, s.conn(ctx).Model(&ticketRow{}).Where("group_id = ?", id).Count(&n).Error
}

// setMembers replaces the group's members.
func (s *store) setMembers(ctx context.Context, g *groupRow, users []string, at time.Time) error {
	if err := s.conn(ctx).Where("group_id = ?", g.ID).Delete(&memberRow{}).Error; err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	rows := make([]memberRow, len(users))
	for i, u := range users {
		rows[i] = memberRow{GroupID: g.ID, TenantID: g.TenantID, UserID: u, CreatedAt: at}
	}
	return s.db.Conn(ctx).Create(&rows).Error
}

// members are the user ids of a group, in id order: the round-robin order.
func (s *store) members(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	return out, s.conn(ctx).Model(&memberRow{}).Where("group_id = ?", groupID).Order("user_id").Pluck("user_id", &out).Error
}

func (s *store) allMembers(ctx context.Context) ([]memberRow, error) {
	var out []memberRow
	return out, s.conn(ctx).Order("group_id").Find(&out).Error
}

// awaySet is the tenant's agents who are away.
func (s *store) awaySet(ctx context.Context) (map[string]bool, error) {
	var ids []string
	if err := s.conn(ctx).Model(&agentRow{}).Where("away = ?", true).Pluck("user_id", &ids).Error; err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

func (s *store) setAway(ctx context.Context, a *agentRow) error {
	return s.db.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"away", "updated_at"})}).Create(a).Error
}

// lockTickets reads tickets with their rows locked, in id order so that two
// transactions locking the same pair cannot deadlock.
func (s *store) lockTickets(ctx context.Context, ids ...string) (map[string]*ticketRow, error) {
	var rows []ticketRow
	if err := locked(s.conn(ctx), true).Where("id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]*ticketRow, len(rows))
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, nil
}
