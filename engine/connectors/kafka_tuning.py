"""The Kafka source's timings and librdkafka settings, each with the measurement behind it
(engine/connectors/kafka.py uses them; a topology's ``settings`` override the librdkafka ones)."""

from datetime import timedelta

# A worker owns many partitions and polls them in turn: a poll must never block (a 5 ms wait
# per partition on a six-partition topic made the p99 latency seconds at 2000 tx/s). An empty
# partition sleeps a little instead, so an idle flow does not spin; 1 ms for its first empty polls
# after it delivered, when the fetcher is usually a moment behind a stream: with batches of 100 the
# Velocity domain drain stood idle 0.3-0.4 s of its ~2.3 s in 5 ms naps (1.67-1.79 s of wall instead).
POLL_WAIT = 0
IDLE_WAIT = timedelta(milliseconds=5)
CATCH_UP_WAIT, CATCH_UP_POLLS = timedelta(milliseconds=1), 10
# At the end of an epoch a Bytewax 0.21 source partition reads nothing until the whole dataflow
# is past it, and the operator activates it again at its next awake time, "now" after a batch
# with items: its worker steps without work until then. In a -p 2 cluster that wait is the other
# process's (its sink's epoch end included): counted under Valgrind, p2 executed 1.25-4.9x the
# instructions per event of two independent processes with 5 s epochs and 1.01x with an hour's;
# natively 1.26x its CPU (1.92x with 0.5 s epochs). So the batch a partition reads as its epoch
# is due to end asks to be woken after this nap instead (once per epoch: ~0.1% of a -p 1 flow's
# time at deploy's 5 s epochs). Counted with 10,000 events, p2/pair went from 5.41 [1.28..6.86]
# to 1.51 [1.32..1.78] and 1.56 [1.34..5.29]: the median, not every round (a partition whose last
# batch before the end misses the slack still spins); natively 1.92 -> 1.81, within the noise.
# (With the bench's pair made as busy as p2, 20,000 events: 1.035 [1.002..4.237] at 17:44, but 2.304
# [1.063..13.252] and 8.237 [1.870..9.017] on a new machine at 18:35-18:47: the workers step without
# work around the epochs' ends elsewhere than here, 3-31 ms waits measured after the snapshots.)
# EPOCH_END_SLACK: our clock reads an epoch's start a moment after Bytewax's, so the nap starts
# this early.
EPOCH_END_WAIT = timedelta(milliseconds=5)
EPOCH_END_SLACK = 0.002  # seconds
# Each partition has a consumer of its own, and librdkafka's defaults let each prefetch up to
# 64 MiB and 100,000 messages: with four partitions a flow held ~350 MiB in fetched messages it
# had not asked for yet. This keeps 2 MiB at most ahead per partition; 'settings' override it
# (8 MiB until 2026-12-02: bench/domain_cpu.py's drain peaked 20 MiB higher for the same CPU).
# Not queued.min.messages: at 10,000 the fetcher refilled too late and a 4-partition flow ran
# at half speed (41.8k vs 71-82k events/s, bench/kafka_throughput.py's topology, quiet box).
# batch_size moves few instructions (cachegrind: 500-2000 the same, 100 +3%) but cache misses: a batch
# walks every step before the next, and 500 events' objects outgrow a core's L2 (1 MiB L2 misses per
# 100k events: 25.8M at 1000, 23.4M at 500, 20.5M at 250); on this shared box the flow's CPU swung
# 5-14 us per event between runs of the same batches. At 100 the main thread took 0.76x the CPU of 500
# (8 pairs; 200: 1.11x, 50: 1.01x of 100), bench/kafka_throughput.py's topology 5.9-7.3 us (2026-12-03).
DEFAULT_BATCH = 100
# fetch.queue.backoff.ms: once a partition's queue is past that cap, librdkafka waits this long
# (1000 ms by default) before it fetches again; the flow drained its 8 MiB in far less and then
# idled, polling: a backlog drain of the Velocity domain flow took 10.0 s, half of it idle, and
# 5.3 s with 5 ms (bench/domain_cpu.py's drain, -7 us of CPU per message, median of 6 pairs).
PREFETCH = {"queued.max.messages.kbytes": 2048, "fetch.queue.backoff.ms": 5}
# tail: false ends a partition at librdkafka's end-of-partition event, which comes with the first
# fetch answered empty; the broker holds an empty fetch for fetch.wait.max.ms (500 ms): every
# bounded run waited half a second at the end, polling its partitions all along (an empty
# Velocity domain deploy: 0.88 -> 0.40 s of wall, 200 -> 190 ms of CPU, 5 runs each).
BOUNDED = {"fetch.wait.max.ms": 10}
# An offset to resume from (a recovery store's, a group's committed one) that the topic no longer
# holds (retention deleted it; the topic was recreated) is "out of range", and librdkafka then
# goes to auto.offset.reset, "latest" by default: everything still kept after it was skipped,
# silently. The earliest kept message is where nothing more is lost.
OUT_OF_RANGE = {"auto.offset.reset": "earliest"}
