"""Inline fast paths of the converters, for ``cast``'s generated batch loop.

``cast`` converts a batch in one generated loop (``engine/operators/cast.py``); a converter
called there costs a Python call and its general checks per field. For the common input of
each type (text of a plain number, ISO text with ``Z`` or an offset) this module gives an
expression over ``v`` that inlines the same work. Its contract, which the property tests
(tests/operators/test_cast_inline.py) check against the converters of ``engine/values.py``:

* when it gives a value, it is exactly what the converter gives;
* otherwise it calls the converter (``full``), or raises: the loop then redoes that event
  alone with the converters, which give the reason of a dead letter or, for text only they
  read (white space, a lower-case ``z``), the value.

The expressions come from the templates below and names made of numbers only (see
``engine/operators/codegen.py``), never from user text. Builtins are passed in under their own
names (``_int``, ``_str``): the generated code's globals are the expression namespace, where
``int`` is the expression function.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_UP,
    Clamped,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)
from typing import Any, Dict, Optional, Tuple

from engine.values import decimal_spec

# Python 3.11+ reads 'Z' in fromisoformat; before, the inline form would raise for most times
_ISO_READS_Z = sys.version_info >= (3, 11)


def inline(type_name: str, full: str, strict: bool = False) -> Optional[Tuple[str, Dict[str, Any]]]:
    """``(expression over v, names it uses)`` converting as the converter ``full`` does, or
    None when ``type_name`` has no inline form. ``strict``: for cast's strict loop, which any
    exception sends to the lenient one (so a value the form cannot take may raise)."""
    if type_name == "int":  # int() also reads '1_000', non-ASCII digits, booleans and floats;
        # for ASCII text without '_' the converter is int() itself (two tests: ~140 instructions
        # fewer than isdigit() and isascii())
        return (f"(_int(v) if v.__class__ is _str and v.isascii() and '_' not in v else {full}(v))",
                {"_int": int, "_str": str})
    if type_name == "timestamp" and _ISO_READS_Z:
        # fromisoformat reads the usual text in one C call; an aware time not in UTC, a naive
        # one, or anything not text goes to the converter (it converts or says why not)
        # (the converter reads a str subclass's text as fromisoformat does, and fromisoformat
        # raises for anything else: the strict loop needs no test of the type, ~115 instructions)
        # fromisoformat takes any character between the date and the time: a 'T' at [10] is the
        # usual text's (a text it reads as UTC has 12 characters at least: 'YYYYMMDDTHHZ'), and
        # any other goes to the converter, which refuses a digit or a letter there (values.py)
        test = "" if strict else "v.__class__ is _str and "
        return (f"(t if {test}(t := _iso(v)).tzinfo is _utc and v[10] == 'T' else {full}(v))",
                {"_iso": datetime.fromisoformat, "_utc": timezone.utc, "_str": str})
    spec = decimal_spec(type_name)
    if spec is not None:
        precision, scale = spec
        # quantize in a context of exactly `precision` digits signals (raises) when the value
        # does not fit decimal(p,s), as the converter refuses it; is_finite() is False for NaN,
        # which quantize passes through (half the cost of 'd == d'); _exact reads ASCII text
        # as Decimal() does but raises for '1_000' and white space, which Decimal() reads (and
        # non-ASCII digits, like Decimal(): hence isascii()). The context's own quantize (bound:
        # no method lookup; two positional arguments, no keywords to parse) is the same
        # operation as Decimal.quantize(q, None, context): ~230 instructions fewer. Text with
        # `scale` decimals is read in a context that makes its value the quantized one
        # (_in_scale): no quantize (~1,200 instructions) and no is_finite()
        quantum, quantize = f"_q{precision}_{scale}", f"_x{precision}_{scale}"
        names = {"_exact": _EXACT.create_decimal, "_str": str, quantum: Decimal(1).scaleb(-scale),
                 quantize: Context(prec=precision, rounding=ROUND_HALF_UP).quantize}
        quantized = f"(d := {quantize}(_exact(v), {quantum})).is_finite()"
        if 0 < scale < precision:  # text of exactly `scale` decimals (its usual form): read, not quantized
            read, test = f"_r{precision}_{scale}", _scale_digits(scale)
            names.update({read: _in_scale(precision, scale).create_decimal, "_len": len})
            quantized = f"({test} and (d := {read}(v)) is not None or {quantized})"
        return f"(d if v.__class__ is _str and v.isascii() and {quantized} else {full}(v))", names
    return None


def _scale_digits(scale: int) -> str:
    """A test of ASCII text: its last ``scale`` characters follow a point, so the number it
    reads (if any) has the exponent ``-scale``, or (``1.e5``, two characters at most) a
    positive one. Costs ~370 instructions, a third of the quantize it saves."""
    test = f"_len(v) > {scale} and v[{-scale - 1}] == '.'"
    # '1.e-5' for scale 3 ends with three characters after a point: longer tails must be digits
    return test if scale <= 2 else f"{test} and v[{-scale}:].isdigit()"


def _in_scale(precision: int, scale: int) -> Context:
    """A context whose ``create_decimal`` reads text of a number of exponent ``-scale`` or more
    exactly as the converter reads and quantizes it: ``clamp`` pads a larger exponent down to
    ``Emax - prec + 1 = -scale`` (``1.e5`` -> ``100000.00``); a number of more than ``precision``
    digits then has an adjusted exponent beyond ``Emax`` and overflows, as decimal(p,s)
    refuses it. Every other signal raises (none comes for such text, but nothing is rounded
    silently); only ``Clamped`` is allowed."""
    return Context(prec=precision, Emax=precision - scale - 1, Emin=MIN_EMIN, clamp=1, rounding=ROUND_HALF_UP,
                   traps=[InvalidOperation, Inexact, Rounded, Overflow, Underflow, Subnormal, DivisionByZero,
                          FloatOperation])


# Context.create_decimal reads text as Decimal() does, minus '_' and surrounding white space,
# and ~200 instructions cheaper (no keyword arguments to parse); here no digit is ever rounded
# and every signal (an exponent beyond the limits: inexact, clamped...) raises, as Decimal() does
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP,
                 traps=[InvalidOperation, Inexact, Rounded, Clamped, Overflow, Underflow, Subnormal,
                        DivisionByZero, FloatOperation])
