package contact

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// logProvider "sends" by writing the message to the outbox table, which
// the API (and later the backoffice) shows: development's provider, and
// the default on the embedded queue.
type logProvider struct {
	s          *store
	providerID *string
	now        func() time.Time
}

func buildLog(e env, raw json.RawMessage, _ map[string]string) (provider, error) {
	var s struct{}
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	p := &logProvider{s: e.m.store, now: e.m.now}
	if e.row != nil && e.row.ID != "" {
		id := e.row.ID
		p.providerID = &id
	}
	return p, nil
}

func (l *logProvider) Send(ctx context.Context, m *outgoing) (string, error) {
	r := &outboxRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: m.TenantID, MessageID: m.ID, ProviderID: l.providerID,
		Channel: string(m.Channel), Recipient: m.To, Subject: m.Subject, Body: m.Text, HTML: m.HTML, CreatedAt: l.now()}
	if err := l.s.addOutbox(ctx, r); err != nil {
		return "", err
	}
	return "log:" + r.ID, nil
}
