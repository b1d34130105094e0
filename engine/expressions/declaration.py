"""How a function of the expression language is declared (engine/expressions/functions.py
declares them all): its implementation, the types of its arguments, its result, its doc."""

from __future__ import annotations

from typing import Callable, Dict, FrozenSet, Optional, Tuple, Union

from engine.frozen import Frozen, set_fields

Kinds = Optional[FrozenSet[str]]  # the types an argument may have; None: any type


class Function(Frozen):  # a frozen record (engine/frozen.py)
    __slots__ = ("name", "impl", "params", "returns", "doc", "required", "variadic", "strict", "pure", "literal",
                 "method", "bind")
    name: str
    impl: Callable
    params: Tuple[Kinds, ...]
    returns: Union[str, Callable[[list], str]]
    doc: str
    required: Optional[int]  # fewer arguments than params are allowed down to this
    variadic: bool  # the last parameter repeats
    strict: bool
    pure: bool  # may be evaluated when the topology loads if all arguments are literals
    literal: Dict[int, Callable]  # arg index -> load-time check
    method: Optional[str]  # str method to call directly when the first argument is known to be str
    # When the last argument is a literal: bind(it) is made once at load time (a compiled
    # regular expression, an epoch converter) and called with the other arguments per event.
    bind: Optional[Callable]

    def __init__(self, name: str, impl: Callable, params: Tuple[Kinds, ...], returns: Union[str, Callable[[list], str]],
                 doc: str, required: Optional[int] = None, variadic: bool = False, strict: bool = True,
                 pure: bool = True, literal: Optional[Dict[int, Callable]] = None, method: Optional[str] = None,
                 bind: Optional[Callable] = None) -> None:
        set_fields(self, name, impl, params, returns, doc, required, variadic, strict, pure,
                   {} if literal is None else literal, method, bind)

    def result_type(self, arg_types: list) -> str:
        return self.returns(arg_types) if callable(self.returns) else self.returns
