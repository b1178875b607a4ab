package contact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
)

// ErrBlockedAddress is a destination on a network the platform does not
// send to on a tenant's behalf: loopback, private, link-local (with cloud
// metadata services), and the like. Only a platform admin may allow them
// on a provider.
var ErrBlockedAddress = errs.New(errs.Invalid, "contact.blocked_address",
	"The address is on a loopback, private, link-local or otherwise internal network.")

// blockedPrefixes are the ranges netip's predicates do not cover.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, which reaches IPv4 inside
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// blockedIP reports whether ip is one the platform does not send to.
func blockedIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guardControl is a net.Dialer Control that refuses a blocked address.
// It runs on the address actually dialled, after name resolution, so a
// name that resolves (or re-resolves) to an internal address is refused
// as well as a literal one.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if blockedIP(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// dialer is a dialer for a provider's destinations: guarded unless its
// provider allows internal networks.
func dialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guardControl
	}
	return d
}

// httpClient is an HTTP client whose every connection goes through the
// guarded dialer, with no proxy (a proxy would dial for it) and no
// redirects (a provider's API does not redirect, and a webhook receiver
// must not send a request elsewhere).
func httpClient(allowPrivate bool, timeout time.Duration) *http.Client {
	d := dialer(allowPrivate, timeout)
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// checkURL refuses a URL the platform would not send to: one that is not
// https (http too when internal networks are allowed), has credentials in
// it, or names a blocked address literally. Names are checked again when
// they are dialled.
func checkURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute URL such as https://hooks.example.com/in")
	}
	if u.Scheme != "https" && !(allowPrivate && u.Scheme == "http") {
		return errors.New("must be an https URL")
	}
	if u.User != nil {
		return errors.New("must not carry a user name or password")
	}
	return checkHost(u.Hostname(), allowPrivate)
}

// checkHost refuses a host that is a blocked address or a localhost name.
func checkHost(host string, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && blockedIP(ip) {
		return ErrBlockedAddress
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return ErrBlockedAddress
	}
	return nil
}

// blocked reports whether err is the guard refusing an address.
func blocked(err error) bool { return errors.Is(err, ErrBlockedAddress) }

// dialContext dials addr through the guard, for protocols other than HTTP.
func dialContext(ctx context.Context, allowPrivate bool, timeout time.Duration, addr string) (net.Conn, error) {
	return dialer(allowPrivate, timeout).DialContext(ctx, "tcp", addr)
}
