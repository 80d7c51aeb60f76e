"""Every benchmark, each with its baseline in the same run: ``make bench``."""

from benchmarks import (
    api_calls,
    backfill,
    callback_ack,
    console_requests,
    event_hall,
    outbound_latency,
)

if __name__ == "__main__":
    callback_ack.report(callback_ack.run(300, 10), 300, 10)
    print()
    api_calls.report(api_calls.run(1000))
    print()
    outbound_latency.report(outbound_latency.run(100, 6))
    print()
    event_hall.report(event_hall.run(event_hall.Hall()))
    print()
    backfill.report(backfill.run(100_000, 150, kill_at_half=True), 150)
    print()
    console_requests.run(50, 10_000)
