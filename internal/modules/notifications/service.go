package notifications

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of Notify.
var (
	ErrNoTenant = errs.New(errs.Invalid, "notifications.no_tenant",
		"A notification belongs to a tenant: act as one (X-Tenant-ID) to send it.")
	ErrInvalidNotification = errs.New(errs.Invalid, "notifications.invalid_notification",
		"The notification has invalid fields.")
)

// taskDeliver is the delivery task, "notifications:deliver".
const taskDeliver = "deliver"

// deliverJob is the delivery task's data.
type deliverJob struct {
	V              int    `json:"v"`
	NotificationID string `json:"notification_id"`
}

// Limits of a notification.
const (
	maxTitle         = 200 // characters
	maxBody          = 10_000
	maxLink          = 2000
	maxData          = 16_384
	maxKey           = 200
	maxUserIDs       = 1000
	maxTTL           = 365 * 24 * time.Hour
	maxFallbackAfter = 7 * 24 * time.Hour
	defaultCategory  = "general"
)

var category = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

var priorities = []contracts.NotificationPriority{contracts.PriorityLow, contracts.PriorityNormal,
	contracts.PriorityHigh, contracts.PriorityUrgent}

// Notify implements contracts.Notifier.
func (m *Module) Notify(ctx context.Context, n contracts.Notification) (contracts.NotificationID, error) {
	r, _, err := m.notify(ctx, n)
	if err != nil {
		return "", err
	}
	return contracts.NotificationID(r.ID), nil
}

// notify stores the notification, its inbox rows and its delivery job in
// one transaction. It returns the stored notification, and whether it is
// an earlier one with the same idempotency key and content.
func (m *Module) notify(ctx context.Context, n contracts.Notification) (*messageRow, bool, error) {
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return nil, false, ErrNoTenant
	}
	if n.Category == "" {
		n.Category = defaultCategory
	}
	if n.Priority == "" {
		n.Priority = contracts.PriorityNormal
	}
	now := m.clock()
	if err := check(&n, now); err != nil {
		return nil, false, err
	}
	row, err := newMessageRow(ctx, tenant, &n, now, m.cfg.TTL)
	if err != nil {
		return nil, false, err
	}
	if row.IdempotencyKey != nil {
		if prev, ok, err := m.replay(ctx, row); ok || err != nil {
			return prev, ok, err
		}
	}
	users, err := m.resolve(ctx, tenant, n.Recipient)
	if err != nil {
		return nil, false, err
	}
	prefs, err := m.store.prefsOf(ctx, users)
	if err != nil {
		return nil, false, err
	}
	var inbox []inboxRow
	var direct []string
	for _, u := range users {
		if !prefsView(prefs[u]).channels(row.Category).InApp {
			direct = append(direct, u)
			continue
		}
		inbox = append(inbox, inboxRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, UserID: u,
			NotificationID: row.ID, Category: row.Category, Title: row.Title, Body: row.Body, Link: row.Link,
			Data: row.Data, Priority: row.Priority, CreatedAt: now, ExpiresAt: row.ExpiresAt})
	}
	row.Recipients = len(users)
	if len(direct) > 0 {
		b, _ := json.Marshal(direct)
		s := string(b)
		row.DirectUsers = &s
	}
	err = m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.insertNotification(ctx, row, inbox); err != nil {
			return err
		}
		_, err := m.k.Queue.Enqueue(ctx, queue.Job{Type: Name + ":" + taskDeliver,
			Data: deliverJob{V: 1, NotificationID: row.ID}, Queue: m.cfg.Queue, TenantID: tenant,
			UniqueKey: Name + ":deliver:" + row.ID})
		return err
	})
	if errors.Is(err, errDuplicateKey) && row.IdempotencyKey != nil {
		prev, ok, rerr := m.replay(ctx, row)
		if ok || rerr != nil {
			return prev, ok, rerr
		}
	}
	if err != nil {
		return nil, false, err
	}
	return row, false, nil
}

