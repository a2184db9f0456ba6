#!/usr/bin/env python3
"""A plain upload server, the reference `loadgen upload` measures handin against.

What a programmer would write with the standard library alone: TLS 1.3 with a client
certificate required (the same certificates as handin's lab), a size as 8 bytes big-endian,
then the bytes, written to a file as they arrive; "OK" once the last one is written. It does
less than Blackboard: no framing, no SHA-256, no fdatasync (the file is only in the page
cache when it answers), no database, no receipt.

Usage: upload_server.py CERT KEY CA OUT_DIR CONNECTIONS
Prints the port it listens on (127.0.0.1), then serves CONNECTIONS uploads one after another.
"""

import os
import socket
import ssl
import sys

CHUNK = 1 << 20


def serve_one(tls_sock, out_path):
    header = b""
    while len(header) < 8:
        part = tls_sock.recv(8 - len(header))
        if not part:
            raise EOFError("the client closed before the size")
        header += part
    size = int.from_bytes(header, "big")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    left = size
    with open(out_path, "wb") as out:
        while left > 0:
            n = tls_sock.recv_into(view, min(CHUNK, left))
            if n == 0:
                raise EOFError(f"the client closed with {left} bytes left")
            out.write(view[:n])
            left -= n
    tls_sock.sendall(b"OK\n")


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cert, key, ca, out_dir, connections = sys.argv[1:]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        print(listener.getsockname()[1], flush=True)
        for i in range(int(connections)):
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls_sock:
                serve_one(tls_sock, os.path.join(out_dir, f"python-upload-{i}.bin"))


if __name__ == "__main__":
    main()
