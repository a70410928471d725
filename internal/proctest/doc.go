// Package proctest supports tests that run the code under test in several
// processes at once, as the broker does: the topic directory, the retained
// store and the lock they share are proven against other processes, not
// just other goroutines.
//
// A test binary doubles as its helper processes: TestMain calls Main, which
// runs the tests, or, in a process that Command started, the named helper
// with its arguments. Dir gives the processes of a test a fresh directory,
// on tmpfs where there is one (renameio's fsyncs are free there), and Open
// opens a store there for the length of the test.
//
// The package is for tests; no package of the broker imports it outside
// tests.
package proctest
