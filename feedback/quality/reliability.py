"""Annotator reliability by the Dawid-Skene model. Pure numpy, no ORM.

A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using
the EM Algorithm", Journal of the Royal Statistical Society C 28(1), 1979, pp. 20-28.

Each *task* has an unknown true class; each annotator ``k`` reports class ``l`` when the
truth is ``c`` with probability ``pi_k[c, l]`` (their confusion matrix). EM alternates the
posterior of each task's class (E step) with the class priors and the confusion matrices
(M step), starting from the majority vote, as in the paper. Here a task is one pair of
responses judged together: in pairwise mode its classes are the verdicts (A, B, tie, both
bad); in rank mode the pair's order in a ranking (first above, tied, second above), so
rankings with ties are modelled pair by pair. An annotator's **reliability** is the
probability that they report the true class, ``sum_c prior_c * pi_k[c, c]``: 1 for an
annotator who is always right, about 1 / classes for one who answers at random.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ITERATIONS = 100  # at most; EM stops once no posterior moves by more than TOLERANCE
TOLERANCE = 1e-5
SMOOTHING = 0.01  # added to every confusion count: no probability is exactly 0


@dataclass(frozen=True)
class DawidSkene:
    reliability: npt.NDArray[np.float64]  # per annotator
    posterior: npt.NDArray[np.float64]  # per task and class
    priors: npt.NDArray[np.float64]


def dawid_skene(
    tasks: npt.NDArray[np.int64],
    annotators: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    *,
    n_tasks: int,
    n_annotators: int,
    n_classes: int,
    iterations: int = ITERATIONS,
) -> DawidSkene:
    """Fit the model to observations ``(tasks[i], annotators[i], labels[i])``."""
    posterior = np.zeros((n_tasks, n_classes))
    np.add.at(posterior, (tasks, labels), 1.0)
    posterior += 1e-9
    posterior /= posterior.sum(axis=1, keepdims=True)
    cell = annotators * n_classes + labels  # (annotator, reported class) of each observation
    priors = posterior.mean(axis=0)
    confusion: npt.NDArray[np.float64] = np.full(
        (n_annotators, n_classes, n_classes), 1 / n_classes
    )
    for _ in range(iterations):
        # M step: priors and each annotator's confusion matrix from the posteriors.
        priors = posterior.mean(axis=0)
        counts = np.asarray(
            np.stack(
                [
                    np.bincount(
                        cell, weights=posterior[tasks, c], minlength=n_annotators * n_classes
                    )
                    for c in range(n_classes)
                ],
                axis=1,
            ).reshape(n_annotators, n_classes, n_classes),  # (annotator, reported, true)
            dtype=np.float64,
        )
        counts = np.asarray(counts.transpose(0, 2, 1) + SMOOTHING)  # (annotator, true, reported)
        confusion = counts / counts.sum(axis=2, keepdims=True)
        # E step: each task's posterior over its true class.
        log_confusion = np.log(confusion)
        log_post = np.tile(np.log(priors + 1e-12), (n_tasks, 1))
        for c in range(n_classes):
            log_post[:, c] += np.bincount(
                tasks, weights=log_confusion[annotators, c, labels], minlength=n_tasks
            )
        log_post -= log_post.max(axis=1, keepdims=True)
        updated = np.exp(log_post)
        updated /= updated.sum(axis=1, keepdims=True)
        moved = float(np.abs(updated - posterior).max()) if n_tasks else 0.0
        posterior = updated
        if moved < TOLERANCE:
            break
    diagonal = confusion[:, np.arange(n_classes), np.arange(n_classes)]
    return DawidSkene(reliability=np.asarray(diagonal @ priors), posterior=posterior, priors=priors)
