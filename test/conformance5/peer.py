"""
The paho-mqtt client (MQTT 5) made synchronous for the cases: connect returns
the CONNACK, subscribe the SUBACK reason codes, publish waits for its
acknowledgement, and received messages land in an inbox a case waits on.
The network thread never reconnects on its own: a connection the broker ends
stays ended, so a case sees exactly what the broker did.
"""
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


class Message:
    def __init__(self, m):
        self.topic = m.topic
        self.payload = bytes(m.payload)
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.properties = getattr(m, 'properties', None)

    def prop(self, name, default=None):
        return getattr(self.properties, name, default) if self.properties is not None else default

    def __repr__(self):
        return f'<{self.topic!r} {self.payload[:40]!r} qos={self.qos} retain={self.retain}>'


def properties(packet_type, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def connect_props(**values):
    return properties(PacketTypes.CONNECT, **values)


def publish_props(**values):
    return properties(PacketTypes.PUBLISH, **values)


class Peer:
    def __init__(self, host, port, client_id, timeout=5.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.cond = threading.Condition()
        self.inbox = []
        self.connack = None
        self.subacks = {}
        self.unsubacks = {}
        self.disconnect_reason = None
        self.ended = False
        c = self.client
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_disconnect = self._on_disconnect

    # callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason, props):
        with self.cond:
            self.connack = (flags.get('session present', 0) == 1, reason.value, props)
            self.cond.notify_all()

    def _on_message(self, client, userdata, m):
        with self.cond:
            self.inbox.append(Message(m))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reasons, props):
        with self.cond:
            self.subacks[mid] = [r.value for r in reasons]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, props, reasons):
        with self.cond:
            values = reasons if isinstance(reasons, list) else [reasons]
            self.unsubacks[mid] = [r.value for r in values]
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, reason, props=None):
        with self.cond:
            self.ended = True
            self.disconnect_reason = getattr(reason, 'value', reason)
            self.cond.notify_all()
        client.loop_stop()  # never reconnect on our own

    def wait(self, predicate, what, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'timed out waiting for {what}')
                self.cond.wait(left)

    def connect(self, clean_start=True, keepalive=60, props=None, will=None):
        """Returns (session_present, reason code, CONNACK properties)."""
        if will is not None:
            self.client.will_set(will['topic'], will['payload'], will.get('qos', 0), will.get('retain', False), will.get('properties'))
        self.client.connect(self.host, self.port, keepalive=keepalive, clean_start=clean_start, properties=props)
        self.client.loop_start()
        self.wait(lambda: self.connack is not None or self.ended, 'CONNACK')
        if self.connack is None:
            raise AssertionError('connection closed before CONNACK')
        return self.connack

    def subscribe(self, filters, props=None):
        """filters: [(filter, SubscribeOptions)]. Returns the reason codes."""
        rc, mid = self.client.subscribe(filters, properties=props)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f'subscribe not sent: {rc}')
        self.wait(lambda: mid in self.subacks, 'SUBACK')
        return self.subacks[mid]

    def sub(self, topic, qos=2, **options):
        return self.subscribe([(topic, SubscribeOptions(qos=qos, **options))])

    def unsubscribe(self, filters):
        rc, mid = self.client.unsubscribe(filters)
        self.wait(lambda: mid in self.unsubacks, 'UNSUBACK')
        return self.unsubacks[mid]

    def publish(self, topic, payload, qos=0, retain=False, props=None):
        info = self.client.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise AssertionError(f'publish to {topic!r} (qos {qos}) not acknowledged')

    def messages(self, n, what=None, timeout=None):
        self.wait(lambda: len(self.inbox) >= n, what or f'{n} message(s)', timeout)
        return list(self.inbox)

    def until(self, payload, timeout=None):
        """Wait for the message with `payload` (a barrier); returns the inbox up to and without it."""
        want = payload.encode() if isinstance(payload, str) else payload
        self.wait(lambda: any(m.payload == want for m in self.inbox), f'barrier {want!r}', timeout)
        with self.cond:
            at = next(i for i, m in enumerate(self.inbox) if m.payload == want)
            return self.inbox[:at]

    def until_each(self, payloads, timeout=None):
        """Wait for every barrier in `payloads` (one per QoS in play); returns the other messages that came first."""
        want = {p.encode() if isinstance(p, str) else p for p in payloads}
        self.wait(lambda: want <= {m.payload for m in self.inbox}, f'barriers {sorted(want)}', timeout)
        with self.cond:
            last = max(i for i, m in enumerate(self.inbox) if m.payload in want)
            return [m for m in self.inbox[:last] if m.payload not in want]

    def clear(self):
        with self.cond:
            self.inbox = []

    def disconnect(self, reason=None, props=None):
        if self.ended:
            self.client.loop_stop()
            return
        rc = None
        if reason is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        self.client.disconnect(reasoncode=rc, properties=props)
        self.wait(lambda: self.ended, 'the connection to end')
        self.client.loop_stop()

    def drop(self):
        """End the connection without DISCONNECT (the socket just closes)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
