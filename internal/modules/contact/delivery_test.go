package contact_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// fast retries and failover, for tests.
const fastConfig = "    attempts_per_provider: 1\n    max_attempts: 6\n    send_timeout: 5s\n"

func send(t *testing.T, ctx context.Context, s contracts.Sender, msg contracts.ContactMessage) string {
	t.Helper()
	id, err := s.Send(ctx, msg)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return string(id)
}

// An e-mail goes through a real SMTP exchange: STARTTLS, AUTH, and a
// multipart message whose headers and both parts arrive intact.
func TestSMTPDelivery(t *testing.T) {
	f := newFixture(t, fastConfig)
	srv := newSMTPServer(t, "mailer", "s3cret-pass")
	f.smtpProvider(t, f.ta, "primary", 0, srv)

	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail,
		To: "Ann Example <ann@example.net>", Subject: "Your order — 42 ✓", Body: "Thanks, Ann.\nIt ships today.",
		HTML: "<p>Thanks, <b>Ann</b>.</p>", Locale: "en", Category: contracts.CategoryMarketing})
	v := f.waitStatus(t, id, "sent")
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("the server received %d mails, want 1", len(mails))
	}
	got := mails[0]
	if !got.TLS || !got.Authed || got.From != "shop@example.com" || got.To != "ann@example.net" {
		t.Errorf("envelope = %+v, want STARTTLS, AUTH, from shop@, to ann@", got)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got.Data))
	if err != nil {
		t.Fatalf("parse the mail: %v\n%s", err, got.Data)
	}
	h := msg.Header
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	wantID := "<" + id + "@example.com>"
	checks := map[string][2]string{
		"From":       {h.Get("From"), `"Shop" <shop@example.com>`},
		"To":         {h.Get("To"), `"Ann Example" <ann@example.net>`},
		"Subject":    {subject, "Your order — 42 ✓"},
		"Message-ID": {h.Get("Message-ID"), wantID},
		"List-Unsubscribe": {h.Get("List-Unsubscribe"),
			"<https://example.com/u/" + id + ">, <mailto:shop@example.com?subject=unsubscribe%20" + id + ">"},
		"List-Unsubscribe-Post": {h.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"},
		"Content-Language":      {h.Get("Content-Language"), "en"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if v.ProviderMessageID == nil || *v.ProviderMessageID != wantID {
		t.Errorf("provider message id = %v, want the Message-ID %s", v.ProviderMessageID, wantID)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	if strings.ReplaceAll(parts["text/plain"], "\r\n", "\n") != "Thanks, Ann.\nIt ships today." || parts["text/html"] != "<p>Thanks, <b>Ann</b>.</p>" {
		t.Errorf("parts = %q", parts)
	}
	if want := []string{"queued", "sending", "sent/accepted"}; !slices.Equal(v.history(), want) {
		t.Errorf("history = %v, want %v", v.history(), want)
	}

	// A transactional message carries no List-Unsubscribe.
	id = send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "bob@example.net",
		Subject: "Reset", Body: "Your code is 123456."})
	f.waitStatus(t, id, "sent")
	mails = srv.received()
	if len(mails) != 2 || strings.Contains(mails[1].Data, "List-Unsubscribe") ||
		!strings.Contains(mails[1].Data, "Content-Type: text/plain; charset=utf-8") {
		t.Errorf("transactional mail:\n%s", mails[len(mails)-1].Data)
	}
}

// A provider that keeps failing is retried with backoff, then the next
// provider of the route takes over; the history tells each attempt.
func TestFailoverToTheNextProvider(t *testing.T) {
	f := newFixture(t, "    attempts_per_provider: 2\n    max_attempts: 6\n    send_timeout: 5s\n    breaker_threshold: 10\n")
	bad, good := newSMTPServer(t, "u", "p"), newSMTPServer(t, "u", "p")
	bad.set(true, "")
	badID := f.smtpProvider(t, f.ta, "flaky", 0, bad)
	goodID := f.smtpProvider(t, f.ta, "backup", 1, good)

	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net",
		Subject: "Hi", Body: "Hello"})
	v := f.waitStatus(t, id, "sent")
	if conns, _ := bad.counts(); conns != 2 {
		t.Errorf("the failing provider was tried %d times, want 2", conns)
	}
	if len(good.received()) != 1 {
		t.Errorf("the backup received %d mails, want 1", len(good.received()))
	}
	want := []string{"queued", "sending", "queued/retry", "sending", "queued/retry", "sending", "sent/accepted"}
	if !slices.Equal(v.history(), want) {
		t.Fatalf("history = %v, want %v", v.history(), want)
	}
	provs := []string{*v.History[1].ProviderID, *v.History[3].ProviderID, *v.History[5].ProviderID}
	if !slices.Equal(provs, []string{badID, badID, goodID}) || *v.ProviderID != goodID || v.Attempts != 3 {
		t.Errorf("attempts went to %v (provider %v, %d attempts), want the failing one twice then the backup",
			provs, *v.ProviderID, v.Attempts)
	}
	if d := v.History[2].Detail; d == nil || !strings.Contains(*d, "421") {
		t.Errorf("the retry's detail = %v, want the server's 421", d)
	}
}

