package contacttest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/contracts/contacttest"
)

func TestSender(t *testing.T) {
	in := func(tenant string) context.Context {
		return security.WithPrincipal(context.Background(), security.System(tenant))
	}
	down := errors.New("provider down")
	msg := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net", Subject: "Hi", Body: "Hello",
		IdempotencyKey: "k1", Data: map[string]any{"n": 1}}
	other := msg
	other.Body = "Something else"
	var s contacttest.Sender

	first, err := s.Send(in("a"), msg)
	if err != nil || first == "" {
		t.Fatalf("send: %q %v", first, err)
	}
	replay := msg
	replay.Data = map[string]any{"n": 1.0}
	tests := []struct {
		name   string
		ctx    context.Context
		msg    contracts.ContactMessage
		wantID contracts.MessageID // "" with wantErr: refused; "" without: a new id
		err    error
	}{
		{name: "the same key and message replays", ctx: in("a"), msg: replay, wantID: first},
		{name: "the same key, another message", ctx: in("a"), msg: other, err: contracts.ErrIdempotencyMismatch},
		{name: "keys are per tenant", ctx: in("b"), msg: other},
		{name: "no key, no dedupe", ctx: in("a"), msg: contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "x"}},
		{name: "no tenant", ctx: context.Background(), msg: msg, err: contacttest.ErrNoTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.Send(tt.ctx, tt.msg)
			switch {
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.wantID != "" && id != tt.wantID:
				t.Fatalf("id = %q, want %q", id, tt.wantID)
			case tt.wantID == "" && id == first:
				t.Fatalf("id = %q, the first message's", id)
			}
		})
	}
	if got := s.Messages(); len(got) != 3 || got[1].Tenant != "b" || got[0].Message.Category != contracts.CategoryTransactional {
		t.Fatalf("messages = %+v, want 3 (a, b, a) with the default category", got)
	}

	s.FailNext(1, down)
	if _, err := s.Send(in("a"), other); !errors.Is(err, down) {
		t.Fatalf("FailNext: err = %v", err)
	}
	if _, err := s.Send(in("c"), other); err != nil {
		t.Fatalf("after FailNext(1): %v", err)
	}
	s.FailWith(down)
	for range 2 {
		if _, err := s.Send(in("d"), other); !errors.Is(err, down) {
			t.Fatalf("FailWith: err = %v", err)
		}
	}
	s.FailWith(nil)
	if _, err := s.Send(in("d"), other); err != nil {
		t.Fatalf("after FailWith(nil): %v", err)
	}
	if n := len(s.Messages()); n != 5 {
		t.Fatalf("%d messages recorded, want 5: failed sends record nothing", n)
	}
	s.Reset()
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d messages after Reset", n)
	}
}
