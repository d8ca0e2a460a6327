"""
Conformance cases, part 2: what MQTT 5 added (properties, subscription
options, expiry, topic aliases, flow control, packet size, will delay, shared
subscriptions). One function per case, as in cases_core.py.
"""
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

import wire
from context import Skip, check
from peer import connect_props, publish_props, properties
from wire import props


def user_properties_forwarded(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    s.sub(t, 2)
    up = [('a', '2'), ('c', '3')]
    for q in (0, 1, 2):
        s.publish(t, f'up {q}', q, props=publish_props(UserProperty=up))
    for m in s.messages(3):
        check(m.prop('UserProperty') == up, f'unaltered and in order [MQTT-3.3.2-17/18], got {m.prop("UserProperty")}')


def user_properties_repeated_name_order(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    s.sub(t, 1)
    up = [('a', '2'), ('c', '3'), ('a', '1')]   # a name may repeat; the order is the message's
    s.publish(t, 'repeated', 1, props=publish_props(UserProperty=up))
    m = s.messages(1)[0]
    check(m.prop('UserProperty') == up, f'[MQTT-3.3.2-18] the order kept, got {m.prop("UserProperty")}')


def payload_format_and_content_type(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('t')
    s.sub(t, 2)
    for q in (0, 1, 2):
        s.publish(t, 'text', q, props=publish_props(PayloadFormatIndicator=1, ContentType='My name'))
    for m in s.messages(3):
        check(m.prop('PayloadFormatIndicator') == 1, f'Payload Format Indicator forwarded [MQTT-3.3.2-4], got {m.prop("PayloadFormatIndicator")}')
        check(m.prop('ContentType') == 'My name', f'Content Type forwarded, got {m.prop("ContentType")}')


def request_response(ctx):
    a = ctx.peer('req')
    a.connect()
    b = ctx.peer('resp')
    b.connect()
    req, resp = ctx.topic('request'), ctx.topic('response')
    a.sub(resp, 1)
    b.sub(req, 1)
    a.publish(req, 'request', 1, props=publish_props(ResponseTopic=resp, CorrelationData=b'334'))
    m = b.messages(1)[0]
    check(m.prop('ResponseTopic') == resp, f'Response Topic forwarded [MQTT-3.3.2-15], got {m.prop("ResponseTopic")}')
    check(m.prop('CorrelationData') == b'334', f'Correlation Data forwarded [MQTT-3.3.2-16], got {m.prop("CorrelationData")}')
    b.publish(m.prop('ResponseTopic'), 'response', 1, props=publish_props(CorrelationData=m.prop('CorrelationData')))
    r = a.messages(1)[0]
    check(r.payload == b'response' and r.prop('CorrelationData') == b'334', f'the response, got {r}')


def message_expiry_queued(ctx):
    cid = ctx.cid('sess')
    t = ctx.topic('t')
    b = ctx.peer('b', cid)
    b.connect(props=connect_props(SessionExpiryInterval=60))
    b.sub(t, 2)
    b.disconnect()
    a = ctx.peer('a')
    a.connect()
    for q in (1, 2):
        a.publish(t, f'expire {q}', q, props=publish_props(MessageExpiryInterval=1))
    for q in (1, 2):
        a.publish(t, f'keep {q}', q, props=publish_props(MessageExpiryInterval=30))
    time.sleep(2.2)   # the interval itself is what is under test
    b2 = ctx.peer('b2', cid)
    present, _, _ = b2.connect(clean_start=False, props=connect_props(SessionExpiryInterval=0))
    check(present, 'Session Present 1 expected')
    b2.sub(ctx.topic('barrier'), 2)
    a.publish(ctx.topic('barrier'), 'barrier 1', 1)   # one barrier per QoS: ordered only within a QoS
    a.publish(ctx.topic('barrier'), 'barrier 2', 2)
    got = b2.until_each(['barrier 1', 'barrier 2'])
    check(sorted(m.payload for m in got) == [b'keep 1', b'keep 2'], f'only the unexpired messages [MQTT-3.3.2-5], got {got}')
    for m in got:
        left = m.prop('MessageExpiryInterval')
        check(left is not None and left < 30, f'the lifetime left (< 30) [MQTT-3.3.2-6], got {left}')


def no_local(ctx):
    a = ctx.peer('a')
    a.connect()
    b = ctx.peer('b')
    b.connect()
    t = ctx.topic('t')
    a.sub(t, 1, noLocal=True)
    a.sub(ctx.topic('barrier'), 1)
    b.sub(t, 1, noLocal=True)
    a.publish(t, 'local', 1)
    a.publish(ctx.topic('barrier'), 'barrier', 1)
    check(a.until('barrier') == [], '[MQTT-3.8.3-3] no message back to its publisher')
    check([m.payload for m in b.messages(1)] == [b'local'], 'the other subscriber gets it')


def retain_as_published(ctx):
    a = ctx.peer('a')
    a.connect()
    plain = ctx.peer('plain')
    plain.connect()
    t = ctx.topic('t')
    a.sub(t, 1, retainAsPublished=True)
    plain.sub(t, 1)
    a.publish(t, 'not retained', 1)
    a.publish(t, 'retained', 1, retain=True)
    got = a.messages(2)
    check([m.retain for m in got] == [False, True], f'RETAIN as published [MQTT-3.3.1-13], got {got}')
    got = plain.messages(2)
    check([m.retain for m in got] == [False, False], f'RETAIN 0 without the option [MQTT-3.3.1-12], got {got}')
    a.publish(t, b'', 1, retain=True)


def retain_handling(ctx):
    p = ctx.peer('pub')
    p.connect()
    for n in range(3):
        p.publish(ctx.topic(f'r/{n}'), f'retained {n}', 1, retain=True)
    f = ctx.topic('r/+')

    def retained_after(peer, rh, barrier, want):
        peer.sub(f, 1, retainHandling=rh)
        if want:
            got = peer.messages(want, f'{want} retained messages')
        else:
            # No order binds retained messages to a later one on another topic; a barrier still
            # catches every broker that sends them before its SUBACK or soon after.
            p.publish(ctx.topic('r/barrier'), barrier, 1)
            got = peer.until(barrier)
        peer.clear()
        return len(got)

    a = ctx.peer('a')
    a.connect()
    check(retained_after(a, 1, 'b1', 3) == 3, 'retain handling 1: retained sent on a new subscription')
    check(retained_after(a, 1, 'b2', 0) == 0, 'retain handling 1: not on a subscription that exists [MQTT-3.3.1-10]')
    b = ctx.peer('b')
    b.connect()
    check(retained_after(b, 2, 'b3', 0) == 0, 'retain handling 2: never sent [MQTT-3.3.1-11]')
    c = ctx.peer('c')
    c.connect()
    check(retained_after(c, 0, 'b4', 3) == 3, 'retain handling 0: sent')
    check(retained_after(c, 0, 'b5', 3) == 3, 'retain handling 0: sent again on resubscribe [MQTT-3.3.1-9]')
    for n in range(3):
        p.publish(ctx.topic(f'r/{n}'), b'', 1, retain=True)


def subscription_identifiers(ctx):
    t = ctx.topic('t')
    a = ctx.peer('a')
    a.connect()
    a.subscribe([(t, SubscribeOptions(qos=1))], props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=456789))
    b = ctx.peer('b')
    b.connect()
    b.subscribe([(t, SubscribeOptions(qos=1))], props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=2))
    b.subscribe([(t + '/#', SubscribeOptions(qos=1))], props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=3))
    b.sub(ctx.topic('barrier'), 1)
    b.publish(t, 'ids', 1)
    m = a.messages(1)[0]
    check(m.prop('SubscriptionIdentifier') == [456789], f'[MQTT-3.3.4-3] identifier 456789, got {m.prop("SubscriptionIdentifier")}')
    b.publish(ctx.topic('barrier'), 'barrier', 1)
    got = b.until('barrier')
    ids = sorted(i for x in got for i in (x.prop('SubscriptionIdentifier') or []))
    one = len(got) == 1 and ids == [2, 3]
    each = len(got) == 2 and sorted(tuple(x.prop('SubscriptionIdentifier') or []) for x in got) == [(2,), (3,)]
    check(one or each, f'both identifiers on one message, or one per copy [MQTT-3.3.4-4/5], got {[(x, x.prop("SubscriptionIdentifier")) for x in got]}')


