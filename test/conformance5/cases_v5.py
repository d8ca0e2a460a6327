"""
Conformance cases, part 2: what MQTT 5 added (properties, subscription
options, expiry, will delay, shared subscriptions). One function per case, as
in cases_core.py; topic aliases, packet sizes and flow control are in
cases_limits.py.
"""
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from context import check
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


CASES = [user_properties_forwarded, user_properties_repeated_name_order, payload_format_and_content_type, request_response,
         message_expiry_queued, no_local, retain_as_published, retain_handling, subscription_identifiers,
         connack_properties_valid, will_delay, will_delay_cancelled_by_reconnect, will_delay_session_ends_at_close,
         will_delay_capped_by_session_expiry, shared_subscription]
