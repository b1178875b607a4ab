package contact

import (
	"bytes"
	"strings"
	"testing"
)

// Sealed credentials open only with their key and on their own row.
func TestSealer(t *testing.T) {
	a, err := newSealer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSealer(bytes.Repeat([]byte{2}, 32))
	sealed, err := a.seal([]byte(`{"password":"hunter2"}`), "provider-1")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.seal([]byte(`{"password":"hunter2"}`), "provider-1")
	if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, "hunter2") || sealed == again {
		t.Errorf("sealed %q (again %q): want v1:, no plain text, a fresh nonce each time", sealed, again)
	}
	if plain, err := a.open(sealed, "provider-1"); err != nil || string(plain) != `{"password":"hunter2"}` {
		t.Errorf("open = %q, %v", plain, err)
	}
	if _, err := a.open(sealed, "provider-2"); err == nil {
		t.Error("credentials copied to another row opened")
	}
	if _, err := b.open(sealed, "provider-1"); err == nil {
		t.Error("credentials opened under another key")
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("a short key was taken")
	}
	k1, _ := deriveKey([]byte("material"))
	k2, _ := deriveKey([]byte("material"))
	k3, _ := deriveKey([]byte("other"))
	if len(k1) != 32 || !bytes.Equal(k1, k2) || bytes.Equal(k1, k3) {
		t.Error("deriveKey is not a 32-byte function of its material")
	}
}
