"""
Runs the MQTT 5 conformance cases against one broker:

    python3 test/conformance5/run.py --host 127.0.0.1 --port 1883 [--only a,b] [--timeout 20] [--jobs 4]

One line per case (PASS, FAIL with the reason, or SKIP), then one line
`SUMMARY {json}` with every case's status, reason and seconds. Each case runs
in its own thread under a deadline: a hang is a FAIL, never a stall. Cases
use their own topics and client ids, so several run at once (--jobs).
"""
import argparse
import json
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
sys.path.insert(0, __file__.rsplit('/', 1)[0])

import cases_core  # noqa: E402
import cases_limits  # noqa: E402
import cases_v5  # noqa: E402
from context import Context, Skip  # noqa: E402

ALL = cases_core.CASES + cases_v5.CASES + cases_limits.CASES
OPTIONAL = cases_limits.OPTIONAL


def run_case(fn, args, run_id):
    ctx = Context(args.host, args.port, fn.__name__, run_id, timeout=args.packet_timeout)
    outcome = {}

    def body():
        try:
            fn(ctx)
            outcome['status'] = 'PASS'
        except Skip as e:
            outcome.update(status='SKIP', reason=str(e))
        except AssertionError as e:
            outcome.update(status='FAIL', reason=str(e) or 'assertion failed')
        except Exception as e:  # a broken socket, a refused connection: the broker's doing
            outcome.update(status='FAIL', reason=f'{type(e).__name__}: {e}')
            if args.verbose:
                traceback.print_exc()

    start = time.monotonic()
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(args.timeout)
    if t.is_alive():
        outcome = {'status': 'FAIL', 'reason': f'timed out after {args.timeout} s'}
    ctx.close()
    outcome['seconds'] = round(time.monotonic() - start, 2)
    if fn.__name__ in OPTIONAL:
        outcome['optional'] = True
    return fn.__name__, outcome


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=1883)
    ap.add_argument('--only', default='')
    ap.add_argument('--timeout', type=float, default=20.0, help='seconds per case')
    ap.add_argument('--packet-timeout', type=float, default=6.0, help='seconds to wait for one expected packet')
    ap.add_argument('--jobs', type=int, default=4)
    ap.add_argument('--label', default='')
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args()
    only = {n for n in args.only.split(',') if n}
    cases = [c for c in ALL if not only or c.__name__ in only]
    run_id = uuid.uuid4().hex[:8]
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, outcome in pool.map(lambda c: run_case(c, args, run_id), cases):
            results[name] = outcome
            line = f"{outcome['status']:4}  {name}"
            if 'reason' in outcome:
                line += f": {outcome['reason']}"
            print(line, flush=True)
    counts = {s: sum(1 for r in results.values() if r['status'] == s) for s in ('PASS', 'FAIL', 'SKIP')}
    print('SUMMARY ' + json.dumps({'label': args.label, 'host': args.host, 'port': args.port, 'counts': counts, 'cases': results}), flush=True)
    # Exit 0 even with failures: comparing brokers is the caller's business.


if __name__ == '__main__':
    main()
