package contact

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/modules/contracts"
)

// threadKeys are the metadata keys the SMTP provider writes as In-Reply-To
// and References (provider_smtp.go).
var threadKeys = []string{"in_reply_to", "references"}

// ownMessageID reports whether a thread token is a message id as Send
// returns it, rather than a msg-id such as <local@domain>.
func ownMessageID(tok string) bool { return len(tok) == 36 && uuid.Validate(tok) == nil }

// threadRefs puts, in an e-mail's metadata in_reply_to and references, the
// Message-ID each earlier message of the tenant went out with in place of
// its id: a caller knows the ids Send returned, not the From domain the
// provider made each Message-ID with. An id not sent (yet), or not sent as
// e-mail, is left out. Other tokens are left as they are: the provider
// checks them.
func (m *Module) threadRefs(ctx context.Context, o *outgoing) error {
	if o.Channel != contracts.ChannelEmail {
		return nil
	}
	var ids []string
	for _, k := range threadKeys {
		for _, tok := range strings.Split(o.Metadata[k], " ") {
			if ownMessageID(tok) {
				ids = append(ids, tok)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sent, err := m.store.providerMessageIDs(ctx, ids)
	if err != nil {
		return err
	}
	for _, k := range threadKeys {
		v, ok := o.Metadata[k]
		if !ok {
			continue
		}
		var out []string
		for _, tok := range strings.Split(v, " ") {
			if ownMessageID(tok) {
				tok = sent[tok]
			}
			if tok != "" {
				out = append(out, tok)
			}
		}
		o.Metadata[k] = strings.Join(out, " ")
	}
	return nil
}

// providerMessageIDs are the Message-IDs the tenant's messages among ids
// were sent with, by message id; messages not sent by e-mail are left out.
func (s *store) providerMessageIDs(ctx context.Context, ids []string) (map[string]string, error) {
	var rows []messageRow
	err := s.conn(ctx).Select("id", "provider_message_id").
		Where("id IN ? AND channel = ? AND provider_message_id IS NOT NULL", ids, string(contracts.ChannelEmail)).Find(&rows).Error
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		if msgIDToken.MatchString(*r.ProviderMessageID) {
			out[r.ID] = *r.ProviderMessageID
		}
	}
	return out, err
}
