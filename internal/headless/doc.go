// Package headless starts Debian's Chromium without a screen for the
// tests that drive the live view (package admin's against a fake broker,
// the end-to-end one against the real broker): one way to find it and one
// set of flags.
package headless
