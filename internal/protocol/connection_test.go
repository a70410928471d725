package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
)

// fakeEngine records what a connection asks of its engine.
type fakeEngine struct {
	sent      []packet.Packet
	subs      []string
	unsubs    []string
	published []*packet.Publish
	refuse    map[string]bool // filters whose subscription fails
}

func (e *fakeEngine) Send(p packet.Packet) error { e.sent = append(e.sent, p); return nil }
func (e *fakeEngine) Subscribe(f string, q packet.QoS) (packet.QoS, error) {
	if e.refuse[f] {
		return 0, errors.New("refused")
	}
	e.subs = append(e.subs, f)
	return q, nil
}
func (e *fakeEngine) Unsubscribe(f string) error { e.unsubs = append(e.unsubs, f); return nil }
func (e *fakeEngine) Publish(p *packet.Publish) error {
	e.published = append(e.published, p)
	return nil
}

func connect(id string, clean bool) *packet.Connect {
	return &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: id, CleanSession: clean, KeepAlive: 10}
}

func TestConnectionConversations(t *testing.T) {
	tests := []struct {
		name      string
		in        []packet.Packet
		wantSent  []packet.Packet
		wantErr   error // of the last packet; earlier ones must succeed
		published int
	}{
		{
			name:     "[MQTT-3.1.0-1] first packet must be CONNECT",
			in:       []packet.Packet{&packet.Pingreq{}},
			wantErr:  ErrNotConnected,
			wantSent: nil,
		},
		{
			name:     "[MQTT-3.2.0-1] CONNECT is answered by CONNACK 0",
			in:       []packet.Packet{connect("a", true)},
			wantSent: []packet.Packet{&packet.Connack{ReturnCode: packet.Accepted}},
		},
		{
			name:     "[MQTT-3.1.0-2] a second CONNECT is a protocol violation",
			in:       []packet.Packet{connect("a", true), connect("a", true)},
			wantSent: []packet.Packet{&packet.Connack{ReturnCode: packet.Accepted}},
			wantErr:  ErrProtocol,
		},
		{
			name:     "[MQTT-3.1.3-8] empty client id without clean session is refused with code 2",
			in:       []packet.Packet{connect("", false)},
			wantSent: []packet.Packet{&packet.Connack{ReturnCode: packet.RefusedIdentifierRejected}},
			wantErr:  ErrRefused,
		},
		{
			name:     "[MQTT-3.12.4-1] PINGREQ is answered by PINGRESP",
			in:       []packet.Packet{connect("a", true), &packet.Pingreq{}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Pingresp{}},
		},
		{
			name: "[MQTT-3.8.4-1] [MQTT-3.8.4-5] SUBACK carries one code per filter, 0x80 for a refused one",
			in: []packet.Packet{connect("a", true), &packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{
				{Filter: "a/+", QoS: 0}, {Filter: "bad", QoS: 1}, {Filter: "c/#", QoS: 1}}}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 7, ReturnCodes: []byte{0, packet.SubackFailure, 1}}},
		},
		{
			name:     "[MQTT-3.10.4-4] UNSUBSCRIBE is answered by UNSUBACK with its identifier",
			in:       []packet.Packet{connect("a", true), &packet.Unsubscribe{PacketID: 9, Filters: []string{"a/b"}}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Unsuback{PacketID: 9}},
		},
		{
			name:      "[MQTT-4.3.2-2] QoS 1 PUBLISH is routed and acknowledged with PUBACK",
			in:        []packet.Packet{connect("a", true), &packet.Publish{QoS: 1, PacketID: 3, Topic: "t"}},
			wantSent:  []packet.Packet{&packet.Connack{}, &packet.Puback{PacketID: 3}},
			published: 1,
		},
		{
			name: "[MQTT-4.3.3-2] a QoS 2 PUBLISH resent before PUBREL is routed once",
			in: []packet.Packet{connect("a", true),
				&packet.Publish{QoS: 2, PacketID: 5, Topic: "t"},
				&packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Dup: true},
				&packet.Pubrel{PacketID: 5}},
			wantSent:  []packet.Packet{&packet.Connack{}, &packet.Pubrec{PacketID: 5}, &packet.Pubrec{PacketID: 5}, &packet.Pubcomp{PacketID: 5}},
			published: 1,
		},
		{
			name:     "[MQTT-3.14.4-3] DISCONNECT ends the session",
			in:       []packet.Packet{connect("a", true), &packet.Disconnect{}},
			wantSent: []packet.Packet{&packet.Connack{}},
			wantErr:  ErrDisconnect,
		},
		{
			name:     "a server-only packet from a client is a protocol violation",
			in:       []packet.Packet{connect("a", true), &packet.Suback{PacketID: 1, ReturnCodes: []byte{0}}},
			wantSent: []packet.Packet{&packet.Connack{}},
			wantErr:  ErrProtocol,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{refuse: map[string]bool{"bad": true}}
			s := NewConnection(eng)
			var err error
			for i, p := range tt.in {
				err = s.Handle(p)
				if i < len(tt.in)-1 && err != nil {
					t.Fatalf("packet %d (%s): %v", i, p.Type(), err)
				}
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("last packet: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("last packet: got %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(eng.sent, tt.wantSent) {
				t.Errorf("sent %#v\nwant %#v", eng.sent, tt.wantSent)
			}
			if len(eng.published) != tt.published {
				t.Errorf("published %d messages, want %d", len(eng.published), tt.published)
			}
		})
	}
}