// A failing provider's breaker opens after the threshold, in Redis: the
// next messages skip it and go straight to the backup; once it has been
// open long enough one attempt goes through again (half-open), and its
// failure opens the breaker at once.
func TestCircuitBreaker(t *testing.T) {
	f := newFixture(t, fastConfig+"    breaker_threshold: 2\n    breaker_window: 1m\n    breaker_open_for: 6s\n")
	bad, good := newSMTPServer(t, "u", "p"), newSMTPServer(t, "u", "p")
	bad.set(true, "")
	badID := f.smtpProvider(t, f.ta, "flaky", 0, bad)
	f.smtpProvider(t, f.ta, "backup", 1, good)
	ctx := asTenant(f.ta)
	msg := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net", Subject: "Hi", Body: "Hello"}

	for i := range 2 {
		f.waitStatus(t, send(t, ctx, f.m, msg), "sent")
		if conns, _ := bad.counts(); conns != i+1 {
			t.Fatalf("after message %d the failing provider had %d connections, want %d", i+1, conns, i+1)
		}
	}
	rdb := f.k.Queue.Redis()
	if n, _ := rdb.Exists(context.Background(), "contact:breaker:"+badID+":open").Result(); n != 1 {
		t.Fatal("the breaker is not open in Redis after two failures")
	}
	v := f.waitStatus(t, send(t, ctx, f.m, msg), "sent")
	if conns, _ := bad.counts(); conns != 2 {
		t.Errorf("the open breaker let %d connections through, want none", conns-2)
	}
	if want := []string{"queued", "sending/skipped", "sending", "sent/accepted"}; !slices.Equal(v.history(), want) || v.Attempts != 1 {
		t.Errorf("with the breaker open: history %v after %d attempts, want %v after 1", v.history(), v.Attempts, want)
	}

	// Half-open: after breaker_open_for one attempt is let through.
	eventually(t, "the breaker to let an attempt through", func() (bool, string) {
		n, _ := rdb.Exists(context.Background(), "contact:breaker:"+badID+":open").Result()
		return n == 0, "open"
	})
	f.waitStatus(t, send(t, ctx, f.m, msg), "sent")
	if conns, _ := bad.counts(); conns != 3 {
		t.Errorf("half-open: the failing provider had %d connections, want 3", conns)
	}
	if n, _ := rdb.Exists(context.Background(), "contact:breaker:"+badID+":open").Result(); n != 1 {
		t.Error("a failed half-open attempt did not open the breaker again")
	}
}