// replay is the earlier notification with row's idempotency key, when
// there is one (ok), or ErrNotificationMismatch when it says otherwise.
func (m *Module) replay(ctx context.Context, row *messageRow) (*messageRow, bool, error) {
	prev, err := m.store.messageByKey(ctx, *row.IdempotencyKey)
	if errors.Is(err, errNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if prev.PayloadHash != row.PayloadHash {
		return nil, false, contracts.ErrNotificationMismatch
	}
	return prev, true, nil
}

// check refuses a notification that cannot be stored or shown, naming
// each wrong field.
func check(n *contracts.Notification, now time.Time) error {
	var d []errs.Detail
	bad := func(field, code, text string) { d = append(d, errs.Detail{Field: field, Code: code, Message: text}) }
	d = append(d, checkRecipient(n.Recipient)...)
	if !category.MatchString(n.Category) {
		bad("category", "format", "must be 1-64 lower-case letters, digits, dots, dashes and underscores, starting with a letter")
	}
	switch t := strings.TrimSpace(n.Title); {
	case t == "":
		bad("title", "required", "is required")
	case utf8.RuneCountInString(n.Title) > maxTitle:
		bad("title", "max", fmt.Sprintf("must be at most %d characters", maxTitle))
	}
	if len(n.Body) > maxBody {
		bad("body", "max", fmt.Sprintf("must be at most %d bytes", maxBody))
	}
	if n.Link != "" && !validLink(n.Link) {
		bad("link", "url", fmt.Sprintf("must be a path such as /admin/helpdesk/tickets/1 or an http(s) URL, at most %d characters", maxLink))
	}
	if !slices.Contains(priorities, n.Priority) {
		bad("priority", "oneof", "must be low, normal, high or urgent")
	}
	if len(n.IdempotencyKey) > maxKey {
		bad("idempotency_key", "max", fmt.Sprintf("must be at most %d bytes", maxKey))
	}
	if n.Data != nil {
		if b, err := json.Marshal(n.Data); err != nil {
			bad("data", "json", "cannot be encoded as JSON")
		} else if len(b) > maxData {
			bad("data", "max", fmt.Sprintf("must be at most %d bytes of JSON", maxData))
		}
	}
	if !n.ExpiresAt.IsZero() && (!n.ExpiresAt.After(now) || n.ExpiresAt.Sub(now) > maxTTL) {
		bad("expires_at", "range", "must be in the future, within a year")
	}
	if n.FallbackAfter != 0 && (n.FallbackAfter < time.Minute || n.FallbackAfter > maxFallbackAfter) {
		bad("fallback_after", "range", "must be from 1 minute to 7 days")
	}
	if len(d) > 0 {
		return ErrInvalidNotification.WithDetails(d...)
	}
	return nil
}

func checkRecipient(r contracts.Recipient) []errs.Detail {
	set := 0
	for _, b := range []bool{len(r.UserIDs) > 0, r.Role != "", r.Tenant} {
		if b {
			set++
		}
	}
	if set != 1 {
		return []errs.Detail{{Field: "recipient", Code: "oneof", Message: "must name exactly one of user_ids, role or tenant"}}
	}
	var d []errs.Detail
	if len(r.UserIDs) > maxUserIDs {
		d = append(d, errs.Detail{Field: "recipient.user_ids", Code: "max", Message: fmt.Sprintf("must have at most %d ids", maxUserIDs)})
	}
	for i, id := range r.UserIDs {
		if _, err := uuid.Parse(id); err != nil {
			d = append(d, errs.Detail{Field: fmt.Sprintf("recipient.user_ids[%d]", i), Code: "uuid", Message: "must be a user id"})
		}
	}
	if r.Role != "" {
		if role := security.Role(r.Role); !role.Valid() || role == security.RolePlatformAdmin {
			d = append(d, errs.Detail{Field: "recipient.role", Code: "oneof", Message: "must be a role of the tenant, such as owner or agent"})
		}
	}
	return d
}

func validLink(s string) bool {
	if utf8.RuneCountInString(s) > maxLink || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "/\\")
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// newMessageRow is the row of a checked notification, with the hash of
// what it says, which decides whether a repeated idempotency key is a
// replay.
func newMessageRow(ctx context.Context, tenant string, n *contracts.Notification, now time.Time, ttl time.Duration) (*messageRow, error) {
	recipient, err := json.Marshal(recipientView{UserIDs: n.Recipient.UserIDs, Role: n.Recipient.Role, Tenant: n.Recipient.Tenant})
	if err != nil {
		return nil, err
	}
	var data *string
	if n.Data != nil {
		b, _ := json.Marshal(n.Data) // check encoded it once already
		s := string(b)
		data = &s
	}
	var expires string
	if !n.ExpiresAt.IsZero() {
		expires = n.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	canon, err := json.Marshal(map[string]any{"recipient": json.RawMessage(recipient), "category": n.Category,
		"title": n.Title, "body": n.Body, "link": n.Link, "data": data, "priority": n.Priority, "expires_at": expires,
		"fallback": n.Fallback, "fallback_after": n.FallbackAfter.String()})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	r := &messageRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, PayloadHash: hex.EncodeToString(sum[:]),
		Category: n.Category, Title: n.Title, Body: n.Body, Link: n.Link, Data: data, Priority: string(n.Priority),
		Recipient: string(recipient), Fallback: n.Fallback, FallbackAfterS: int(n.FallbackAfter / time.Second),
		CreatedBy: "unknown", CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if p, ok := security.PrincipalFrom(ctx); ok {
		r.CreatedBy = p.String()
	}
	if !n.ExpiresAt.IsZero() {
		r.ExpiresAt = n.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	if n.IdempotencyKey != "" {
		k := n.IdempotencyKey
		r.IdempotencyKey = &k
	}
	return r, nil
}

// resolve is the active users of tenant the recipient names, each once.
// A user id that is not an active user of the tenant is invalid.
func (m *Module) resolve(ctx context.Context, tenant string, r contracts.Recipient) ([]string, error) {
	sys := security.WithPrincipal(ctx, security.System(tenant))
	if len(r.UserIDs) > 0 {
		var out []string
		var d []errs.Detail
		for i, id := range r.UserIDs {
			if slices.Contains(out, id) {
				continue
			}
			u, err := m.k.Security.GetUser(sys, id)
			if err != nil && errs.KindOf(err) != errs.NotFound {
				return nil, err
			}
			if err != nil || u.Status != security.StatusActive || u.TenantID != tenant {
				d = append(d, errs.Detail{Field: fmt.Sprintf("recipient.user_ids[%d]", i), Code: "exists",
					Message: "must be an active user of this tenant"})
				continue
			}
			out = append(out, id)
		}
		if len(d) > 0 {
			return nil, ErrInvalidNotification.WithDetails(d...)
		}
		return out, nil
	}
	f := security.UserFilter{Status: security.StatusActive, Limit: 500, OrderBy: "created_at"}
	if r.Role != "" {
		f.Role = r.Role
	}
	var out []string
	for {
		users, _, err := m.k.Security.ListUsers(sys, f)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out = append(out, u.ID)
		}
		if len(users) < f.Limit {
			return out, nil
		}
		f.Offset += f.Limit
	}
}
