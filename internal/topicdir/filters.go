package topicdir

// Filters calls fn for every topic filter's file: its name in the filters
// folder, the filter and the queues it lists. It reads every filter file
// and takes no lock, for observers ($SYS subscriptions/count, the live
// view's topic files); files that vanish while it reads are skipped.
func (d *Dir) Filters(fn func(file, filter string, subs []Subscriber) error) error {
	return d.eachFilterFile(fn)
}
