// Package logging builds the zerolog loggers that the supervisor and the
// workers share: the same format everywhere, so one stream of lines from many
// processes reads as one log.
package logging
