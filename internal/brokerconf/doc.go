// Package brokerconf is what a broker is told at start and on SIGHUP: a
// configuration file in mosquitto's format (package mosqconf reads it)
// mapped onto the one options type both engines take (package options),
// with the command-line flags over it.
//
// The mapping is one table (mapping.go): each supported key of the file
// names the option it sets and the flag of that option, so that a value
// out of range is refused with the file and line to fix, and a flag given
// on the command line overrides the file. A mosquitto key forkmq does not
// support is one Notice (file:line, what forkmq does instead) for the
// broker to log once; an unknown key or a bad value refuses to start.
//
// Reading a file, forkmq keeps mosquitto 2's defaults where they differ
// from its own flags' defaults: with no listener line the broker listens on
// the loopback interface (127.0.0.1:1883) only, and with a listener line
// clients without a user name are refused unless allow_anonymous is true.
//
// On SIGHUP the broker reads the file again (Reload): a key that can change
// while clients are connected (Live) is applied, any other change is
// logged as needing a restart, and a file that no longer reads leaves the
// running configuration as it was.
package brokerconf