// A hard bounce ends the message at once: no retry, no other provider.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	f := newFixture(t, "    attempts_per_provider: 3\n    max_attempts: 6\n    send_timeout: 5s\n")
	srv, other := newSMTPServer(t, "u", "p"), newSMTPServer(t, "u", "p")
	srv.set(false, "nobody@example.net")
	f.smtpProvider(t, f.ta, "primary", 0, srv)
	f.smtpProvider(t, f.ta, "backup", 1, other)

	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "nobody@example.net",
		Subject: "Hi", Body: "Hello"})
	v := f.waitStatus(t, id, "bounced")
	var state string
	eventually(t, "the delivery job archived", func() (bool, string) {
		var s []string
		f.k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type = ?", "contact:deliver").Pluck("state", &s)
		if len(s) == 1 {
			state = s[0]
		}
		return state == "archived", state
	})
	time.Sleep(2 * time.Second) // long enough for a retry, had there been one
	if _, rcpts := srv.counts(); rcpts != 1 {
		t.Errorf("the recipient was tried %d times, want 1", rcpts)
	}
	if conns, _ := other.counts(); conns != 0 {
		t.Errorf("the backup was tried after a hard bounce (%d connections)", conns)
	}
	v = f.message(t, f.ownerA, id)
	if want := []string{"queued", "sending", "bounced/permanent"}; !slices.Equal(v.history(), want) || v.Attempts != 1 {
		t.Errorf("history = %v after %d attempts, want %v after 1", v.history(), v.Attempts, want)
	}
	if v.LastError == nil || !strings.Contains(*v.LastError, "550") {
		t.Errorf("last error = %v, want the server's 550", v.LastError)
	}
}

// Twenty concurrent sends with one idempotency key make one message and
// one delivery; the same key with another message is refused.
func TestIdempotentSendUnderConcurrency(t *testing.T) {
	f := newFixture(t, fastConfig)
	srv := newSMTPServer(t, "u", "p")
	f.smtpProvider(t, f.ta, "primary", 0, srv)
	msg := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net", Subject: "Once",
		Body: "Only once", IdempotencyKey: "order-42-confirmation", Metadata: map[string]string{"order": "42"}}

	ids := make([]string, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := f.m.Send(asTenant(f.ta), msg)
			ids[i], errs[i] = string(id), err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("send %d: id %q, error %v; want %q and no error", i, ids[i], errs[i], ids[0])
		}
	}
	f.waitStatus(t, ids[0], "sent")
	time.Sleep(time.Second)
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d deliveries, want exactly 1", n)
	}
	var n int64
	f.k.DB.Conn(context.Background()).Table("contact_messages").Count(&n)
	if n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
	f.k.DB.Conn(context.Background()).Table("kernel_jobs").Where("type = ?", "contact:deliver").Count(&n)
	if n != 1 {
		t.Errorf("%d delivery jobs, want 1", n)
	}

	other := msg
	other.Body = "Something else"
	if _, err := f.m.Send(asTenant(f.ta), other); !errors.Is(err, contracts.ErrIdempotencyMismatch) {
		t.Errorf("same key, other body: %v, want ErrIdempotencyMismatch", err)
	}
	// Keys are per tenant: B's message with A's key is a message of its own.
	idB, err := f.m.Send(asTenant(f.tb), msg)
	if err != nil || string(idB) == ids[0] {
		t.Errorf("tenant B with A's key: %q, %v", idB, err)
	}
	// Through the API, a replay is a 202 with the first id, a mismatch a 422.
	body := map[string]any{"channel": "email", "to": "ann@example.net", "subject": "Once", "body": "Only once",
		"metadata": map[string]string{"order": "42"}}
	res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.ownerA, body, "Idempotency-Key", "order-42-confirmation")
	if res.Status != http.StatusAccepted || res.JSON()["id"] != ids[0] || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay through the API: %d %s", res.Status, res.Body)
	}
	body["body"] = "changed"
	res = f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.ownerA, body, "Idempotency-Key", "order-42-confirmation")
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "contact.idempotency_mismatch" {
		t.Errorf("mismatch through the API: %d %s", res.Status, res.Body)
	}
}