def connack_properties_valid(ctx):
    w = ctx.wire()
    ack = w.connect(ctx.cid('a'), keepalive=30)
    check(ack.reason == 0, f'CONNACK 0 expected, got 0x{ack.reason:02x}')
    rm = ack.prop('ReceiveMaximum')
    check(rm is None or 1 <= rm <= 65535, f'Receive Maximum 1..65535, got {rm}')
    mq = ack.prop('MaximumQoS')
    check(mq in (None, 0, 1), f'Maximum QoS absent, 0 or 1 [MQTT-3.2.2-9], got {mq}')
    for name in ('RetainAvailable', 'WildcardSubscriptionAvailable', 'SubscriptionIdentifierAvailable', 'SharedSubscriptionAvailable'):
        check(ack.prop(name) in (None, 0, 1), f'{name} 0 or 1, got {ack.prop(name)}')
    mps = ack.prop('MaximumPacketSize')
    check(mps is None or mps > 0, f'Maximum Packet Size > 0, got {mps}')
    ska = ack.prop('ServerKeepAlive')
    check(ska is None or ska >= 0, f'Server Keep Alive, got {ska}')
    sub = w.subscribe([(ctx.topic('t'), 2)])
    granted = sub.reasons[0]
    check(granted <= (2 if mq is None else mq), f'granted QoS within Maximum QoS, got {granted}')


