package rawmqtt

// The load generator's path: packets go into the write buffer without a
// copy of the payload and leave in one write per burst; packets arrive in
// one reused buffer.

// BufferPublish buffers a PUBLISH whose payload is head followed by tail
// (a per-message header and shared filler, so that no payload is copied
// into a packet of its own). It does not flush.
func (c *Conn) BufferPublish(topic string, qos byte, id uint16, head, tail []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hdr = appendPublishHeader(c.hdr[:0], HeaderPublish|qos<<PublishQoSShift, topic, id, len(head)+len(tail))
	c.ctr.PacketsOut.Add(1)
	c.ctr.BytesOut.Add(int64(len(c.hdr) + len(head) + len(tail)))
	if _, err := c.w.Write(c.hdr); err != nil {
		return err
	}
	if _, err := c.w.Write(head); err != nil {
		return err
	}
	_, err := c.w.Write(tail)
	return err
}

// BufferAck buffers an acknowledgement (see Ack). It does not flush.
func (c *Conn) BufferAck(header byte, id uint16) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hdr = append(c.hdr[:0], header, 2, byte(id>>8), byte(id))
	return c.buffer(c.hdr)
}

// Flush sends what is buffered.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// Buffered reports whether bytes already read from the socket wait in the
// read buffer: a reader flushes its answers when none do.
func (c *Conn) Buffered() bool { return c.r.Buffered() > 0 }

// Serve is a reader loop, for a goroutine of its own: it reads until the
// connection fails and returns why. Each packet is answered as the
// client's side of its flow requires (PUBACK for a QoS 1 PUBLISH
// [MQTT-4.3.2-2], PUBREC for a QoS 2 one and PUBCOMP for PUBREL
// [MQTT-4.3.3-2], PUBREL for PUBREC [MQTT-4.3.3-1]) and then handed to
// handle (nil: none), valid during the call only; an error from handle
// ends the loop and is returned. The answers are buffered and flushed once
// no more bytes wait in the read buffer, so a burst costs one write; Serve
// flushes only when it has answered something, so what another goroutine
// buffers on the connection (a publisher's batch) leaves when that one
// flushes. QoS 2 identifiers are not remembered: a message sent again is
// handed over again (Receive is the receiver that remembers).
func (c *Conn) Serve(handle func(*Packet) error) error {
	unflushed := false
	for {
		p, err := c.ReadPacket()
		if err != nil {
			return err
		}
		answered, err := c.answer(p)
		if err != nil {
			return err
		}
		unflushed = unflushed || answered
		if handle != nil {
			if err := handle(p); err != nil {
				return err
			}
		}
		if unflushed && !c.Buffered() {
			if err := c.Flush(); err != nil {
				return err
			}
			unflushed = false
		}
	}
}

// answer buffers what the client's side of p's flow sends back, if
// anything, and reports whether it did.
func (c *Conn) answer(p *Packet) (bool, error) {
	var reply byte
	switch p.Type() {
	case TypePublish:
		switch p.QoS() {
		case 0:
			return false, nil
		case 1:
			reply = HeaderPuback
		default:
			reply = HeaderPubrec
		}
	case TypePubrel:
		reply = HeaderPubcomp
	case TypePubrec:
		reply = HeaderPubrel
	default:
		return false, nil
	}
	id, err := p.ID()
	if err != nil {
		return false, err
	}
	return true, c.BufferAck(reply, id)
}
