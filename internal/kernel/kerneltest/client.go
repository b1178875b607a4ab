package kerneltest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Client calls a test server's API.
type Client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

// NewClient returns a client for base (a test server's URL).
func NewClient(t testing.TB, base string) *Client {
	return &Client{t: t, base: base, hc: &http.Client{}}
}

// Response is a decoded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Decode decodes the body into v, failing the test on error.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// ErrorCode is error.code of an error envelope, or "".
func (r *Response) ErrorCode() string {
	m := r.JSON()
	if e, ok := m["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

// Do sends a request. body may be nil, a []byte or string sent as is, or a
// value encoded as JSON. headers are pairs of name and value.
func (c *Client) Do(method, path, token string, body any, headers ...string) *Response {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Login signs in and returns the access token.
func (c *Client) Login(email, password string) string {
	c.t.Helper()
	res := c.Do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if res.Status != http.StatusOK {
		c.t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	res.Decode(c.t, &out)
	return out.AccessToken
}
