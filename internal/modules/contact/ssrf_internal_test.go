package contact

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestBlockedIP(t *testing.T) {
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "100.100.100.200": true, "0.0.0.0": true, "224.0.0.1": true,
		"255.255.255.255": true, "::1": true, "::": true, "fe80::1": true, "fc00::1": true, "fd00:ec2::254": true,
		"::ffff:127.0.0.1": true, "::ffff:169.254.169.254": true, "64:ff9b::7f00:1": true,
		"8.8.8.8": false, "93.184.216.34": false, "172.32.0.1": false, "2606:4700:4700::1111": false,
	} {
		if got := blockedIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("blockedIP(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/in", false, true},
		{"http://hooks.example.com/in", false, false},
		{"http://hooks.example.com/in", true, true},
		{"https://127.0.0.1/x", false, false},
		{"https://[::1]/x", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[::ffff:a9fe:a9fe]/", false, false},
		{"https://localhost:8080/", false, false},
		{"https://api.localhost/", false, false},
		{"https://user:pw@hooks.example.com/", false, false},
		{"/relative", false, false},
		{"mailto:a@b.c", false, false},
		{"https://127.0.0.1/x", true, true},
	} {
		if err := checkURL(c.url, c.allowPrivate); (err == nil) != c.ok {
			t.Errorf("checkURL(%q, %v) = %v, want ok %v", c.url, c.allowPrivate, err, c.ok)
		}
	}
}

// The guard runs at dial time, on the resolved address: a name that
// resolves to loopback is refused as well as the literal address, and a
// redirect is not followed.
func TestGuardedClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	guarded := httpClient(false, 5*time.Second)
	for _, u := range []string{srv.URL, "http://localhost:" + strconv.Itoa(port) + "/"} {
		_, err := guarded.Get(u)
		if !blocked(err) {
			t.Errorf("GET %s through the guard: %v, want the address blocked", u, err)
		}
	}
	res, err := httpClient(true, 5*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with internal networks allowed: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Errorf("a redirect was followed: %d", res.StatusCode)
	}
}
