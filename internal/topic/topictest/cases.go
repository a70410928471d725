package topictest

import "slices"

// Case is one row of the table: whether Filter matches Topic, and where the
// specification says so (a normative ID such as "MQTT-4.7.2-1", or the
// section whose example or text the row is).
type Case struct {
	Filter, Topic string
	Match         bool
	Spec          string
}

// Cases returns the table, a new slice each call. Every filter is a valid
// topic filter and every topic a valid topic name.
func Cases() []Case {
	return []Case{
		// §4.7.1.2 Multi-level wildcard. '#' matches its parent level and
		// any number of levels below [MQTT-4.7.1-2].
		{"sport/tennis/player1/#", "sport/tennis/player1", true, "§4.7.1.2 parent level"},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "§4.7.1.2"},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "§4.7.1.2"},
		{"sport/tennis/player1/#", "sport/tennis/player2", false, "§4.7.1.2"},
		{"sport/tennis/player1/#", "sport/tennis", false, "§4.7.1.2 not the grandparent"},
		{"sport/#", "sport", true, "§4.7.1.2 parent level"},
		{"sport/#", "sport/", true, "MQTT-4.7.1-2 the empty level below"},
		{"sport/#", "sports", false, "MQTT-4.7.1-2 a level is whole"},
		{"sport/#", "sport/tennis/player1", true, "MQTT-4.7.1-2"},
		{"#", "sport/tennis/player1", true, "§4.7.1.2 every topic"},
		{"#", "sport", true, "§4.7.1.2 every topic"},
		{"#", "/", true, "§4.7.1.2 every topic"},
		{"#", "/finance", true, "§4.7.1.2 every topic"},
		{"/#", "/", true, "MQTT-4.7.1-2 leading '/'"},
		{"/#", "/finance", true, "MQTT-4.7.1-2 leading '/'"},
		{"/#", "finance", false, "MQTT-4.7.1-2 leading '/'"},
		{"+/#", "sport", true, "MQTT-4.7.1-2 parent level after '+'"},
		{"+/+/#", "sport/tennis", true, "MQTT-4.7.1-2 parent level after '+'"},
		{"+/+/#", "sport", false, "MQTT-4.7.1-3 '+' needs its level"},

		// §4.7.1.3 Single-level wildcard: exactly one level, which may be
		// empty [MQTT-4.7.1-3].
		{"sport/tennis/+", "sport/tennis/player1", true, "§4.7.1.3"},
		{"sport/tennis/+", "sport/tennis/player2", true, "§4.7.1.3"},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false, "§4.7.1.3"},
		{"sport/tennis/+", "sport/tennis", false, "MQTT-4.7.1-3 one level, not none"},
		{"sport/+", "sport", false, "§4.7.1.3"},
		{"sport/+", "sport/", true, "§4.7.1.3 empty level"},
		{"sport/+/player1", "sport/tennis/player1", true, "§4.7.1.3"},
		{"sport/+/player1", "sport//player1", true, "MQTT-4.7.1-3 empty level"},
		{"+/tennis/#", "sport/tennis/player1", true, "§4.7.1.3"},
		{"+/tennis/#", "sport/tennis", true, "MQTT-4.7.1-2 parent level"},
		{"+", "finance", true, "§4.7.1.3"},
		{"+", "/finance", false, "§4.7.1.3"},
		{"+/+", "/finance", true, "§4.7.1.3"},
		{"/+", "/finance", true, "§4.7.1.3"},
		{"+", "/", false, "MQTT-4.7.1-3 '/' has two levels"},
		{"+/+", "/", true, "MQTT-4.7.1-3 two empty levels"},
		{"/+", "/", true, "MQTT-4.7.1-3 empty level"},
		{"+/", "/", true, "MQTT-4.7.1-3 empty level"},
		{"+/+", "finance", false, "MQTT-4.7.1-3"},

		// §4.7.2 Topics beginning with '$': a first-level wildcard does not
		// match them [MQTT-4.7.2-1]; a literal first level does.
		{"#", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
		{"#", "$SYS", false, "MQTT-4.7.2-1"},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
		{"+", "$SYS", false, "MQTT-4.7.2-1"},
		{"+/#", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
		{"$SYS/#", "$SYS/monitor/Clients", true, "§4.7.2"},
		{"$SYS/#", "$SYS", true, "§4.7.2 parent level"},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "§4.7.2"},
		{"$SYS", "$SYS", true, "§4.7.2"},
		{"sport/+/#", "sport/$x/y", true, "MQTT-4.7.2-1 only the first level"},
		{"sport/#", "sport/$x", true, "MQTT-4.7.2-1 only the first level"},

		// §4.7.3 Topic semantics: levels compare byte for byte, with no
		// normalization [MQTT-4.7.3-4]; empty levels are levels.
		{"ACCOUNTS", "Accounts", false, "MQTT-4.7.3-4 case sensitive"},
		{"Accounts", "Accounts", true, "§4.7.3"},
		{"/finance", "finance", false, "§4.7.3 '/' makes a level"},
		{"finance", "/finance", false, "§4.7.3 '/' makes a level"},
		{"/finance", "/finance", true, "§4.7.3"},
		{"sport/tennis player1", "sport/tennis player1", true, "§4.7.3 spaces"},
		{"sport/ tennis", "sport/tennis", false, "MQTT-4.7.3-4 spaces are significant"},
		{"/", "/", true, "§4.7.3 only '/'"},
		{"/", "finance", false, "§4.7.3 only '/'"},
		{"sport/", "sport/", true, "§4.7.3 trailing '/'"},
		{"sport/", "sport", false, "§4.7.3 trailing '/'"},
		{"sport", "sport/", false, "§4.7.3 trailing '/'"},
		{"sport//tennis", "sport//tennis", true, "§4.7.3 empty level"},
		{"sport//tennis", "sport/tennis", false, "§4.7.3 empty level"},
		{"sport/tennis/player1", "sport/tennis/player1", true, "§4.7.3"},
		{"sport/tennis/player1", "sport/tennis", false, "§4.7.3"},
		{"sport/tennis", "sport/tennis/player1", false, "§4.7.3"},
		{"caf\u00e9/+", "caf\u00e9/menu", true, "§4.7.3 UTF-8"},
		{"cafe\u0301/+", "caf\u00e9/menu", false, "MQTT-4.7.3-4 no normalization"},
	}
}

// Filters returns every distinct filter of the table, in table order.
func Filters() []string {
	return distinct(func(c Case) string { return c.Filter })
}

// Topics returns every distinct topic of the table, in table order.
func Topics() []string {
	return distinct(func(c Case) string { return c.Topic })
}

func distinct(field func(Case) string) []string {
	var out []string
	for _, c := range Cases() {
		if s := field(c); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
