// Package broker describes the brokers the benchmark compares and runs one
// at a time: a command line with {port} and {dir} placeholders, started in a
// process group of its own (and, where the machine allows, a cpuacct cgroup
// of its own) so that it and every process it forks can be measured as one
// tree and stopped together. The built-in brokers are forkmq's two engines,
// mosquitto as it is installed (with its defaults, and with Nagle's
// algorithm off) and mochi-mqtt.
package broker
