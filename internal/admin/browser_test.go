package admin

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/forkmq/forkmq/internal/headless"
)

// envScreenshot names a PNG file the browser test writes the live view to
// (the README's picture is made this way).
const envScreenshot = "FORKMQ_LIVEVIEW_SCREENSHOT"

// updateWait bounds each wait for the page to show a change: the page
// asks for a new drawing every second and the server's cache is half a
// second, so a change shows within two seconds on an idle machine; twenty
// leave room for a loaded one.
const updateWait = 20 * time.Second

// TestLiveViewInChromium opens the live view in headless Chromium against a
// fake broker: the page shows every client's processes and queue, shows
// messages/s once it has updated itself, and drops processes and queues
// when the broker no longer has them.
func TestLiveViewInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	exe := headless.Chromium(t)

	f := &fakeBroker{}
	var tick atomic.Uint64
	tick.Store(1)
	clients := atomic.Int64{}
	clients.Store(3)
	f.set(fakeSnapshot(3, 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Traffic: the counters move every 200 ms, so the page has rates.
	go func() {
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			f.set(fakeSnapshot(int(clients.Load()), tick.Add(1)))
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go NewServer(f).Serve(ctx, ln)
	url := "http://" + ln.Addr().String() + "/"

	browser, closeBrowser := headless.Browser(ctx, t, exe)
	defer closeBrowser()

	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(browser, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(updateWait))); err != nil {
			html, _ := chromedp.Run(browser, chromedp.OuterHTML("#view"))
			t.Fatalf("the page never showed %s: %v\n%s", what, err, html)
		}
	}
	if _, err := chromedp.Run(browser, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}

	// Every client's pair and queue, the supervisor, the topic files.
	waitFor("three clients' processes and queues", `
		document.querySelectorAll('g.proc[data-role="router"][data-state="connected"]').length === 3 &&
		document.querySelectorAll('g.proc[data-role="deliverer"][data-state="connected"]').length === 3 &&
		document.querySelector('g.proc.supervisor[data-pid="3999"]') !== null &&
		document.querySelector('g.queue[data-queue="forkmq.5f3a.2"]').dataset.depth === "2" &&
		document.querySelector('g.queue[data-queue="forkmq.5f3a.2"]').dataset.capacity === "10" &&
		document.querySelector('g.topic[data-filter="sensors/#"]').dataset.queues === "forkmq.5f3a.0 forkmq.5f3a.1 forkmq.5f3a.2" &&
		document.querySelectorAll('#processes tr[data-pid]').length === 9`)
	// The page updates itself: messages/s appear along the pairs.
	waitFor("messages/s along the pairs", `
		[...document.querySelectorAll('g.card[data-client="sensor-0"] text.rate.in')]
			.some(e => /^in [1-9]/.test(e.textContent))`)
	if path := os.Getenv(envScreenshot); path != "" {
		headless.Screenshot(t, browser, path)
	}

	// Client 2 leaves: its processes, queue and table rows go; the others stay.
	clients.Store(2)
	waitFor("client 2 gone and clients 0 and 1 still there", `
		document.querySelector('g.proc[data-pid="4004"]') === null &&
		document.querySelector('g.proc[data-pid="4005"]') === null &&
		document.querySelector('g.queue[data-queue="forkmq.5f3a.2"]') === null &&
		document.querySelector('#processes tr[data-pid="4005"]') === null &&
		document.querySelector('g.topic[data-filter="sensors/#"]').dataset.queues === "forkmq.5f3a.0 forkmq.5f3a.1" &&
		document.querySelectorAll('g.card').length === 2 &&
		document.querySelector('g.proc[data-pid="4001"]') !== null`)

	// Everyone leaves: no card, no queue, no topic file; the supervisor stays.
	clients.Store(0)
	waitFor("no client left", `
		document.querySelectorAll('g.card, g.queue, g.topic').length === 0 &&
		document.querySelector('g.proc.supervisor') !== null &&
		document.querySelector('#summary').dataset.clients === "0"`)
}
