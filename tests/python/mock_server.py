"""A tiny stand-in WARP server, for checking `interop.py` itself without a tidal server.

    .venv/bin/python tests/python/mock_server.py [PORT]     # prints "listening ws://127.0.0.1:PORT"

It serves the agents `interop.py` expects at `/unit/:id` (a value lane `value`, a map lane
`map`, a command lane `add` whose command n sets `value` to n and `map` key `k<n>` to n) and
answers as swim-rust 0.1.1 does in `shared/reference/warp.md` sections 2.3 and 3: `@linked`
(once per link), state `@event`s then `@synced` for a sync, `@nodeNotFound`/`@laneNotFound`,
commands to unknown targets dropped. It is a test double written from that description, not a
reference implementation: a check that passes here and fails against tidal points at tidal or at
the description, and is worth a look either way.

Only `websockets` (installed with swimos) and the swimos Recon parser are used.
"""

import asyncio
import re
import sys

from swimos.recon import Recon
from swimos.structures import Text
from websockets.asyncio.server import serve

NODE = re.compile(r"^/unit/[^/]+$")
LANES = ("value", "map", "add")
HEADER = re.compile(r"^@(\w+)\(([^)]*)\)\s*(.*)$", re.S)
SLOT = re.compile(r'\s*(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*,?')


class Agent:
    def __init__(self):
        self.value = 0
        self.map = {}
        self.links = {lane: set() for lane in LANES}


agents = {}


def quote(uri):
    return '"' + uri.replace("\\", "\\\\").replace('"', '\\"') + '"'


def recon_text(s):
    return Recon.to_string(Text.create_from(s))


async def fan_out(agent, node, lane, body):
    line = f"@event(node:{quote(node)},lane:{lane}){body}"
    for ws in list(agent.links[lane]):
        try:
            await ws.send(line)
        except Exception:
            agent.links[lane].discard(ws)


async def set_value(agent, node, n):
    agent.value = n
    await fan_out(agent, node, "value", f" {n}")


async def update(agent, node, key, n):
    agent.map[key] = n
    await fan_out(agent, node, "map", f"@update(key:{recon_text(key)}) {n}")


async def handle(ws):
    async for text in ws:
        m = HEADER.match(text)
        if not m:
            await ws.close(1002, "Expected a valid Warp envelope.")
            return
        tag, header, body = m.groups()
        slots = {k: v.strip('"') for k, v in SLOT.findall(header)}
        node, lane = slots.get("node"), slots.get("lane")
        head = f"(node:{quote(node)},lane:{lane})"
        known = bool(NODE.match(node or ""))
        if tag in ("link", "sync", "unlink"):
            if not known:
                await ws.send(f"@unlinked{head}@nodeNotFound")
                continue
            if lane not in LANES:
                await ws.send(f"@unlinked{head}@laneNotFound")
                continue
            agent = agents.setdefault(node, Agent())
            if tag == "unlink":
                if ws in agent.links[lane]:
                    agent.links[lane].discard(ws)
                    await ws.send(f'@unlinked{head} "Link closed."')
                continue
            if ws not in agent.links[lane]:
                agent.links[lane].add(ws)
                await ws.send(f"@linked{head}")
            if tag == "sync":
                if lane == "value":
                    await ws.send(f"@event{head} {agent.value}")
                elif lane == "map":
                    for k, v in agent.map.items():
                        await ws.send(f"@event{head}@update(key:{recon_text(k)}) {v}")
                await ws.send(f"@synced{head}")
        elif tag == "command":
            if not known or lane not in LANES:
                continue  # dropped silently, as swim-rust does
            agent = agents.setdefault(node, Agent())
            value = Recon.parse(body) if body else None
            if lane == "add" and isinstance(getattr(value, "value", None), int):
                n = value.value
                await fan_out(agent, node, "add", f" {n}")
                await update(agent, node, f"k{n}", n)
                await set_value(agent, node, n)
            elif lane == "value" and isinstance(getattr(value, "value", None), int):
                await set_value(agent, node, value.value)
            elif lane == "map" and getattr(value, "_tag", None) in ("update", "remove"):
                key = value._get_head().value._get_head().value.value
                if value._tag == "update":
                    await update(agent, node, key, value.get_body().value)
                elif key in agent.map:
                    del agent.map[key]
                    await fan_out(agent, node, "map", f"@remove(key:{recon_text(key)})")
        # other tags (auth, deauth, ...) are ignored


async def main(port):
    # Like swim-rust with WS_NO_SUBPROTOCOL_CHECK: accept no subprotocol, echo warp0 if offered.
    async with serve(
        handle,
        "127.0.0.1",
        port,
        subprotocols=["warp0"],
        select_subprotocol=lambda conn, offered: "warp0" if "warp0" in offered else None,
        compression=None,
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening ws://127.0.0.1:{bound}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
