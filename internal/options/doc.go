// Package options is the one list of what a forkmq broker can be told:
// every option's name, default, meaning and validity, the command-line
// flags that set it, and the arguments that carry it to a worker process.
//
// Both engines take an Options. The broker registers the flags on its
// command line (Register), the supervisor serializes the options it runs
// with into a worker's argument vector (Args), and the worker reads them
// back with the same flag definitions (Parse), so the two sides cannot
// disagree. An option that does not apply to the engine chosen is refused
// when it is set (Validate), never silently ignored.
package options
