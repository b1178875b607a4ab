package messagestest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/contracts/messagestest"
)

// The fake bus follows the publisher's transaction as the outbox does: a
// rollback publishes nothing, a commit hands the message over after it,
// and without a transaction it goes at once.
func TestBusFollowsTheTransaction(t *testing.T) {
	ctx := context.Background()
	k, err := kernel.New(ctx, kerneltest.Config(t), kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	bus := messagestest.New("orders.placed")
	var got []string
	errSub := errors.New("subscriber down")
	failing := false
	if err := bus.Subscribe("orders.placed", "test", func(_ context.Context, m *contracts.Message) error {
		var d struct{ ID string }
		if err := m.Decode(&d); err != nil {
			return err
		}
		got = append(got, d.ID)
		if failing {
			return errSub
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	err = k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := bus.Publish(ctx, "orders.placed", map[string]string{"id": "rolled back"}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) || len(bus.Sent()) != 0 || len(got) != 0 {
		t.Fatalf("after a rollback: err %v, sent %d, handled %v", err, len(bus.Sent()), got)
	}
	err = k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := bus.Publish(ctx, "orders.placed", map[string]string{"id": "committed"}); err != nil {
			return err
		}
		if len(bus.Sent()) != 0 || len(got) != 0 {
			t.Error("handed over before the commit")
		}
		return nil
	})
	if err != nil || len(bus.Sent()) != 1 || len(got) != 1 || got[0] != "committed" {
		t.Fatalf("after a commit: err %v, sent %d, handled %v", err, len(bus.Sent()), got)
	}
	failing = true
	if err := bus.Publish(ctx, "orders.placed", map[string]string{"id": "now"}); !errors.Is(err, errSub) {
		t.Fatalf("outside a transaction the subscriber's error is returned: %v", err)
	}
	if err := bus.Publish(ctx, "orders.nope", nil); !errors.Is(err, contracts.ErrUnknownTopic) {
		t.Fatalf("an unknown topic: %v", err)
	}
	if len(got) != 2 || len(bus.Errors()) != 1 {
		t.Fatalf("handled %v, errors %v", got, bus.Errors())
	}
}
