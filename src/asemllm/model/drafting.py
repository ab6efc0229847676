"""Drafts for exact speculative decoding: guesses of a row's next tokens, looked up in texts the
model is known to imitate (the critic: every sentence the teacher can write).

When few rows decode, one pass of the LM over a row's next token and up to 8 guessed ones after
it costs far less than a pass per token (the pass streams all the weights either way;
docs/DESIGN_NOTES.md, "Guessed tokens"). The pass's own greedy choice at each position says
how many guesses hold; those are kept, with the choice after the last one, so the text is the one
plain greedy decoding writes (up to float ties: a wider pass sums in another order).
"""

from __future__ import annotations

from collections import Counter


class Drafter:
    """Token sequences -> for each run of 1..`key` tokens in them, a guess of what follows it (up
    to `length` tokens): token by token, what most of the sequences that go on from there say,
    while at least `agree` of them say it (after a run that many sentences share, "on the", no
    guess: a wrong one costs a wider pass for nothing). `propose` looks up a row's last
    tokens, the longest known run first: the longer the run, the fewer sentences it fits; a
    single token only opens a text (past it, a row whose last two tokens no sequence holds has
    left them: its guesses would fail)."""

    def __init__(self, sequences: list[list[int]], key: int = 4, length: int = 8, agree: float = 0.6):
        if key < 1 or length < 1:
            raise ValueError(f"key {key} and length {length} must be at least 1")
        self.key, self.agree = key, agree
        self.follows: dict[tuple, Counter] = {}  # run of 1..key tokens -> the continuations after it
        for seq in sequences:
            for i in range(1, len(seq)):
                after = tuple(seq[i:i + length])
                for n in range(1, min(key, i) + 1):
                    self.follows.setdefault(tuple(seq[i - n:i]), Counter())[after] += 1
        # each run's guess is worked out when first looked up: a row looks up a few dozen of the
        # thousands of runs, so working out all of them up front would cost more than it saves
        self._guesses: dict[tuple, tuple[int, ...]] = {}

    def propose(self, context: list[int], k: int) -> list[int]:
        """Up to k tokens guessed to follow `context` (none when no run of its last tokens is known,
        or the sequences that go on from the longest known one disagree)."""
        shortest = 1 if len(context) < 2 else 2
        for n in range(min(self.key, len(context)), shortest - 1, -1):
            run = tuple(context[-n:])
            if run in self.follows:
                if run not in self._guesses:
                    self._guesses[run] = _agreed(self.follows[run], self.agree)
                return list(self._guesses[run][:k])
        return []

    def for_prompt(self, prompt: str) -> "Drafter":
        """The same guesses whatever the prompt (AestheticCaptioner.drafter asks per prompt)."""
        return self


def _agreed(after: Counter, agree: float) -> tuple[int, ...]:
    """The continuations (with counts) -> the longest path through them on which, at each token,
    at least `agree` of the continuations still going choose that token."""
    path: tuple[int, ...] = ()
    while True:
        votes = Counter()
        for seq, n in after.items():
            if len(seq) > len(path):
                votes[seq[len(path)]] += n
        if not votes:
            return path
        token, n = votes.most_common(1)[0]
        if n < agree * sum(votes.values()):
            return path
        path += (token,)
        after = Counter({seq: c for seq, c in after.items() if seq[:len(path)] == path})


# How many tokens (rows x (1 + guesses)) a drafted pass reads at most. A pass of 1 row and 9
# tokens costs far less than 9 passes of 1 token (the weights' streaming dominates), and 7 rows
# x 9 tokens about what 56 rows x 1 cost; wider, the guesses that fail cost real compute. Tuned
# by A/B runs of the critic (docs/DESIGN_NOTES.md, "Guessed tokens").
DRAFT_TOKENS = 64
MAX_GUESSES = 8


def guesses_per_row(rows: int) -> int:
    """How many tokens to guess per row when `rows` decode (0: decode plainly)."""
    return min(MAX_GUESSES, DRAFT_TOKENS // rows - 1)
