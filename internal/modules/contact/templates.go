package contact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
)

// Errors of templates.
var (
	ErrTemplateNotFound = errs.New(errs.NotFound, "contact.template_not_found", "The template does not exist.")
	ErrInvalidTemplate  = errs.New(errs.Invalid, "contact.invalid_template", "The template has invalid fields.")
	ErrTemplateExists   = errs.New(errs.Conflict, "contact.template_exists",
		"Another template of this tenant has this key, locale and channel.")
	ErrUnknownTemplate = errs.New(errs.Invalid, "contact.unknown_template",
		"No template has this key for the channel, in the locale or any it falls back to.")
	ErrTemplateRender = errs.New(errs.Invalid, "contact.template_render", "The template cannot be rendered with this data.")
)

// Bounds of one rendering of a template's parts. Every loop step counts
// against loopBudget, which ends a template that would spin on nested
// loops over large data; renderTimeout is the last resort, since a
// template cannot be stopped, only abandoned.
const (
	loopBudget    = 100_000
	renderTimeout = 2 * time.Second
)

// Template is one template of a tenant: a key (such as "order.shipped")
// in one locale (the empty locale is the default) for one channel.
type Template struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Key       string    `json:"key"`
	Locale    string    `json:"locale"`
	Channel   string    `json:"channel"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	HTML      string    `json:"html"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TemplateInput creates or replaces the template of (Key, Locale, Channel).
