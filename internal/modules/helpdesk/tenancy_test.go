package helpdesk_test

// Guards that hold across every route the module serves, read from the
// served echo instance so that a route added later is checked too:
//
//   - another tenant's owner and agent get 404 (the JSON error envelope, or
//     the backoffice's not-found page) on every route with a path
//     parameter, given tenant A's real ids, and A's rows do not change;
//     ids of A inside the body or query of B's requests are refused too;
//   - a customer never sees another customer's ticket (404) nor, on their
//     own, the text of any internal note;
//   - malformed JSON, an unknown field and a wrong type are 400 on every
//     POST, PATCH and PUT, with nothing written.
//
// A route whose parameters or body the tables below do not know fails the
// test and says what to add.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

const (
	tgAPI   = "/api/v1/helpdesk"
	tgAdmin = "/admin/helpdesk"
)

// tgParamKinds says which object fills a path parameter, by the path
// segment before it: /tickets/:id is a ticket, /tickets/:id/links/:other
// the linked ticket.
var tgParamKinds = map[string]string{
	"tickets":          "ticket",
	"customers":        "customer",
	"organizations":    "organization",
	"groups":           "group",
	"macros":           "macro",
	"canned-responses": "canned",
	"calendars":        "calendar",
	"sla-policies":     "sla_policy",
	"links":            "ticket2",
	"attachments":      "attachment",
	"views":            "view",
}

// tgSpec is how a route is called. body (JSON for the API, a urlencoded
// form for the backoffice) and query may name objects as {kind}, and
// {version} is the current version of the path's ticket.
type tgSpec struct {
	body  string
	query string
	// noBody: the route reads no body (bad-input cases do not apply).
	noBody bool
	// anyType: body fields that take any JSON type, checked for their
	// value (422) rather than their type.
	anyType []string
}

// tgSpecs has every route that takes a body or needs a query; the key
// is "METHOD path" as echo registers it.
var tgSpecs = map[string]tgSpec{
	"POST " + tgAPI + "/customers":      {body: `{"name":"Mallory","email":"mallory@evil.test","organization_id":"{organization}"}`},
	"PATCH " + tgAPI + "/customers/:id": {body: `{"name":"Mallory","organization_id":"{organization}"}`},
	"POST " + tgAPI + "/organizations":  {body: `{"name":"Evil org","notes":"n"}`},
	"POST " + tgAPI + "/tickets":        {body: `{"subject":"Evil","message":"m","requester":{"email":"evil@evil.test"},"group_id":"{group}"}`},
	"PATCH " + tgAPI + "/tickets/:id": {body: `{"version":{version},"priority":"high","group_id":"{group}"}`,
		anyType: []string{"group_id"}},
	"POST " + tgAPI + "/tickets/:id/messages":        {body: `{"body":"Mallory was here","internal":false}`},
	"POST " + tgAPI + "/tickets/:id/assign":          {body: `{"strategy":"round_robin","version":{version}}`},
	"POST " + tgAPI + "/tickets/:id/merge":           {body: `{"into_id":"{ticket2}"}`},
	"POST " + tgAPI + "/tickets/:id/links":           {body: `{"ticket_id":"{ticket3}","kind":"duplicate"}`},
	"PUT " + tgAPI + "/agents/me/status":             {body: `{"away":true}`},
	"POST " + tgAPI + "/groups":                      {body: `{"name":"Evil group","round_robin":true,"members":["{agent}"]}`},
	"PATCH " + tgAPI + "/groups/:id":                 {body: `{"name":"Evil group","members":["{agent}"]}`},
	"POST " + tgAPI + "/macros":                      {body: `{"name":"Evil macro","private":false,"actions":{"group_id":"{group}"}}`},
	"PATCH " + tgAPI + "/macros/:id":                 {body: `{"name":"Evil macro","actions":{"group_id":"{group}"}}`},
	"POST " + tgAPI + "/tickets/:id/macros/:mid":     {body: `{"version":{version}}`},
	"POST " + tgAPI + "/canned-responses":            {body: `{"name":"Evil canned","body":"Hi {{customer.name}}","private":false}`},
	"PATCH " + tgAPI + "/canned-responses/:id":       {body: `{"name":"Evil canned","body":"Hi"}`},
	"POST " + tgAPI + "/canned-responses/:id/render": {noBody: true, query: "ticket_id={ticket}"},
	"POST " + tgAPI + "/inbound/secret":              {noBody: true},
	"POST " + tgAPI + "/calendars":                   {body: `{"name":"Evil calendar","zone":"UTC","default":false}`},
	"PATCH " + tgAPI + "/calendars/:id":              {body: `{"name":"Evil calendar"}`},
	"POST " + tgAPI + "/sla-policies": {body: `{"name":"Evil SLA","calendar_id":"{calendar}",` +
		`"targets":{"normal":{"first_response":60}}}`},
	"PATCH " + tgAPI + "/sla-policies/:id": {body: `{"name":"Evil SLA","calendar_id":"{calendar}"}`},
	"POST " + tgAPI + "/views":             {body: `{"name":"Evil view","filters":{"status":"open"},"shared":true}`},
	"PATCH " + tgAPI + "/views/:id":        {body: `{"name":"Evil view","filters":{"status":"open"}}`},

	"POST " + tgAdmin + "/tickets": {body: "subject=Evil&email=evil%40evil.test&priority=normal&message=m"},
	"POST " + tgAdmin + "/tickets/:id": {body: "version={version}&subject=Evil&status=open&priority=high&type=&tags=" +
		"&assignee={agent}&group={group}"},
	"GET " + tgAdmin + "/tickets/:id":                           {query: "canned={canned}"},
	"POST " + tgAdmin + "/tickets/:id/macro":                    {body: "version={version}&macro={macro}"},
	"POST " + tgAdmin + "/tickets/:id/assign":                   {body: "version={version}"},
	"POST " + tgAdmin + "/tickets/:id/merge":                    {body: "into={ticket2}"},
	"POST " + tgAdmin + "/tickets/:id/links":                    {body: "ticket={ticket3}&kind=duplicate"},
	"POST " + tgAdmin + "/tickets/:id/links/:other/delete":      {body: ""},
	"POST " + tgAdmin + "/tickets/:id/messages":                 {body: "body=Mallory+was+here"},
	"POST " + tgAdmin + "/customers":                            {body: "name=Mallory&email=mallory%40evil.test"},
	"POST " + tgAdmin + "/views":                                {body: "name=Evil+view&status=open&shared=on"},
	"POST " + tgAdmin + "/views/:id":                            {body: "name=Evil+view&status=open&shared=on"},
	"POST " + tgAdmin + "/views/:id/delete":                     {body: ""},
	"POST " + tgAdmin + "/customers/:id":                        {body: "name=Mallory&email="},
	"POST " + tgAdmin + "/settings/calendars":                   {body: "name=Evil+calendar&zone=UTC&week_mon=09:00-17:00&holidays="},
	"POST " + tgAdmin + "/settings/calendars/:id":               {body: "name=Evil+calendar&zone=UTC&week_mon=09:00-17:00&holidays="},
	"POST " + tgAdmin + "/settings/calendars/:id/delete":        {body: ""},
	"POST " + tgAdmin + "/settings/sla-policies":                {body: "name=Evil+SLA&calendar={calendar}&first_response_normal=60"},
	"POST " + tgAdmin + "/settings/sla-policies/:id":            {body: "name=Evil+SLA&calendar={calendar}&first_response_normal=60"},
	"POST " + tgAdmin + "/settings/sla-policies/:id/delete":     {body: ""},
	"POST " + tgAdmin + "/settings/groups":                      {body: "name=Evil+group&round_robin=on&members={agent}"},
	"POST " + tgAdmin + "/settings/groups/:id":                  {body: "name=Evil+group&members={agent}"},
	"POST " + tgAdmin + "/settings/groups/:id/delete":           {body: ""},
	"POST " + tgAdmin + "/settings/macros":                      {body: "name=Evil+macro&group={group}"},
	"POST " + tgAdmin + "/settings/macros/:id":                  {body: "name=Evil+macro&group={group}"},
	"POST " + tgAdmin + "/settings/macros/:id/delete":           {body: ""},
	"POST " + tgAdmin + "/settings/canned-responses":            {body: "name=Evil+canned&body=Hi"},
	"POST " + tgAdmin + "/settings/canned-responses/:id":        {body: "name=Evil+canned&body=Hi"},
	"POST " + tgAdmin + "/settings/canned-responses/:id/delete": {body: ""},
	"POST " + tgAdmin + "/settings/away":                        {body: "away=true"},
	"POST " + tgAdmin + "/settings/inbound-secret":              {body: ""},
}