def _alias_max(ctx):
    w = ctx.wire()
    ack = w.connect(ctx.cid('alias'))
    return w, ack.prop('TopicAliasMaximum', 0)


def client_topic_alias(ctx):
    w, most = _alias_max(ctx)
    check(most > 0, 'the broker offers no topic aliases (Topic Alias Maximum 0)')
    s = ctx.wire()
    s.connect(ctx.cid('sub'))    # Topic Alias Maximum 0: it must never be sent an alias
    t = ctx.topic('t')
    s.subscribe([(t, 1)])
    alias = props(PacketTypes.PUBLISH, TopicAlias=1)
    w.publish(t, 'set', 1, properties=alias)
    w.expect(wire.PUBACK)
    w.publish('', 'use', 1, properties=alias)
    w.expect(wire.PUBACK)
    w.publish('', 'use qos 0', 0, properties=alias)
    got = [s.expect(wire.PUBLISH) for _ in range(3)]
    check(all(m.topic == t for m in got), f'each delivered on the aliased topic [MQTT-3.3.2-12], got {got}')
    check(all(m.prop('TopicAlias') is None for m in got), f'the publisher\'s alias is not forwarded, got {[m.properties for m in got]}')


def client_topic_alias_invalid(ctx):
    w, most = _alias_max(ctx)
    # A Topic Alias of 0 is always invalid [MQTT-3.3.2-8]; paho refuses to pack it, so the bytes are written here.
    w.publish(ctx.topic('t'), 'alias 0', 1, properties=b'\x03\x23\x00\x00')
    d, seen = w.closed_with()
    check(not any(p.kind == wire.PUBACK for p in seen), 'a PUBLISH with Topic Alias 0 was acknowledged')
    # 0x94 says it best; a broker that takes the 0 for a malformed property value (0x81) or a protocol error (0x82) also refuses.
    check(d is not None and d.reason in (0x81, 0x82, 0x94), f'DISCONNECT 0x94 (Topic Alias invalid), got {d}')
    w2 = ctx.wire()
    ack = w2.connect(ctx.cid('b'))
    w2.publish(ctx.topic('t'), 'too high', 1, properties=props(PacketTypes.PUBLISH, TopicAlias=ack.prop('TopicAliasMaximum', 0) + 1))
    d, _ = w2.closed_with()
    check(d is not None and d.reason == 0x94, f'alias above the maximum: DISCONNECT 0x94 [MQTT-3.3.2-9], got {d}')


def client_topic_alias_per_connection(ctx):
    w, most = _alias_max(ctx)
    check(most > 0, 'the broker offers no topic aliases (Topic Alias Maximum 0)')
    alias = props(PacketTypes.PUBLISH, TopicAlias=1)
    w.publish(ctx.topic('t'), 'set', 1, properties=alias)
    w.expect(wire.PUBACK)
    w.disconnect()
    w2 = ctx.wire()
    w2.connect(ctx.cid('again'))
    w2.publish('', 'stale alias', 1, properties=alias)
    d, seen = w2.closed_with()
    check(not any(p.kind == wire.PUBACK for p in seen), f'an alias from another connection was accepted [MQTT-3.3.2-10], got {seen}')
    check(d is not None and d.reason in (0x82, 0x94), f'DISCONNECT 0x82 or 0x94, got {d}')


def empty_topic_without_alias(ctx):
    w = ctx.wire()
    w.connect(ctx.cid('a'))
    w.publish('', 'no topic', 1)
    d, seen = w.closed_with()
    check(not any(p.kind == wire.PUBACK for p in seen), f'accepted a PUBLISH with no topic [MQTT-3.3.2-1], got {seen}')
    check(d is None or d.reason >= 0x80, f'a failure reason, got {d}')


