"""Which accepted name a mistyped one most likely means: command-line options and commands
(``--refine-stpes`` -> ``--steps``), for one-line errors that name it. Standard library only."""

from __future__ import annotations

from collections.abc import Sequence


def typo_distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insertions, deletions, substitutions and swaps of two neighbouring
    letters, one each (optimal string alignment distance)."""
    previous2, previous = [], list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """1 for equal strings, down to 0: one minus the share of :func:`typo_distance` edits."""
    return 1.0 - typo_distance(a, b) / max(len(a), len(b), 1)


def _same_word(typed: str, word: str) -> bool:
    """``typed`` is ``word`` with a typo, or an abbreviation of it (``ckpt``: ``checkpoint``) or the other way round."""

    def abbreviates(short: str, long: str) -> bool:
        rest = iter(long)
        return len(short) >= 2 and short[0] == long[0] and all(letter in rest for letter in short)

    return similarity(typed, word) >= 0.75 or abbreviates(typed, word) or abbreviates(word, typed)


def closest_options(typed: str, options: Sequence[str], cutoff: float = 0.7) -> list[str]:
    """The options of ``options`` (``--steps``, ...) that a mistyped ``typed`` most likely means:
    the best scoring ones (several only when they tie), none when no option scores above ``cutoff``.

    Names are compared without dashes, ``_`` read as ``-``, in words split at ``-``. An option
    scores the best of: the whole names' :func:`similarity`; the similarity of the typed name's last
    word(s) (``--refine-stpes`` -> ``--steps``: the last word names the thing, the first ones
    qualify it); the typed name starting with the option's name (``--output``, ``--out-file`` ->
    ``--out``); the typed name matching the option's last word(s) (``--weight`` ->
    ``--silhouette-weight``); each typed word a typo or an abbreviation of the option's word
    (``--deepsdf-checkpoint`` -> ``--deepsdf-ckpt``). The partial matches count a little less than
    a whole one of the same quality.
    """

    def words(name: str) -> list[str]:
        return name.lstrip("-").lower().replace("_", "-").split("-")

    typed_words = words(typed)
    typed_name = "-".join(typed_words)
    scores: dict[str, float] = {}
    for option in options:
        option_words = words(option)
        option_name = "-".join(option_words)
        candidates = [similarity(typed_name, option_name)]
        candidates += [0.95 * similarity("-".join(typed_words[i:]), option_name) for i in range(1, len(typed_words))]
        candidates += [0.9] if len(option_name) >= 3 and typed_name.startswith(option_name) else []
        candidates += [0.85 * similarity(typed_name, "-".join(option_words[i:])) for i in range(1, len(option_words))]
        if len(typed_words) == len(option_words) > 1 and all(map(_same_word, typed_words, option_words)):
            candidates.append(0.85)
        scores[option] = max(candidates)
    best = max(scores.values(), default=0.0)
    return [option for option, score in scores.items() if score > cutoff and score >= best - 1e-9]
