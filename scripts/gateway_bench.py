#!/usr/bin/env python3
"""Drives a scanner socket with concurrent requests and prints one JSON line
of requests/s and latency percentiles. Protocols: clamd's INSTREAM (Unix
socket or TCP; pugmark serve and clamd itself alike) and ICAP REQMOD
(pugmark serve). Every request opens its own connection for INSTREAM (as
clamdscan does) and reuses one per client for ICAP (as Squid does).

    gateway_bench.py MODE ADDR FILE CONCURRENCY REQUESTS

MODE: instream-unix (ADDR a socket path), instream-tcp or icap (ADDR
host:port). REQUESTS is the total, spread over CONCURRENCY threads.
"""

import json
import socket
import struct
import sys
import threading
import time


def instream_request(data):
    parts = [b"zINSTREAM\0"]
    for at in range(0, len(data), 64 * 1024):
        chunk = data[at:at + 64 * 1024]
        parts.append(struct.pack(">I", len(chunk)))
        parts.append(chunk)
    parts.append(b"\0\0\0\0")
    return b"".join(parts)


def icap_request(data):
    http = b"PUT /upload/item HTTP/1.1\r\nHost: example.org\r\n\r\n"
    head = (
        "REQMOD icap://127.0.0.1/pugmark ICAP/1.0\r\nHost: bench\r\nAllow: 204\r\n"
        "Encapsulated: req-hdr=0, req-body=%d\r\n\r\n" % len(http)
    ).encode()
    parts = [head, http]
    for at in range(0, len(data), 64 * 1024):
        chunk = data[at:at + 64 * 1024]
        parts.append(b"%x\r\n" % len(chunk))
        parts.append(chunk)
        parts.append(b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def connect(mode, addr):
    if mode == "instream-unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(300)
    return s


def read_icap_response(f):
    """Reads one ICAP response from a file object; returns its status."""
    status = f.readline().decode().strip()
    encapsulated = ""
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"encapsulated:"):
            encapsulated = line.split(b":", 1)[1].decode().strip()
    if "res-body=" in encapsulated:
        f.read(int(encapsulated.split("res-body=")[1].split(",")[0]))
        while True:
            size = int(f.readline().split(b";")[0], 16)
            f.read(size + 2)
            if size == 0:
                break
    return status


def main():
    mode, addr, path, concurrency, total = sys.argv[1:6]
    concurrency, total = int(concurrency), int(total)
    data = open(path, "rb").read()
    request = icap_request(data) if mode == "icap" else instream_request(data)
    latencies = []
    answers = {}
    lock = threading.Lock()
    per_client = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]

    def client(n):
        mine = []
        seen = {}
        conn = connect(mode, addr) if mode == "icap" else None
        reader = conn.makefile("rb") if conn else None
        for _ in range(n):
            t0 = time.perf_counter()
            if mode == "icap":
                conn.sendall(request)
                answer = read_icap_response(reader)
            else:
                s = connect(mode, addr)
                s.sendall(request)
                out = b""
                while True:
                    got = s.recv(65536)
                    if not got:
                        break
                    out += got
                s.close()
                answer = out.rstrip(b"\0\n").decode(errors="replace").split(": ", 1)[-1]
            mine.append(time.perf_counter() - t0)
            seen[answer] = seen.get(answer, 0) + 1
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                answers[k] = answers.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    print(json.dumps({
        "mode": mode, "file": path, "bytes": len(data), "concurrency": concurrency,
        "requests": len(latencies), "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1), "p50_ms": pct(50), "p99_ms": pct(99),
        "answers": answers,
    }))


if __name__ == "__main__":
    main()
