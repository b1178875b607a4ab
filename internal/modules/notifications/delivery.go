package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// taskFallback is the fallback check of one recipient,
// "notifications:fallback".
const taskFallback = "fallback"

// fallbackJob is the fallback task's data.
type fallbackJob struct {
	V              int    `json:"v"`
	NotificationID string `json:"notification_id"`
	UserID         string `json:"user_id"`
}

// Events pushed to the users' browser tabs.
const (
	EventNotification = "notification" // data: the inbox item
	EventUnreadCount  = "unread_count" // data: {"count": n}
)

// Item is a notification in a user's inbox, as the API, the live stream
// and the Missed replay show it.
type Item struct {
	ID             string          `json:"id"`
	NotificationID string          `json:"notification_id"`
	Category       string          `json:"category"`
	Title          string          `json:"title"`
	Body           string          `json:"body"`
	Link           string          `json:"link"`
	Data           json.RawMessage `json:"data"`
	Priority       string          `json:"priority"`
	Read           bool            `json:"read"`
	CreatedAt      time.Time       `json:"created_at"`
	ReadAt         *time.Time      `json:"read_at"`
	ArchivedAt     *time.Time      `json:"archived_at"`
	SnoozedUntil   *time.Time      `json:"snoozed_until"`
	ExpiresAt      time.Time       `json:"expires_at"`
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func itemOf(r *inboxRow) Item {
	it := Item{ID: r.ID, NotificationID: r.NotificationID, Category: r.Category, Title: r.Title, Body: r.Body,
		Link: r.Link, Data: json.RawMessage("null"), Priority: r.Priority, Read: r.ReadAt != nil,
		CreatedAt: r.CreatedAt.UTC(), ReadAt: utc(r.ReadAt), ArchivedAt: utc(r.ArchivedAt),
		SnoozedUntil: utc(r.SnoozedUntil), ExpiresAt: r.ExpiresAt.UTC()}
	if r.Data != nil {
		it.Data = json.RawMessage(*r.Data)
	}
	return it
}

// system is ctx acting as the platform within tenant, as jobs do.
func system(ctx context.Context, tenant string) context.Context {
	return security.WithPrincipal(ctx, security.System(tenant))
}

// deliver pushes a new notification to its recipients' open tabs and
// schedules the fallback check of each recipient whose preferences take
// e-mail or SMS for its category. A repeated run pushes again (a tab
// dedupes by id) and schedules nothing twice.
func (m *Module) deliver(ctx context.Context, t *queue.Task) error {
	var job deliverJob
	if err := t.Decode(&job); err != nil {
		return fmt.Errorf("notifications: deliver: %v: %w", err, queue.SkipRetry)
	}
	ctx = system(ctx, t.TenantID)
	n, err := m.store.message(ctx, job.NotificationID)
	if errors.Is(err, errNotFound) {
		return nil // expired and deleted
	}
	if err != nil {
		return err
	}
	rows, err := m.store.inboxOf(ctx, n.ID)
	if err != nil {
		return err
	}
	for i := range rows {
		m.push(ctx, &rows[i])
	}
	if !n.Fallback || m.sender == nil {
		return nil
	}
	return m.scheduleFallbacks(ctx, n, rows)
}

// push sends a user their new notification and unread count. The push
// is best effort: the inbox is the record, and a tab that missed it asks
// for what it missed when it reconnects.
func (m *Module) push(ctx context.Context, r *inboxRow) {
	item, _ := json.Marshal(itemOf(r))
	if err := m.gw.Publish(ctx, Event{Tenant: r.TenantID, Users: []string{r.UserID}, Name: EventNotification, Data: item}); err != nil {
		m.k.Log.Warn("notifications: push", "notification_id", r.NotificationID, "user_id", r.UserID, "error", err)
	}
	m.pushCount(ctx, r.TenantID, r.UserID)
}

// taskReturn brings a snoozed notification back to its user's tabs when
// the snooze ends, "notifications:snooze_ended".
const taskReturn = "snooze_ended"

// returnJob is the return task's data: the inbox row and the snooze it
// ends; a row snoozed again since has a job of its own.
type returnJob struct {
	ID    string    `json:"id"`
	User  string    `json:"user_id"`
	Until time.Time `json:"until"`
}

// scheduleReturn enqueues the return of row r, snoozed until, in the
// snooze's transaction. The delay is counted on the real clock, as the
// queue counts.
func (m *Module) scheduleReturn(ctx context.Context, r *inboxRow, until time.Time, delay time.Duration) error {
	_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskReturn, TenantID: r.TenantID, Delay: delay,
		Data: returnJob{ID: r.ID, User: r.UserID, Until: until}})
	return err
}

