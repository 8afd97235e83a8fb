#!/usr/bin/env python3
"""Commit on one fleet instance -> visible on another, under a paced background write load.

Each sample: POST a user on instance A (HTTP keep-alive) and take its Roster-Revision R; as soon as
the 201 is read, ask instance B's socket for a Check with min_revision R. The time from A's answer
to B's answer is what a caller doing read-your-writes across hosts waits. Meanwhile background
threads create users on instance C at --rate writes/s in total (paced, not flat out).

Usage: fleet-visibility.py --scim-a URL --scim-c URL --token T --socket-b PATH --directory ID
                           [--samples 2000] [--rate 500]
Prints one JSON object: {"samples", "p50_ms", "p99_ms", "max_ms", "background_writes_per_s"}.
"""
import argparse, http.client, json, os, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python"))
from roster_client import RosterClient  # noqa: E402


def connect(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30), parts.path


def create(conn, path, token, name):
    body = json.dumps({"userName": name, "active": True})
    conn.request("POST", path + "/Users", body, {"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/scim+json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 201:
        raise RuntimeError(f"POST {response.status}: {data[:200]!r}")
    return json.loads(data)["id"], int(response.getheader("Roster-Revision"))


def background(url, token, rate, stop, counter, index, threads):
    conn, path = connect(url)
    interval = threads / rate
    next_at = time.perf_counter()
    n = 0
    while not stop.is_set():
        create(conn, path, token, f"bg-{index}-{n}-{time.time_ns()}@bench.example")
        counter[index] += 1
        n += 1
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scim-a", required=True)
    parser.add_argument("--scim-c", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--socket-b", required=True)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    stop = threading.Event()
    counter = [0] * args.threads
    workers = [threading.Thread(target=background, args=(args.scim_c, args.token, args.rate, stop, counter, i, args.threads),
                                daemon=True) for i in range(args.threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    conn, path = connect(args.scim_a)
    lookup = RosterClient(args.socket_b, timeout=10)
    latencies = []
    for n in range(args.samples):
        user, revision = create(conn, path, args.token, f"vis-{n}-{time.time_ns()}@bench.example")
        acknowledged = time.perf_counter()
        answer = lookup.check(args.directory, user_id=user, group_id="00000000-0000-0000-0000-000000000000",
                              min_revision=revision)
        latencies.append(time.perf_counter() - acknowledged)
        assert answer.revision >= revision
    elapsed = time.perf_counter() - started
    stop.set()
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)
    print(json.dumps({"samples": len(latencies), "p50_ms": pick(0.50), "p99_ms": pick(0.99),
                      "max_ms": round(latencies[-1] * 1000, 3),
                      "background_writes_per_s": round(sum(counter) / elapsed, 1)}))


if __name__ == "__main__":
    main()
