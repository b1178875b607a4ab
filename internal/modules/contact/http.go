package contact

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of the API.
var (
	ErrInvalidProvider = errs.New(errs.Invalid, "contact.invalid_provider", "The provider's configuration is invalid.")
	ErrAllowPrivate    = errs.New(errs.Forbidden, "contact.allow_private_forbidden",
		"Only a platform admin may let a provider reach internal networks, or change one that does.")
	ErrInvalidFilter = errs.New(errs.Invalid, "invalid_query", "The query parameters are invalid.")
)

// Routes implements kernel.Router.
func (m *Module) Routes(r kernel.Routes) {
	send, read, manage := security.Require(PermSend), security.Require(PermRead), security.Require(PermManage)
	r.API.POST("/messages", m.postMessage, send)
	r.API.GET("/messages", m.listMessages, read)
	r.API.GET("/messages/:id", m.getMessage, read)
	r.API.GET("/outbox", m.listOutbox, read)
	r.API.GET("/providers", m.listProviders, manage)
	r.API.POST("/providers", m.createProvider, manage)
	r.API.GET("/providers/:id", m.getProvider, manage)
	r.API.PATCH("/providers/:id", m.patchProvider, manage)
	r.API.DELETE("/providers/:id", m.deleteProvider, manage)
	m.templateRoutes(r)   // templates.go
	m.protectionRoutes(r) // suppress.go, callbacks.go
	m.settingsRoutes(r)   // settings.go
	if r.Admin != nil {
		m.adminRoutes(r.Admin) // admin.go
	}
}

type sendRequest struct {
	Channel        string            `json:"channel" validate:"required"`
	To             string            `json:"to" validate:"required"`
	Template       string            `json:"template"`
	Data           map[string]any    `json:"data"`
	Locale         string            `json:"locale"`
	Subject        string            `json:"subject"`
	Body           string            `json:"body"`
	HTML           string            `json:"html"`
	Category       string            `json:"category"`
	IdempotencyKey string            `json:"idempotency_key"`
	Metadata       map[string]string `json:"metadata"`
	TimeZone       string            `json:"time_zone"`
}

