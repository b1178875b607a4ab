package notifications

import "context"

// CheckFallback runs the fallback check of one recipient at once, as its
// job would, and says what it did: sent, not_due or deferred.
func CheckFallback(ctx context.Context, m *Module, notificationID, userID string) (string, error) {
	return m.checkFallback(ctx, notificationID, userID)
}
