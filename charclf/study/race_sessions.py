"""The sessions of a time-to-accuracy race (``charclf race``'s JSON and the earlier sessions kept beside it):
each ratio as the mean ± std of its seed-by-seed ratios, which recorded sessions are one race, and the verdict
over all of them. :mod:`charclf.study.goals` judges the race's goals with these."""
from __future__ import annotations

import json
from pathlib import Path

from charclf.paths import RACE_HISTORY_DIR


# A race ratio's entrant: ratio = usual / charclf, ratio_fast = usual / charclf_fast (charclf.apps.race).
RATIO_ENTRANT = {"ratio": "charclf", "ratio_fast": "charclf_fast", "ratio_pipeline": "charclf_fp32_nearest"}


def ratio_seeds(race: dict, key: str) -> list[float] | None:
    """A race ratio seed by seed: the earlier works' seconds over the entrant's (each seed's entrants start from
    the same weights). None when an entrant missed the target on a seed (its list is short: seeds would be paired
    wrongly) or a side has no per-seed seconds."""
    sides = [race["summary"].get(name, {}) for name in ("usual", RATIO_ENTRANT.get(key, ""))]
    if any(s.get("reached") != len(s.get("seeds") or []) for s in sides):
        return None
    usual, mine = (s.get("seconds_to_target") or [] for s in sides)
    ratios = [u / m for u, m in zip(usual, mine) if u and m]
    return ratios or None


def ratio_stats(race: dict, key: str) -> tuple[float | None, float | None]:
    """A race ratio as ``(mean, sample std)`` of its seed-by-seed ratios (:func:`ratio_seeds`), both from the
    same numbers; the std is None under two seeds. Without per-seed seconds (older or hand-made JSONs), the JSON's
    own ratio (of the mean seconds) with no std."""
    import statistics

    ratios = ratio_seeds(race, key)
    if not ratios:
        return race.get(key), None
    return statistics.fmean(ratios), (statistics.stdev(ratios) if len(ratios) > 1 else None)


def ratio_std(race: dict, key: str) -> float | None:
    """The sample std of a race ratio over its seeds (:func:`ratio_stats`); None without two seeds of both."""
    return ratio_stats(race, key)[1] if ratio_seeds(race, key) else None


def race_in_sample(race: dict) -> list[int]:
    """The race's seeds that also chose its fast recipe (a race on them is timed in-sample and meets no goal)."""
    from charclf.train.recipes import search_seeds

    chosen_on = set(race.get("search_seeds") or (search_seeds(race["fast_recipe"]) if race.get("fast_recipe") else ()))
    return sorted(chosen_on & set(race.get("seeds") or ()))


NOT_REPRODUCED = "not reproduced"  # met in one recorded session of a race, missed in another


def _race_identity(race: dict) -> tuple | None:
    """What makes two JSONs sessions of one race: the host (``hostname_hash``), its thread count and kernel caps,
    the target and both recipes with their configs apart from the seed (each filled with the defaults of fields
    added since, ``train.config.with_new_fields``). None when the JSON records no host or config (nothing to
    compare it by)."""
    machine = race.get("machine") or {}
    if machine.get("hostname_hash") is None or race.get("config") is None:
        return None

    from charclf.train.config import with_new_fields

    def unseeded(config):
        # A field added to TrainConfig since a session ran counts as its default there (that session trained
        # without it): a new field must not make a later session of the same race look like another race.
        filled = with_new_fields(config) if config else {}
        return json.dumps({k: v for k, v in filled.items() if k != "seed"}, sort_keys=True, default=str)

    return (machine.get("hostname_hash"), machine.get("torch_threads"),
            json.dumps(machine.get("isa_limits"), sort_keys=True), race.get("device_tag"), race.get("target"),
            race.get("recipe"), race.get("fast_recipe"), unseeded(race.get("config")),
            unseeded(race.get("fast_config")))


def same_race(a: dict, b: dict) -> bool:
    """Whether two race JSONs are sessions of one race (:func:`_race_identity`): the same code's recipes on the
    same host, so their numbers may differ only by the session."""
    ia = _race_identity(a)
    return ia is not None and ia == _race_identity(b)


def race_history(race: dict, folder: str | Path | None = None) -> list[dict]:
    """The other recorded sessions of ``race``: every JSON in ``folder`` (default: ``history/`` beside the bench
    JSONs, :data:`RACE_HISTORY_DIR`) that is a session of the same race (:func:`same_race`), but not ``race``
    itself (its ``created_utc``), oldest first; each has ``history_path`` added (its file's name). A JSON there
    that cannot be read is refused in one line (``DataError``): skipping it could drop the session that decides
    whether a result was reproduced."""
    from charclf.paths import bench_dir
    from charclf.provenance import read_json

    folder = Path(folder) if folder is not None else bench_dir() / RACE_HISTORY_DIR
    if _race_identity(race) is None or not folder.is_dir():
        return []
    seen, out = {race.get("created_utc")}, []
    for path in sorted(folder.glob("*.json")):
        other = read_json(path, "restore it from git, or move it out of the folder if it is no race session")
        if not isinstance(other, dict) or other.get("created_utc") in seen or not same_race(race, other):
            continue
        seen.add(other.get("created_utc"))
        out.append({**other, "history_path": path.name})
    return sorted(out, key=lambda r: str(r.get("created_utc")))


