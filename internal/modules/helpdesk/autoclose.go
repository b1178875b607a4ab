package helpdesk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/platform/platform/internal/kernel/security"
)

// Solved tickets close on their own.
//
// A solved ticket waits for the customer: an answer reopens it. Once it
// has been solved for modules.helpdesk.close_solved_after (4 days by
// default, as in Zendesk) nobody expects one any more, and it is closed: a
// later e-mail opens a new ticket. Every process that runs the scheduler
// looks each minute for up to 500 tickets of any tenant solved before the
// cut-off (the (status, solved_at) index), and closes each in a
// transaction that locks it and checks it again, so two processes close it
// once and a ticket reopened meanwhile stays open. The close is an update
// like an agent's: history (actor system:auto_close), ticket_updated, SLA.

// autoCloser is the principal that closes solved tickets of a tenant.
func autoCloser(tenant string) *security.Principal {
	return &security.Principal{Kind: security.KindSystem, ID: "auto_close", TenantID: tenant}
}

// CloseSolved closes the tickets solved before close_solved_after ago. It
// does nothing when that is 0.
func (m *Module) CloseSolved(ctx context.Context) error {
	after := m.cfg.CloseSolvedAfter
	if after <= 0 {
		return nil
	}
	cutoff := m.clock().Add(-after)
	due, err := m.store.solvedBefore(security.WithPrincipal(ctx, security.System("")), cutoff, sweepBatch)
	if err != nil {
		return err
	}
	var first error
	for _, d := range due {
		tctx := security.WithPrincipal(ctx, autoCloser(d.TenantID))
		err := m.k.DB.InTx(tctx, func(ctx context.Context) error {
			t, err := m.store.ticketForUpdate(ctx, d.ID)
			if err != nil {
				return err
			}
			if t.Status != StatusSolved || t.SolvedAt == nil || !t.SolvedAt.Before(cutoff) {
				return nil // reopened, or closed by someone else, meanwhile
			}
			closed := StatusClosed
			_, err = m.applyPatch(ctx, t, t.Version, ticketPatch{Status: &closed}, errReopenLost)
			if errors.Is(err, errReopenLost) {
				return nil
			}
			return err
		})
		if err != nil && first == nil {
			first = fmt.Errorf("helpdesk: close solved ticket %s: %w", d.ID, err)
		}
	}
	return first
}

// solvedBefore lists tickets of every tenant solved before cutoff, oldest
// first.
func (s *store) solvedBefore(ctx context.Context, cutoff time.Time, limit int) ([]ticketRow, error) {
	var out []ticketRow
	return out, s.db.Conn(ctx).Select("id", "tenant_id").Where("status = ? AND solved_at < ?", StatusSolved, cutoff).
		Order("solved_at").Limit(limit).Find(&out).Error
}
