"""
What a case gets: the broker's address, a topic prefix and client ids unique
to this run, and peers (paho-mqtt) and wires (raw sockets) that are closed
when the case ends, whatever happened.
"""
import uuid

from peer import Peer
from wire import Wire


class Skip(Exception):
    """Not a failure: the broker legitimately leaves this optional behaviour out."""


class Context:
    def __init__(self, host, port, case, run_id, timeout=5.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.case = case
        self.prefix = f'conf5/{run_id}/{case}/'
        self._ids = 0
        self._open = []

    def topic(self, name):
        return self.prefix + name

    def cid(self, name):
        self._ids += 1
        return f'c5-{self.case[:20]}-{name}-{uuid.uuid4().hex[:6]}'

    def peer(self, name='p', client_id=None):
        p = Peer(self.host, self.port, self.cid(name) if client_id is None else client_id, self.timeout)
        self._open.append(p)
        return p

    def wire(self):
        w = Wire(self.host, self.port, self.timeout)
        self._open.append(w)
        return w

    def close(self):
        for o in reversed(self._open):
            try:
                if isinstance(o, Peer):
                    o.disconnect() if not o.ended and o.connack is not None else o.client.loop_stop()
                else:
                    o.close()
            except Exception:
                pass
        self._open = []


def check(condition, message):
    if not condition:
        raise AssertionError(message)
