package contact_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server for tests: EHLO, STARTTLS with a
// self-signed certificate, AUTH PLAIN (only over TLS), MAIL, RCPT, DATA.
// It keeps what arrives, and can refuse a recipient or every connection.
type smtpServer struct {
	ln    net.Listener
	tls   *tls.Config
	caPEM string
	user  string
	pass  string

	mu     sync.Mutex
	reject string // RCPT of this address gets 550
	down   bool   // every connection gets 421 at once
	mails  []receivedMail
	conns  int
	rcpts  int
}

type receivedMail struct {
	From, To string
	Data     string
	TLS      bool
	Authed   bool
}

func newSMTPServer(t *testing.T, user, pass string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: &tls.Config{Certificates: []tls.Certificate{cert}}, caPEM: string(certPEM),
		user: user, pass: pass}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) set(down bool, reject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.reject = down, reject
}

func (s *smtpServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

func (s *smtpServer) counts() (conns, rcpts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.rcpts
}

func (s *smtpServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *smtpServer) session(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	s.mu.Lock()
	s.conns++
	down := s.down
	s.mu.Unlock()
	tp := textproto.NewConn(c)
	if down {
		_ = tp.PrintfLine("421 4.3.2 try again later")
		return
	}
	_ = tp.PrintfLine("220 test.local ESMTP")
	var m receivedMail
	secure, authed := false, false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := "STARTTLS"
			if secure {
				ext = "AUTH PLAIN"
			}
			_ = tp.PrintfLine("250-test.local")
			_ = tp.PrintfLine("250 %s", ext)
		case "STARTTLS":
			_ = tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			tp = textproto.NewConn(tc)
		case "AUTH":
			parts := strings.Fields(arg)
			raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			f := strings.Split(string(raw), "\x00")
			if !secure || err != nil || len(f) != 3 || f[1] != s.user || f[2] != s.pass {
				_ = tp.PrintfLine("535 5.7.8 bad credentials")
				continue
			}
			authed = true
			_ = tp.PrintfLine("235 2.7.0 ok")
		case "MAIL":
			m = receivedMail{From: strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>"), TLS: secure, Authed: authed}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			to := strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>")
			s.mu.Lock()
			s.rcpts++
			reject := s.reject
			s.mu.Unlock()
			if to == reject {
				_ = tp.PrintfLine("550 5.1.1 no such user")
				continue
			}
			m.To = to
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = string(b)
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 unknown")
		}
	}
}
