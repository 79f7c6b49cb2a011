"""The bare clamd baseline's client: INSTREAM with almost no client-side work.

Usage: python3 bare-clamd.py HOST PORT PARALLEL FILE...

Each file goes to clamd on its own connection, PARALLEL at a time (threads), as
INSTREAM frames of 1 MiB whose bytes the kernel copies from the page cache
straight to the socket (sendfile): no bytes pass through this process. Prints
one line of JSON: every verdict, in the order of the files, and this process's
own CPU time (user + system, all threads), which the benchmark reports apart.
"""

import json
import os
import socket
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

FRAME = 1024 * 1024


def scan(host, port, path):
    with socket.create_connection((host, port)) as sock, open(path, "rb") as source:
        sock.sendall(b"zINSTREAM\0")
        size = os.fstat(source.fileno()).st_size
        offset = 0
        while offset < size:
            length = min(FRAME, size - offset)
            sock.sendall(struct.pack(">I", length))
            while length > 0:
                sent = os.sendfile(sock.fileno(), source.fileno(), offset, length)
                offset += sent
                length -= sent
        sock.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.rstrip(b"\0").decode("utf-8", "replace")


def main():
    host, port, parallel, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        verdicts = list(pool.map(lambda path: scan(host, port, path), paths))
    times = os.times()
    print(json.dumps({"verdicts": verdicts, "cpuSeconds": times.user + times.system}))


main()
