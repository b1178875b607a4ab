package contact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/platform/platform/internal/kernel/queue"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Outcomes of an attempt, in the status history.
const (
	outcomeAccepted  = "accepted"  // the provider took the message
	outcomeRetry     = "retry"     // it failed and will be tried again, maybe elsewhere
	outcomePermanent = "permanent" // it failed for good
	outcomeSkipped   = "skipped"   // the provider's breaker is open
)

// claimMargin is how much longer than an attempt's provider call a claim
// lasts: time for the attempt's own writes.
const claimMargin = 5 * time.Second

// errInProgress puts back a delivery whose message another worker holds.
var errInProgress = errors.New("contact: the message is being sent by another worker")

// candidate is one provider of a route, built or not.
type candidate struct {
	row *providerRow
	p   provider
	err error // why it could not be built
}

// deliver is the delivery task: one attempt at one message, through the
// first provider of its route that has attempts left and a closed breaker.
// It is idempotent: a message already done with is left alone, and a
// message is claimed before it is sent, so two deliveries never send it at
// once.
func (m *Module) deliver(ctx context.Context, t *queue.Task) error {
	var j deliverJob
	if err := t.Decode(&j); err != nil || j.MessageID == "" {
		return fmt.Errorf("contact: bad delivery task: %v: %w", err, queue.SkipRetry)
	}
	ctx = security.WithPrincipal(ctx, security.System(t.TenantID))
	msg, err := m.store.message(ctx, j.MessageID)
	if errors.Is(err, ErrMessageNotFound) {
		return fmt.Errorf("contact: message %s is gone: %w", j.MessageID, queue.SkipRetry)
	}
	if err != nil {
		return err
	}
	if final(msg.Status) {
		return nil
	}
	if waits, err := m.waitQuiet(ctx, msg, j, t.ID); waits || err != nil {
		return err // quiet.go: marketing due in quiet hours waits for their end
	}
	now := m.now()
	ok, err := m.store.claim(ctx, msg.ID, now, now.Add(m.cfg.SendTimeout+claimMargin))
	if err != nil {
		return err
	}
	if !ok {
		if msg, err = m.store.message(ctx, j.MessageID); err == nil && final(msg.Status) {
			return nil
		}
		return errInProgress
	}
	if msg, err = m.store.message(ctx, j.MessageID); err != nil {
		return err
	}
	last := t.Attempt >= t.MaxRetry
	if done, err := m.skipSuppressed(ctx, msg, last); done {
		return err // suppress.go: a suppressed address gets nothing
	}
	route, err := m.route(ctx, msg.Channel)
	if err != nil {
		return m.requeue(ctx, msg, nil, err, last)
	}
	if len(route) == 0 {
		return m.fail(ctx, msg, nil, StatusFailed, fmt.Errorf("no provider for %s in this tenant", msg.Channel))
	}
	fails, err := m.store.attemptsBy(ctx, msg.ID)
	if err != nil {
		return m.requeue(ctx, msg, nil, err, last)
	}
	pick, err := m.choose(ctx, msg, route, fails)
	if err != nil {
		return m.requeue(ctx, msg, nil, err, last)
	}
	if pick == nil {
		if !m.attemptsLeft(route, fails) {
			return m.fail(ctx, msg, nil, StatusFailed, errors.New("every provider failed"))
		}
		return m.requeue(ctx, msg, nil, errors.New("every provider with attempts left has its breaker open"), last)
	}
	out := m.outgoing(msg)
	if err := m.threadRefs(ctx, out); err != nil { // thread.go
		return m.requeue(ctx, msg, nil, err, last)
	}
	if err := m.store.addEvent(ctx, m.event(msg, StatusSending, pick.row, "", "")); err != nil {
		return m.requeue(ctx, msg, nil, err, last)
	}
	serr := pick.err
	var ref string
	if serr == nil {
		sctx, cancel := context.WithTimeout(ctx, m.cfg.SendTimeout)
		ref, serr = pick.p.Send(sctx, out)
		cancel()
	}
	if serr == nil {
		if pick.row.ID != "" {
			_ = m.breaker.success(ctx, pick.row.ID)
		}
		upd := map[string]any{"status": StatusSent, "provider_id": nullable(pick.row.ID), "provider_message_id": nullable(ref),
			"claimed_until": nil, "last_error": nil, "updated_at": m.now()}
		return m.store.setStatus(ctx, msg.ID, upd, m.event(msg, StatusSent, pick.row, outcomeAccepted, ref))
	}
	if status, ok := permanentStatus(serr); ok {
		m.bounced(ctx, msg, status) // suppress.go: a hard bounce suppresses the address
		return m.fail(ctx, msg, pick.row, status, serr)
	}
	if pick.row.ID != "" {
		fails[pick.row.ID]++
		if _, err := m.breaker.failure(ctx, pick.row.ID); err != nil {
			m.k.Log.Warn("contact: circuit breaker", "provider_id", pick.row.ID, "error", err)
		}
	}
	if !m.attemptsLeft(route, fails) {
		return m.fail(ctx, msg, pick.row, StatusFailed, serr)
	}
	return m.requeue(ctx, msg, pick.row, serr, last)
}