// tgMakers make a fresh object of a kind (%d is a number that keeps names
// apart), for routes that delete one.
var tgMakers = map[string]struct{ path, body string }{
	"calendar":   {"/calendars", `{"name":"fresh calendar %d","zone":"UTC","week":{"mon":["09:00-17:00"]}}`},
	"sla_policy": {"/sla-policies", `{"name":"fresh SLA %d","targets":{"normal":{"first_response":60}}}`},
	"group":      {"/groups", `{"name":"fresh group %d"}`},
	"macro":      {"/macros", `{"name":"fresh macro %d","actions":{"priority":"low"}}`},
	"canned":     {"/canned-responses", `{"name":"fresh canned %d","body":"b"}`},
	"view":       {"/views", `{"name":"fresh view %d","filters":{"status":"open"}}`},
}

// tgPublicRoutes are routes under the API prefix that take no bearer
// credential: each is authenticated by a secret or a signed token, and the
// check named here proves that tenant B's secret or token never reaches
// tenant A's data. They are left out of the other checks.
var tgPublicRoutes = map[string]func(t *testing.T, g *tenancyGuard){
	"POST " + tgAPI + "/inbound/email": tgCheckInbound,
	"GET " + tgAPI + "/csat/:token":    func(t *testing.T, g *tenancyGuard) { tgCheckCSAT(t, g, http.MethodGet) },
	"POST " + tgAPI + "/csat/:token":   func(t *testing.T, g *tenancyGuard) { tgCheckCSAT(t, g, http.MethodPost) },
	"GET " + tgAPI + "/files/:token":   tgCheckFileLink,
}

// tgRoute is one route of the module.
type tgRoute struct{ method, path string }

func (r tgRoute) String() string { return r.method + " " + r.path }
func (r tgRoute) admin() bool    { return strings.HasPrefix(r.path, tgAdmin) }
func (r tgRoute) params() bool   { return strings.Contains(r.path, "/:") }
func (r tgRoute) nparams() int   { return strings.Count(r.path, "/:") }
func (r tgRoute) spec() tgSpec {
	return tgSpecs[r.String()]
}
func (r tgRoute) hasBody() bool {
	return r.method == http.MethodPost || r.method == http.MethodPatch || r.method == http.MethodPut
}

// tgRoutes lists the module's routes as the served echo instance has them.
func tgRoutes(t *testing.T, f *fixture) []tgRoute {
	t.Helper()
	e, err := f.k.HTTP()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[tgRoute]bool{}
	var out []tgRoute
	for _, r := range e.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		default:
			continue
		}
		if r.Path != tgAdmin && !strings.HasPrefix(r.Path, tgAdmin+"/") && !strings.HasPrefix(r.Path, tgAPI+"/") {
			continue
		}
		if strings.Contains(r.Path, "*") {
			continue // the groups' not-found catch-alls
		}
		rt := tgRoute{r.Method, r.Path}
		if !seen[rt] {
			seen[rt] = true
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) < 30 {
		t.Fatalf("only %d helpdesk routes found: %v", len(out), out)
	}
	return out
}

// tgWorld is one tenant's objects, one of each kind, made through the API.
type tgWorld struct {
	name  string
	staff string            // the owner's token, to read versions
	ids   map[string]string // by kind
}

// tgPeople are the users of a tenant that a world is built by.
type tgPeople struct {
	owner, agent, customer, agentID string
}

// tgNoteMarker is a word in every internal note the fixtures write, and
// nowhere else.
const tgNoteMarker = "Zqxvorpal"

