"""
A small synchronous MQTT 5 client over a plain socket, for the conformance
cases that need control the paho-mqtt client does not give: not acknowledging
a PUBLISH, going silent past the keep alive, a Topic Alias of 0, more QoS 2
PUBLISH than the Receive Maximum. Properties are packed and parsed with
paho-mqtt's own codec (paho.mqtt.properties), so the bytes on the wire come
from an implementation independent of the broker's.
"""
import socket
import struct
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
NAMES = {1: 'CONNECT', 2: 'CONNACK', 3: 'PUBLISH', 4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP',
         8: 'SUBSCRIBE', 9: 'SUBACK', 10: 'UNSUBSCRIBE', 11: 'UNSUBACK', 12: 'PINGREQ', 13: 'PINGRESP',
         14: 'DISCONNECT', 15: 'AUTH'}
PROPERTY_TYPES = {CONNACK: PacketTypes.CONNACK, PUBLISH: PacketTypes.PUBLISH, PUBACK: PacketTypes.PUBACK,
                  PUBREC: PacketTypes.PUBREC, PUBREL: PacketTypes.PUBREL, PUBCOMP: PacketTypes.PUBCOMP,
                  SUBACK: PacketTypes.SUBACK, UNSUBACK: PacketTypes.UNSUBACK, DISCONNECT: PacketTypes.DISCONNECT,
                  AUTH: PacketTypes.AUTH}


class Closed(Exception):
    """The broker closed the connection."""


def utf8(s):
    b = s.encode('utf-8') if isinstance(s, str) else bytes(s)
    return struct.pack('!H', len(b)) + b


def props(packet_type, **values):
    """Packed properties (length prefix included) for `packet_type`; UserProperty takes a list of pairs."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p.pack()


NO_PROPS = b'\x00'


def frame(first_byte, body):
    return bytes([first_byte]) + VariableByteIntegers.encode(len(body)) + body


class Packet:
    def __init__(self, kind, flags, body):
        self.kind, self.flags, self.body = kind, flags, body
        self.properties = None
        self.reason = 0
        self.packet_id = None
        self.reasons = []
        self.topic = None
        self.payload = None
        self.qos = (flags >> 1) & 3
        self.retain = bool(flags & 1)
        self.dup = bool(flags & 8)
        self._parse()

    def _props(self, at):
        if at >= len(self.body):
            return at
        p, used = Properties(PROPERTY_TYPES[self.kind]).unpack(self.body[at:])
        self.properties = p
        return at + used

    def _parse(self):
        b = self.body
        if self.kind == CONNACK:
            self.session_present = bool(b[0] & 1)
            self.reason = b[1]
            self._props(2)
        elif self.kind == PUBLISH:
            n = struct.unpack('!H', b[:2])[0]
            self.topic = b[2:2 + n].decode('utf-8')
            at = 2 + n
            if self.qos > 0:
                self.packet_id = struct.unpack('!H', b[at:at + 2])[0]
                at += 2
            at = self._props(at)
            self.payload = b[at:]
        elif self.kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.packet_id = struct.unpack('!H', b[:2])[0]
            if len(b) > 2:
                self.reason = b[2]
                self._props(3)
        elif self.kind in (SUBACK, UNSUBACK):
            self.packet_id = struct.unpack('!H', b[:2])[0]
            at = self._props(2)
            self.reasons = list(b[at:])
        elif self.kind in (DISCONNECT, AUTH):
            if len(b) > 0:
                self.reason = b[0]
                self._props(1)

    def prop(self, name, default=None):
        return getattr(self.properties, name, default) if self.properties is not None else default

    def __repr__(self):
        extra = f' topic={self.topic!r} qos={self.qos} id={self.packet_id}' if self.kind == PUBLISH else f' reason=0x{self.reason:02x}'
        return f'<{NAMES.get(self.kind, self.kind)}{extra}>'


class Wire:
    """One connection. Every receive has a deadline; a closed socket raises Closed."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.next_id = 1
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def packet_id(self):
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def connect(self, client_id, clean=True, keepalive=60, properties=NO_PROPS, will=None):
        """will: dict(topic, payload, qos=0, retain=False, properties=NO_PROPS). Returns the CONNACK."""
        flags = 0x02 if clean else 0
        payload = utf8(client_id)
        if will is not None:
            flags |= 0x04 | (will.get('qos', 0) << 3) | (0x20 if will.get('retain') else 0)
            payload += will.get('properties', NO_PROPS) + utf8(will['topic']) + utf8(will['payload'])
        body = utf8('MQTT') + bytes([5, flags]) + struct.pack('!H', keepalive) + properties + payload
        self.send(frame(0x10, body))
        return self.expect(CONNACK)

    def publish(self, topic, payload, qos=0, retain=False, properties=NO_PROPS, packet_id=None, dup=False):
        body = utf8(topic)
        if qos > 0:
            packet_id = packet_id or self.packet_id()
            body += struct.pack('!H', packet_id)
        body += properties + (payload.encode() if isinstance(payload, str) else payload)
        self.send(frame(0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0), body))
        return packet_id

    def ack(self, kind, packet_id):
        first = {PUBACK: 0x40, PUBREC: 0x50, PUBREL: 0x62, PUBCOMP: 0x70}[kind]
        self.send(frame(first, struct.pack('!H', packet_id)))

    def subscribe(self, filters, properties=NO_PROPS):
        """filters: [(filter, options byte)]. Returns the SUBACK."""
        pid = self.packet_id()
        body = struct.pack('!H', pid) + properties
        for f, options in filters:
            body += utf8(f) + bytes([options])
        self.send(frame(0x82, body))
        return self.expect(SUBACK)

    def disconnect(self, reason=0, properties=NO_PROPS):
        """Send DISCONNECT and wait until the broker closes the socket: then it has handled it."""
        try:
            self.send(frame(0xE0, bytes([reason]) + properties))
            self.closed_with()
        except (OSError, TimeoutError):
            pass
        self.close()

    def ping(self):
        self.send(b'\xc0\x00')

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no packet from the broker in time')
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError('no packet from the broker in time')
            except ConnectionResetError:
                raise Closed('connection reset')
            if not chunk:
                raise Closed('connection closed')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        first = self._read(1, deadline)[0]
        mult, length = 1, 0
        while True:
            b = self._read(1, deadline)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return Packet(first >> 4, first & 0x0F, self._read(length, deadline))

    def expect(self, kind, timeout=None, skip=()):
        """The next packet, which must be `kind` (packets whose kind is in `skip` are passed over)."""
        while True:
            p = self.recv(timeout)
            if p.kind in skip:
                continue
            if p.kind != kind:
                raise AssertionError(f'expected {NAMES[kind]}, got {p!r}')
            return p

    def closed_with(self, timeout=None):
        """Read until the broker closes: the DISCONNECT it sent first (or None), and the packets before it."""
        seen = []
        disconnect = None
        try:
            while True:
                p = self.recv(timeout)
                if p.kind == DISCONNECT:
                    disconnect = p
                else:
                    seen.append(p)
        except Closed:
            return disconnect, seen