// The message and its delivery job are written in one transaction: a
// rollback leaves neither, and a process that stops right after Send (or
// in the middle of sending) loses nothing: the next process delivers.
func TestNothingIsLostOnACrash(t *testing.T) {
	cfg := testConfig(t, "    log_fallback: \"true\"\n    send_timeout: 1s\n")
	k1, m1 := openKernel(t, cfg)
	tenant := "0193a000-0000-7000-8000-00000000000a"
	ctx := asTenant(tenant)
	msg := contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Your code is 1234"}

	rollback := errors.New("rolled back")
	err := k1.DB.InTx(ctx, func(ctx context.Context) error {
		send(t, ctx, m1, msg)
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	count := func(table string) int64 {
		var n int64
		k1.DB.Conn(context.Background()).Table(table).Count(&n)
		return n
	}
	if count("contact_messages") != 0 || count("kernel_jobs") != 0 {
		t.Fatalf("a rolled back send left %d messages and %d jobs", count("contact_messages"), count("kernel_jobs"))
	}

	sent := send(t, ctx, m1, msg)
	midway := send(t, ctx, m1, msg)
	// A worker took the second message and died while sending it.
	if err := k1.DB.Conn(context.Background()).Table("contact_messages").Where("id = ?", midway).
		Updates(map[string]any{"status": "sending", "claimed_until": time.Now().UTC().Add(2 * time.Second)}).Error; err != nil {
		t.Fatal(err)
	}
	if count("contact_messages") != 2 || count("kernel_jobs") != 2 {
		t.Fatalf("%d messages and %d jobs, want 2 and 2", count("contact_messages"), count("kernel_jobs"))
	}
	k1.Close() // the process dies before any worker ran

	k2, _ := newKernel(t, cfg)
	kerneltest.StartQueue(t, k2)
	ctx2 := security.WithPrincipal(context.Background(), security.System(""))
	for _, id := range []string{sent, midway} {
		eventually(t, "message "+id+" sent by the next process", func() (bool, string) {
			var st []string
			k2.DB.Conn(ctx2).Table("contact_messages").Where("id = ?", id).Pluck("status", &st)
			return len(st) == 1 && st[0] == "sent", strings.Join(st, ",")
		})
	}
	var n int64
	k2.DB.Conn(ctx2).Table("contact_outbox").Count(&n)
	if n != 2 {
		t.Errorf("the log provider's outbox has %d messages, want 2", n)
	}
}

// Metadata in_reply_to and references reach the wire as In-Reply-To and
// References: msg-ids as given, the id of an earlier e-mail as the
// Message-ID it went out with, an unknown id left out; a value that would
// inject a header is dropped.
func TestSMTPThreadHeaders(t *testing.T) {
	f := newFixture(t, fastConfig)
	srv := newSMTPServer(t, "mailer", "s3cret-pass")
	f.smtpProvider(t, f.ta, "primary", 0, srv)
	ctx := asTenant(f.ta)

	first := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net",
		Subject: "Re: help", Body: "First answer."})
	f.waitStatus(t, first, "sent")
	unknown := "0190b6c2-0000-7000-8000-000000000000"
	second := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net",
		Subject: "Re: help", Body: "Second answer.", Metadata: map[string]string{
			"in_reply_to": "<q2@mail.example.net>",
			"references":  "<q1@mail.example.net> " + first + " " + unknown + " <q2@mail.example.net>"}})
	f.waitStatus(t, second, "sent")
	injected := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net",
		Subject: "Re: help", Body: "Third answer.", Metadata: map[string]string{
			"in_reply_to": "<a@b>\r\nBcc: x@y", "references": "<a@b>\r\nBcc: x@y"}})
	f.waitStatus(t, injected, "sent")

	mails := srv.received()
	if len(mails) != 3 {
		t.Fatalf("the server received %d mails, want 3", len(mails))
	}
	headers := make([]mail.Header, 3)
	for i, got := range mails {
		msg, err := mail.ReadMessage(strings.NewReader(got.Data))
		if err != nil {
			t.Fatalf("parse mail %d: %v\n%s", i, err, got.Data)
		}
		headers[i] = msg.Header
	}
	if _, ok := headers[0]["In-Reply-To"]; ok || headers[0].Get("References") != "" {
		t.Errorf("a message without thread metadata has thread headers: %v", headers[0])
	}
	wantRefs := "<q1@mail.example.net> <" + first + "@example.com> <q2@mail.example.net>"
	if got := headers[1].Get("In-Reply-To"); got != "<q2@mail.example.net>" {
		t.Errorf("In-Reply-To = %q", got)
	}
	if got := strings.Join(strings.Fields(headers[1].Get("References")), " "); got != wantRefs {
		t.Errorf("References = %q, want %q", got, wantRefs)
	}
	h := headers[2]
	if _, ok := h["In-Reply-To"]; ok || h.Get("References") != "" || h.Get("Bcc") != "" || strings.Contains(mails[2].Data, "x@y") {
		t.Errorf("an injected value reached the wire:\n%s", mails[2].Data)
	}
}
