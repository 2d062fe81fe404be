#!/usr/bin/env python3
"""Run a start command and time until IP answers ICMP echo: prints milliseconds.

    ping-after-start.py IP TIMEOUT_S -- COMMAND...

Echo requests go out every 10 ms from the moment the command is spawned (raw socket,
so no ping process per try); the first reply ends the clock. Exit 1 on timeout or when
the command fails."""
import os, socket, struct, subprocess, sys, time

def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

ip, timeout = sys.argv[1], float(sys.argv[2])
cmd = sys.argv[sys.argv.index("--") + 1:]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.setblocking(False)
ident = os.getpid() & 0xFFFF
t0 = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seq = 0
while time.monotonic() - t0 < timeout:
    seq += 1
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + b"sysctr"), ident, seq) + b"sysctr"
    try:
        sock.sendto(pkt, (ip, 0))
    except OSError:
        pass
    end = time.monotonic() + 0.01
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(1500)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        ihl = (data[0] & 0xF) * 4
        typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if addr[0] == ip and typ == 0 and rid == ident:
            print("%.1f" % ((time.monotonic() - t0) * 1000))
            proc.wait()
            sys.exit(0 if proc.returncode == 0 else 1)
    if proc.poll() not in (None, 0):
        sys.exit(1)
proc.wait()
sys.exit(1)
