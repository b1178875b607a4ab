package notifications

import (
	"context"

	"github.com/platform/platform/internal/modules/contracts"
)

// CheckFallback runs the fallback check of one recipient at once, as its
// job would, and says what it did: sent, not_due or deferred.
func CheckFallback(ctx context.Context, m *Module, notificationID, userID string) (string, error) {
	return m.checkFallback(ctx, notificationID, userID)
}

// HandleForTest runs the module's handler of a message's topic, as a
// redelivery by the jobs module would.
func (m *Module) HandleForTest(ctx context.Context, msg *contracts.Message) error {
	switch msg.Topic {
	case topicTicketAssigned:
		return m.onTicketAssigned(ctx, msg)
	case topicTicketReplied:
		return m.onTicketReplied(ctx, msg)
	}
	return nil
}