// snoozeEnded pushes a notification whose snooze has ended, with the new
// unread count, unless it was snoozed again, archived, deleted or has
// expired meanwhile. The queue starts a delayed job up to a second early:
// then it waits again for the rest.
func (m *Module) snoozeEnded(ctx context.Context, t *queue.Task) error {
	var j returnJob
	if err := t.Decode(&j); err != nil {
		return fmt.Errorf("notifications: %s: %v: %w", t.Type, err, queue.SkipRetry)
	}
	now := m.clock()
	r, err := m.store.inboxRow(system(ctx, t.TenantID), j.User, j.ID, now)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.SnoozedUntil == nil || !r.SnoozedUntil.Equal(j.Until) || r.ArchivedAt != nil {
		return nil
	}
	if wait := j.Until.Sub(now); wait > 0 {
		return m.scheduleReturn(ctx, r, j.Until, wait)
	}
	m.push(ctx, r)
	return nil
}

// pushCount sends a user their unread count.
func (m *Module) pushCount(ctx context.Context, tenant, user string) {
	n, err := m.store.unreadCount(system(ctx, tenant), user, m.clock())
	if err == nil {
		data, _ := json.Marshal(map[string]int{"count": n})
		err = m.gw.Publish(ctx, Event{Tenant: tenant, Users: []string{user}, Name: EventUnreadCount, Data: data})
	}
	if err != nil {
		m.k.Log.Warn("notifications: push unread count", "user_id", user, "error", err)
	}
}

// scheduleFallbacks enqueues one fallback check per recipient whose
// preferences take e-mail or SMS for the category: after the delay for
// those with the notification in their inbox, at once for those who take
// the category only by e-mail or SMS.
func (m *Module) scheduleFallbacks(ctx context.Context, n *messageRow, rows []inboxRow) error {
	after := m.cfg.FallbackAfter
	if n.FallbackAfterS > 0 {
		after = time.Duration(n.FallbackAfterS) * time.Second
	}
	delays := map[string]time.Duration{}
	var users []string
	for _, r := range rows {
		delays[r.UserID] = after
		users = append(users, r.UserID)
	}
	if n.DirectUsers != nil {
		var direct []string
		_ = json.Unmarshal([]byte(*n.DirectUsers), &direct)
		for _, u := range direct {
			delays[u] = 0
			users = append(users, u)
		}
	}
	prefs, err := m.store.prefsOf(ctx, users)
	if err != nil {
		return err
	}
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		for _, u := range users {
			ch := prefsView(prefs[u]).channels(n.Category)
			if !ch.Email && !ch.SMS {
				continue
			}
			job := m.fallbackJob(n, u, time.Time{}, Name+":fallback:"+n.ID+":"+u)
			job.Delay = delays[u]
			_, err := m.k.Queue.Enqueue(ctx, job)
			if err != nil && !errors.Is(err, queue.ErrDuplicate) {
				return err
			}
		}
		return nil
	})
}