def seeds_words(seeds) -> str:
    """``"seeds 3–5"`` for a run of consecutive seeds, else ``"seeds 0, 2, 5"``."""
    seeds = sorted(int(x) for x in seeds or ())
    if not seeds:
        return "no seeds"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}–{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def session_when(race: dict) -> str:
    """When a race session ran, from its ``created_utc``: ``"2026-12-02 18:02 UTC"`` (``"undated"`` without)."""
    made = str(race.get("created_utc") or "")
    return f"{made[:10]} {made[11:16]} UTC" if len(made) >= 16 else "undated"


def race_session(race: dict, key: str) -> dict:
    """One session's numbers for a goal (``key``: a ratio, or an entrant's name for the seconds goal): its value
    (a ratio: the mean of the per-seed ratios; seconds: the mean), the std from the same numbers, its seeds and
    which of them chose the fast recipe (in-sample), and each side's images/s."""
    if key in RATIO_ENTRANT:
        value, std = ratio_stats(race, key)
        entrant = RATIO_ENTRANT[key]
    else:
        s = race["summary"].get(key, {})
        complete = s.get("reached") is not None and s.get("reached") == len(s.get("seeds") or [])
        value, std, entrant = ((s.get("seconds_to_target_mean") if complete else None),
                               s.get("seconds_to_target_std"), key)
    summary = race.get("summary", {})
    when = session_when(race)
    return {"name": f"the {when} session", "when": when, "created_utc": race.get("created_utc"),
            "git_sha": race.get("git_sha"),
            "seeds": list(race.get("seeds") or []), "in_sample": race_in_sample(race), "value": value, "std": std,
            "usual images/s": summary.get("usual", {}).get("images_per_s_mean"),
            f"{entrant} images/s": summary.get(entrant, {}).get("images_per_s_mean"),
            "entrant": entrant, "history_path": race.get("history_path")}


def _number_words(session: dict, unit: str) -> str:
    """``"8.26× ± 1.35"``: a session's value ± its std (or why it has none)."""
    value, std = session["value"], session["std"]
    if value is None:
        return "no value (a seed missed the target)"
    if unit.strip() == "s":  # seconds: "35.1 ± 7.7 s"
        return f"{value:.1f}" + ("" if std is None else f" ± {std:.1f}") + " s"
    return f"{value:.2f}{unit}" + ("" if std is None else f" ± {std:.2f}")


def _seeds_sample(session: dict) -> str:
    """``"seeds 0–2, which chose the recipe: in-sample"``."""
    return seeds_words(session["seeds"]) + (", which chose the recipe: in-sample" if session["in_sample"] else "")


def session_words(session: dict, unit: str) -> str:
    """``"8.26× ± 1.35 (seeds 0–2, which chose the recipe: in-sample)"``."""
    return f"{_number_words(session, unit)} ({_seeds_sample(session)})"


def _images_words(latest: dict, other: dict, entrant: str) -> str:
    """Each side's images/s in the other session against this one: ``"the earlier works' pipeline ran at 2,080
    images/s against 1,366 and charclf_fast at 8,178 against 8,049"``."""
    def pair(field):
        a, b = other.get(field), latest.get(field)
        return None if a is None or b is None else f"{a:,.0f}" + (" images/s" if field.startswith("usual") else "") \
            + f" against {b:,.0f}"

    usual, mine = pair("usual images/s"), pair(f"{entrant} images/s")
    parts = (([f"the earlier works' pipeline ran at {usual}"] if usual else [])
             + ([f"{entrant} at {mine}"] if mine else []))
    return " and ".join(parts)


def reproduced_verdict(words: str, latest: dict, others: list[dict], target: float, *, unit: str,
                       lower_is_better: bool = False) -> tuple[str, bool]:
    """The verdict over every recorded session of a race: ``words`` (this session's, :func:`verdict`'s) stand
    when no other session is recorded or every other one also clears ``target``; a "met" that another session of
    the same race missed becomes ":data:`NOT_REPRODUCED`: met in the latest session (<date>: value ± std, seeds);
    <the other session> measured value ± std (seeds), when the earlier works' pipeline ran at ... images/s against
    ..." and is no longer met. Returns ``(words, met)``."""
    if not words.startswith("met"):
        return words, False
    missed = [o for o in others if o["value"] is None or
              ((o["value"] > target) if lower_is_better else (o["value"] < target))]
    if not missed:
        return words, True
    latest_too = all(str(o["created_utc"]) <= str(latest["created_utc"]) for o in others)
    where = "the latest session" if latest_too else "this session"
    told = "; ".join(f"{o['name']} measured {session_words(o, unit)}"
                     + (f", when {w}" if (w := _images_words(latest, o, latest["entrant"])) else "") for o in missed)
    return (f"{NOT_REPRODUCED}: {words} in {where} ({latest['when']}: {_number_words(latest, unit)}, "
            f"{_seeds_sample(latest)}); {told}"), False