def server_topic_alias_within_client_maximum(ctx):
    t = ctx.topic('t')
    p = ctx.peer('pub')
    p.connect()
    for most in (0, 1):
        s = ctx.wire()
        s.connect(ctx.cid(f'sub{most}'), properties=props(PacketTypes.CONNECT, TopicAliasMaximum=most) if most else wire.NO_PROPS)
        s.subscribe([(t, 1)])
        for q in (0, 1, 2):
            p.publish(t, f'to {most} at {q}', q)
        seen = {}
        for _ in range(3):
            m = s.expect(wire.PUBLISH)
            if m.qos > 0:
                s.ack(wire.PUBACK, m.packet_id)
            a = m.prop('TopicAlias')
            check(a is None or 1 <= a <= most, f'[MQTT-3.3.2-10] alias {a} with client Topic Alias Maximum {most}')
            if a is not None and m.topic:
                seen[a] = m.topic
            check(m.topic or seen.get(a) == t, f'an empty topic with an alias the client was never given, got {m!r}')
        s.close()


def server_topic_alias_used(ctx):
    """Optional for a broker [MQTT-3.2.2-17 lets it]; Paho's suite expects it."""
    t = ctx.topic('t')
    p = ctx.peer('pub')
    p.connect()
    s = ctx.wire()
    s.connect(ctx.cid('sub'), properties=props(PacketTypes.CONNECT, TopicAliasMaximum=5))
    s.subscribe([(t, 0)])
    for n in range(3):
        p.publish(t, f'n{n}', 0)
    got = [s.expect(wire.PUBLISH) for _ in range(3)]
    check(any(m.prop('TopicAlias') for m in got), 'the broker sends no topic aliases (optional)')


def client_maximum_packet_size(ctx):
    t = ctx.topic('t')
    s = ctx.wire()
    s.connect(ctx.cid('sub'), properties=props(PacketTypes.CONNECT, MaximumPacketSize=128))
    s.subscribe([(t, 1)])
    p = ctx.peer('pub')
    p.connect()
    p.publish(t, '.' * 200, 1)
    p.publish(t, 'small', 1)
    m = s.expect(wire.PUBLISH)
    check(m.payload == b'small', f'[MQTT-3.1.2-24] a packet over the client\'s Maximum Packet Size was sent ({len(m.payload)} bytes of payload)')
    s.ack(wire.PUBACK, m.packet_id)


def server_maximum_packet_size(ctx):
    t = ctx.topic('t')
    w = ctx.wire()
    ack = w.connect(ctx.cid('a'))
    most = ack.prop('MaximumPacketSize')
    if most is None:
        w.subscribe([(t, 0)])
        w.publish(t, b'.' * 300_000, 1)
        kinds = sorted(w.recv(10).kind for _ in range(2))
        check(kinds == [wire.PUBLISH, wire.PUBACK], f'no Maximum Packet Size advertised, yet a 300 kB PUBLISH was not taken: {kinds}')
        return
    w.publish(t, b'.' * most, 1)   # the packet is larger than `most`
    d, seen = w.closed_with()
    check(not any(p.kind == wire.PUBACK for p in seen), 'an oversized PUBLISH was acknowledged')
    check(d is not None and d.reason == 0x95, f'DISCONNECT 0x95 (packet too large) [MQTT-3.2.2-15], got {d}')


def receive_maximum_respected(ctx):
    t = ctx.topic('t')
    s = ctx.wire()
    s.connect(ctx.cid('sub'), properties=props(PacketTypes.CONNECT, ReceiveMaximum=2))
    s.subscribe([(t, 1)])
    p = ctx.peer('pub')
    p.connect()
    for n in range(1, 4):
        p.publish(t, f'm{n}', 1)
    p.publish(t, 'barrier', 0)
    held = []
    try:
        while True:
            m = s.expect(wire.PUBLISH, timeout=1.5)   # the barrier, or the third one if the broker queues QoS 0 too
            if m.payload == b'barrier':
                break
            held.append(m)
    except TimeoutError:
        pass
    check([m.payload for m in held] == [b'm1', b'm2'], f'[MQTT-3.3.4-7] two unacknowledged QoS 1 at most (Receive Maximum 2), got {held}')
    s.ack(wire.PUBACK, held[0].packet_id)
    m = s.expect(wire.PUBLISH)
    if m.payload == b'barrier':
        m = s.expect(wire.PUBLISH)
    check(m.payload == b'm3', f'the third after one PUBACK, got {m!r}')


