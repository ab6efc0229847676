"""Motion (being written): its measurements and the teacher's rules on them."""

from __future__ import annotations

LEVELS: dict = {}
ABSOLUTE: set = set()
RULES: list = []
EXCLUSIVE: list = []


def measure(scene) -> list:
    return []