// tgBuild makes a world: a customer's ticket with a public reply and an
// internal note, a second ticket of theirs with a note merged into it, a
// staff ticket linked to it, a third ticket, and a customer, an
// organization, a group, a macro, a canned response, a calendar and an SLA
// policy.
func tgBuild(t *testing.T, f *fixture, name string, p tgPeople, files bool) *tgWorld {
	t.Helper()
	w := &tgWorld{name: name, staff: p.owner, ids: map[string]string{"agent": p.agentID}}
	post := func(token, path string, body any) string {
		t.Helper()
		var out struct{ ID string }
		f.do(t, "POST", path, token, body, 201, "").Decode(t, &out)
		return out.ID
	}
	w.ids["organization"] = post(p.owner, "/organizations", map[string]any{"name": name + " org"})
	w.ids["customer"] = post(p.owner, "/customers", map[string]any{"name": name + " customer", "email": "customer@" + name + ".test",
		"organization_id": w.ids["organization"]})
	w.ids["group"] = post(p.owner, "/groups", map[string]any{"name": name + " group", "members": []string{p.agentID}})
	w.ids["ticket"] = post(p.customer, "/tickets", map[string]any{"subject": name + " customer ticket", "message": "Please help"})
	f.do(t, "POST", "/tickets/"+w.ids["ticket"]+"/messages", p.agent, map[string]any{"body": "We are on it."}, 201, "")
	f.do(t, "POST", "/tickets/"+w.ids["ticket"]+"/messages", p.agent,
		map[string]any{"body": "Note of " + name + ": " + tgNoteMarker + " refund approved", "internal": true}, 201, "")
	f.do(t, "POST", "/tickets/"+w.ids["ticket"]+"/messages", p.customer, map[string]any{"body": "Thanks!"}, 201, "")
	merged := post(p.customer, "/tickets", map[string]any{"subject": name + " duplicate", "message": "Me again"})
	f.do(t, "POST", "/tickets/"+merged+"/messages", p.agent,
		map[string]any{"body": "Merged one of " + name + ": " + tgNoteMarker + " same person", "internal": true}, 201, "")
	f.do(t, "POST", "/tickets/"+merged+"/merge", p.agent, map[string]any{"into_id": w.ids["ticket"]}, 200, "")
	w.ids["merged"] = merged
	w.ids["ticket2"] = post(p.agent, "/tickets", map[string]any{"subject": name + " staff ticket", "message": "m",
		"requester": map[string]string{"email": "other@" + name + ".test"}})
	w.ids["ticket3"] = post(p.agent, "/tickets", map[string]any{"subject": name + " third ticket", "message": "m",
		"requester": map[string]string{"email": "other@" + name + ".test"}})
	f.do(t, "POST", "/tickets/"+w.ids["ticket"]+"/links", p.agent, map[string]any{"ticket_id": w.ids["ticket2"], "kind": "related"}, 201, "")
	if files {
		// A file on a public reply, and one on an internal note whose name
		// and content carry the note's word.
		w.ids["attachment"] = tgUpload(t, f, p.agent, w.ids["ticket"], "The manual is attached.", false, "manual.txt", "Page one.")
		w.ids["note_attachment"] = tgUpload(t, f, p.agent, w.ids["ticket"], "Audit log: "+tgNoteMarker, true,
			tgNoteMarker+"-audit.txt", "audit "+tgNoteMarker)
	}
	w.ids["macro"] = post(p.owner, "/macros", map[string]any{"name": name + " macro", "actions": map[string]any{"priority": "high"}})
	w.ids["canned"] = post(p.owner, "/canned-responses", map[string]any{"name": name + " canned", "body": "Hello {{customer.name}}, from the " + name + " desk"})
	w.ids["calendar"] = post(p.owner, "/calendars", map[string]any{"name": name + " hours", "zone": "Europe/Vienna",
		"week": map[string][]string{"mon": {"09:00-17:00"}}})
	w.ids["sla_policy"] = post(p.owner, "/sla-policies", map[string]any{"name": name + " SLA", "calendar_id": w.ids["calendar"],
		"targets": map[string]any{"normal": map[string]any{"first_response": 120}}})
	w.ids["view"] = post(p.owner, "/views", map[string]any{"name": name + " view", "filters": map[string]string{"status": "open"},
		"shared": true})
	return w
}

// tenancyGuard is the fixture with a world in each tenant and the extra users the
// checks need.
type tenancyGuard struct {
	*fixture
	a, b           *tgWorld
	agentB         string
	browsers       map[string]*kerneltest.Browser // by e-mail
	all            []tgRoute                      // every route of the module
	routes         []tgRoute                      // all but tgPublicRoutes
	internalBodies []string                       // every internal note of A's customer ticket, as JSON string content
}

func newTenancyGuard(t *testing.T) *tenancyGuard {
	t.Helper()
	f := newFixture(t)
	admin := f.c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	g := &tenancyGuard{fixture: f, browsers: map[string]*kerneltest.Browser{}}
	g.agentB = f.c.CreateUser(admin, f.tb, "agent@b.test", "agent")
	custB := f.c.CreateUser(admin, f.tb, "cust@b.test", "customer")
	var agentBID struct{ ID string }
	f.c.Do(http.MethodGet, "/api/v1/auth/me", g.agentB, nil).Decode(t, &agentBID)
	files := false
	for _, r := range tgRoutes(t, f) {
		files = files || strings.Contains(r.path, "/attachments/:")
	}
	g.a = tgBuild(t, f, "alpha", tgPeople{owner: f.ownerA, agent: f.agentA, customer: f.custA, agentID: f.agentAID}, files)
	g.b = tgBuild(t, f, "beta", tgPeople{owner: f.ownerB, agent: g.agentB, customer: custB, agentID: agentBID.ID}, files)
	for _, r := range tgRoutes(t, f) {
		g.all = append(g.all, r)
		if _, public := tgPublicRoutes[r.String()]; !public {
			g.routes = append(g.routes, r)
		}
	}

	var msgs struct {
		Items []struct {
			Body     string `json:"body"`
			Internal bool   `json:"internal"`
		} `json:"items"`
	}
	f.do(t, "GET", "/tickets/"+g.a.ids["ticket"]+"/messages", f.agentA, nil, 200, "").Decode(t, &msgs)
	for _, m := range msgs.Items {
		if m.Internal {
			j, _ := json.Marshal(m.Body)
			g.internalBodies = append(g.internalBodies, strings.Trim(string(j), `"`))
		}
	}
	// The fixture's two notes and the merge's notes.
	if len(g.internalBodies) < 3 {
		t.Fatalf("the customer ticket has %d internal notes, want at least 3", len(g.internalBodies))
	}
	return g
}

func (g *tenancyGuard) browser(t *testing.T, email string) *kerneltest.Browser {
	t.Helper()
	b, ok := g.browsers[email]
	if !ok {
		b = g.fixture.browser(t, email)
		g.browsers[email] = b
	}
	b.In(t)
	return b
}

// tgFillPath puts the world's ids into the route's path parameters; ok is
// false (and the test failed) for a parameter the table does not know.
func tgFillPath(t *testing.T, r tgRoute, w *tgWorld) (string, bool) {
	t.Helper()
	return tgFillPathWith(t, r, func(int) *tgWorld { return w })
}

