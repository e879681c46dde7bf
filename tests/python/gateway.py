"""The real SwimOS Python client against one member of a plane of tidal servers.

Usage: gateway.py HOST NODE...

For each node, owned by another member than HOST:
- a counter (`/counter/:id`, a value lane `total` and a command lane `add`): a value downlink
  through HOST syncs with the counter's current total, a command `add 5` sent to HOST comes
  back as `did_set(total + 5, total)`, exactly as it would at the owner;
- an agent with lanes of every kind (`/kinds/:id`, see `tests/support/plane.rs`): a map
  downlink through HOST to its map lane gets every entry of a burst of 10 commands
  (`drive n` puts `k<n> -> n`), not only the last.
Prints `ok <node>` per node, or `FAIL <node>: <why>` and exits 1. A watchdog ends it after
60 s.

Each node gets a client of its own, and no downlink is closed: with swimos 1.6.0a0 only a
client's first downlink is usable through `get`, and the server's answer to a downlink's
`close()` (`@unlinked` with the body "Link closed.") kills the client's reader, and with it
every other downlink of the client (see the quirks in `interop.py`).
"""

import os
import sys
import threading

from swimos import SwimClient
from swimos.client import IntervalStrategy

HOST = sys.argv[1]
NODES = sys.argv[2:]
WAIT = 20


def watchdog():
    print("FAIL watchdog: still running after 60 s", flush=True)
    os._exit(2)


def check(client, node):
    synced = threading.Event()
    seen = []
    changed = threading.Condition()

    def did_set(new, old):
        with changed:
            seen.append((new, old))
            changed.notify_all()

    downlink = client.downlink_value()
    downlink.set_host_uri(HOST).set_node_uri(node).set_lane_uri("total")
    downlink.did_sync(synced.set)
    downlink.did_set(did_set)
    downlink.open()
    if not synced.wait(WAIT):
        return "no did_sync through the gateway"
    total = downlink.get()
    if not isinstance(total, int):
        return f"the synced total is {total!r}, not a number"
    client.command(HOST, node, "add", 5)
    with changed:
        if not changed.wait_for(lambda: (total + 5, total) in seen, WAIT):
            return f"no did_set({total + 5}, {total}) after add 5; saw {seen}"
    if downlink.get() != total + 5:
        return f"get() is {downlink.get()!r} after did_set({total + 5}, {total})"
    return None


def check_map(client, node):
    synced = threading.Event()
    changed = threading.Condition()
    updates = []

    def did_update(key, new, old):
        with changed:
            updates.append((key, new))
            changed.notify_all()

    downlink = client.downlink_map()
    downlink.set_host_uri(HOST).set_node_uri(node).set_lane_uri("map")
    downlink.did_sync(synced.set)
    downlink.did_update(did_update)
    downlink.open()
    if not synced.wait(WAIT):
        return "no did_sync of the map lane through the gateway"
    for n in range(1, 11):
        client.command(HOST, node, "drive", n)
    expected = [(f"k{n}", n) for n in range(1, 11)]
    with changed:
        if not changed.wait_for(lambda: all(u in updates for u in expected), WAIT):
            return f"did_update calls through the gateway: {updates}, expected {expected}"
    entries = sorted(downlink.get_all() or [], key=lambda entry: int(entry[0][1:]))
    if entries != expected:
        return f"get_all() is {entries}, expected {expected}"
    return None


def main():
    timer = threading.Timer(60, watchdog)
    timer.daemon = True
    timer.start()
    failed = False
    for node in NODES:
        with SwimClient(retry_strategy=IntervalStrategy(retries_limit=2, delay=1)) as client:
            why = check_map(client, node) if node.startswith("/kinds/") else check(client, node)
        if why is None:
            print(f"ok {node}", flush=True)
        else:
            failed = True
            print(f"FAIL {node}: {why}", flush=True)
    sys.exit(1 if failed else 0)


main()
