"""'Did you mean ...?' suggestions for misspelt names."""

from __future__ import annotations

from typing import Iterable, Optional


def did_you_mean(word: str, choices: Iterable[str]) -> Optional[str]:
    import difflib  # here: only a topology with a misspelling needs it (~2.5M instructions at start)

    match = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