// messageView is a message as the API shows it.
type messageView struct {
	ID                string            `json:"id"`
	Channel           string            `json:"channel"`
	To                string            `json:"to"`
	Category          string            `json:"category"`
	Locale            string            `json:"locale,omitempty"`
	Template          string            `json:"template,omitempty"`
	Subject           string            `json:"subject,omitempty"`
	Status            string            `json:"status"`
	ProviderID        *string           `json:"provider_id"`
	ProviderMessageID *string           `json:"provider_message_id"`
	Attempts          int               `json:"attempts"`
	LastError         *string           `json:"last_error"`
	IdempotencyKey    *string           `json:"idempotency_key"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	History           []eventView       `json:"history,omitempty"`
}

type eventView struct {
	Status       string    `json:"status"`
	ProviderID   *string   `json:"provider_id"`
	ProviderKind *string   `json:"provider_kind"`
	Attempt      int       `json:"attempt"`
	Outcome      string    `json:"outcome,omitempty"`
	Detail       *string   `json:"detail"`
	At           time.Time `json:"at"`
}

func viewMessage(r *messageRow) messageView {
	v := messageView{ID: r.ID, Channel: r.Channel, To: r.Recipient, Category: r.Category, Locale: r.Locale,
		Template: r.Template, Subject: r.Subject, Status: r.Status, ProviderID: r.ProviderID,
		ProviderMessageID: r.ProviderMessageID, Attempts: r.Attempts, LastError: r.LastError,
		IdempotencyKey: r.IdempotencyKey, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.Metadata != nil {
		_ = json.Unmarshal([]byte(*r.Metadata), &v.Metadata)
	}
	return v
}

func (m *Module) postMessage(c echo.Context) error {
	var req sendRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	key := req.IdempotencyKey
	if h := c.Request().Header.Get("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			return ErrInvalidMessage.WithDetails(errs.Detail{Field: "idempotency_key", Code: "mismatch",
				Message: "differs from the Idempotency-Key header"})
		}
		key = h
	}
	r, replay, err := m.send(c.Request().Context(), contracts.ContactMessage{Channel: contracts.Channel(req.Channel),
		To: req.To, Template: req.Template, Data: req.Data, Subject: req.Subject, Body: req.Body, HTML: req.HTML,
		Locale: req.Locale, Category: contracts.Category(req.Category), IdempotencyKey: key, Metadata: req.Metadata,
		TimeZone: req.TimeZone})
	if err != nil {
		return err
	}
	if replay {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return c.JSON(http.StatusAccepted, viewMessage(r))
}

var (
	messageSorts = map[string]string{"created_at": "created_at"}
	statuses     = []string{StatusQueued, StatusSending, StatusSent, StatusDelivered, StatusFailed, StatusBounced, StatusSuppressed}
	channels     = []string{"email", "sms", "voice", "webhook"}
)

func (m *Module) listMessages(c echo.Context) error {
	lp, err := httpx.ParseList(c, messageSorts, "-created_at")
	if err != nil {
		return err
	}
	f := messageFilter{Status: c.QueryParam("status"), Channel: c.QueryParam("channel"), Offset: lp.Offset(),
		Limit: lp.PerPage, Desc: lp.Desc}
	var d []errs.Detail
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		d = append(d, errs.Detail{Field: "status", Code: "oneof", Message: "must be a message status"})
	}
	if f.Channel != "" && !slices.Contains(channels, f.Channel) {
		d = append(d, errs.Detail{Field: "channel", Code: "oneof", Message: "must be email, sms, voice or webhook"})
	}
	if len(d) > 0 {
		return ErrInvalidFilter.WithDetails(d...)
	}
	rows, total, err := m.store.messages(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := make([]messageView, len(rows))
	for i := range rows {
		out[i] = viewMessage(&rows[i])
	}
	return c.JSON(http.StatusOK, httpx.NewPage(out, total, lp))
}

func (m *Module) getMessage(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := m.store.message(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	evs, err := m.store.events(ctx, r.ID)
	if err != nil {
		return err
	}
	v := viewMessage(r)
	v.History = make([]eventView, len(evs))
	for i, e := range evs {
		v.History[i] = eventView{Status: e.Status, ProviderID: e.ProviderID, ProviderKind: e.ProviderKind, Attempt: e.Attempt,
			Outcome: e.Outcome, Detail: e.Detail, At: e.CreatedAt.UTC()}
	}
	return c.JSON(http.StatusOK, v)
}

func (m *Module) listOutbox(c echo.Context) error {
	lp, err := httpx.ParseList(c, messageSorts, "-created_at")
	if err != nil {
		return err
	}
	rows, total, err := m.store.outbox(c.Request().Context(), lp.Offset(), lp.PerPage)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewPage(rows, total, lp))
}

// providerRequest creates a provider; a PATCH sends the fields it changes.
type providerRequest struct {
	Name         *string           `json:"name" validate:"omitempty,min=1,max=100"`
	Channel      string            `json:"channel"`
	Kind         string            `json:"kind"`
	Priority     *int              `json:"priority" validate:"omitempty,min=0,max=1000"`
	Enabled      *bool             `json:"enabled"`
	Settings     json.RawMessage   `json:"settings"`
	Credentials  map[string]string `json:"credentials"`
	AllowPrivate *bool             `json:"allow_private"`
}

// providerView is a provider as the API shows it: never its credentials,
// only their names.
type providerView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Channel        string          `json:"channel"`
	Kind           string          `json:"kind"`
	Priority       int             `json:"priority"`
	Enabled        bool            `json:"enabled"`
	Settings       json.RawMessage `json:"settings"`
	CredentialsSet []string        `json:"credentials_set"`
	AllowPrivate   bool            `json:"allow_private"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

func (m *Module) viewProvider(r *providerRow) providerView {
	v := providerView{ID: r.ID, Name: r.Name, Channel: r.Channel, Kind: r.Kind, Priority: r.Priority, Enabled: r.Enabled,
		Settings: json.RawMessage(r.Settings), CredentialsSet: []string{}, AllowPrivate: r.AllowPrivate,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if creds, err := m.credentials(r); err == nil {
		for k := range creds {
			v.CredentialsSet = append(v.CredentialsSet, k)
		}
		sort.Strings(v.CredentialsSet)
	}
	return v
}

func (m *Module) listProviders(c echo.Context) error {
	ch := c.QueryParam("channel")
	if ch != "" && !slices.Contains(channels, ch) {
		return ErrInvalidFilter.WithDetails(errs.Detail{Field: "channel", Code: "oneof", Message: "must be email, sms, voice or webhook"})
	}
	rows, err := m.store.providers(c.Request().Context(), ch)
	if err != nil {
		return err
	}
	out := make([]providerView, len(rows))
	for i := range rows {
		out[i] = m.viewProvider(&rows[i])
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (m *Module) getProvider(c echo.Context) error {
	r, err := m.store.provider(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m.viewProvider(r))
}

func platformAdmin(c echo.Context) bool {
	p, ok := security.PrincipalFrom(c.Request().Context())
	return ok && p.Role == security.RolePlatformAdmin
}

func (m *Module) createProvider(c echo.Context) error {
	ctx := c.Request().Context()
	var req providerRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return ErrNoTenant.WithMessage("A provider belongs to a tenant: act as one (X-Tenant-ID) to configure it.")
	}
	var d []errs.Detail
	if req.Name == nil {
		d = append(d, errs.Detail{Field: "name", Code: "required", Message: "is required"})
	}
	k, ok := kinds[req.Kind]
	if !ok {
		d = append(d, errs.Detail{Field: "kind", Code: "oneof", Message: "must be smtp, twilio, vonage, webhook or log"})
	} else if !slices.Contains(k.channels, contracts.Channel(req.Channel)) {
		d = append(d, errs.Detail{Field: "channel", Code: "oneof", Message: "is not a channel this kind serves"})
	}
	if len(d) > 0 {
		return ErrInvalidProvider.WithDetails(d...)
	}
	if req.AllowPrivate != nil && *req.AllowPrivate && !platformAdmin(c) {
		return ErrAllowPrivate
	}
	now := m.now()
	r := &providerRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, Name: *req.Name, Channel: req.Channel,
		Kind: req.Kind, Enabled: true, Settings: "{}", CreatedAt: now, UpdatedAt: now}
	if err := m.apply(r, &req, nil); err != nil {
		return err
	}
	if err := m.store.saveProvider(ctx, r, true); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, m.viewProvider(r))
}

func (m *Module) patchProvider(c echo.Context) error {
	ctx := c.Request().Context()
	var req providerRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	r, err := m.store.provider(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var d []errs.Detail
	if req.Channel != "" && req.Channel != r.Channel {
		d = append(d, errs.Detail{Field: "channel", Code: "immutable", Message: "cannot change; make another provider"})
	}
	if req.Kind != "" && req.Kind != r.Kind {
		d = append(d, errs.Detail{Field: "kind", Code: "immutable", Message: "cannot change; make another provider"})
	}
	if len(d) > 0 {
		return ErrInvalidProvider.WithDetails(d...)
	}
	opening := req.AllowPrivate != nil && *req.AllowPrivate && !r.AllowPrivate
	reaching := r.AllowPrivate && (req.Settings != nil || req.Credentials != nil)
	if (opening || reaching) && !platformAdmin(c) {
		return ErrAllowPrivate
	}
	old, err := m.credentials(r)
	if err != nil {
		old = map[string]string{}
	}
	if req.Name != nil {
		r.Name = *req.Name
	}
	if err := m.apply(r, &req, old); err != nil {
		return err
	}
	r.UpdatedAt = m.now()
	if err := m.store.saveProvider(ctx, r, false); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m.viewProvider(r))
}

// apply sets a request's fields on r, merging credentials into old ones,
// and checks the result by building the provider.
func (m *Module) apply(r *providerRow, req *providerRequest, old map[string]string) error {
	if req.Priority != nil {
		r.Priority = *req.Priority
	}
	if req.Enabled != nil {
		r.Enabled = *req.Enabled
	}
	if req.AllowPrivate != nil {
		r.AllowPrivate = *req.AllowPrivate
	}
	if req.Settings != nil {
		var obj map[string]any
		if err := json.Unmarshal(req.Settings, &obj); err != nil || obj == nil {
			return ErrInvalidProvider.WithDetails(errs.Detail{Field: "settings", Code: "type", Message: "must be an object"})
		}
		b, _ := json.Marshal(obj)
		r.Settings = string(b)
	}
	creds := map[string]string{}
	for k, v := range old {
		creds[k] = v
	}
	for k, v := range req.Credentials {
		creds[k] = v
	}
	var d []errs.Detail
	for _, name := range kinds[r.Kind].secrets {
		if creds[name] == "" {
			d = append(d, errs.Detail{Field: "credentials." + name, Code: "required", Message: "is required"})
		}
	}
	for name := range req.Credentials {
		if !slices.Contains(kinds[r.Kind].secrets, name) && !slices.Contains(kinds[r.Kind].optional, name) {
			d = append(d, errs.Detail{Field: "credentials." + name, Code: "unknown", Message: "is not a credential of this kind"})
		}
	}
	if len(d) > 0 {
		return ErrInvalidProvider.WithDetails(d...)
	}
	if _, err := kinds[r.Kind].build(env{m: m, row: r, allowPrivate: r.AllowPrivate, timeout: m.cfg.SendTimeout},
		json.RawMessage(r.Settings), creds); err != nil {
		return ErrInvalidProvider.WithDetails(errs.Detail{Field: "settings", Code: "invalid", Message: err.Error()})
	}
	if len(creds) == 0 {
		r.Credentials = nil
		return nil
	}
	plain, _ := json.Marshal(creds)
	sealed, err := m.sealer.seal(plain, r.ID)
	if err != nil {
		return err
	}
	r.Credentials = &sealed
	return nil
}

// credentials are a provider's decrypted credentials.
func (m *Module) credentials(r *providerRow) (map[string]string, error) {
	out := map[string]string{}
	if r.Credentials == nil || *r.Credentials == "" {
		return out, nil
	}
	plain, err := m.sealer.open(*r.Credentials, r.ID)
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(plain, &out)
}

func (m *Module) deleteProvider(c echo.Context) error {
	if err := m.store.deleteProvider(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
