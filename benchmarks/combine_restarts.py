"""Best-of-restarts results from runs trained in separate processes.

`mnist_clustering.py --restarts R` trains the R restarts of a group one after
the other in one process. On a machine with room for many processes at once
(a GPU) the same runs finish sooner as one process per seed:

    for s in 0 1 2 3 4 5 6 7 8; do
      KERAS_BACKEND=jax python benchmarks/mnist_clustering.py --seeds $s \\
          --epochs 50 --json run_$s.json &
    done; wait
    python benchmarks/combine_restarts.py --restarts 3 run_*.json

Restart r of group g is the run with seed g*R + r in both cases (the same
seeds set the same way), and this script chooses in each group with the rule
of `best_of_restarts` (`keras_mae.training.best_restart_seed`: the lowest
final training loss; labels never choose). It prints every seed, the chosen
one per group, and the mean and standard deviation over the groups of the
chosen runs' scores. A group with a missing seed is an error: a group must
not be scored on fewer restarts than it claims.

With `--screen-epochs E` it chooses by the loss after epoch E instead (the
rule of `best_of_restarts(..., screen_epochs=E)`, which trains only the
chosen restart past epoch E). The choice is the same; the chosen run's
scores are those of a straight run, which a screened-and-continued
`MixtureAutoencoder` repeats: it trains on the same batches, a function of
its seed and the epoch (see `best_of_restarts`). This needs reports that
record `loss_per_epoch`.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from keras_mae.training import best_restart_seed

SCORES = ["acc", "nmi", "ari", "reconstruction_mse", "frechet_distance"]


def load_runs(paths: list[str]) -> dict[int, dict]:
    """Every run of the reports by seed (reports of `--restarts 1` runs)."""
    runs: dict[int, dict] = {}
    for path in paths:
        with open(path) as file:
            report = json.load(file)
        if report.get("restarts") != 1:
            raise SystemExit(
                f"{path}: expected a report of `--restarts 1` runs (one model "
                f"per seed); received restarts={report.get('restarts')}."
            )
        for run in report["runs"]:
            if run["seed"] in runs:
                raise SystemExit(f"{path}: seed {run['seed']} appears twice.")
            runs[run["seed"]] = {**run, "report": path, "epochs": report["epochs"]}
    return runs


def deciding_loss(run: dict, screen_epochs: int | None) -> float:
    """The loss a run is compared by: final, or after `screen_epochs`."""
    if screen_epochs is None:
        return run["final_loss"]
    losses = run.get("loss_per_epoch")
    if losses is None:
        raise SystemExit(
            f"{run['report']}: --screen-epochs needs `loss_per_epoch` in the "
            "report; it was written by an older mnist_clustering.py."
        )
    if not 1 <= screen_epochs < len(losses):
        raise SystemExit(
            f"--screen-epochs must be in [1, {len(losses)}) for runs of "
            f"{len(losses)} epochs; received {screen_epochs}."
        )
    return losses[screen_epochs - 1]


def combine(
    runs: dict[int, dict], restarts: int, screen_epochs: int | None = None
) -> list[dict]:
    """The chosen run of each complete group of `restarts` consecutive seeds."""
    epochs = {run["epochs"] for run in runs.values()}
    if len(epochs) != 1:
        raise SystemExit(f"The runs were trained for different epochs: {epochs}.")
    chosen = []
    for group in sorted({seed // restarts for seed in runs}):
        seeds = range(group * restarts, (group + 1) * restarts)
        missing = [seed for seed in seeds if seed not in runs]
        if missing:
            raise SystemExit(
                f"Group {group} needs seeds {list(seeds)}; missing {missing}."
            )
        best = best_restart_seed(
            {seed: deciding_loss(runs[seed], screen_epochs) for seed in seeds}
        )
        if best is None:
            raise SystemExit(f"Group {group}: no seed ended with a finite loss.")
        chosen.append(
            {
                **runs[best],
                "group": group,
                "group_seeds": list(seeds),
                "group_train_seconds": sum(runs[s]["train_seconds"] for s in seeds),
            }
        )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", help="JSON reports (--json)")
    parser.add_argument("--restarts", type=int, default=3, help="restarts per group")
    parser.add_argument(
        "--screen-epochs",
        type=int,
        default=None,
        help="choose by the loss after this epoch (best_of_restarts' "
        "screen_epochs) instead of the final loss",
    )
    parser.add_argument("--json", help="where to save the combined result")
    args = parser.parse_args()
    if args.restarts < 1:
        parser.error(f"--restarts must be at least 1; received {args.restarts}")
    runs = load_runs(args.reports)
    chosen = combine(runs, args.restarts, args.screen_epochs)
    chosen_seeds = {run["seed"] for run in chosen}
    decides = (
        "final loss"
        if args.screen_epochs is None
        else f"loss after epoch {args.screen_epochs}"
    )
    print(f"seed  {'deciding loss':>13s}     ACC     NMI     ARI")
    for seed in sorted(runs):
        run = runs[seed]
        mark = "  <- chosen" if seed in chosen_seeds else ""
        print(
            f"{seed:4d}  {deciding_loss(run, args.screen_epochs):13.4f}  "
            f"{run['acc']:.4f}  {run['nmi']:.4f}  {run['ari']:.4f}{mark}"
        )
    print(
        f"\nBest of {args.restarts} by {decides}, {len(chosen)} groups, "
        f"{chosen[0]['epochs']} epochs:"
    )
    summary = {}
    for name in SCORES:
        values = [run[name] for run in chosen if run.get(name) is not None]
        if len(values) == len(chosen):
            mean, std = float(np.mean(values)), float(np.std(values))
            summary[name] = {"mean": mean, "std": std}
            each = ", ".join(f"{v:.4f}" for v in values)
            print(f"  {name:20s} {mean:.4f} ± {std:.4f}  ({each})")
    losses = {
        seed: deciding_loss(runs[seed], args.screen_epochs) for seed in sorted(runs)
    }
    lowest = best_restart_seed(losses)
    print(f"  lowest {decides} of all {len(runs)} seeds: seed {lowest}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "restarts": args.restarts,
                    "screen_epochs": args.screen_epochs,
                    "chosen": chosen,
                    "summary": summary,
                    "lowest_loss_seed": lowest,
                    "command": "python " + " ".join(sys.argv),
                },
                file,
                indent=1,
            )


if __name__ == "__main__":
    main()
