"""Notebook 08's tables and verdicts read EMNIST-MNIST on the set less the source's training images when every run
has it, and name the whole-file number as overlapping them."""
from __future__ import annotations

import math

import pandas as pd

from charclf.eval.seeds import mean_std
from charclf.study.findings import (EMNIST_MNIST_DISJOINT, EMNIST_MNIST_FACTS, EMNIST_MNIST_WHOLE, TRANSFER_LABELS,
                                    emnist_mnist_columns, emnist_mnist_note, label_transfer_columns,
                                    transfer_accuracy_columns, transfer_figure_columns, transfer_found)

RUNS = ("transfer", "scratch", "minivision_v2")


def _table(disjoint):
    """One seed per run; whole-file EMNIST-MNIST favours transfer (it holds its source's training images), the
    disjoint set does not."""
    rows = [{"run": run, "seed": 0, "best_val_acc": 0.99, "test_acc": 0.99, EMNIST_MNIST_WHOLE: whole}
            for run, whole in zip(RUNS, (0.995, 0.985, 0.985))]
    for row, value in zip(rows, disjoint or ()):
        row[EMNIST_MNIST_DISJOINT] = value
    return pd.DataFrame(rows)


def test_the_disjoint_column_is_read_only_when_every_run_has_it():
    from charclf.experiments.transfer import DISJOINT_COLUMN, DISJOINT_KEY

    assert (EMNIST_MNIST_DISJOINT, EMNIST_MNIST_FACTS) == (DISJOINT_COLUMN, DISJOINT_KEY)  # one name, two modules
    assert emnist_mnist_columns(_table(None)) == [EMNIST_MNIST_WHOLE]
    assert emnist_mnist_columns(_table((0.98, 0.98, math.nan))) == [EMNIST_MNIST_WHOLE]  # not all rescored
    both = _table((0.98, 0.98, 0.98))
    assert emnist_mnist_columns(both) == [EMNIST_MNIST_DISJOINT, EMNIST_MNIST_WHOLE]
    summary = mean_std(both, "run", transfer_accuracy_columns(both))
    assert emnist_mnist_columns(summary)[0] == EMNIST_MNIST_DISJOINT
    assert transfer_figure_columns(summary) == {"test_acc": "MNIST test",
                                                EMNIST_MNIST_DISJOINT: TRANSFER_LABELS[EMNIST_MNIST_DISJOINT]}
    shown = label_transfer_columns(summary)
    assert "EMNIST-MNIST test, whole file (overlaps the source's training images)" in shown.columns.get_level_values(0)


def test_verdicts_use_the_disjoint_set_and_say_when_they_cannot():
    both = _table((0.98, 0.98, 0.98))
    lines = transfer_found(mean_std(both, "run", transfer_accuracy_columns(both)), seeds=1, epochs=5)
    emnist = [line for line in lines if line.startswith("EMNIST-MNIST")]
    assert len(emnist) == 2 and all("less the source's training images" in line and "+0.00 points" in line
                                    for line in emnist)
    old = _table(None)
    lines = transfer_found(mean_std(old, "run", transfer_accuracy_columns(old)), seeds=1, epochs=5)
    assert any("whole file (overlaps the source's training images)" in line and "+1.00 points" in line
               for line in lines)


def test_the_note_says_how_many_images_were_scored_and_dropped():
    facts = {"n": 8725, "n_total": 10000, "n_dropped": 1275, "dropped_by_part": {"train": 1118, "val": 157},
             "source_data": {"split": "byclass", "protocol": "holdout"}, "rows_not_scored": {"scratch": "no weights"}}
    note = emnist_mnist_note({EMNIST_MNIST_FACTS: facts})
    assert "8,725 of 10,000" in note and "1,275 dropped" in note and "1,118 train, 157 val" in note
    assert "Not scored (no weights kept): scratch" in note
    assert "byte-identical to the source model's training images" in emnist_mnist_note(
        {"emnist_mnist_test": "EMNIST-MNIST test set evaluated (10000 images)"})
