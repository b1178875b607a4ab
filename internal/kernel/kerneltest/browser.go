package kerneltest

import (
	"bytes"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Browser is a cookie-keeping client for the backoffice's pages, as a
// browser without JavaScript uses them: it does not follow redirects, and
// it posts forms with the last CSRF token it saw on an HTML page.
type Browser struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

// Page is a response of a Browser.
type Page struct {
	Status int
	Header http.Header
	Body   string
}

// WithoutCSRF is a form whose CSRF token is empty.
var WithoutCSRF = url.Values{"_csrf": {""}}

// NewBrowser makes a Browser for the server at base.
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, base: base, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// Do sends a request, with form as its urlencoded body when not nil.
// headers are pairs of name and value.
func (b *Browser) Do(method, path string, form url.Values, headers ...string) *Page {
	b.t.Helper()
	if form == nil {
		return b.send(method, path, "", nil, headers...)
	}
	return b.send(method, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), headers...)
}

// File is a file that a multipart form uploads.
type File struct {
	Field, Name string
	Data        []byte
}

// PostFiles sends a multipart form, as a form with
// enctype="multipart/form-data" does: the CSRF token first (the last one
// seen, unless the form has one), then the fields, then the files.
func (b *Browser) PostFiles(path string, form url.Values, files ...File) *Page {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	csrf, ok := form["_csrf"]
	if !ok {
		csrf = []string{b.csrf}
	}
	for _, v := range csrf {
		_ = w.WriteField("_csrf", v)
	}
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			if k != "_csrf" {
				_ = w.WriteField(k, v)
			}
		}
	}
	for _, f := range files {
		fw, err := w.CreateFormFile(f.Field, f.Name)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = fw.Write(f.Data)
	}
	_ = w.Close()
	return b.send(http.MethodPost, path, w.FormDataContentType(), &buf)
}

func (b *Browser) send(method, path, contentType string, body io.Reader, headers ...string) *Page {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := &Page{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
	if m := csrfField.FindStringSubmatch(p.Body); m != nil && strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		b.csrf = m[1]
	}
	return p
}

// Get fetches a page.
func (b *Browser) Get(path string) *Page { b.t.Helper(); return b.Do(http.MethodGet, path, nil) }

// Post sends a form with the last CSRF token seen, unless it has one
// (WithoutCSRF sends an empty one).
func (b *Browser) Post(path string, form url.Values) *Page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", b.csrf)
	}
	return b.Do(http.MethodPost, path, form)
}

// Login signs in through the form, fails the test unless it works, and
// opens the dashboard.
func (b *Browser) Login(email, password string) {
	b.t.Helper()
	if p := b.TryLogin(email, password); p.Status != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s", email, p.Status, p.Body)
	}
	b.Get("/admin")
}

// TryLogin signs in through the form and returns the answer.
func (b *Browser) TryLogin(email, password string) *Page {
	b.t.Helper()
	b.Get("/admin/login")
	return b.Post("/admin/login", url.Values{"email": {email}, "password": {password}, "next": {"/admin"}})
}

// In makes the browser report to t from now on, such as a subtest's.
func (b *Browser) In(t testing.TB) { b.t = t }

// CSRF is the last CSRF token seen.
func (b *Browser) CSRF() string { return b.csrf }

// Location is the redirect target.
func (p *Page) Location() string { return p.Header.Get("Location") }

// Must fails the test unless the page has status and contains each string.
func (p *Page) Must(t testing.TB, status int, contains ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.Status, status, p.Body)
	}
	for _, s := range contains {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("body does not contain %q:\n%s", s, p.Body)
		}
	}
}