def receive_maximum_exceeded(ctx):
    w = ctx.wire()
    ack = w.connect(ctx.cid('a'))
    most = ack.prop('ReceiveMaximum', 65535)
    if most > 5000:
        raise Skip(f'Receive Maximum {most}: too many to exceed here')
    t = ctx.topic('t')
    for _ in range(most + 1):
        w.publish(t, 'q2', 2)   # never released
    d, seen = w.closed_with(timeout=4)
    recs = sum(1 for p in seen if p.kind == wire.PUBREC)
    check(recs <= most, f'{recs} PUBREC for {most + 1} PUBLISH')
    check(d is not None and d.reason == 0x93, f'DISCONNECT 0x93 (Receive Maximum exceeded) [MQTT-3.3.4-9], got {d}')


def _will_wire(ctx, t, delay, expiry):
    """A connection with a delayed will; returns it and its client id."""
    w = ctx.wire()
    cid = ctx.cid('dev')
    w.connect(cid, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=expiry),
              will={'topic': t, 'payload': 'delayed will', 'properties': props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay)})
    return w, cid


def will_delay(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w, _ = _will_wire(ctx, t, 2, 10)
    w.close()   # the network connection ends without DISCONNECT
    start = time.monotonic()
    s.messages(1, 'the delayed will', timeout=8)
    took = time.monotonic() - start
    check(took >= 1.5, f'[MQTT-3.1.3-9] will after {took:.1f} s, before its delay of 2 s')


def will_delay_cancelled_by_reconnect(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w, cid = _will_wire(ctx, t, 2, 10)
    w.close()
    w2 = ctx.wire()
    # The same client id again, within the delay: the will must not be sent [MQTT-3.1.3-9].
    ack = w2.connect(cid, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=10))
    check(ack.reason == 0, 'reconnect accepted')
    time.sleep(2.8)   # past the delay: that is what is under test
    p = ctx.peer('pub')
    p.connect()
    p.publish(t, 'barrier', 1)
    check(s.until('barrier') == [], 'the will was sent although the client came back within its delay')
    w2.disconnect(0, props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))


def will_delay_session_ends_at_close(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w, _ = _will_wire(ctx, t, 30, 0)
    w.close()
    start = time.monotonic()
    s.messages(1, 'the will (session ends with the connection)', timeout=4)
    took = time.monotonic() - start
    check(took < 2.5, f'[MQTT-3.1.3-9] Session Expiry 0: the will at once, got {took:.1f} s')


def will_delay_capped_by_session_expiry(ctx):
    s = ctx.peer('sub')
    s.connect()
    t = ctx.topic('will')
    s.sub(t, 1)
    w, _ = _will_wire(ctx, t, 30, 2)
    w.close()
    start = time.monotonic()
    s.messages(1, 'the will when the session expires', timeout=7)
    took = time.monotonic() - start
    check(1.3 <= took, f'[MQTT-3.1.3-9] the session (2 s) ends first: will after {took:.1f} s')


def shared_subscription(ctx):
    t = ctx.topic('t')
    share = '$share/g5/' + t
    a, b = ctx.peer('a'), ctx.peer('b')
    for x in (a, b):
        x.connect()
        codes = x.sub(share, 1)
        check(codes[0] <= 2, f'shared subscription granted [MQTT-4.8.2], got reason 0x{codes[0]:02x}')
        x.sub(ctx.topic('barrier'), 1)
    p = ctx.peer('pub')
    p.connect()
    for n in range(6):
        p.publish(t, f's{n}', 1)
    p.publish(ctx.topic('barrier'), 'barrier', 1)
    got = a.until('barrier') + b.until('barrier')
    check(sorted(m.payload for m in got) == [f's{n}'.encode() for n in range(6)], f'each message to one member of the group, got {got}')


CASES = [user_properties_forwarded, user_properties_repeated_name_order, payload_format_and_content_type, request_response, message_expiry_queued,
         no_local, retain_as_published, retain_handling, subscription_identifiers, connack_properties_valid,
         client_topic_alias, client_topic_alias_invalid, client_topic_alias_per_connection, empty_topic_without_alias,
         server_topic_alias_within_client_maximum, server_topic_alias_used, client_maximum_packet_size,
         server_maximum_packet_size, receive_maximum_respected, receive_maximum_exceeded, will_delay,
         will_delay_cancelled_by_reconnect, will_delay_session_ends_at_close, will_delay_capped_by_session_expiry, shared_subscription]
OPTIONAL = {'server_topic_alias_used'}