// tgFillPathWith fills the n-th path parameter (from 0) from world(n).
func tgFillPathWith(t *testing.T, r tgRoute, world func(n int) *tgWorld) (string, bool) {
	t.Helper()
	segs := strings.Split(r.path, "/")
	n := -1
	for i, s := range segs {
		if !strings.HasPrefix(s, ":") {
			continue
		}
		n++
		w := world(n)
		kind, ok := tgParamKinds[segs[i-1]]
		if !ok {
			t.Errorf("%s: the parameter %s after /%s/ is unknown to the tenancy guard: add /%s/ to tgParamKinds in tenancy_test.go",
				r, s, segs[i-1], segs[i-1])
			return "", false
		}
		id, ok := w.ids[kind]
		if !ok {
			t.Errorf("%s: tenancy_test.go's build makes no %q: make one there", r, kind)
			return "", false
		}
		segs[i] = id
	}
	return strings.Join(segs, "/"), true
}

// fillText puts ids of w (and the version of pathWorld's path ticket) into
// a body or query template.
func (g *tenancyGuard) fillText(t *testing.T, r tgRoute, tmpl string, w *tgWorld, pathTicket string, pathWorld *tgWorld) (string, bool) {
	t.Helper()
	if strings.Contains(tmpl, "{version}") {
		var tk struct{ Version int }
		f := g.fixture
		f.do(t, "GET", "/tickets/"+pathTicket, pathWorld.staff, nil, 200, "").Decode(t, &tk)
		tmpl = strings.ReplaceAll(tmpl, "{version}", fmt.Sprint(tk.Version))
	}
	for kind, id := range w.ids {
		tmpl = strings.ReplaceAll(tmpl, "{"+kind+"}", id)
	}
	if m := tgPlaceholder.FindStringSubmatch(tmpl); m != nil {
		t.Errorf("%s: tenancy_test.go's build makes no %q for %q: make one there", r, m[2], tmpl)
		return "", false
	}
	return tmpl, true
}

// tgRequest is a filled-in call of a route.
type tgRequest struct {
	r           tgRoute
	path, body  string
	description string
}

// prepare fills route r: path ids from pathWorld, ids in the body and query
// from bodyWorld. ok is false when the tables lack something (the test
// has failed then).
func (g *tenancyGuard) prepare(t *testing.T, r tgRoute, pathWorld, bodyWorld *tgWorld) (tgRequest, bool) {
	t.Helper()
	return g.prepareWith(t, r, func(int) *tgWorld { return pathWorld }, bodyWorld)
}

// prepareWith is prepare with the n-th path parameter from pathWorld(n);
// {version} is that of the first parameter's ticket.
func (g *tenancyGuard) prepareWith(t *testing.T, r tgRoute, pathWorlds func(n int) *tgWorld, bodyWorld *tgWorld) (tgRequest, bool) {
	t.Helper()
	pathWorld := pathWorlds(0)
	path, ok := tgFillPathWith(t, r, pathWorlds)
	if !ok {
		return tgRequest{}, false
	}
	spec, known := tgSpecs[r.String()]
	if r.hasBody() && !known {
		t.Errorf("%s: the tenancy guard does not know its body: add a valid one to tgSpecs in tenancy_test.go", r)
		return tgRequest{}, false
	}
	pathTicket := ""
	if strings.Contains(r.path, "/tickets/:") {
		pathTicket = pathWorld.ids["ticket"]
	}
	body, ok := g.fillText(t, r, spec.body, bodyWorld, pathTicket, pathWorld)
	if !ok {
		return tgRequest{}, false
	}
	if spec.query != "" {
		q, ok := g.fillText(t, r, spec.query, bodyWorld, pathTicket, pathWorld)
		if !ok {
			return tgRequest{}, false
		}
		path += "?" + q
	}
	return tgRequest{r: r, path: path, body: body}, true
}

// call sends a request as the user with token (API) or e-mail (backoffice).
func (g *tenancyGuard) call(t *testing.T, q tgRequest, token, email string) (int, string, string) {
	t.Helper()
	if q.r.admin() {
		b := g.browser(t, email)
		var p *kerneltest.Page
		if q.r.method == http.MethodGet {
			p = b.Get(q.path)
		} else {
			form, err := url.ParseQuery(q.body)
			if err != nil {
				t.Fatalf("%s: form %q: %v", q.r, q.body, err)
			}
			p = b.Post(q.path, form)
		}
		return p.Status, p.Header.Get("Content-Type"), p.Body
	}
	var body any
	if q.body != "" {
		body = q.body
	} else if q.r.hasBody() && !q.r.spec().noBody {
		body = "{}"
	}
	res := g.c.Do(q.r.method, q.path, token, body)
	return res.Status, res.Header.Get("Content-Type"), string(res.Body)
}

// tgErrorCode is the JSON error envelope's code, or "" when the body is not one.
func tgErrorCode(body string) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// tgNotFound checks that a response is the module's 404 for a missing
// object: the JSON error envelope (not the router's route_not_found), or the
// backoffice's not-found page.
func tgNotFound(t *testing.T, who string, q tgRequest, status int, ctype, body string) {
	t.Helper()
	if status != http.StatusNotFound {
		t.Errorf("%s as %s (%s): %d, want 404: %.300s", q.r, who, q.path, status, body)
		return
	}
	if q.r.admin() {
		// The not-found page, or the viewer's own ticket with the problem
		// (a form naming another tenant's ticket), never the router's
		// page for a path that does not exist.
		if !strings.Contains(ctype, "text/html") || strings.Contains(body, "This page does not exist.") {
			t.Errorf("%s as %s: not the not-found page of a missing object (%s): %.300s", q.r, who, ctype, body)
		}
		return
	}
	if code := tgErrorCode(body); code == "" || code == "route_not_found" || !strings.Contains(ctype, "application/json") {
		t.Errorf("%s as %s: not the JSON error envelope of a missing object (%s): %.300s", q.r, who, ctype, body)
	}
}

