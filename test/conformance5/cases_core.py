"""
Conformance cases, part 1: the core of MQTT as an MQTT 5 client sees it
(connect, QoS, retained, wills, sessions, queueing, subscriptions). One
function per case; each raises AssertionError with what it expected and got.
"Nothing arrived" is always proved with a barrier sent after it down the same
path, never with a sleep.
"""
import time

from paho.mqtt.subscribeoptions import SubscribeOptions

import wire
from context import check
from peer import connect_props, publish_props
from wire import props
from paho.mqtt.packettypes import PacketTypes


def connect_success(ctx):
    w = ctx.wire()
    ack = w.connect(ctx.cid('a'))
    check(ack.reason == 0, f'CONNACK reason 0x00 expected, got 0x{ack.reason:02x}')
    # [MQTT-3.1.0-2] a second CONNECT is a Protocol Error: the connection is closed.
    w.send(wire.frame(0x10, wire.utf8('MQTT') + bytes([5, 2, 0, 60, 0]) + wire.utf8(ctx.cid('b'))))
    d, seen = w.closed_with()
    check(not any(p.kind == wire.CONNACK for p in seen), f'a second CONNACK was sent: {seen}')
    check(d is None or d.reason >= 0x80, f'DISCONNECT with a failure reason expected, got {d}')


def wrong_protocol_name_refused(ctx):
    w = ctx.wire()
    body = wire.utf8('MQTX') + bytes([5, 2, 0, 60, 0]) + wire.utf8(ctx.cid('a'))
    w.send(wire.frame(0x10, body))
    d, seen = w.closed_with()
    acks = [p for p in seen if p.kind == wire.CONNACK]
    # [MQTT-3.1.2-1] MAY answer CONNACK 0x84, MUST close.
    check(all(a.reason >= 0x80 for a in acks), f'a refusing CONNACK (or none) expected, got {acks}')


