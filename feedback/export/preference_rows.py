"""Rows of the preference formats (trl, trl-conversational, trl-implicit, hh-rlhf, kto):
pairs made from a verdict (one judgement, or an item's consensus), with their margins and
weights."""

from collections.abc import Iterator
from dataclasses import dataclass

from core.preferences import preference_problem
from feedback.export.items import JudgedItem, Row
from feedback.export.pairs import Pair, ranking_pairs
from feedback.export.params import ExportParams
from feedback.export.render import completion_text, hh_prefix, hh_transcript
from feedback.export.weights import Reliabilities, pair_support
from feedback.models import Project


@dataclass(slots=True)
class Verdict:
    """What rows are made from: one judgement, or the consensus of an item's judgements."""

    ranking: list[list[int]]
    ratings: dict[int, float]
    both_bad: bool
    weight: float = 1.0  # one judgement's: its annotator's reliability
    # A consensus's: the rankings it was made from, with their annotators' reliabilities.
    voters: tuple[list[list[list[int]]], list[float]] | None = None


class PreferenceRows:
    """The rows of one item's verdict in the export's preference format."""

    def __init__(
        self, params: ExportParams, project: Project, reliabilities: Reliabilities | None
    ) -> None:
        self.params = params
        self.rating_midpoint = (1 + project.rating_scale) / 2
        self.reliabilities = reliabilities
        self.weighs = params.weight is not None or params.margin == "reliability"

    def pair_weight(self, pair: Pair, verdict: Verdict) -> float:
        if verdict.voters is None:
            return verdict.weight
        return pair_support(pair, *verdict.voters)

    def pairs(
        self, item: JudgedItem, verdict: Verdict
    ) -> list[tuple[Pair, float | None, float | None]]:
        """Each pair with its margin and its weight (None where not asked for)."""
        params = self.params
        out: list[tuple[Pair, float | None, float | None]] = []
        ranking = verdict.ranking
        # Arrival order settles the order inside a tie; a ranking without ties needs none.
        position = item.position if any(len(g) > 1 for g in ranking) else None
        for pair in ranking_pairs(ranking, mode=params.pairs, ties=params.ties, position=position):
            margin: float | None = None
            weight = self.pair_weight(pair, verdict) if self.weighs else None
            if params.margin == "reliability":
                margin = 0.0 if pair.rank_distance == 0 else weight
            elif params.margin == "rank-distance":
                margin = float(pair.rank_distance)
            elif params.margin == "rating-difference":
                if pair.rank_distance == 0:
                    margin = 0.0
                else:
                    a = verdict.ratings.get(pair.chosen)
                    b = verdict.ratings.get(pair.rejected)
                    if a is None or b is None:
                        continue  # documented: pairs without both ratings are left out
                    margin = a - b
            out.append((pair, margin, weight if params.weight is not None else None))
        return out

    def rows(self, item: JudgedItem, verdict: Verdict) -> Iterator[Row]:
        fmt = self.params.format
        content = item.responses
        if fmt == "kto":
            yield from self.kto_rows(item, verdict)
            return
        for pair, margin, weight in self.pairs(item, verdict):
            chosen = content[pair.chosen].content
            rejected = content[pair.rejected].content
            if preference_problem(prompt=item.messages, chosen=chosen, rejected=rejected):
                continue  # two responses with the same text: no preference (core.preferences)
            row: Row
            if fmt == "trl":
                row = {
                    "prompt": item.prompt,
                    "chosen": completion_text(chosen),
                    "rejected": completion_text(rejected),
                }
            elif fmt == "trl-conversational":
                row = {
                    "prompt": item.messages,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
            elif fmt == "trl-implicit":
                row = {
                    "chosen": [*item.messages, {"role": "assistant", "content": chosen}],
                    "rejected": [*item.messages, {"role": "assistant", "content": rejected}],
                }
            else:  # hh-rlhf
                prefix = hh_prefix(item.messages)
                row = {
                    "chosen": hh_transcript(prefix, chosen),
                    "rejected": hh_transcript(prefix, rejected),
                }
            if margin is not None:
                row["margin"] = margin
            if weight is not None:
                row["weight"] = weight
            yield row

    def kto_rows(self, item: JudgedItem, verdict: Verdict) -> Iterator[Row]:
        content = item.responses
        if verdict.ratings:
            # Ratings: above the middle of the scale is desirable, below it undesirable;
            # a rating exactly in the middle says neither and gives no row.
            for group in verdict.ranking:
                for rid in sorted(group, key=lambda r: (item.position.get(r, r), r)):
                    rating = verdict.ratings.get(rid)
                    if rating is None or rating == self.rating_midpoint:
                        continue
                    yield {
                        "prompt": item.prompt,
                        "completion": completion_text(content[rid].content),
                        "label": rating > self.rating_midpoint,
                    }
            return
        for pair, _margin, _weight in self.pairs(item, verdict):
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.chosen].content),
                "label": not verdict.both_bad,
            }
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.rejected].content),
                "label": False,
            }