// tgTables lists the database's helpdesk_* tables.
func tgTables(t *testing.T, f *fixture) []string {
	t.Helper()
	var names []string
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'helpdesk\_%' ESCAPE '\'`
	if f.k.DB.Dialect() == "mysql" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'helpdesk\_%'`
	}
	if err := f.k.DB.Conn(context.Background()).Raw(q).Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if len(names) < 10 {
		t.Fatalf("only %d helpdesk tables: %v", len(names), names)
	}
	return names
}

// tgSnapshot is every row of every helpdesk table, each table's rows sorted.
func tgSnapshot(t *testing.T, f *fixture) map[string][]string {
	t.Helper()
	f.settleSearch(t)
	out := map[string][]string{}
	for _, tb := range tgTables(t, f) {
		_, rows := kerneltest.Rows(t, f.k, tb, "")
		var lines []string
		for _, r := range rows {
			lines = append(lines, fmt.Sprint(r...))
		}
		slices.Sort(lines)
		out[tb] = lines
	}
	return out
}

// tgRowCounts is the number of rows of every helpdesk table.
func tgRowCounts(t *testing.T, f *fixture) map[string]int {
	t.Helper()
	f.settleSearch(t)
	out := map[string]int{}
	for _, tb := range tgTables(t, f) {
		out[tb] = f.count(t, tb)
	}
	return out
}

// tgSameRows reports the tables whose rows differ.
func tgSameRows(t *testing.T, what string, before, after map[string][]string) {
	t.Helper()
	for tb, rows := range after {
		if !slices.Equal(before[tb], rows) {
			t.Errorf("%s changed %s: %d rows -> %d rows\nbefore: %v\nafter:  %v", what, tb, len(before[tb]), len(rows), before[tb], rows)
		}
	}
}

// tgPlaceholder is {kind} in a template (not a {{...}} of a canned response).
var tgPlaceholder = regexp.MustCompile(`(^|[^{])\{([a-z_0-9]+)\}`)

// tgHasPlaceholder says whether a template names an object.
func tgHasPlaceholder(s string) bool {
	for _, m := range tgPlaceholder.FindAllStringSubmatch(s, -1) {
		if m[2] != "version" {
			return true
		}
	}
	return false
}

func TestTenancyGuard(t *testing.T) {
	g := newTenancyGuard(t)
	f := g.fixture
	t.Logf("%d routes, %d of them public; objects of each tenant: %d", len(g.all), len(g.all)-len(g.routes), len(g.a.ids))

	t.Run("every route is known", func(t *testing.T) {
		for _, r := range g.all {
			if _, public := tgPublicRoutes[r.String()]; public {
				continue
			}
			if r.params() {
				tgFillPath(t, r, g.a)
			}
			if _, ok := tgSpecs[r.String()]; r.hasBody() && !ok {
				t.Errorf("%s: the tenancy guard does not know its body: add a valid one to tgSpecs in tenancy_test.go", r)
			}
			if r.admin() {
				continue
			}
			// Without a credential an API route is 401; anything else is a
			// public route, which needs its own tenancy check.
			res := f.c.Do(r.method, strings.ReplaceAll(r.path, ":", "x"), "", nil)
			if _, ok := tgPublicRoutes[r.String()]; res.Status != http.StatusUnauthorized && !ok {
				t.Errorf("%s answers %d without a credential: add a check that tenant B's secret or token never reaches tenant A "+
					"to tgPublicRoutes in tenancy_test.go", r, res.Status)
			}
		}
	})

	t.Run("another tenant gets 404 on every route with an id", func(t *testing.T) {
		before := tgSnapshot(t, f)
		for _, as := range []struct{ who, token, email string }{{"B's owner", f.ownerB, "owner@b.test"}, {"B's agent", g.agentB, "agent@b.test"}} {
			for _, r := range g.routes {
				if !r.params() {
					continue
				}
				// A's ids in the path; the body names B's own objects, so
				// that only the path is foreign.
				q, ok := g.prepare(t, r, g.a, g.b)
				if !ok {
					continue
				}
				status, ctype, body := g.call(t, q, as.token, as.email)
				if status == http.StatusForbidden && (tgErrorCode(body) == "forbidden" || r.admin() && g.refused(r, as.who)) {
					// security.Require (or the page's declared permission)
					// refuses the route to this role before the handler
					// looks anything up.
					tgNoLeak(t, r, as.who, body)
					continue
				}
				tgNotFound(t, as.who, q, status, ctype, body)
				tgNoLeak(t, r, as.who, body)
			}
		}
		tgSameRows(t, "B's requests with A's ids", before, tgSnapshot(t, f))
	})

	t.Run("one foreign id among the path's own is 404", func(t *testing.T) {
		before := tgSnapshot(t, f)
		for _, r := range g.routes {
			for n := range r.nparams() {
				if r.nparams() < 2 {
					break
				}
				// B's objects in the path but for the n-th parameter, A's.
				q, ok := g.prepareWith(t, r, func(i int) *tgWorld {
					if i == n {
						return g.a
					}
					return g.b
				}, g.b)
				if !ok {
					continue
				}
				status, ctype, body := g.call(t, q, f.ownerB, "owner@b.test")
				tgNotFound(t, fmt.Sprintf("B's owner with A's id as parameter %d", n+1), q, status, ctype, body)
				tgNoLeak(t, r, "B's owner", body)
			}
		}
		tgSameRows(t, "B's requests with one of A's ids in the path", before, tgSnapshot(t, f))
	})

	t.Run("another tenant's ids in a body or query are refused", func(t *testing.T) {
		before := tgSnapshot(t, f)
		for _, r := range g.routes {
			spec := r.spec()
			if !tgHasPlaceholder(spec.body) && !tgHasPlaceholder(spec.query) {
				continue
			}
			// B's own objects in the path, A's in the body.
			q, ok := g.prepare(t, r, g.b, g.a)
			if !ok {
				continue
			}
			status, _, body := g.call(t, q, f.ownerB, "owner@b.test")
			tgNoLeak(t, r, "B's owner", body)
			switch {
			case r.admin() && status < 500 && !strings.Contains(body, g.a.ids["agent"]) && status != http.StatusSeeOther:
			case !r.admin() && (status == http.StatusNotFound || status == http.StatusUnprocessableEntity) && tgErrorCode(body) != "":
			default:
				t.Errorf("%s as B's owner with A's ids in %q: %d, want 404 or 422 and nothing written: %.300s", r, q.body+q.path, status, body)
			}
		}
		tgSameRows(t, "B's requests naming A's objects", before, tgSnapshot(t, f))
	})

	t.Run("lists show another tenant nothing", func(t *testing.T) {
		for _, r := range g.routes {
			if r.method != http.MethodGet || r.params() {
				continue
			}
			q, ok := g.prepare(t, r, g.b, g.b)
			if !ok {
				continue
			}
			// As it is, and filtered by A's ids and searched for A's words.
			sep := "?"
			if strings.Contains(q.path, "?") {
				sep = "&"
			}
			queries := []tgRequest{q}
			filters := []string{"q=alpha", "q=" + tgNoteMarker, "group=" + g.a.ids["group"],
				"requester=" + g.a.ids["customer"], "assignee=" + g.a.ids["agent"], "ticket_id=" + g.a.ids["ticket"]}
			if id, ok := g.a.ids["view"]; ok {
				filters = append(filters, "view="+id) // A's saved view
			}
			for _, filter := range filters {
				queries = append(queries, tgRequest{r: r, path: q.path + sep + filter})
			}
			for _, q := range queries {
				for _, as := range []struct{ who, token, email string }{{"B's owner", f.ownerB, "owner@b.test"}, {"B's agent", g.agentB, "agent@b.test"}} {
					status, _, body := g.call(t, q, as.token, as.email)
					if status >= 500 {
						t.Errorf("%s (%s) as %s: %d", r, q.path, as.who, status)
					}
					for kind, id := range g.a.ids {
						if !strings.Contains(q.path, id) && strings.Contains(body, id) {
							t.Errorf("%s (%s) as %s lists A's %s %s", r, q.path, as.who, kind, id)
						}
					}
					tgNoLeak(t, r, as.who, body)
				}
			}
		}
	})

	t.Run("customers: another's ticket is 404, their own shows no note", func(t *testing.T) {
		own := 0
		for _, r := range g.routes {
			if r.method != http.MethodGet {
				continue
			}
			q, ok := g.prepare(t, r, g.a, g.a)
			if !ok {
				continue
			}
			queries := []tgRequest{q}
			if !r.params() {
				// Searching for a note's word finds nothing through it.
				sep := "?"
				if strings.Contains(q.path, "?") {
					sep = "&"
				}
				queries = append(queries, tgRequest{r: r, path: q.path + sep + "q=" + tgNoteMarker})
			}
			for _, q := range queries {
				s1, _, b1 := g.call(t, q, f.custA, "cust@a.test")
				if s1 >= 500 {
					t.Errorf("%s (%s) as the customer: %d", r, q.path, s1)
				}
				for _, note := range g.internalBodies {
					if strings.Contains(b1, note) {
						t.Errorf("%s (%s) shows the customer an internal note: %q", r, q.path, note)
					}
				}
				if strings.Contains(b1, tgNoteMarker) {
					t.Errorf("%s (%s) shows the customer a note's word: %.300s", r, q.path, b1)
				}
				if strings.Contains(q.path, "q="+tgNoteMarker) {
					if s1 == http.StatusOK && strings.Contains(b1, g.a.ids["ticket"]) {
						t.Errorf("%s (%s) finds the customer's ticket by a note's word: %.300s", r, q.path, b1)
					}
					if _, _, staff := g.call(t, q, f.agentA, "agent@a.test"); strings.Contains(staff, g.a.ids["ticket"]) {
						t.Logf("%s: the agent finds the ticket by its note, the customer does not", r)
					}
				}
				if !r.params() {
					continue
				}
				s2, ctype, b2 := g.call(t, q, f.cust2A, "cust2@a.test")
				switch {
				case s1 == http.StatusOK:
					own++
					tgNotFound(t, "another customer", q, s2, ctype, b2)
				case s2 == http.StatusOK:
					t.Errorf("%s: the customer gets %d on their own ticket, another customer 200", r, s1)
				}
			}
		}
		// A file on an internal note is not the customer's to fetch.
		if id, ok := g.a.ids["note_attachment"]; ok {
			path := tgAPI + "/tickets/" + g.a.ids["ticket"] + "/attachments/" + id
			if res := f.c.Do(http.MethodGet, path, f.custA, nil); res.Status != http.StatusNotFound || tgErrorCode(string(res.Body)) == "" {
				t.Errorf("the customer fetches a note's file: %d %.300s", res.Status, res.Body)
			}
			if res := f.c.Do(http.MethodGet, path, f.agentA, nil); res.Status != http.StatusOK {
				t.Errorf("the agent cannot fetch a note's file: %d %.300s", res.Status, res.Body)
			}
		}
		// At least the ticket and its conversation are the customer's to read.
		if own < 2 {
			t.Errorf("the customer could read %d routes of their own ticket, want at least 2", own)
		}
	})

	t.Run("customers cannot change another's ticket", func(t *testing.T) {
		before := tgSnapshot(t, f)
		for _, r := range g.routes {
			if r.method == http.MethodGet || !r.params() {
				continue
			}
			q, ok := g.prepare(t, r, g.a, g.a)
			if !ok {
				continue
			}
			status, ctype, body := g.call(t, q, f.cust2A, "cust2@a.test")
			if status == http.StatusForbidden && (r.admin() || tgErrorCode(body) == "forbidden") {
				continue // the route is not for customers at all
			}
			tgNotFound(t, "another customer", q, status, ctype, body)
		}
		tgSameRows(t, "another customer's requests", before, tgSnapshot(t, f))
	})

	t.Run("bad input is 400 and writes nothing", func(t *testing.T) {
		for _, r := range g.routes {
			if r.admin() || !r.hasBody() {
				continue
			}
			spec, ok := tgSpecs[r.String()]
			if !ok || spec.noBody {
				continue // reported by "every tgRoute is known"; or reads no body
			}
			q, ok := g.prepare(t, r, g.a, g.a)
			if !ok {
				continue
			}
			var valid map[string]json.RawMessage
			if err := json.Unmarshal([]byte(q.body), &valid); err != nil {
				t.Fatalf("%s: tgSpecs body %q is not a JSON object: %v", r, q.body, err)
			}
			cases := map[string]string{"malformed JSON": `{"name": `, "unknown field": tgWithField(valid, "no_such_field", "1")}
			for field, v := range valid {
				if slices.Contains(spec.anyType, field) {
					continue
				}
				wrong := `"a string"`
				if strings.HasPrefix(string(v), `"`) {
					wrong = `123`
				}
				cases["wrong type of "+field] = tgWithField(valid, field, wrong)
			}
			before := tgRowCounts(t, f)
			for name, body := range cases {
				res := f.c.Do(r.method, q.path, f.ownerA, body)
				if res.Status != http.StatusBadRequest || tgErrorCode(string(res.Body)) == "" {
					t.Errorf("%s, %s (%s): %d, want 400 with the error envelope: %.300s", r, name, body, res.Status, res.Body)
				}
			}
			if after := tgRowCounts(t, f); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("%s: bad input wrote rows: %v -> %v", r, before, after)
			}
		}
	})

	t.Run("public routes keep tenants apart", func(t *testing.T) {
		for _, r := range g.all {
			if check, public := tgPublicRoutes[r.String()]; public {
				t.Run(r.String(), func(t *testing.T) { check(t, g) })
			}
		}
	})

	// Last, as it changes A: the same requests as A's owner find their
	// objects, so the 404s above are the tenant's doing, not a bad fill.
	t.Run("the same requests reach A's objects as A's owner", func(t *testing.T) {
		var deletes []tgRoute
		run := func(r tgRoute, w *tgWorld) {
			q, ok := g.prepare(t, r, w, g.a)
			if !ok {
				return
			}
			status, _, body := g.call(t, q, f.ownerA, "owner@a.test")
			if status == http.StatusNotFound || status >= 500 || r.method == http.MethodGet && status != http.StatusOK {
				t.Errorf("%s as A's owner (%s): %d: %.300s", r, q.path, status, body)
			}
		}
		for _, r := range g.routes {
			switch {
			case !r.params():
			case r.method == http.MethodDelete || strings.HasSuffix(r.path, "/delete"):
				deletes = append(deletes, r)
			default:
				run(r, g.a)
			}
		}
		for i, r := range deletes {
			// Two routes remove the same link: each finds it.
			if res := f.c.Do(http.MethodPost, tgAPI+"/tickets/"+g.a.ids["ticket"]+"/links", f.agentA,
				map[string]any{"ticket_id": g.a.ids["ticket2"], "kind": "related"}); res.Status != 201 && res.Status != 409 {
				t.Fatalf("relink: %d %s", res.Status, res.Body)
			}
			// Two routes delete one kind of object: each gets a new one.
			w := &tgWorld{name: g.a.name, staff: g.a.staff, ids: maps.Clone(g.a.ids)}
			segs := strings.Split(r.path, "/")
			for j := 0; j+1 < len(segs); j++ {
				kind := tgParamKinds[segs[j]]
				if mk, ok := tgMakers[kind]; ok && strings.HasPrefix(segs[j+1], ":") {
					var out struct{ ID string }
					f.do(t, "POST", mk.path, f.ownerA, fmt.Sprintf(mk.body, i), 201, "").Decode(t, &out)
					w.ids[kind] = out.ID
				}
			}
			run(r, w)
		}
	})
}