def publish_all_qos(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    check(s.sub(t, 2) == [2], 'SUBACK granted QoS 2 expected')
    for q in (0, 1, 2):
        s.publish(t, f'qos {q}', q)
    got = s.messages(3)
    check(sorted(m.qos for m in got) == [0, 1, 2], f'QoS 0, 1, 2 expected, got {got}')


def qos_downgraded_to_subscription(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    s.sub(t, 1)
    s.publish(t, 'two', 2)
    got = s.messages(1)
    check(got[0].qos == 1, f'delivered at the subscription QoS 1 [MQTT-3.8.4-8], got {got[0].qos}')


def qos2_duplicate_delivered_once(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    s.sub(t, 2)
    w = ctx.wire()
    w.connect(ctx.cid('pub'))
    w.publish(t, 'once', 2, packet_id=7)
    w.expect(wire.PUBREC)
    w.publish(t, 'once', 2, packet_id=7, dup=True)   # a retransmission before PUBREL
    w.expect(wire.PUBREC)
    w.ack(wire.PUBREL, 7)
    w.expect(wire.PUBCOMP)
    w.publish(t, 'barrier', 2, packet_id=8)   # same topic and QoS: delivered in order [MQTT-4.6.0-6]
    w.expect(wire.PUBREC)
    w.ack(wire.PUBREL, 8)
    before = s.until('barrier')
    check([m.payload for m in before] == [b'once'], f'one delivery [MQTT-4.3.3-10], got {before}')


def retained_with_properties(ctx):
    p = ctx.peer('pub')
    p.connect()
    up = [('a', '2'), ('c', '3')]
    for q in (0, 1, 2):
        p.publish(ctx.topic(f'r/{q}'), f'retained {q}', q, retain=True, props=publish_props(UserProperty=up))
    p.publish(ctx.topic('r/zz'), b'', 1, retain=True)   # an empty retained payload stores nothing [MQTT-3.3.1-10]
    s = ctx.peer('sub')
    s.connect()
    s.sub(ctx.topic('r/+'), 2)
    got = s.messages(3)
    check(len(got) == 3 and all(m.retain for m in got), f'3 retained messages expected, got {got}')
    check(sorted(m.qos for m in got) == [0, 1, 2], f'stored QoS kept, got {got}')
    for m in got:
        check(m.prop('UserProperty') == up, f'user properties kept in order [MQTT-3.3.2-18], got {m.prop("UserProperty")}')
    for q in (0, 1, 2):
        p.publish(ctx.topic(f'r/{q}'), b'', 1, retain=True)
    s2 = ctx.peer('sub2')
    s2.connect()
    s2.sub(ctx.topic('r/+'), 1)
    s2.sub(ctx.topic('barrier'), 1)
    p.publish(ctx.topic('barrier'), 'barrier', 1)
    check(s2.until('barrier') == [], 'cleared retained messages still delivered')


def retained_message_expiry(ctx):
    p = ctx.peer('pub')
    p.connect()
    p.publish(ctx.topic('x/short'), 'expires', 1, retain=True, props=publish_props(MessageExpiryInterval=1))
    p.publish(ctx.topic('x/long'), 'stays', 1, retain=True, props=publish_props(MessageExpiryInterval=60))
    time.sleep(2.2)   # the interval itself is what is under test
    s = ctx.peer('sub')
    s.connect()
    s.sub(ctx.topic('x/+'), 1)
    s.sub(ctx.topic('barrier'), 1)
    p.publish(ctx.topic('barrier'), 'barrier', 1)
    got = s.until('barrier')
    check([m.payload for m in got] == [b'stays'], f'only the unexpired retained message [MQTT-3.3.2-5], got {got}')
    left = got[0].prop('MessageExpiryInterval')
    check(left is not None and left < 60, f'remaining lifetime (< 60) expected [MQTT-3.3.2-6], got {left}')
    p.publish(ctx.topic('x/long'), b'', 1, retain=True)


def will_on_keepalive_timeout(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    up = [('a', '2'), ('c', '3')]
    w = ctx.wire()
    ack = w.connect(ctx.cid('dev'), keepalive=1, will={'topic': t, 'payload': 'will message',
                    'properties': props(PacketTypes.WILLMESSAGE, UserProperty=up)})
    check(ack.reason == 0, f'CONNACK 0 expected, got 0x{ack.reason:02x}')
    ka = ack.prop('ServerKeepAlive', 1)
    start = time.monotonic()
    got = s.messages(1, 'the will', timeout=ka * 1.5 + 6)
    took = time.monotonic() - start
    check(got[0].payload == b'will message', f'the will payload, got {got[0].payload!r}')
    check(got[0].prop('UserProperty', [])[:2] == up, f'the will\'s user properties first, in order, got {got[0].prop("UserProperty")}')
    check(took >= ka * 0.9, f'will published after {took:.1f} s, before the keep alive ({ka} s) ran out')


def will_not_sent_on_normal_disconnect(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w = ctx.wire()
    w.connect(ctx.cid('dev'), will={'topic': t, 'payload': 'will'})
    w.disconnect(0x00)   # returns once the broker has closed the connection
    b = ctx.peer('barrier')
    b.connect()
    b.publish(t, 'barrier', 1)
    check(s.until('barrier') == [], '[MQTT-3.14.4-3] no will after DISCONNECT 0x00')


def will_sent_on_disconnect_with_will(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w = ctx.wire()
    w.connect(ctx.cid('dev'), will={'topic': t, 'payload': 'will 0x04'})
    w.disconnect(0x04)
    got = s.messages(1, 'the will after DISCONNECT 0x04')
    check(got[0].payload == b'will 0x04', f'the will, got {got}')


def zero_length_clientid_assigned(ctx):
    w = ctx.wire()
    ack = w.connect('', clean=True)
    check(ack.reason == 0, f'CONNACK 0 expected, got 0x{ack.reason:02x}')
    assigned = ack.prop('AssignedClientIdentifier')
    check(assigned, f'Assigned Client Identifier expected [MQTT-3.2.2-16], got {assigned!r}')


def zero_length_clientid_clean_start_0(ctx):
    w = ctx.wire()
    ack = w.connect('', clean=False)
    check(ack.reason == 0, f'CONNACK 0 expected (MQTT 5 allows it), got 0x{ack.reason:02x}')
    check(ack.prop('AssignedClientIdentifier'), 'Assigned Client Identifier expected')


def offline_queueing(ctx):
    cid = ctx.cid('sess')
    t = ctx.topic('q')
    a = ctx.peer('a', cid)
    a.connect(props=connect_props(SessionExpiryInterval=60))
    a.sub(ctx.topic('+'), 2)
    a.disconnect()
    b = ctx.peer('b')
    b.connect()
    for q in (0, 1, 2):
        b.publish(t, f'offline {q}', q)
    a2 = ctx.peer('a2', cid)
    present, rc, _ = a2.connect(clean_start=False, props=connect_props(SessionExpiryInterval=0))
    check(present, 'Session Present 1 expected')
    a2.sub(ctx.topic('barrier'), 2)
    b.publish(ctx.topic('barrier'), 'barrier 1', 1)   # one barrier per QoS: ordered only within a QoS
    b.publish(ctx.topic('barrier'), 'barrier 2', 2)
    got = a2.until_each(['barrier 1', 'barrier 2'])
    qos = sorted(m.qos for m in got)
    check(qos in ([1, 2], [0, 1, 2]), f'the QoS 1 and 2 messages (QoS 0 optional) [MQTT-3.1.2-5], got {got}')


def overlapping_subscriptions(ctx):
    s = ctx.peer('sub')
    s.connect()
    s.subscribe([(ctx.topic('o/#'), SubscribeOptions(qos=2)), (ctx.topic('o/+'), SubscribeOptions(qos=1))])
    s.publish(ctx.topic('o/x'), 'overlap', 2)
    s.sub(ctx.topic('barrier'), 1)
    s.publish(ctx.topic('barrier'), 'barrier', 1)
    got = s.until('barrier')
    qos = sorted(m.qos for m in got)
    check(qos in ([2], [1, 2]), f'one message at QoS 2, or one per subscription [MQTT-3.3.4-2], got {got}')


def redelivery_on_reconnect(ctx):
    cid = ctx.cid('sess')
    t = ctx.topic('r')
    w = ctx.wire()
    w.connect(cid, clean=True, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
    w.subscribe([(t, 2)])
    p = ctx.peer('pub')
    p.connect()
    p.publish(t, 'one', 1)
    p.publish(t, 'two', 2)
    first = [w.expect(wire.PUBLISH), w.expect(wire.PUBLISH)]   # not acknowledged
    w.close()
    w2 = ctx.wire()
    ack = w2.connect(cid, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
    check(ack.session_present, 'Session Present 1 expected')
    again = [w2.expect(wire.PUBLISH), w2.expect(wire.PUBLISH)]
    check(sorted(m.payload for m in again) == [b'one', b'two'], f'both resent [MQTT-4.4.0-1], got {again}')
    check(all(m.dup for m in again), f'resent with DUP 1 [MQTT-3.3.1-1], got {again}')
    ids = {m.payload: m.packet_id for m in first}
    check(all(ids[m.payload] == m.packet_id for m in again), 'the same Packet Identifiers')
    for m in again:
        if m.qos == 1:
            w2.ack(wire.PUBACK, m.packet_id)
        else:
            w2.ack(wire.PUBREC, m.packet_id)
            w2.expect(wire.PUBREL)
            w2.ack(wire.PUBCOMP, m.packet_id)
    w2.disconnect(0, props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))


def dollar_topics_not_matched(ctx):
    s = ctx.peer('sub')
    s.connect()
    s.sub('#', 0)
    s.sub('+/+', 0)
    s.sub('$conf5/' + ctx.prefix + 'x', 0)
    s.clear()
    s.publish('$conf5/' + ctx.prefix + 'x', 'dollar', 1)
    s.until('dollar')   # through its own subscription (other runs' traffic also reaches '#')
    b = ctx.peer('b')
    b.connect()
    b.publish(ctx.topic('barrier'), 'barrier', 0)   # matched by '#': after it, every copy has arrived
    got = [m for m in s.until('barrier') if m.topic.startswith('$conf5/')]
    check(len(got) == 1, f'one copy, through the exact subscription only [MQTT-4.7.2-1], got {got}')


def unsubscribe_reason_codes(ctx):
    s = ctx.peer('sub')
    s.connect()
    for n in ('a', 'b', 'c'):
        s.sub(ctx.topic(n), 1)
    codes = s.unsubscribe([ctx.topic('a'), ctx.topic('never')])
    check(codes == [0x00, 0x11], f'UNSUBACK 0x00 and 0x11 (no subscription existed) [MQTT-3.11.3], got {codes}')
    for n in ('a', 'b', 'c'):
        s.publish(ctx.topic(n), n, 1)
    got = s.until('c')
    check([m.payload for m in got] == [b'b'], f'nothing on the unsubscribed topic, got {got}')


def session_expiry_zero(ctx):
    cid = ctx.cid('s')
    a = ctx.peer('a', cid)
    present, _, _ = a.connect(props=connect_props(SessionExpiryInterval=0))
    check(not present, 'Session Present 0 on Clean Start')
    a.sub(ctx.topic('t'), 1)
    a.disconnect()
    b = ctx.peer('b', cid)
    present, _, _ = b.connect(clean_start=False, props=connect_props(SessionExpiryInterval=0))
    check(not present, 'Session Expiry 0: the session ended with the connection [MQTT-3.1.2-23]')


def session_expiry_interval(ctx):
    cid = ctx.cid('s')
    a = ctx.peer('a', cid)
    a.connect(props=connect_props(SessionExpiryInterval=2))
    a.sub(ctx.topic('t'), 1)
    a.disconnect()
    b = ctx.peer('b', cid)
    present, _, _ = b.connect(clean_start=False, props=connect_props(SessionExpiryInterval=2))
    check(present, 'the session is still there within its expiry')
    b.disconnect()
    time.sleep(3.5)   # the interval itself is what is under test
    c = ctx.peer('c', cid)
    present, _, _ = c.connect(clean_start=False, props=connect_props(SessionExpiryInterval=0))
    check(not present, 'the session expired after its interval')


def session_expiry_set_on_disconnect(ctx):
    cid = ctx.cid('s')
    a = ctx.peer('a', cid)
    a.connect(props=connect_props(SessionExpiryInterval=1))
    a.sub(ctx.topic('t'), 1)
    a.disconnect(props=wire_disconnect_props(SessionExpiryInterval=30))
    time.sleep(1.8)
    b = ctx.peer('b', cid)
    present, _, _ = b.connect(clean_start=False, props=connect_props(SessionExpiryInterval=1))
    check(present, 'DISCONNECT raised the Session Expiry Interval to 30 s [MQTT-3.14.2-2]')
    b.disconnect(props=wire_disconnect_props(SessionExpiryInterval=0))
    c = ctx.peer('c', cid)
    present, _, _ = c.connect(clean_start=False, props=connect_props(SessionExpiryInterval=0))
    check(not present, 'DISCONNECT with Session Expiry 0 ended the session')


def session_takeover(ctx):
    cid = ctx.cid('dup')
    old = ctx.wire()
    old.connect(cid)
    new = ctx.wire()
    check(new.connect(cid).reason == 0, 'the new connection is accepted')
    d, _ = old.closed_with()   # [MQTT-3.1.4-3] the old connection is closed
    check(d is not None and d.reason == 0x8E, f'DISCONNECT 0x8E (session taken over) to the old connection [MQTT-3.1.4-3], got {d}')


def session_takeover_publishes_will(ctx):
    cid = ctx.cid('dup')
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    old = ctx.wire()
    old.connect(cid, will={'topic': t, 'payload': 'taken over'})
    new = ctx.wire()
    new.connect(cid)
    old.closed_with()
    new.disconnect()   # returns once the broker closed it: the takeover is long done
    p = ctx.peer('pub')
    p.connect()
    p.publish(t, 'barrier', 1)
    got = s.until('barrier')
    check([m.payload for m in got] == [b'taken over'], f'the will of the connection taken over (3.1.4 point 3), got {got}')


def wire_disconnect_props(**values):
    from peer import properties
    return properties(PacketTypes.DISCONNECT, **values)


CASES = [connect_success, wrong_protocol_name_refused, publish_all_qos, qos_downgraded_to_subscription,
         qos2_duplicate_delivered_once, retained_with_properties, retained_message_expiry, will_on_keepalive_timeout,
         will_not_sent_on_normal_disconnect, will_sent_on_disconnect_with_will, zero_length_clientid_assigned,
         zero_length_clientid_clean_start_0, offline_queueing, overlapping_subscriptions, redelivery_on_reconnect,
         dollar_topics_not_matched, unsubscribe_reason_codes, session_expiry_zero, session_expiry_interval,
         session_expiry_set_on_disconnect, session_takeover, session_takeover_publishes_will]
