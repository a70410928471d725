// Package testpki makes a certificate authority and certificates signed by
// it, in memory and as PEM files, for tests of TLS listeners: no test
// depends on certificates checked in, which expire.
package testpki