// fallbackJob is the fallback check of user, due at runAt (zero: after
// the job's Delay).
func (m *Module) fallbackJob(n *messageRow, user string, runAt time.Time, unique string) queue.Job {
	return queue.Job{Type: Name + ":" + taskFallback, Data: fallbackJob{V: 1, NotificationID: n.ID, UserID: user},
		Queue: m.cfg.Queue, TenantID: n.TenantID, RunAt: runAt, UniqueKey: unique, UniqueFor: maxFallbackAfter + 24*time.Hour}
}

// fallback sends a notification by e-mail or SMS to a recipient who has
// not read it and is not online, as their preferences allow, outside
// their quiet hours. Each channel goes out at most once per notification
// and user, with an idempotency key that the contact module honours.
func (m *Module) fallback(ctx context.Context, t *queue.Task) error {
	var job fallbackJob
	if err := t.Decode(&job); err != nil {
		return fmt.Errorf("notifications: fallback: %v: %w", err, queue.SkipRetry)
	}
	_, err := m.checkFallback(system(ctx, t.TenantID), job.NotificationID, job.UserID)
	return err
}

// Outcomes of a fallback check.
const (
	fallbackSent     = "sent"
	fallbackNotDue   = "not_due" // read, archived, snoozed, expired, online, or not wanted
	fallbackDeferred = "deferred"
)

// checkFallback is the fallback check: what it did.
func (m *Module) checkFallback(ctx context.Context, nid, uid string) (string, error) {
	if m.sender == nil {
		return fallbackNotDue, nil
	}
	now := m.clock()
	n, err := m.store.message(ctx, nid)
	if errors.Is(err, errNotFound) {
		return fallbackNotDue, nil
	}
	if err != nil {
		return "", err
	}
	if !n.ExpiresAt.After(now) {
		return fallbackNotDue, nil
	}
	row, err := m.store.recipientRow(ctx, nid, uid)
	switch {
	case errors.Is(err, errNotFound):
		if !direct(n, uid) {
			return fallbackNotDue, nil
		}
	case err != nil:
		return "", err
	default:
		if row.ReadAt != nil || row.ArchivedAt != nil || (row.SnoozedUntil != nil && row.SnoozedUntil.After(now)) {
			return fallbackNotDue, nil
		}
		online, err := m.gw.Online(ctx, n.TenantID, uid)
		if err != nil {
			return "", err
		}
		if online {
			return fallbackNotDue, nil
		}
	}
	prefs, err := m.Preferences(ctx, uid)
	if err != nil {
		return "", err
	}
	ch := prefs.channels(n.Category)
	if !ch.Email && !ch.SMS {
		return fallbackNotDue, nil
	}
	if until, quiet := prefs.quiet(now); quiet {
		_, err := m.k.Queue.Enqueue(ctx, m.fallbackJob(n, uid, until, ""))
		return fallbackDeferred, err
	}
	u, err := m.k.Security.GetUser(ctx, uid)
	if errs.KindOf(err) == errs.NotFound || (err == nil && u.Status != security.StatusActive) {
		return fallbackNotDue, nil
	}
	if err != nil {
		return "", err
	}
	sent := false
	if ch.Email && u.Email != "" {
		ok, err := m.sendFallback(ctx, n, uid, contracts.ChannelEmail, u.Email, prefs.TimeZone)
		if err != nil {
			return "", err
		}
		sent = sent || ok
	}
	if ch.SMS && prefs.Phone != nil {
		ok, err := m.sendFallback(ctx, n, uid, contracts.ChannelSMS, *prefs.Phone, prefs.TimeZone)
		if err != nil {
			return "", err
		}
		sent = sent || ok
	}
	if !sent {
		return fallbackNotDue, nil
	}
	return fallbackSent, nil
}

func direct(n *messageRow, uid string) bool {
	if n.DirectUsers == nil {
		return false
	}
	var users []string
	_ = json.Unmarshal([]byte(*n.DirectUsers), &users)
	for _, u := range users {
		if u == uid {
			return true
		}
	}
	return false
}

