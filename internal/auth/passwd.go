package auth

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Passwords is a parsed mosquitto_passwd file: usernames and the salted
// hashes of their passwords. It is never modified after parsing, so any
// number of goroutines may call Check at once.
type Passwords struct {
	users map[string]hashedPassword
}

// hashedPassword is one line's password field, decoded.
type hashedPassword struct {
	kind       byte // '6' or '7', the digit between the first two '$'
	iterations int  // PBKDF2 iterations ('7' only)
	salt       []byte
	hash       []byte
}

// dummy stands in for a missing user so that Check spends the same time on
// an unknown username as on a wrong password: the time a refusal takes does
// not tell which usernames exist. Its shape is what mosquitto_passwd writes.
var dummy = hashedPassword{kind: '7', iterations: 101, salt: make([]byte, 12), hash: make([]byte, 64)}

// LoadPasswords reads a password file written by mosquitto_passwd. Each
// line is "username:hash" where hash is one of
//
//	$7$<iterations>$<base64 salt>$<base64 hash>   PBKDF2-HMAC-SHA512 (mosquitto 2.x)
//	$6$<base64 salt>$<base64 hash>                SHA-512 of password then salt (mosquitto 1.x)
//
// Blank lines and lines starting with '#' are skipped. A malformed line, a
// plain-text password or a username given twice is an error (*ParseError)
// naming the file and line.
func LoadPasswords(path string) (*Passwords, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	return parsePasswords(path, data)
}

func parsePasswords(path string, data []byte) (*Passwords, error) {
	p := &Passwords{users: make(map[string]hashedPassword)}
	err := eachLine(path, data, func(n int, line string) error {
		user, field, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return &ParseError{Line: n, Msg: "want username:hash, found no ':'"}
		case user == "":
			return &ParseError{Line: n, Msg: "empty username"}
		}
		if _, dup := p.users[user]; dup {
			return &ParseError{Line: n, Msg: fmt.Sprintf("user %q appears twice", user)}
		}
		h, err := parseHash(field)
		if err != nil {
			return &ParseError{Line: n, Msg: fmt.Sprintf("user %q: %v", user, err)}
		}
		p.users[user] = h
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// maxHashLen bounds a stored hash: PBKDF2 can stretch to any length, but
// mosquitto_passwd writes 64 bytes and a longer one only costs time.
const maxHashLen = 1024

// parseHash decodes the part of a password line after the ':'.
func parseHash(field string) (hashedPassword, error) {
	parts := strings.Split(field, "$")
	if len(parts) < 2 || parts[0] != "" {
		return hashedPassword{}, fmt.Errorf("password is not hashed (want $6$ or $7$ as written by mosquitto_passwd)")
	}
	var h hashedPassword
	var salt, hash string
	switch parts[1] {
	case "6":
		if len(parts) != 4 {
			return h, fmt.Errorf("want $6$<salt>$<hash>, found %d fields", len(parts)-1)
		}
		h.kind, salt, hash = '6', parts[2], parts[3]
	case "7":
		if len(parts) != 5 {
			return h, fmt.Errorf("want $7$<iterations>$<salt>$<hash>, found %d fields", len(parts)-1)
		}
		it, err := strconv.Atoi(parts[2])
		if err != nil || it < 1 {
			return h, fmt.Errorf("iterations %q is not a positive integer", parts[2])
		}
		h.kind, h.iterations, salt, hash = '7', it, parts[3], parts[4]
	default:
		return h, fmt.Errorf("unsupported hash type $%s$ (want $6$ or $7$)", parts[1])
	}
	var err error
	if h.salt, err = decodeBase64(salt); err != nil || len(h.salt) == 0 {
		return h, fmt.Errorf("salt %q is not non-empty base64", salt)
	}
	if h.hash, err = decodeBase64(hash); err != nil || len(h.hash) == 0 {
		return h, fmt.Errorf("hash %q is not non-empty base64", hash)
	}
	switch {
	case h.kind == '6' && len(h.hash) != sha512.Size:
		return h, fmt.Errorf("$6$ hash is %d bytes, want %d", len(h.hash), sha512.Size)
	case len(h.hash) > maxHashLen:
		return h, fmt.Errorf("hash is %d bytes, more than %d", len(h.hash), maxHashLen)
	}
	return h, nil
}

// decodeBase64 accepts standard base64 with or without '=' padding:
// mosquitto_passwd pads, hand-made files sometimes do not.
func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Check reports whether password is the password of username. An unknown
// username is false and takes as long to refuse as a wrong password; the
// final comparison takes constant time.
func (p *Passwords) Check(username string, password []byte) bool {
	h, known := p.users[username]
	if !known {
		h = dummy
	}
	got, ok := h.digest(password)
	return subtle.ConstantTimeCompare(got, h.hash) == 1 && ok && known
}

// digest hashes password the way h was made; ok is false if that fails.
func (h hashedPassword) digest(password []byte) (sum []byte, ok bool) {
	switch h.kind {
	case '6':
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		return d.Sum(nil), true
	case '7':
		key, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, len(h.hash))
		return key, err == nil
	}
	return nil, false
}

// Len is the number of users in the file.
func (p *Passwords) Len() int { return len(p.users) }
