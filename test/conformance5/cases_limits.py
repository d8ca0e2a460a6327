"""
Conformance cases, part 3: the limits MQTT 5 lets each side set for the
other (topic aliases both ways, Maximum Packet Size both ways, Receive
Maximum both ways). One function per case, as in cases_core.py.
"""
from paho.mqtt.packettypes import PacketTypes

import wire
from context import Skip, check
from wire import props


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


CASES = [client_topic_alias, client_topic_alias_invalid, client_topic_alias_per_connection, empty_topic_without_alias,
         server_topic_alias_within_client_maximum, server_topic_alias_used, client_maximum_packet_size,
         server_maximum_packet_size, receive_maximum_respected, receive_maximum_exceeded]
OPTIONAL = {'server_topic_alias_used'}