// choose is the first provider of the route with attempts left and a
// closed breaker, or nil; each one skipped for its breaker is recorded.
func (m *Module) choose(ctx context.Context, msg *messageRow, route []candidate, fails map[string]int) (*candidate, error) {
	for i := range route {
		c := &route[i]
		if c.row.ID == "" {
			return c, nil // the log fallback
		}
		if fails[c.row.ID] >= m.cfg.AttemptsPerProvider {
			continue
		}
		if !m.breaker.open(ctx, c.row.ID) {
			return c, nil
		}
		if err := m.store.addEvent(ctx, m.event(msg, StatusSending, c.row, outcomeSkipped, "circuit breaker open")); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// attemptsLeft reports whether a provider of the route may still be tried.
func (m *Module) attemptsLeft(route []candidate, fails map[string]int) bool {
	for _, c := range route {
		if c.row.ID == "" || fails[c.row.ID] < m.cfg.AttemptsPerProvider {
			return true
		}
	}
	return false
}

// requeue records a failed attempt and hands the message back to the
// queue, which retries it with backoff; on the job's last attempt the
// message fails instead.
func (m *Module) requeue(ctx context.Context, msg *messageRow, p *providerRow, cause error, last bool) error {
	if last {
		return m.fail(ctx, msg, p, StatusFailed, cause)
	}
	upd := map[string]any{"status": StatusQueued, "claimed_until": nil, "last_error": cause.Error(), "updated_at": m.now()}
	if err := m.store.setStatus(ctx, msg.ID, upd, m.event(msg, StatusQueued, p, outcomeRetry, cause.Error())); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// fail ends a message in status and tells the queue not to retry.
func (m *Module) fail(ctx context.Context, msg *messageRow, p *providerRow, status string, cause error) error {
	upd := map[string]any{"status": status, "claimed_until": nil, "last_error": cause.Error(), "updated_at": m.now()}
	if p != nil && p.ID != "" {
		upd["provider_id"] = p.ID
	}
	if err := m.store.setStatus(ctx, msg.ID, upd, m.event(msg, status, p, outcomePermanent, cause.Error())); err != nil {
		return errors.Join(cause, err) // retried: the message is still not done with
	}
	return fmt.Errorf("contact: %s: %w (%w)", status, cause, queue.SkipRetry)
}

// route is the tenant's providers for a channel, in order, or the log
// provider when there are none and the configuration falls back to it.
func (m *Module) route(ctx context.Context, channel string) ([]candidate, error) {
	rows, err := m.store.route(ctx, channel)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && m.logFallback() {
		rows = []providerRow{{Kind: "log", Channel: channel, Settings: "{}"}}
	}
	out := make([]candidate, len(rows))
	for i := range rows {
		out[i].row = &rows[i]
		out[i].p, out[i].err = m.build(&rows[i])
	}
	return out, nil
}

// build makes the provider of a row, with its credentials decrypted.
func (m *Module) build(r *providerRow) (provider, error) {
	k, ok := kinds[r.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown provider kind %q", r.Kind)
	}
	creds, err := m.credentials(r)
	if err != nil {
		return nil, fmt.Errorf("credentials of provider %s do not open (was modules.contact.secret_key changed?): %w", r.ID, err)
	}
	return k.build(env{m: m, row: r, allowPrivate: r.AllowPrivate, timeout: m.cfg.SendTimeout}, json.RawMessage(r.Settings), creds)
}

// outgoing is what a provider is given of a message.
func (m *Module) outgoing(r *messageRow) *outgoing {
	o := &outgoing{ID: r.ID, TenantID: r.TenantID, Channel: contracts.Channel(r.Channel), To: r.Recipient, Subject: r.Subject,
		Text: r.Body, HTML: r.HTML, Locale: r.Locale, Category: contracts.Category(r.Category), CreatedAt: r.CreatedAt}
	o.UnsubscribeToken, o.UnsubscribeURL = m.unsubscribeLink(r)
	if r.Metadata != nil {
		_ = json.Unmarshal([]byte(*r.Metadata), &o.Metadata)
	}
	if r.Data != nil {
		o.Data = json.RawMessage(*r.Data)
	}
	return o
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
