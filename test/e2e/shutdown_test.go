package e2e

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestShutdownWithClients: SIGTERM with clients connected and subscribed
// ends the broker with status 0 within 5 s; every client sees its
// connection close; no worker, queue, record, spool file or topic entry is
// left (stop asserts all of it).
func TestShutdownWithClients(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		lost := make(chan string, 8)
		onLost := func(o *mqtt.ClientOptions) {
			o.SetConnectionLostHandler(func(c mqtt.Client, _ error) {
				r := c.OptionsReader()
				lost <- r.ClientID()
			})
		}
		const pahoClients = 3
		for i := range pahoClients {
			c := connectPaho(t, b, newClientID("bye"), onLost)
			if i == 0 {
				subscribe(t, c, "bye/#", "bye/x")
			}
		}
		raw := watch(t, b, "bye/raw")
		b.assertClean(t, pahoClients+1)

		start := time.Now()
		b.stop(t)
		t.Logf("broker stopped %v after SIGTERM", time.Since(start))

		raw.ExpectClosed(t, ioTimeout)
		timeout := time.After(ioTimeout)
		for i := range pahoClients {
			select {
			case <-lost:
			case <-timeout:
				t.Fatalf("%d of %d paho clients saw their connection close", i, pahoClients)
			}
		}
	})
}
