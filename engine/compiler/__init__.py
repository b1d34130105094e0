"""Compile a validated topology into a Bytewax dataflow.

Each source becomes ``input`` + a ``<source>:decode`` step; each YAML step one nested Bytewax
operator named by its id (but a filter read by one map alone, which runs inside the map's:
engine/compiler/fused.py); each sink an ``output`` named ``sink:<name>``; every step's dead
letters are merged into the topology's dead-letter sink.

:class:`CompileOptions` change the compiled flow without changing the topology: *taps* see
the batches leaving a step (``velocity-flow tap``, ``velocity-flow test``), and a connector
builder swaps sources and sinks (in-memory ones for tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, cast

from bytewax.dataflow import Dataflow, Stream

from engine.binding.model import StepSpec, Topology
from engine.compiler.bytewax_checks import fast_protocol_checks
from engine.compiler.connectors import Build, attach_gauges, declared, keep_thread_states, watch_epochs
from engine.compiler.fused import filter_then_map, fusable
from engine.compiler.ownership import Ownership
from engine.compiler.sinks import wire_dead_letter_sink, wire_sink
from engine.compiler.steps import batch_step, counted, merged, route_output
from engine.connectors.lazy_operators import op
from engine.frozen import Frozen, set_fields
from engine.metrics import MetricsRegistry
from engine.operators.boundary import guard, raw_values
from engine.operators.contract import StatelessOperator
from engine.operators.decode import Decode
from engine.operators.filter import Filter
from engine.operators.map import Map

if TYPE_CHECKING:
    from engine.operators.joins.base import TwoInputStep
    from engine.operators.keyed import KeyedStep

DEAD_LETTER_STEP = "dead_letter"
Tap = Callable[[List[Any]], None]


class CompileOptions(Frozen):  # a frozen record (engine/frozen.py): no dataclass made at import
    """``taps``: where -> a function called with every batch leaving it, where is a source or
    step id, ``step.output`` of a routing step, ``sink:<name>`` (the events a sink gets) or
    ``dead_letter`` (dead-letter records); ``build``: ``(role, spec, counters) -> connector``
    in place of the declared class (``engine.compiler.connectors.declared``)."""

    __slots__ = ("taps", "build")
    taps: Mapping[str, Tap]
    build: Build

    def __init__(self, taps: Optional[Mapping[str, Tap]] = None, build: Build = declared) -> None:
        set_fields(self, {} if taps is None else taps, build)


class _Wiring:
    def __init__(self, topology: Topology, metrics: MetricsRegistry, options: CompileOptions) -> None:
        self.topology = topology
        self.metrics = metrics
        self.options = options
        self.flow = Dataflow(topology.name)
        self.streams: Dict[str, Stream] = {}
        self.routed: Dict[str, Stream] = {}
        self.dead: List[Stream] = []
        self.tapped: Dict[str, Stream] = {}  # what taps may see besides sources and steps
        self.ownership = Ownership(topology, options.taps)

    def stream(self, ref: str) -> Stream:
        base, _, output = ref.partition(".")
        if output:
            key = f"{base}:{output}"
            if key not in self.streams:
                self.streams[key] = route_output(base, self.routed[base], output)
            return self.streams[key]
        return self.streams[base]

    def inputs(self, step_id: str, refs: List[str]) -> Stream:
        return merged(step_id, [self.stream(r) for r in refs])

    def sources(self) -> None:
        for name, spec in self.topology.sources.items():
            counters = self.metrics.step(name)
            source = self.options.build("source", spec, None)
            attach_gauges(source, self.metrics.gauges(name))
            watch_epochs(source, self.metrics.gauges(name))
            keep_thread_states(source)
            raw = op.input(name, self.flow, source)
            decode = Decode(name, spec.event_schema, spec.options.get("format", "json"))
            step_id = f"{name}:decode"
            out = batch_step(step_id, raw, counted(guard(step_id, decode.process, raw_values), counters, _raw_size))
            self.streams[name] = out.ok
            self.dead.append(out.dead)

    def step(self, spec: StepSpec) -> None:
        """Wire one step the way its operator's ``kind`` asks (engine/operators/contract.py)."""
        wire = {"stateless": self._stateless, "route": self._route, "union": self._union, "keyed": self._keyed,
                "join": self._join}
        up = self.inputs(spec.id, list(spec.definition.main_inputs))
        ok, dead = wire[spec.operator.kind](spec, up, self.metrics.step(spec.id))
        if dead is not None:
            self.dead.append(dead)
        (self.routed if spec.operator.kind == "route" else self.streams)[spec.id] = ok

    def fused(self, first: StepSpec, then: StepSpec) -> bool:
        """Wire a filter and the map it alone feeds as one step (engine/compiler/fused.py), if so."""
        if not fusable(first, then, self.ownership.readers(first.id)):
            return False
        up = self.inputs(first.id, list(first.definition.main_inputs))
        owned = self.ownership.owns_input(first)
        work = filter_then_map(cast(Filter, first.operator), cast(Map, then.operator), self.metrics.step(first.id),
                               self.metrics.step(then.id))
        out = batch_step(then.id, up, work)
        self.ownership.wired(first, owned)
        self.ownership.wired(then, False)
        self.dead.append(out.dead)
        self.streams[then.id] = out.ok
        return True

    def _stateless(self, spec: StepSpec, up: Stream, counters) -> Tuple[Stream, Stream]:
        operator = cast(StatelessOperator, spec.operator)
        owned = self.ownership.owns_input(spec)
        process = getattr(operator, "process_owned", operator.process) if owned else operator.process
        if owned and self.ownership.owns_whole(spec):
            process = getattr(operator, "process_owned_whole", process)
        work = guard(spec.id, process, expands=getattr(operator, "expands", False))
        out = batch_step(spec.id, up, counted(work, counters))
        self.ownership.wired(spec, owned)
        return out.ok, out.dead

    _route = _stateless  # the same wiring: its events are {output: events}, split by route_output

    def _union(self, spec: StepSpec, up: Stream, counters) -> Tuple[Stream, None]:
        # merged by inputs(); counted here so the live view shows the step
        return batch_step(spec.id, up, counted(_pass_through, counters)).ok, None

    # engine.compiler.keyed and .joins (each a Bytewax @operator, whose making generates a dataclass,
    # and their operators' modules): imported by a topology that has such a step, ~10M instructions
    def _keyed(self, spec: StepSpec, up: Stream, counters) -> Tuple[Stream, Stream]:
        from engine.compiler.keyed import build_keyed

        owned = self.ownership.owns_input(spec)  # (the step's group_events_owned, if it has one)
        if owned:
            self.ownership.link_compact(spec)
        self.ownership.wired(spec, owned)
        return build_keyed(spec.id, up, cast("KeyedStep", spec.operator), counters, owned)

    def _join(self, spec: StepSpec, up: Stream, counters) -> Tuple[Stream, Stream]:
        from engine.compiler.joins import build_join

        joined = cast("TwoInputStep", spec.operator)
        side = self.stream(dict(spec.definition.sides)[joined.side])
        return build_join(spec.id, up, side, joined, counters)

    def sinks(self) -> None:
        for name, spec in self.topology.sinks.items():
            up = self.inputs(f"sink:{name}", spec.inputs)
            if spec.envelope is not None:
                step_id = f"sink:{name}:envelope"
                envelope = batch_step(step_id, up, counted(guard(step_id, spec.envelope.process), None))
                up = envelope.ok
                self.dead.append(envelope.dead)
            self.tapped[f"sink:{name}"] = up
            wire_sink(name, spec, up, self.metrics.step(f"sink:{name}"), self.dead, self.options.build,
                      self.metrics.gauges(f"sink:{name}"))
        dead = op.merge(f"{DEAD_LETTER_STEP}:merge", *self.dead) if len(self.dead) > 1 else self.dead[0]
        self.tapped[DEAD_LETTER_STEP] = dead
        wire_dead_letter_sink(DEAD_LETTER_STEP, self.topology.dead_letter, dead, self.metrics.step(DEAD_LETTER_STEP),
                              self.options.build)

    def taps(self) -> None:
        for where, tap in self.options.taps.items():
            stream = self.tapped[where] if where in self.tapped else self.stream(where)
            op.inspect("tap:" + where.replace(".", ":"), stream, _tapping(tap))  # Bytewax ids have no dots


def _tapping(tap: Tap) -> Callable[[str, List[Any]], None]:
    def inspect(_step_id: str, batch: List[Any]) -> None:
        tap(batch)

    return inspect


def _pass_through(batch: list):
    return batch, []


def _raw_size(raw) -> int:
    return len(raw.values)


def compile_topology(topology: Topology, metrics: Optional[MetricsRegistry] = None,
                     options: Optional[CompileOptions] = None) -> Dataflow:
    """The Bytewax dataflow of a validated topology; counters land in ``metrics``."""
    fast_protocol_checks()  # ~57% of compiling, else (engine/compiler/bytewax_checks.py)
    wiring = _Wiring(topology, metrics or MetricsRegistry(), options or CompileOptions())
    wiring.sources()
    steps = topology.steps
    index = 0
    while index < len(steps):
        if index + 1 < len(steps) and wiring.fused(steps[index], steps[index + 1]):
            index += 2
            continue
        wiring.step(steps[index])
        index += 1
    wiring.sinks()
    wiring.taps()
    return wiring.flow