// sendFallback sends one channel's message and records it in one
// transaction; a channel already recorded is not sent again (false).
func (m *Module) sendFallback(ctx context.Context, n *messageRow, uid string, ch contracts.Channel, to, tz string) (bool, error) {
	msg := contracts.ContactMessage{Channel: ch, To: to, Body: m.fallbackText(n, ch),
		Category: contracts.CategoryTransactional, IdempotencyKey: Name + ":" + n.ID + ":" + uid + ":" + string(ch),
		Metadata: map[string]string{"notification_id": n.ID}, TimeZone: tz}
	if ch == contracts.ChannelEmail {
		msg.Subject = n.Title
	}
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		id, err := m.sender.Send(ctx, msg)
		if err != nil {
			return err
		}
		return m.store.insertFallback(ctx, &fallbackRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: n.TenantID,
			NotificationID: n.ID, UserID: uid, Channel: string(ch), MessageID: string(id), CreatedAt: m.clock()})
	})
	if errors.Is(err, errDuplicateKey) {
		return false, nil
	}
	if errs.KindOf(err) == errs.Invalid {
		// The contact module refuses the message for good (a bad address):
		// retrying would not help.
		m.k.Log.Warn("notifications: fallback refused", "notification_id", n.ID, "user_id", uid, "channel", ch, "error", err)
		return false, nil
	}
	return err == nil, err
}

// fallbackText is the text of the e-mail or SMS: the title (SMS only, as
// e-mail has it as the subject), the body and the link.
func (m *Module) fallbackText(n *messageRow, ch contracts.Channel) string {
	var parts []string
	if ch == contracts.ChannelSMS {
		parts = append(parts, n.Title)
	}
	if n.Body != "" {
		parts = append(parts, n.Body)
	}
	if n.Link != "" {
		link := n.Link
		if strings.HasPrefix(link, "/") {
			link = strings.TrimRight(m.k.Config.HTTP.PublicURL, "/") + link
		}
		parts = append(parts, link)
	}
	if len(parts) == 0 {
		parts = append(parts, n.Title)
	}
	text := strings.Join(parts, "\n\n")
	if ch == contracts.ChannelSMS && len(text) > 1600 {
		text = text[:1597] + "..."
	}
	return text
}

// cleanupBatch is how many rows one statement of the cleanup deletes.
const cleanupBatch = 500

// Cleanup deletes expired notifications in batches, across all tenants,
// and returns how many rows it deleted.
func (m *Module) Cleanup(ctx context.Context) (int, error) {
	ctx = system(ctx, "")
	total := 0
	for {
		n, err := m.store.deleteExpired(ctx, m.clock(), cleanupBatch)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// maxMissed bounds one page of Missed; the gateway pages through more.
const maxMissed = 1000

// Missed is the user's notifications, not archived, created after the one
// with id afterID (every one when empty), oldest first: what a browser tab
// that reconnects has missed. It is the realtime gateway's source.
func (m *Module) Missed(ctx context.Context, tenantID, userID, afterID string, limit int) ([]json.RawMessage, error) {
	if afterID == "" {
		afterID = "0"
	} else if _, err := uuid.Parse(afterID); err != nil {
		return nil, ErrInvalidQuery.WithDetails(errs.Detail{Field: "after", Code: "uuid", Message: "must be a notification id"})
	}
	if limit <= 0 || limit > maxMissed {
		limit = maxMissed
	}
	rows, err := m.store.listInbox(system(ctx, tenantID), userID, inboxFilter{After: afterID, Limit: limit, Snoozed: true}, m.clock())
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(rows))
	for i := range rows {
		out[i], _ = json.Marshal(itemOf(&rows[i]))
	}
	return out, nil
}

// UnreadCount is the user's unread count, as the bell shows it.
func (m *Module) UnreadCount(ctx context.Context, tenantID, userID string) (int, error) {
	return m.store.unreadCount(system(ctx, tenantID), userID, m.clock())
}