func TestConnectionGeneratesClientID(t *testing.T) {
	// [MQTT-3.1.3-6] [MQTT-3.1.3-7] an empty identifier with clean session
	// gets a unique one from the server.
	ids := map[string]bool{}
	for range 3 {
		s := NewConnection(&fakeEngine{})
		if err := s.Handle(connect("", true)); err != nil {
			t.Fatal(err)
		}
		id := s.ClientID()
		if !strings.HasPrefix(id, "forkmq-") || ids[id] {
			t.Fatalf("generated id %q (seen before: %v)", id, ids[id])
		}
		ids[id] = true
	}
}

func TestConnectionKeepAliveDeadline(t *testing.T) {
	// [MQTT-3.1.2-24] the server allows one and a half keep-alive periods.
	s := NewConnection(&fakeEngine{})
	if err := s.Handle(connect("a", true)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.ReadDeadline(), 15*time.Second; got != want {
		t.Fatalf("read deadline %v, want %v", got, want)
	}
}

func TestConnectionDisconnectDiscardsWill(t *testing.T) {
	// [MQTT-3.1.2-10] [MQTT-3.14.4-3] the will is deleted on DISCONNECT.
	s := NewConnection(&fakeEngine{})
	c := connect("a", true)
	c.Will = &packet.Will{Topic: "w", Payload: []byte("gone")}
	if err := s.Handle(c); err != nil {
		t.Fatal(err)
	}
	if s.Will() == nil {
		t.Fatal("will not kept after CONNECT")
	}
	if err := s.Handle(&packet.Disconnect{}); !errors.Is(err, ErrDisconnect) {
		t.Fatalf("DISCONNECT: %v", err)
	}
	if s.Will() != nil {
		t.Fatal("will kept after DISCONNECT")
	}
}

func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name     string
		limits   Limits
		in       []packet.Packet
		wantSent []packet.Packet
		wantErr  error
	}{
		{
			name:   "[MQTT-3.9.3-2] a filter past -max-subscriptions gets 0x80, a replacement does not count",
			limits: Limits{MaxSubscriptions: 2},
			in: []packet.Packet{connect("a", true), &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
				{Filter: "a"}, {Filter: "b"}, {Filter: "a", QoS: 1}, {Filter: "c"}}}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, ReturnCodes: []byte{0, 0, 1, packet.SubackFailure}}},
		},
		{
			name:   "an unsubscribed filter frees its slot",
			limits: Limits{MaxSubscriptions: 1},
			in: []packet.Packet{connect("a", true),
				&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}},
				&packet.Unsubscribe{PacketID: 2, Filters: []string{"a"}},
				&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "b"}}}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, ReturnCodes: []byte{0}},
				&packet.Unsuback{PacketID: 2}, &packet.Suback{PacketID: 3, ReturnCodes: []byte{0}}},
		},
		{
			name:   "a filter past -max-topic-levels gets 0x80",
			limits: Limits{MaxTopicLevels: 2},
			in: []packet.Packet{connect("a", true), &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
				{Filter: "a/b"}, {Filter: "a/b/c"}}}},
			wantSent: []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, ReturnCodes: []byte{0, packet.SubackFailure}}},
		},
		{
			name:     "a PUBLISH past -max-topic-length closes the connection",
			limits:   Limits{MaxTopicLength: 4},
			in:       []packet.Packet{connect("a", true), &packet.Publish{Topic: "abcde"}},
			wantSent: []packet.Packet{&packet.Connack{}},
			wantErr:  ErrLimit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{}
			s := NewConnection(eng)
			s.SetLimits(tt.limits)
			var refused []string
			s.OnRefused(func(what string, err error) { refused = append(refused, what) })
			var err error
			for _, p := range tt.in {
				if err = s.Handle(p); err != nil {
					break
				}
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(eng.sent, tt.wantSent) {
				t.Errorf("sent %#v\nwant %#v", eng.sent, tt.wantSent)
			}
			if len(refused) == 0 && tt.name != "an unsubscribed filter frees its slot" {
				t.Error("no refusal reported to the engine")
			}
		})
	}
}

