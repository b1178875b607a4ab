package helpdesk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Task names, "helpdesk:<name>".
const (
	taskSendReply = "send_reply"
	taskSendCSAT  = "send_csat"
)

// Tasks implements kernel.Worker.
func (m *Module) Tasks(t *queue.Registry) {
	t.Handle(taskSendReply, m.sendReply)
	t.Handle(taskSendCSAT, m.sendCSAT) // csat.go
}

// Mail directions of helpdesk_mail_ids.
const (
	mailIn  = "in"
	mailOut = "out"
)

type mailIDRow struct {
	TenantID  string    `gorm:"column:tenant_id;primaryKey"`
	MailID    string    `gorm:"column:mail_id;primaryKey"`
	Direction string    `gorm:"column:direction"`
	TicketID  string    `gorm:"column:ticket_id"`
	MessageID string    `gorm:"column:message_id"`
	Sender    string    `gorm:"column:sender"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (mailIDRow) TableName() string { return "helpdesk_mail_ids" }

// replyJob is the payload of helpdesk:send_reply (v1).
type replyJob struct {
	V         int    `json:"v"`
	TicketID  string `json:"ticket_id"`
	MessageID string `json:"message_id"`
}

// enqueueReply sends msg to the ticket's requester after ctx's transaction
// commits (the queue's outbox): a rollback sends nothing.
func (m *Module) enqueueReply(ctx context.Context, t *ticketRow, msg *messageRow) error {
	_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskSendReply, TenantID: t.TenantID,
		Data: replyJob{V: 1, TicketID: t.ID, MessageID: msg.ID}})
	return err
}

// shortRef is a ticket's reference in e-mail subjects, "[#<ref>]": the last
// ten hex digits of its id, which are random in a UUIDv7.
func shortRef(ticketID string) string {
	id := strings.ReplaceAll(ticketID, "-", "")
	return id[len(id)-10:]
}

// replySubject is the subject of the e-mails about a ticket.
func replySubject(t *ticketRow) string {
	return "Re: [#" + shortRef(t.ID) + "] " + t.Subject
}

// sendReply e-mails an agent's public reply to the requester through the
// contact module. The idempotency key is the message's id, so a retry
// never sends twice; the contact message id (the e-mail's Message-ID is
// made from it) is kept, so that the requester's answer threads.
func (m *Module) sendReply(ctx context.Context, task *queue.Task) error {
	var j replyJob
	if err := task.Decode(&j); err != nil || j.MessageID == "" {
		return fmt.Errorf("helpdesk: bad reply task: %v: %w", err, queue.SkipRetry)
	}
	ctx = security.WithPrincipal(ctx, security.System(task.TenantID))
	t, err := m.store.ticket(ctx, j.TicketID)
	if err != nil {
		return permanent(err)
	}
	msg, err := m.store.message(ctx, j.MessageID)
	if err != nil {
		return permanent(err)
	}
	if msg.Internal || msg.AuthorKind != AuthorAgent {
		return nil // only staff's public replies go out
	}
	to, err := m.requesterEmail(ctx, t)
	if to == "" || err != nil {
		return err
	}
	atts, err := m.store.attachmentsOfMessage(ctx, t.ID, msg.ID)
	if err != nil {
		return err
	}
	md := map[string]string{"helpdesk_ticket_id": t.ID, "helpdesk_message_id": msg.ID}
	if err := m.threadMetadata(ctx, t.ID, msg.ID, md); err != nil {
		return err
	}
	cm := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: to, Subject: replySubject(t),
		Body:     msg.Body + m.fileList(atts, msg.CreatedAt), // filelinks.go
		Category: contracts.CategoryTransactional, IdempotencyKey: "helpdesk-reply:" + msg.ID, Metadata: md}
	return m.send(ctx, cm, t, msg.ID)
}

// referencesTail is how many of a ticket's latest Message-IDs References
// names after the first one, as mail clients cap it.
const referencesTail = 10

// threadMetadata sets md's in_reply_to and references (the contact
// module's SMTP provider writes them as In-Reply-To and References), so
// that a reply joins the customer's thread: In-Reply-To is the customer's
// latest e-mail on the ticket, References the ticket's e-mails in order,
// the first and the last ten. An outgoing one is named by its contact
// message id, which the contact module turns into the Message-ID it went
// out with. A ticket without e-mail gets neither. The reply's own e-mail
// is left out: a second run of its job after it went must send the same
// message, or the contact module refuses the idempotency key.
func (m *Module) threadMetadata(ctx context.Context, ticketID, replyID string, md map[string]string) error {
	rows, err := m.store.ticketMailIDs(ctx, ticketID)
	if err != nil {
		return err
	}
	var refs []string
	for _, r := range rows {
		id := r.MailID
		if r.MessageID == replyID {
			continue
		}
		if r.Direction == mailIn {
			if strings.HasSuffix(id, "@"+noMessageIDDomain) {
				continue // a message that came without a Message-ID
			}
			id = "<" + id + ">"
			md["in_reply_to"] = id
		}
		refs = append(refs, id)
	}
	if len(refs) > 1+referencesTail {
		refs = append(refs[:1], refs[len(refs)-referencesTail:]...)
	}
	if len(refs) > 0 {
		md["references"] = strings.Join(refs, " ")
	}
	return nil
}

// ticketMailIDs are a ticket's recorded Message-IDs, oldest first. They
// are found through the ticket's messages, whose ids are indexed.
func (s *store) ticketMailIDs(ctx context.Context, ticketID string) ([]mailIDRow, error) {
	var out []mailIDRow
	msgs := s.conn(ctx).Model(&messageRow{}).Select("id").Where("ticket_id = ?", ticketID)
	return out, s.conn(ctx).Where("ticket_id = ? AND message_id IN (?)", ticketID, msgs).Order("created_at, mail_id").Find(&out).Error
}

// send hands cm to the contact module, in a transaction that also keeps
// its id as an outgoing Message-ID of the ticket; without a sender it logs
// the message.
func (m *Module) send(ctx context.Context, cm contracts.ContactMessage, t *ticketRow, messageID string) error {
	if m.sender == nil {
		m.k.Log.Info("helpdesk: no sender; not sent", "to", cm.To, "subject", cm.Subject, "ticket_id", t.ID,
			"idempotency_key", cm.IdempotencyKey)
		return nil
	}
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		id, err := m.sender.Send(ctx, cm)
		if errors.Is(err, contracts.ErrIdempotencyMismatch) {
			// The key is this reply's, or this solve's: it went out on an
			// earlier run, and the mail has changed since (a new e-mail
			// of the customer's in its References, a new subject). It is
			// not sent again.
			m.k.Log.Info("helpdesk: sent before; not sent again", "ticket_id", t.ID, "idempotency_key", cm.IdempotencyKey)
			return nil
		}
		if err != nil || messageID == "" {
			return err
		}
		_, err = m.store.addMailID(ctx, &mailIDRow{TenantID: t.TenantID, MailID: string(id), Direction: mailOut,
			TicketID: t.ID, MessageID: messageID, CreatedAt: now()})
		return err
	})
}

// requesterEmail is the address of the ticket's requester; "" when they
// have none (nothing to send).
func (m *Module) requesterEmail(ctx context.Context, t *ticketRow) (string, error) {
	c, err := m.store.customer(ctx, t.RequesterID)
	if err != nil {
		return "", permanent(err)
	}
	if c.Email == nil || *c.Email == "" {
		m.k.Log.Info("helpdesk: requester has no e-mail address; not sent", "ticket_id", t.ID)
		return "", nil
	}
	return *c.Email, nil
}

// permanent marks a missing row as a failure no retry mends.
func permanent(err error) error {
	if errors.Is(err, ErrTicketNotFound) || errors.Is(err, ErrCustomerNotFound) || errors.Is(err, errMessageNotFound) {
		return fmt.Errorf("helpdesk: %w: %w", err, queue.SkipRetry)
	}
	return err
}

var errMessageNotFound = errors.New("helpdesk: message not found")

func (s *store) message(ctx context.Context, id string) (*messageRow, error) {
	var r messageRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(err, errMessageNotFound)
	}
	return &r, nil
}

// addMailID records a Message-ID; false: it was recorded before, and is
// left as it is.
func (s *store) addMailID(ctx context.Context, r *mailIDRow) (bool, error) {
	err := s.db.Conn(ctx).Create(r).Error
	if db.IsUniqueViolation(err) {
		return false, nil
	}
	return err == nil, err
}
