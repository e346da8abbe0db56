#!/usr/bin/env python3
"""Memory a wine-server holds under issue 12's slow clients, on loopback.

    python3 tests/hostile/memory_probe.py slowloris --pid PID --port PORT
    python3 tests/hostile/memory_probe.py stalled --pid PID --port PORT

slowloris: 3,000 connections send a partial request head, one byte every 5 s,
for 60 s. stalled: 1,000 connections send a 1 MiB request's head and 1 MiB - 1
of its body as fast as the server takes it, then stall for 60 s. Prints the
server's resident set (VmRSS) idle, at its peak, when the clients have left
and 11 s later (the server looks every 10 s whether it holds freed memory to
return: src/server/memory.rs), and how many connections the server closed
itself. Figures, not assertions: tests/hostile.rs checks the behaviour, and
README.md ("Memory after hostile clients") records the figures. Needs
`ulimit -n` above the connection count. Bounded: every phase has a fixed
duration.
"""

import argparse
import asyncio
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def slowloris(port, closed):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1 << 16), 5) == b"":
                    closed.append(1)
                    return
            except asyncio.TimeoutError:
                pass
    except ConnectionError:
        closed.append(1)
    finally:
        writer.close()


async def stalled(port, closed, body=1 << 20):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {body}\r\n\r\n".encode()
        + b" " * (body - 1)
    )
    try:
        # Never drained on purpose: what the server does not read waits here.
        while await reader.read(1 << 16):
            pass
        closed.append(1)
    except ConnectionError:
        closed.append(1)
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("probe", choices=["slowloris", "stalled"])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds")
    args = parser.parse_args()
    count, client = {"slowloris": (3000, slowloris), "stalled": (1000, stalled)}[args.probe]

    idle = rss_kib(args.pid)
    closed = []
    tasks = [asyncio.create_task(client(args.port, closed)) for _ in range(count)]
    peak, started = idle, time.monotonic()
    while time.monotonic() - started < args.hold:
        await asyncio.sleep(1)
        peak = max(peak, rss_kib(args.pid))
    closed_by_server = len(closed)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1)
    left = rss_kib(args.pid)
    await asyncio.sleep(10)
    later = rss_kib(args.pid)
    print(
        f"{args.probe}: {count} connections for {args.hold:.0f} s; "
        f"closed by the server: {closed_by_server}; RSS idle {idle / 1024:.1f} MB, "
        f"peak {peak / 1024:.1f} MB, clients gone {left / 1024:.1f} MB, "
        f"11 s later {later / 1024:.1f} MB"
    )


asyncio.run(main())
