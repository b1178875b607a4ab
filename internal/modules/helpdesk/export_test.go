package helpdesk

import (
	"context"
	"encoding/json"

	"github.com/platform/platform/internal/kernel/queue"
)

// SendReplyAgain runs the reply job of messageID once more, as a re-run
// of the queue would.
func (m *Module) SendReplyAgain(ctx context.Context, tenant, ticketID, messageID string) error {
	data, _ := json.Marshal(replyJob{V: 1, TicketID: ticketID, MessageID: messageID})
	return m.sendReply(ctx, &queue.Task{Type: Name + ":send_reply", TenantID: tenant, Data: data})
}