// fakeAuthorizer allows user "alice" with password "pw", publishing and
// subscribing under "alice/".
type fakeAuthorizer struct{}

func (fakeAuthorizer) Connect(id, user string, hasUser bool, pw []byte, hasPw bool) (bool, byte) {
	switch {
	case !hasUser:
		return false, 5
	case user != "alice" || string(pw) != "pw":
		return false, 4
	}
	return true, 0
}
func (fakeAuthorizer) CanPublish(id, user string, anon bool, t string) bool {
	return strings.HasPrefix(t, user+"/")
}
func (fakeAuthorizer) CanSubscribe(id, user string, anon bool, f string) bool {
	return strings.HasPrefix(f, user+"/")
}

func TestConnectionAuthorizer(t *testing.T) {
	withUser := func(user, pw string) *packet.Connect {
		c := connect("c1", true)
		c.UsernameFlag, c.Username = true, user
		c.PasswordFlag, c.Password = true, []byte(pw)
		return c
	}
	tests := []struct {
		name      string
		identity  string // SetIdentity's, "" for none
		in        []packet.Packet
		wantSent  []packet.Packet
		wantErr   error
		published int
	}{
		{"[MQTT-3.2.2-5] no user name: CONNACK 5 and close", "", []packet.Packet{connect("c1", true)},
			[]packet.Packet{&packet.Connack{ReturnCode: packet.RefusedNotAuthorized}}, ErrRefused, 0},
		{"wrong password: CONNACK 4 and close", "", []packet.Packet{withUser("alice", "nope")},
			[]packet.Packet{&packet.Connack{ReturnCode: packet.RefusedBadUsernameOrPassword}}, ErrRefused, 0},
		{"[MQTT-3.9.3-2] a refused filter gets 0x80", "", []packet.Packet{withUser("alice", "pw"),
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "alice/x"}, {Filter: "bob/#"}}}},
			[]packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, ReturnCodes: []byte{0, packet.SubackFailure}}}, nil, 0},
		{"a refused QoS 1 PUBLISH is dropped but acknowledged", "", []packet.Packet{withUser("alice", "pw"),
			&packet.Publish{QoS: 1, PacketID: 4, Topic: "bob/x"}, &packet.Publish{Topic: "alice/x"}},
			[]packet.Packet{&packet.Connack{}, &packet.Puback{PacketID: 4}}, nil, 1},
		{"a certificate's identity: no password asked, and it is the user name the rules see", "alice",
			[]packet.Packet{withUser("mallory", "nope"), &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "alice/x"}, {Filter: "mallory/x"}}}},
			[]packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 2, ReturnCodes: []byte{0, packet.SubackFailure}}}, nil, 0},
		{"a certificate's identity without a user name in CONNECT", "alice",
			[]packet.Packet{connect("c1", true), &packet.Publish{Topic: "alice/x"}},
			[]packet.Packet{&packet.Connack{}}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{}
			s := NewConnection(eng)
			s.SetAuthorizer(func() Authorizer { return fakeAuthorizer{} })
			if tt.identity != "" {
				s.SetIdentity(tt.identity)
			}
			var err error
			for _, p := range tt.in {
				if err = s.Handle(p); err != nil {
					break
				}
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(eng.sent, tt.wantSent) {
				t.Errorf("sent %#v\nwant %#v", eng.sent, tt.wantSent)
			}
			if len(eng.published) != tt.published {
				t.Errorf("published %d, want %d", len(eng.published), tt.published)
			}
		})
	}
}
