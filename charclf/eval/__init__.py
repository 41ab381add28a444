"""Scoring and showing a model: inference, metrics, evaluation records' numbers, figures."""
