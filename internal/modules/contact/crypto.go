package contact

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// sealPrefix versions sealed credentials, so that a new scheme can come
// beside this one.
const sealPrefix = "v1:"

// sealer encrypts provider credentials at rest with AES-256-GCM. The
// additional data binds a sealed value to its provider row, so that one
// copied to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("the key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// deriveKey makes the credentials key from key material of the kernel's
// master secret, for installs that set no contact key of their own.
func deriveKey(material []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, material, []byte("platform contact"), "contact provider credentials v1", 32)
}

func (s *sealer) seal(plain []byte, bind string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(bind))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func (s *sealer) open(sealed, bind string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, errors.New("contact: unknown credentials seal")
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return nil, err
	}
	n := s.aead.NonceSize()
	if len(b) < n {
		return nil, errors.New("contact: sealed credentials too short")
	}
	return s.aead.Open(nil, b[:n], b[n:], []byte(bind))
}
