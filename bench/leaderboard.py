"""The leaderboard on real blind votes: PandaLM's 999 pairwise comparisons, three humans each.

Each row of ../shared/data/pandalm_testset-v1.json compares two named open models' answers
(``cmp_key`` = "<model1>_<model2>") and carries three human votes (0 tie, 1 the first is
better, 2 the second). Every vote becomes a comparison exactly as a judgement's ranking
does in the project (``feedback.leaderboard.comparisons_from_ranking``: a tie is one group),
with the two answers' lengths in words, and the same fit the API runs
(``feedback.leaderboard.leaderboard_fit``) prints the ranking with bootstrap 95% intervals,
plain and with length control, and how long each fit took.

    .venv/bin/python bench/leaderboard.py [--rounds 100] [--smoke]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._data import SHARED_DATA  # noqa: E402
from feedback.leaderboard import comparisons_from_ranking, leaderboard_fit  # noqa: E402

DATA = SHARED_DATA / "pandalm_testset-v1.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap resamples")
    parser.add_argument("--smoke", action="store_true", help="50 rows, 10 resamples")
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"no {DATA}; nothing to measure")
        return
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    if args.smoke:
        rows, args.rounds = rows[:50], 10
    comparisons = []
    for row in rows:
        first, second = row["cmp_key"].split("_", 1)
        model_of = {1: first, 2: second}
        length_of = {n: len(str(row[f"response{n}"]).split()) for n in (1, 2)}
        for vote in (row["annotator1"], row["annotator2"], row["annotator3"]):
            ranking = [[1, 2]] if vote == 0 else [[vote], [3 - vote]]
            comparisons.extend(comparisons_from_ranking(ranking, model_of, length_of))
    print(f"{len(rows)} PandaLM rows, {len(comparisons)} votes as comparisons")
    for control in ("none", "length"):
        board = leaderboard_fit(comparisons, control=control, rounds=args.rounds)
        extra = ""
        if board.length_coefficient is not None:
            extra = f", length coefficient {board.length_coefficient:+.1f} Elo per sd"
        print(
            f"\ncontrol={control}: fit + {board.rounds} bootstrap resamples in "
            f"{board.seconds:.2f} s{extra}"
        )
        print(f"{'model':24s} {'score':>7s}  {'95% interval':>17s} {'n':>6s} {'win rate':>8s}")
        for s in board.standings:
            print(
                f"{s.model:24s} {s.score:7.1f}  [{s.ci[0]:7.1f}, {s.ci[1]:7.1f}]"
                f" {s.comparisons:6d} {s.win_rate:8.3f}"
            )


if __name__ == "__main__":
    main()