type TemplateInput struct {
	Key     string `json:"key"`
	Locale  string `json:"locale"`
	Channel string `json:"channel"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// Rendered is a template's parts rendered with a message's data.
type Rendered struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

type templateRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	TenantID  string    `gorm:"column:tenant_id"`
	Key       string    `gorm:"column:key"`
	Locale    string    `gorm:"column:locale"`
	Channel   string    `gorm:"column:channel"`
	Subject   string    `gorm:"column:subject"`
	Text      string    `gorm:"column:text"`
	HTML      string    `gorm:"column:html"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (templateRow) TableName() string { return "contact_templates" }

func (r *templateRow) view() *Template {
	return &Template{ID: r.ID, TenantID: r.TenantID, Key: r.Key, Locale: r.Locale, Channel: r.Channel, Subject: r.Subject,
		Text: r.Text, HTML: r.HTML, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// keyIs is the condition on the key column, quoted: KEY is reserved in MariaDB.
func keyIs(key string) clause.Eq { return clause.Eq{Column: clause.Column{Name: "key"}, Value: key} }

func (s *store) templates(ctx context.Context, key string, offset, limit int) ([]templateRow, int64, error) {
	q := s.conn(ctx).Model(&templateRow{})
	if key != "" {
		q = q.Where(keyIs(key))
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []templateRow
	err := q.Order(clause.OrderBy{Columns: []clause.OrderByColumn{{Column: clause.Column{Name: "key"}},
		{Column: clause.Column{Name: "channel"}}, {Column: clause.Column{Name: "locale"}}}}).
		Offset(offset).Limit(limit).Find(&rows).Error
	return rows, total, err
}

func (s *store) template(ctx context.Context, id string) (*templateRow, error) {
	var r templateRow
	err := s.conn(ctx).Where("id = ?", id).Take(&r).Error
	if db.IsNotFound(err) {
		return nil, ErrTemplateNotFound
	}
	return &r, err
}

// templatesIn are the caller's tenant's templates of key and channel in
// any of locales.
func (s *store) templatesIn(ctx context.Context, key, channel string, locales []string) ([]templateRow, error) {
	var rows []templateRow
	err := s.conn(ctx).Where("tenant_id = ? AND channel = ? AND locale IN ?", security.TenantOf(ctx), channel, locales).
		Where(keyIs(key)).Find(&rows).Error
	return rows, err
}

// putTemplate inserts r, or replaces the parts of the tenant's template
// with r's key, locale and channel, and reports whether it inserted. It
// tries the insert first and takes no lock: on MariaDB two transactions
// that lock the same missing row and then insert it deadlock.
func (s *store) putTemplate(ctx context.Context, r *templateRow) (bool, error) {
	same := func(ctx context.Context) *gorm.DB {
		return s.conn(ctx).Model(&templateRow{}).
			Where("tenant_id = ? AND locale = ? AND channel = ?", r.TenantID, r.Locale, r.Channel).Where(keyIs(r.Key))
	}
	for range 3 {
		err := s.db.Conn(ctx).Create(r).Error
		if err == nil || !db.IsUniqueViolation(err) {
			return err == nil, err
		}
		err = same(ctx).Updates(map[string]any{"subject": r.Subject, "text": r.Text, "html": r.HTML,
			"updated_at": r.UpdatedAt}).Error
		if err != nil {
			return false, err
		}
		var cur templateRow
		err = same(ctx).Take(&cur).Error
		if db.IsNotFound(err) {
			continue // deleted in between: insert again
		}
		if err != nil {
			return false, err
		}
		*r = cur
		return false, nil
	}
	return false, ErrTemplateExists
}

func (s *store) updateTemplate(ctx context.Context, r *templateRow) error {
	err := s.conn(ctx).Model(&templateRow{}).Where("id = ?", r.ID).Updates(map[string]any{"key": r.Key,
		"locale": r.Locale, "channel": r.Channel, "subject": r.Subject, "text": r.Text, "html": r.HTML,
		"updated_at": r.UpdatedAt}).Error
	if db.IsUniqueViolation(err) {
		return ErrTemplateExists
	}
	return err
}

func (s *store) deleteTemplate(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&templateRow{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrTemplateNotFound
	}
	return res.Error
}

// ListTemplates lists the caller's templates, all or those of key, by key,
// channel and locale.
func (m *Module) ListTemplates(ctx context.Context, key string, offset, limit int) ([]Template, int64, error) {
	rows, total, err := m.store.templates(ctx, key, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Template, len(rows))
	for i := range rows {
		out[i] = *rows[i].view()
	}
	return out, total, nil
}

// GetTemplate is one of the caller's templates; another tenant's is
// ErrTemplateNotFound.
func (m *Module) GetTemplate(ctx context.Context, id string) (*Template, error) {
	r, err := m.store.template(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.view(), nil
}

// SaveTemplate creates the template of (key, locale, channel) in the
// caller's tenant, or replaces its parts. A part that does not parse, or a
// missing part, is ErrInvalidTemplate naming the field and line.
func (m *Module) SaveTemplate(ctx context.Context, in TemplateInput) (*Template, error) {
	t, _, err := m.saveTemplate(ctx, in, nil)
	return t, err
}

// saveTemplate is SaveTemplate that also renders the parts with sample
// data, when there is some, and reports whether it created the template.
func (m *Module) saveTemplate(ctx context.Context, in TemplateInput, sample map[string]any) (*Template, bool, error) {
	tenant := security.TenantOf(ctx)
	if tenant == "" {
		return nil, false, ErrNoTenant.WithMessage("A template belongs to a tenant: act as one (X-Tenant-ID) to save it.")
	}
	r, err := m.checkTemplate(in, sample)
	if err != nil {
		return nil, false, err
	}
	now := m.now()
	r.ID, r.TenantID, r.CreatedAt, r.UpdatedAt = uuid.Must(uuid.NewV7()).String(), tenant, now, now
	created, err := m.store.putTemplate(ctx, r)
	if err != nil {
		return nil, false, err
	}
	return r.view(), created, nil
}

// updateTemplate replaces template id with in.
func (m *Module) updateTemplate(ctx context.Context, id string, in TemplateInput, sample map[string]any) (*Template, error) {
	old, err := m.store.template(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := m.checkTemplate(in, sample)
	if err != nil {
		return nil, err
	}
	r.ID, r.TenantID, r.CreatedAt, r.UpdatedAt = old.ID, old.TenantID, old.CreatedAt, m.now()
	if err := m.store.updateTemplate(ctx, r); err != nil {
		return nil, err
	}
	return r.view(), nil
}

// DeleteTemplate deletes one of the caller's templates.
func (m *Module) DeleteTemplate(ctx context.Context, id string) error {
	return m.store.deleteTemplate(ctx, id)
}

// PreviewTemplate renders the template that a message of key, locale and
// channel would use with data, and returns it with the template it chose.
func (m *Module) PreviewTemplate(ctx context.Context, key, locale, channel string, data map[string]any) (*Rendered, *Template, error) {
	if security.TenantOf(ctx) == "" {
		return nil, nil, ErrNoTenant.WithMessage("A template belongs to a tenant: act as one (X-Tenant-ID) to preview it.")
	}
	var d []errs.Detail
	if !tmpl.MatchString(key) {
		d = append(d, errs.Detail{Field: "key", Code: "format", Message: "must be lower-case letters, digits, dots, dashes and underscores"})
	}
	if _, ok := partRules[channel]; !ok {
		d = append(d, errs.Detail{Field: "channel", Code: "oneof", Message: "must be email, sms, voice or webhook"})
	}
	if _, ok := normalLocale(locale); !ok {
		d = append(d, errs.Detail{Field: "locale", Code: "bcp47", Message: "must be a language tag such as de or de-AT"})
	}
	if len(d) > 0 {
		return nil, nil, ErrInvalidTemplate.WithDetails(d...)
	}
	r, out, err := m.render(ctx, key, locale, channel, data)
	if err != nil {
		return nil, nil, err
	}
	return out, r.view(), nil
}

// render resolves the template of key for channel in locale, falling
// back to its language and then to the default, and renders it with data.
func (m *Module) render(ctx context.Context, key, locale, channel string, data map[string]any) (*templateRow, *Rendered, error) {
	chain := fallbacks(locale)
	rows, err := m.store.templatesIn(ctx, key, channel, chain)
	if err != nil {
		return nil, nil, err
	}
	var r *templateRow
	for _, l := range chain {
		for i := range rows {
			if r == nil && rows[i].Locale == l {
				r = &rows[i]
			}
		}
	}
	if r == nil {
		return nil, nil, ErrUnknownTemplate.WithDetails(errs.Detail{Field: "template", Code: "unknown",
			Message: fmt.Sprintf("no %s template %q in %s", channel, key, strings.Join(quoted(chain), ", "))})
	}
	c, d := compile(r.Subject, r.Text, r.HTML)
	if len(d) > 0 { // saved before a rule it breaks
		return nil, nil, ErrTemplateRender.WithDetails(d...)
	}
	out, d := c.run(data)
	if len(d) > 0 {
		return nil, nil, ErrTemplateRender.WithDetails(d...)
	}
	return r, out, nil
}

// renderMessage fills a message that names a template and has no body
// with the template's parts, rendered with the message's data. A repeated
// idempotency key is errDuplicateKey before any rendering, so that send
// answers a replay with the first message even after its template has
// changed or gone.
func (m *Module) renderMessage(ctx context.Context, row *messageRow, data map[string]any) error {
	if row.IdempotencyKey != nil {
		if _, err := m.store.messageByKey(ctx, *row.IdempotencyKey); err == nil {
			return errDuplicateKey
		} else if !errors.Is(err, ErrMessageNotFound) {
			return err
		}
	}
	_, out, err := m.render(ctx, row.Template, row.Locale, row.Channel, data)
	if err != nil {
		return err
	}
	limit := maxBody
	switch contracts.Channel(row.Channel) {
	case contracts.ChannelSMS:
		limit = maxSMS
	case contracts.ChannelVoice:
		limit = maxSpoken
	}
	if len(out.Text) > limit {
		return ErrTemplateRender.WithDetails(errs.Detail{Field: "text", Code: "max",
			Message: fmt.Sprintf("renders to %d bytes; at most %d on this channel", len(out.Text), limit)})
	}
	if row.Channel == string(contracts.ChannelWebhook) && !json.Valid([]byte(out.Text)) {
		return ErrTemplateRender.WithDetails(errs.Detail{Field: "text", Code: "json",
			Message: "renders to invalid JSON; use {{json .value}}"})
	}
	row.Subject, row.Body, row.HTML = out.Subject, out.Text, out.HTML
	return nil
}

func quoted(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = strconv.Quote(l)
	}
	return out
}

// normalLocale is a locale tag in its usual case, with '-' between its
// parts: "de_at" is "de-AT"; "" is the default locale.
func normalLocale(s string) (string, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "-")
	if s == "" {
		return "", true
	}
	if len(s) > 35 || !locale.MatchString(s) {
		return "", false
	}
	parts := strings.Split(s, "-")
	for i, p := range parts {
		switch {
		case i == 0:
			parts[i] = strings.ToLower(p)
		case len(p) == 2 && i > 0:
			parts[i] = strings.ToUpper(p)
		case len(p) == 4 && i == 1:
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-"), true
}

// fallbacks is the lookup chain of a locale: the tag, each shorter prefix,
// then the default: "de-AT" → "de-AT", "de", "".
func fallbacks(l string) []string {
	l, ok := normalLocale(l)
	if !ok || l == "" {
		return []string{""}
	}
	var out []string
	for {
		out = append(out, l)
		i := strings.LastIndexByte(l, '-')
		if i < 0 {
			return append(out, "")
		}
		l = l[:i]
	}
}

// partRules says which parts each channel needs and takes. A webhook's
// text is its JSON body.
var partRules = map[string]struct{ subject, html bool }{
	"email":   {subject: true, html: true},
	"sms":     {},
	"voice":   {},
	"webhook": {subject: true},
}

// checkTemplate is the row of a valid input, or ErrInvalidTemplate with a
// detail for each wrong field: parts that do not parse, call an unknown
// function or end HTML in the middle of a tag, and, with sample data,
// parts that do not render with it.
func (m *Module) checkTemplate(in TemplateInput, sample map[string]any) (*templateRow, error) {
	var d []errs.Detail
	bad := func(field, code, text string) { d = append(d, errs.Detail{Field: field, Code: code, Message: text}) }
	r := &templateRow{Key: in.Key, Channel: in.Channel, Subject: in.Subject, Text: in.Text, HTML: in.HTML}
	if !tmpl.MatchString(in.Key) {
		bad("key", "format", "must be lower-case letters, digits, dots, dashes and underscores (at most 200)")
	}
	l, ok := normalLocale(in.Locale)
	if !ok {
		bad("locale", "bcp47", "must be a language tag such as de or de-AT, or empty for the default")
	}
	r.Locale = l
	rule, ok := partRules[in.Channel]
	switch {
	case !ok:
		bad("channel", "oneof", "must be email, sms, voice or webhook")
	case in.Channel == "email":
		if strings.TrimSpace(in.Subject) == "" {
			bad("subject", "required", "is required for an e-mail")
		}
		if strings.TrimSpace(in.Text) == "" && strings.TrimSpace(in.HTML) == "" {
			bad("text", "required", "an e-mail needs a text or an html part")
		}
	default:
		if strings.TrimSpace(in.Text) == "" {
			bad("text", "required", "is required on this channel")
		}
		if in.Subject != "" && !rule.subject {
			bad("subject", "email_only", "is for e-mail and webhooks only")
		}
		if in.HTML != "" && !rule.html {
			bad("html", "email_only", "is for e-mail only")
		}
	}
	for _, p := range []struct {
		field  string
		n, max int
	}{{"subject", len(in.Subject), maxSubject}, {"text", len(in.Text), maxBody}, {"html", len(in.HTML), maxHTML}} {
		if p.n > p.max {
			bad(p.field, "max", fmt.Sprintf("must be at most %d bytes", p.max))
		}
	}
	if len(d) > 0 {
		return nil, ErrInvalidTemplate.WithDetails(d...)
	}
	c, pd := compile(in.Subject, in.Text, in.HTML)
	if len(pd) == 0 && sample != nil {
		var out *Rendered
		out, pd = c.run(sample)
		if len(pd) == 0 && in.Channel == "webhook" && !json.Valid([]byte(out.Text)) {
			pd = append(pd, errs.Detail{Field: "text", Code: "json", Message: "renders to invalid JSON with sample_data; use {{json .value}}"})
		}
	} else if len(pd) == 0 && c.html != nil {
		pd = c.escapeErrors()
	}
	if len(pd) > 0 {
		return nil, ErrInvalidTemplate.WithDetails(pd...)
	}
	return r, nil
}

// compiled is a template's parsed parts; a nil part is empty. steps
// counts the loop steps of a rendering.
type compiled struct {
	subject, text *template.Template
	html          *htmltemplate.Template
	steps         int
}

// step is called at the start of every loop step (see prepareTree).
func (c *compiled) step() (bool, error) {
	c.steps++
	if c.steps > loopBudget {
		return false, errLoopBudget
	}
	return false, nil
}

var errLoopBudget = fmt.Errorf("runs more than %d loop steps", loopBudget)

var templateFuncs = map[string]any{
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"trim":    strings.TrimSpace,
	"default": defaultValue,
	"date":    formatDate,
	"json":    jsonValue,
}

// compile parses a template's parts, with a detail for each that fails.
func compile(subject, text, html string) (*compiled, []errs.Detail) {
	var c compiled
	var d []errs.Detail
	counter := map[string]any{"__step": c.step}
	parseText := func(field, src string) *template.Template {
		if src == "" {
			return nil
		}
		t, err := template.New(field).Option("missingkey=error").Funcs(templateFuncs).Parse(src)
		if err == nil {
			err = prepareTree(t.Tree, len(t.Templates()))
			t.Funcs(counter)
		}
		if err != nil {
			d = append(d, templateDetail(field, err))
			return nil
		}
		return t
	}
	c.subject, c.text = parseText("subject", subject), parseText("text", text)
	if html != "" {
		t, err := htmltemplate.New("html").Option("missingkey=error").Funcs(templateFuncs).Parse(html)
		if err == nil {
			err = prepareTree(t.Tree, len(t.Templates()))
			t.Funcs(counter)
		}
		if err != nil {
			d = append(d, templateDetail("html", err))
		} else {
			c.html = t
		}
	}
	return &c, d
}

// prepareTree refuses what a message template has no use for and could
// spin on: defined templates and their calls, and ranging over a number.
// It starts every loop body with {{if __step}}{{end}}, which counts the
// step and writes nothing, so html/template adds no escaper to it.
func prepareTree(t *parse.Tree, templates int) error {
	if templates > 1 {
		return errors.New("template: define, block and template are not available")
	}
	var err error
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.TemplateNode:
			err = fmt.Errorf("template: %s:%s: template calls are not available", t.Name, line(t, n))
		case *parse.RangeNode:
			if cmds := n.Pipe.Cmds; len(cmds) == 1 && len(cmds[0].Args) == 1 {
				if _, ok := cmds[0].Args[0].(*parse.NumberNode); ok {
					err = fmt.Errorf("template: %s:%s: range over a number is not available", t.Name, line(t, n))
				}
			}
			walk(n.List)
			walk(n.ElseList)
			if n.List != nil {
				n.List.Nodes = append([]parse.Node{stepNode()}, n.List.Nodes...)
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(t.Root)
	return err
}

// stepNode is a fresh {{if __step}}{{end}}.
func stepNode() parse.Node {
	t := template.Must(template.New("loop").Funcs(map[string]any{"__step": func() bool { return false }}).
		Parse("{{if __step}}{{end}}"))
	return t.Tree.Root.Nodes[0]
}

// line is the line of n in t: ErrorContext says "name:line:column".
func line(t *parse.Tree, n parse.Node) string {
	loc, _ := t.ErrorContext(n)
	if parts := strings.Split(loc, ":"); len(parts) == 3 {
		return parts[1]
	}
	return "?"
}

// escapeErrors are the html part's escaping errors, such as an attribute
// left open, which html/template finds only when it first runs.
func (c *compiled) escapeErrors() []errs.Detail {
	err := c.html.Execute(io.Discard, map[string]any{})
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.ErrorCode != htmltemplate.OK {
		return []errs.Detail{templateDetail("html", err)}
	}
	return nil
}

// run renders the parts with data within renderTimeout, each within its
// part's size limit.
func (c *compiled) run(data map[string]any) (*Rendered, []errs.Detail) {
	if data == nil {
		data = map[string]any{}
	}
	c.steps = 0
	type result struct {
		out Rendered
		d   []errs.Detail
	}
	done := make(chan result, 1)
	go func() {
		var res result
		exec := func(field string, max int, run func(io.Writer) error) string {
			w := &cappedBuffer{max: max}
			if err := run(w); err != nil {
				res.d = append(res.d, templateDetail(field, err))
			}
			return w.String()
		}
		if c.subject != nil {
			res.out.Subject = exec("subject", maxSubject, func(w io.Writer) error { return c.subject.Execute(w, data) })
		}
		if c.text != nil {
			res.out.Text = exec("text", maxBody, func(w io.Writer) error { return c.text.Execute(w, data) })
		}
		if c.html != nil {
			res.out.HTML = exec("html", maxHTML, func(w io.Writer) error { return c.html.Execute(w, data) })
		}
		done <- res
	}()
	select {
	case res := <-done:
		if len(res.d) > 0 {
			return nil, res.d
		}
		// A subject is one header line, whatever the data holds.
		res.out.Subject = strings.Join(strings.Fields(res.out.Subject), " ")
		return &res.out, nil
	case <-time.After(renderTimeout):
		return nil, []errs.Detail{{Field: "template", Code: "timeout",
			Message: fmt.Sprintf("rendering took longer than %s", renderTimeout)}}
	}
}

// cappedBuffer fails a write past max bytes, which stops the template.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("renders to more than %d bytes", b.max)
	}
	return b.Buffer.Write(p)
}

var (
	errorLine  = regexp.MustCompile(`^template: [^:]+:(\d+)(?::\d+)?: (?:executing "[^"]*" )?(.*)$`)
	missingKey = regexp.MustCompile(`at <([.$][^>]*)>: map has no entry for key "([^"]*)"`)
)

// templateDetail is a template error as a detail naming the part, the line
// and, for data without a key the template uses, the key: field
// "data.user.name".
func templateDetail(field string, err error) errs.Detail {
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.ErrorCode != htmltemplate.OK {
		desc, _, _ := strings.Cut(he.Description, ": {") // drop the escaper's state dump
		if he.ErrorCode == htmltemplate.ErrEndContext {
			desc = "ends inside a tag, an attribute, a comment or a script"
		}
		if he.Line > 0 {
			desc = fmt.Sprintf("line %d: %s", he.Line, desc)
		}
		return errs.Detail{Field: field, Code: "html", Message: desc}
	}
	msg := err.Error()
	if m := missingKey.FindStringSubmatch(msg); m != nil {
		path := m[1]
		if strings.HasPrefix(path, ".") && !strings.ContainsAny(path, " ()|") {
			field = "data" + path
		} else {
			field = "data." + m[2]
		}
		line := ""
		if l := errorLine.FindStringSubmatch(msg); l != nil {
			line = " (line " + l[1] + ")"
		}
		return errs.Detail{Field: field, Code: "missing_key", Message: fmt.Sprintf("the data has no %q, which the template uses%s", m[2], line)}
	}
	code := "syntax"
	if !strings.Contains(msg, "executing") {
		if strings.Contains(msg, "function \"") && strings.Contains(msg, "not defined") {
			code = "unknown_function"
		}
	} else {
		code = "render"
	}
	switch {
	case strings.Contains(msg, "renders to more than"):
		code = "max"
	case strings.Contains(msg, errLoopBudget.Error()):
		return errs.Detail{Field: field, Code: "max", Message: errLoopBudget.Error() + ": its loops are too long for the data"}
	}
	if l := errorLine.FindStringSubmatch(msg); l != nil {
		return errs.Detail{Field: field, Code: code, Message: "line " + l[1] + ": " + l[2]}
	}
	return errs.Detail{Field: field, Code: code, Message: strings.TrimPrefix(msg, "template: ")}
}

// defaultValue is v, or def when v is empty: {{.nickname | default "friend"}}.
// A key that is missing from the data is still an error.
func defaultValue(def, v any) any {
	switch x := v.(type) {
	case nil:
		return def
	case string:
		if x == "" {
			return def
		}
	case bool:
		if !x {
			return def
		}
	case float64:
		if x == 0 {
			return def
		}
	case int:
		if x == 0 {
			return def
		}
	}
	return v
}

// formatDate formats a time, an RFC 3339 string or Unix seconds in UTC
// with a Go layout: {{date "2 Jan 2006" .shipped_at}}.
func formatDate(layout string, v any) (string, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "", errors.New("date: no time")
		}
		t = *x
	case string:
		p, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return "", fmt.Errorf("date: %q is not an RFC 3339 time", x)
		}
		t = p
	case float64:
		t = time.Unix(int64(x), 0)
	case int:
		t = time.Unix(int64(x), 0)
	case int64:
		t = time.Unix(x, 0)
	default:
		return "", fmt.Errorf("date: cannot format a %T", v)
	}
	return t.UTC().Format(layout), nil
}

// jsonValue is v as JSON, for a webhook's body: {"name": {{json .name}}}.
func jsonValue(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// templateRoutes adds the template routes.
func (m *Module) templateRoutes(r kernel.Routes) {
	read, manage := security.Require(PermRead), security.Require(PermManage)
	r.API.GET("/templates", m.listTemplates, read)
	r.API.POST("/templates", m.postTemplate, manage)
	r.API.POST("/templates/preview", m.previewTemplate, read)
	r.API.GET("/templates/:id", m.getTemplate, read)
	r.API.PUT("/templates/:id", m.putTemplate, manage)
	r.API.DELETE("/templates/:id", m.deleteTemplate, manage)
}

// templateRequest saves a template; sample_data, when given, must render
// every part.
type templateRequest struct {
	TemplateInput
	SampleData map[string]any `json:"sample_data"`
}

func (m *Module) listTemplates(c echo.Context) error {
	lp, err := httpx.ParseList(c, map[string]string{"key": "key"}, "key")
	if err != nil {
		return err
	}
	key := c.QueryParam("key")
	if key != "" && !tmpl.MatchString(key) {
		return ErrInvalidFilter.WithDetails(errs.Detail{Field: "key", Code: "format", Message: "must be a template key"})
	}
	items, total, err := m.ListTemplates(c.Request().Context(), key, lp.Offset(), lp.PerPage)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewPage(items, total, lp))
}

func (m *Module) getTemplate(c echo.Context) error {
	t, err := m.GetTemplate(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

// postTemplate creates a template (201) or replaces the one with the same
// key, locale and channel (200).
func (m *Module) postTemplate(c echo.Context) error {
	var req templateRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	t, created, err := m.saveTemplate(c.Request().Context(), req.TemplateInput, req.SampleData)
	if err != nil {
		return err
	}
	if created {
		return c.JSON(http.StatusCreated, t)
	}
	return c.JSON(http.StatusOK, t)
}

func (m *Module) putTemplate(c echo.Context) error {
	var req templateRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	t, err := m.updateTemplate(c.Request().Context(), c.Param("id"), req.TemplateInput, req.SampleData)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (m *Module) deleteTemplate(c echo.Context) error {
	if err := m.DeleteTemplate(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type previewRequest struct {
	Key     string         `json:"key"`
	Locale  string         `json:"locale"`
	Channel string         `json:"channel"`
	Data    map[string]any `json:"data"`
}

func (m *Module) previewTemplate(c echo.Context) error {
	var req previewRequest
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	out, t, err := m.PreviewTemplate(c.Request().Context(), req.Key, req.Locale, req.Channel, req.Data)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rendered": out, "template": t})
}