// tgWithField is the JSON object fields with name set to the raw value.
func tgWithField(fields map[string]json.RawMessage, name, raw string) string {
	m := make(map[string]json.RawMessage, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	m[name] = json.RawMessage(raw)
	b, _ := json.Marshal(m)
	return string(b)
}

// tgTenantRows is every row of the helpdesk tables that belongs to tenant
// (all rows of a table without tenant_id), each table's rows sorted.
func tgTenantRows(t *testing.T, f *fixture, tenant string) map[string][]string {
	t.Helper()
	f.settleSearch(t)
	out := map[string][]string{}
	for _, tb := range tgTables(t, f) {
		if strings.HasPrefix(tb, "helpdesk_search_fts") {
			// FTS5's own tables hold no tenant: they index helpdesk_search_docs,
			// whose rows are compared, and change with any tenant's writes.
			continue
		}
		cols, rows := kerneltest.Rows(t, f.k, tb, "")
		col := slices.Index(cols, "tenant_id")
		var lines []string
		for _, r := range rows {
			if col < 0 || fmt.Sprint(r[col]) == tenant {
				lines = append(lines, fmt.Sprint(r...))
			}
		}
		slices.Sort(lines)
		out[tb] = lines
	}
	return out
}

// tgShortRef is a ticket's "[#ref]" in e-mail subjects: the last ten hex
// digits of its id.
func tgShortRef(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	return id[len(id)-10:]
}

// tgCheckInbound: mail posted with tenant B's inbound secret, from A's
// customer and naming A's ticket, opens a ticket in B and leaves A as it
// was; a secret that claims A's tenant with B's key is refused. With A's
// own secret the same mail threads into A's ticket, so the refusals are
// the tenant's doing.
func tgCheckInbound(t *testing.T, g *tenancyGuard) {
	f := g.fixture
	secret := func(token string) string {
		var s struct{ Secret string }
		f.do(t, "POST", "/inbound/secret", token, nil, 201, "").Decode(t, &s)
		if s.Secret == "" {
			t.Fatalf("no inbound secret")
		}
		return s.Secret
	}
	secretA, secretB := secret(f.ownerA), secret(f.ownerB)
	mail := func(id string) string {
		return "From: Customer <cust@a.test>\r\nTo: help@example.test\r\nSubject: Re: [#" + tgShortRef(g.a.ids["ticket"]) +
			"] alpha customer ticket\r\nMessage-ID: <" + id + "@mail.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
			"Content-Type: text/plain\r\n\r\nStill broken.\r\n"
	}
	post := func(secret, query, id string) *kerneltest.Response {
		headers := []string{"Content-Type", "message/rfc822"}
		if secret != "" {
			headers = append(headers, "X-Inbound-Token", secret)
		}
		return f.c.Do(http.MethodPost, tgAPI+"/inbound/email"+query, "", mail(id), headers...)
	}
	before := tgTenantRows(t, f, f.ta)
	res := post(secretB, "", "b-1")
	var got struct {
		TicketID string `json:"ticket_id"`
		Created  bool   `json:"created"`
	}
	if res.Status != http.StatusCreated {
		t.Errorf("mail with B's secret: %d, want 201 (a new ticket of B): %s", res.Status, res.Body)
	} else if res.Decode(t, &got); got.TicketID == g.a.ids["ticket"] || !got.Created {
		t.Errorf("mail with B's secret threaded into A's ticket: %s", res.Body)
	} else {
		f.do(t, "GET", "/tickets/"+got.TicketID, f.ownerB, nil, 200, "")
		f.do(t, "GET", "/tickets/"+got.TicketID, f.ownerA, nil, 404, "")
	}
	_, key, _ := strings.Cut(secretB, ".")
	for name, q := range map[string][2]string{
		"A's tenant with B's key":             {f.ta + "." + key, ""},
		"A's tenant with B's key, as ?token=": {"", "?token=" + url.QueryEscape(f.ta+"."+key)},
		"no secret":                           {"", ""},
		"B's key alone":                       {key, ""},
	} {
		if res := post(q[0], q[1], "forged-"+strings.ReplaceAll(name, " ", "-")); res.Status != http.StatusUnauthorized || tgErrorCode(string(res.Body)) == "" {
			t.Errorf("mail with %s: %d, want 401 with the error envelope: %s", name, res.Status, res.Body)
		}
	}
	tgSameRows(t, "mail with B's or a forged secret", before, tgTenantRows(t, f, f.ta))

	res = post(secretA, "", "a-1")
	if res.Status != http.StatusAccepted || !strings.Contains(string(res.Body), g.a.ids["ticket"]) {
		t.Errorf("the same mail with A's secret: %d %s, want 202 into A's ticket %s", res.Status, res.Body, g.a.ids["ticket"])
	}
}

// tgCSATToken is a rating link's token as csat.go signs it: the
// (tenant, ticket) pair and its MAC.
func tgCSATToken(f *fixture, tenant, ticket string) string {
	b, _ := json.Marshal([]string{tenant, ticket})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(f.k.Security.Sign("helpdesk.csat", []byte(payload))[:16])
}

// tgCheckCSAT: a rating link of tenant B never opens or rates A's ticket,
// whether B's signature is put on A's ticket or A's ticket named under B's
// tenant; A's own link opens it. Bad input to a good link is 400.
func tgCheckCSAT(t *testing.T, g *tenancyGuard, method string) {
	f := g.fixture
	ticketA, ticketB := g.a.ids["ticket2"], g.b.ids["ticket2"]
	own := tgCSATToken(f, f.ta, ticketA)
	if res := f.c.Do(http.MethodGet, tgAPI+"/csat/"+own, "", nil); res.Status != http.StatusOK ||
		!strings.Contains(string(res.Body), ticketA) {
		t.Fatalf("A's own rating link: %d %s", res.Status, res.Body)
	}
	tokB := tgCSATToken(f, f.tb, ticketB)
	payloadA, _, _ := strings.Cut(own, ".")
	_, sigB, _ := strings.Cut(tokB, ".")
	before := tgTenantRows(t, f, f.ta)
	for name, tok := range map[string]string{
		"B's tenant naming A's ticket": tgCSATToken(f, f.tb, ticketA),
		"A's pair with B's signature":  payloadA + "." + sigB,
		"A's pair unsigned":            payloadA,
	} {
		var body any
		if method == http.MethodPost {
			body = map[string]string{"rating": "bad", "comment": "forged"}
		}
		res := f.c.Do(method, tgAPI+"/csat/"+tok, "", body)
		if res.Status != http.StatusNotFound || tgErrorCode(string(res.Body)) == "" || strings.Contains(string(res.Body), "alpha") {
			t.Errorf("%s /csat with %s: %d, want 404 with the error envelope: %s", method, name, res.Status, res.Body)
		}
	}
	if method == http.MethodPost {
		for name, body := range map[string]string{"malformed JSON": `{"rating": `, "unknown field": `{"rating":"good","x":1}`,
			"wrong type": `{"rating":1}`} {
			if res := f.c.Do(method, tgAPI+"/csat/"+own, "", body); res.Status != http.StatusBadRequest || tgErrorCode(string(res.Body)) == "" {
				t.Errorf("POST /csat, %s: %d, want 400 with the error envelope: %s", name, res.Status, res.Body)
			}
		}
	}
	tgSameRows(t, method+" /csat with B's links and bad input", before, tgTenantRows(t, f, f.ta))
}

// tgCheckFileLink: a download link signed for tenant B never serves A's
// file, whether B's tenant names A's ticket and file or A's claim carries
// a signature made for B; A's own link serves it.
func tgCheckFileLink(t *testing.T, g *tenancyGuard) {
	f := g.fixture
	exp := time.Now().Add(time.Hour).Unix()
	claim := func(tenant string, w *tgWorld) map[string]any {
		return map[string]any{"tn": tenant, "tk": w.ids["ticket"], "a": w.ids["attachment"], "exp": exp}
	}
	own := fileToken(f, claim(f.ta, g.a))
	if res := f.c.Do(http.MethodGet, tgAPI+"/files/"+own, "", nil); res.Status != http.StatusOK || string(res.Body) != "Page one." {
		t.Fatalf("A's own file link: %d %s", res.Status, res.Body)
	}
	payloadA, _, _ := strings.Cut(own, ".")
	_, sigB, _ := strings.Cut(fileToken(f, claim(f.tb, g.b)), ".")
	before := tgTenantRows(t, f, f.ta)
	for name, tok := range map[string]string{
		"B's tenant naming A's file":   fileToken(f, claim(f.tb, g.a)),
		"A's claim with B's signature": payloadA + "." + sigB,
		"A's claim unsigned":           payloadA,
	} {
		res := f.c.Do(http.MethodGet, tgAPI+"/files/"+tok, "", nil)
		if res.Status != http.StatusNotFound || tgErrorCode(string(res.Body)) == "" || strings.Contains(string(res.Body), "Page one.") {
			t.Errorf("GET /files with %s: %d, want 404 with the error envelope: %s", name, res.Status, res.Body)
		}
	}
	tgSameRows(t, "GET /files with B's links", before, tgTenantRows(t, f, f.ta))
}

// tgUpload posts a message with one file as multipart/form-data and
// returns the file's attachment id.
func tgUpload(t *testing.T, f *fixture, token, ticket, body string, internal bool, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("body", body)
	_ = w.WriteField("internal", fmt.Sprint(internal))
	part, _ := w.CreateFormFile("files[]", name)
	_, _ = part.Write([]byte(content))
	_ = w.Close()
	res := f.c.Do(http.MethodPost, tgAPI+"/tickets/"+ticket+"/messages", token, b.Bytes(), "Content-Type", w.FormDataContentType())
	var msg struct {
		Attachments []struct{ ID string } `json:"attachments"`
	}
	if res.Status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", name, res.Status, res.Body)
	}
	if res.Decode(t, &msg); len(msg.Attachments) != 1 {
		t.Fatalf("upload %s: %s", name, res.Body)
	}
	return msg.Attachments[0].ID
}

// tgNoLeak fails the test if a response to tenant B shows tenant A's
// names.
func tgNoLeak(t *testing.T, r tgRoute, who, body string) {
	t.Helper()
	for _, leak := range []string{"alpha customer ticket", "alpha staff ticket", "of alpha", "alpha org", "alpha group",
		"alpha macro", "alpha canned", "alpha hours", "alpha SLA", "alpha desk"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s as %s shows %q", r, who, leak)
		}
	}
}

// refused says whether the backoffice page r declares a permission that
// the role of who ("B's owner", "B's agent", ...) lacks.
func (g *tenancyGuard) refused(r tgRoute, who string) bool {
	e, _ := g.k.HTTP()
	declared, _ := admin.Inventory(e)
	role := security.RoleOwner
	if strings.HasSuffix(who, "agent") {
		role = security.RoleAgent
	}
	perm, ok := declared[r.String()]
	return ok && !slices.Contains(g.hd.Permissions()[role], perm)
}
