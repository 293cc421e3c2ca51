#!/usr/bin/env python3
"""Self time per operator in a Chrome trace from `cyclegan_bench train --profile FILE`.

A trace event's self time is its duration minus that of the events nested directly inside it on
the same thread, so the column adds up to the profiled step's time.

    /usr/bin/python3 bench/profile_summary.py trace.json [--top 25]
"""
import argparse
import collections
import json


def self_times(events):
    by_thread = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X":
            by_thread[event["tid"]].append(event)
    totals = collections.defaultdict(lambda: [0.0, 0])  # name -> [self microseconds, calls]
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(until):
            while stack and stack[-1][0] <= until:
                end, name, children, start = stack.pop()
                totals[name][0] += (end - start) - children
                totals[name][1] += 1
                if stack:
                    stack[-1][2] += end - start
        for event in thread_events:
            close(event["ts"])
            stack.append([event["ts"] + event["dur"], event["name"], 0.0, event["ts"]])
        close(float("inf"))
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    with open(options.trace) as f:
        totals = self_times(json.load(f))
    overall = sum(t for t, _ in totals.values())
    print("%-60s %10s %6s %7s" % ("operator", "self ms", "%", "calls"))
    for name, (micros, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:options.top]:
        print("%-60s %10.1f %5.1f%% %7d" % (name[:60], micros / 1e3, 100 * micros / overall, calls))
    print("%-60s %10.1f" % ("total", overall / 1e3))


if __name__ == "__main__":
    main()
