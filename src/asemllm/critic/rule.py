"""A teacher's rule: one checkable claim, when it holds, how it is said and how it is recognised.

Shared by the teacher's core rules (`asemllm.critic.teacher`) and the rules each measurement family
brings with it (`asemllm.critic.measures.*`), with the helpers that word numbers the way a
photographer would say them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _num(x: float) -> str:
    return f"{x:g}"


def stops(x: float) -> str:
    """-2.1 -> '2 stops', 1.3 -> '1.5 stops', 0.9 -> '1 stop' (half-stop steps, never zero)."""
    r = max(0.5, round(abs(x) * 2) / 2)
    return "1 stop" if r == 1 else f"{_num(r)} stops"


def percent(x: float) -> str:
    """7.3 -> '7%', 0.4 -> 'under 1%', 37.6 -> '38%'."""
    return "under 1%" if x < 1 else f"{round(x)}%"


def degrees(x: float) -> str:
    """4.2 -> '4 degrees', 1.7 -> '1.5 degrees' (half degrees below 3, whole above)."""
    x = abs(x)
    r = max(0.5, round(x * 2) / 2) if x < 3 else round(x)
    return "1 degree" if r == 1 else f"{_num(r)} degrees"


def no_fill(v: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Rule:
    """One checkable claim: when it holds, what it says (3+ ways), how to recognise it."""

    id: str
    aspects: tuple[str, ...]             # where it is stated: its own aspect first, at most one more
    needs: tuple[str, ...]               # attributes the condition reads (the claim's evidence)
    when: Callable[[dict], bool]         # condition on {name: value}
    phrasings: tuple[str, ...]           # clauses; {subject} and fill()'s keys are substituted
    recognise: str                       # regex every phrasing matches and no other rule's does
    advice: tuple[str, ...] = ()         # clauses appended after "; " (problems only)
    problem: bool = False                # a fault (counts against the overall verdict)
    weight: float = 1.0                  # how much it matters when summarising
    fill: Callable[[dict], dict] = no_fill

    def holds(self, values: dict) -> bool:
        return all(n in values for n in self.needs) and bool(self.when(values))


def between(name: str, lo: float, hi: float):
    """lo <= value < hi: adjacent bands share a bound, so exactly one of them holds."""
    return lambda v: lo <= v[name] < hi


def pct(name: str, scale: float = 1.0):
    """fill(): the attribute as a percentage slot {pct}."""
    return lambda v: {"pct": percent(scale * v[name])}
