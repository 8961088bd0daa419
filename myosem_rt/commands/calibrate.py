"""``myosem calibrate-eval``: how much does per-user calibration recover of the accuracy lost to drift?

For a drift protocol (another day, shifted electrodes, an unseen user), every test recording is split in
two halves of its trials: the first half of its repetitions (by number, i.e. recorded first; a recording
with one repetition is split in time per class) is the pool a user would calibrate from, the second half is
evaluated. Per recording and repeat, ``k`` windows per class are drawn from the pool (seeded; the k = 1
windows are among the k = 3 ones, and so on, so the k compare like with like), a
:class:`~myosem_rt.calibration.PrototypeBlend` (the v1 calibration) is built from them, and EMG -> text
R@1 and MRR are computed on the
other half with the model's prototypes (before) and the calibrated ones (after). No calibration window is
ever evaluated. With ``--unit trial`` k counts whole trials (repetitions) per class instead of windows,
i.e. what a user gives by performing each gesture k times. Figures pool every evaluated window of every
recording; ± is the standard deviation over the repeats (the draw of the calibration examples).

The in-distribution figure (what the drift costs) comes from ``--reference DIR --reference-protocol P``:
a model trained without the drift, evaluated here on P's test split restricted to the same subjects
(e.g. 3dc-rand, trained on every subject's repetitions 1-4, on repetitions 5-8 of the 3dc-user test
subjects, i.e. the very windows evaluated above). "Share of drop recovered" = (after - before) /
(reference - before).

``--results DIR`` merges the run into ``DIR/calibration.json`` (one entry per protocol) and rewrites
``DIR/calibration.md`` from all entries.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.output_files import check_new_file, write_json

HELP = "measure per-user calibration on a drift protocol: EMG->text R@1/MRR before and after k examples"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="model trained on the protocol's train side")
    p.add_argument("--data", required=True, metavar="DIR", help="folder holding 3dc/, myodisco/, ...")
    p.add_argument("--protocol", required=True, metavar="NAME", help="e.g. myodisco-session, ciil-shift")
    p.add_argument("--k", type=int, nargs="+", default=[1, 3, 5], metavar="K",
                   help="calibration windows per class (default 1 3 5)")
    p.add_argument("--repeats", type=int, default=10, metavar="R", help="draws of the calibration windows")
    p.add_argument("--k0", type=float, metavar="N", help="override config calibration.k0")
    p.add_argument("--beta", type=float, metavar="B", help="override config calibration.beta")
    p.add_argument("--unit", choices=("window", "trial"), default="window",
                   help="k counts windows per class (default) or whole trials (repetitions) per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subjects", type=int, nargs="+", metavar="N", help="protocol: only these subjects")
    p.add_argument("--test-subjects", type=int, nargs="+", metavar="N",
                   help="subject-disjoint protocols: the tested subjects")
    p.add_argument("--max-files", type=int, metavar="N", help="protocol: at most N test files")
    p.add_argument("--reference", metavar="DIR", help="in-distribution model (see the module docstring)")
    p.add_argument("--reference-protocol", metavar="NAME", help="protocol the reference is evaluated on")
    p.add_argument("--json", metavar="OUT", help="write the result to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")
    p.add_argument("--note", metavar="TEXT", help="a remark stored with the result and shown under the table")
    p.add_argument("--label", metavar="TEXT",
                   help="row name in --results (default: the protocol, '(k trials)' added with --unit trial)")
    p.add_argument("--results", metavar="DIR",
                   help="merge into DIR/calibration.json and rewrite DIR/calibration.md")


def halves(ws: Any) -> tuple[np.ndarray, np.ndarray]:
    """(calibration pool mask, evaluation mask) of one recording's windows: first half of its repetitions
    vs the rest; with one repetition, each class's windows before vs from its median start."""
    reps = np.unique(ws.repetition)
    if reps.size >= 2:
        pool = np.isin(ws.repetition, reps[: reps.size // 2])
        return pool, ~pool
    pool = np.zeros(len(ws), dtype=bool)
    for c in np.unique(ws.label):
        idx = np.flatnonzero(ws.label == c)
        pool[idx[ws.start[idx] < np.median(ws.start[idx])]] = True
    return pool, ~pool


def _figures(z: np.ndarray, labels: np.ndarray, protos: np.ndarray, ids: np.ndarray) -> tuple[float, float]:
    from myosem_rt.retrieval import emg_to_text

    r = emg_to_text(z, labels, protos, ids, n_resamples=0)
    return r["R@1"], r["MRR"]


def calibrate_eval(model: Any, files: list[Path], config: dict[str, Any], *, mask: Any = None,
                   ks: list[int], repeats: int, seed: int = 0, unit: str = "window",
                   k0: float | None = None, beta: float | None = None) -> dict[str, Any]:
    """The measurement described in the module docstring (one file at a time; only embeddings kept)."""
    from myosem_rt.calibration import PrototypeBlend, calibration_settings
    from myosem_rt.commands.eval import _checked_loader, encode
    from myosem_rt.errors import ConfigError
    from myosem_rt.model import trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    calibration = {**dict(config.get("calibration") or {}),
                   **{k: v for k, v in (("k0", k0), ("beta", beta)) if v is not None}}
    k0, beta = calibration_settings({"calibration": calibration})
    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    cfg, loader = trained_config(model, config), _checked_loader(model, str(model.directory))
    vocabulary = load_vocabulary(model.vocabulary)
    ids = np.asarray(model.class_ids, dtype=np.int64)
    ks = sorted(set(int(k) for k in ks))
    n_total = 0
    before = np.zeros(2)  # sums of R@1 * n, MRR * n
    after = np.zeros((repeats, len(ks), 2))
    per_file = []
    for fi, path in enumerate(files):
        ws = load_windows([path], cfg, spec=spec, loader=loader, vocabulary=vocabulary)
        if mask is not None:
            ws = ws.subset(mask(ws))
        if len(ws) == 0:
            continue
        z = encode(model, ws)
        pool, ev = halves(ws)
        if not ev.any() or not pool.any():
            log.warning("calibrate-eval: %s has no windows in one half; skipped", path)
            continue
        z_ev, y_ev = z[ev], ws.label[ev]
        n = int(y_ev.size)
        b = np.asarray(_figures(z_ev, y_ev, model.prototypes, ids))
        before += b * n
        classes = np.unique(ws.label[pool])
        order = {}
        row = {"file": f"{path.parent.name}/{path.name}", "n_eval": n, "n_pool": int(pool.sum()),
               "before": {"R@1": b[0], "MRR": b[1]}, "after": {}}
        for r in range(repeats):
            rng = np.random.default_rng([int(seed), fi, r])
            for c in classes:
                idx = np.flatnonzero(pool & (ws.label == c))
                if unit == "trial":  # whole repetitions of the class, in random order
                    reps = rng.permutation(np.unique(ws.repetition[idx]))
                    order[int(c)] = [idx[ws.repetition[idx] == rep] for rep in reps]
                else:
                    order[int(c)] = [[i] for i in rng.permutation(idx)]
            for j, k in enumerate(ks):
                profile = PrototypeBlend.new(model, "calibrate-eval", k0=k0, beta=beta)
                for c, groups in order.items():
                    profile.add_examples(c, z[np.concatenate(groups[:k]).astype(np.int64)])
                a = np.asarray(_figures(z_ev, y_ev, profile.prototypes, ids))
                after[r, j] += a * n
                row["after"].setdefault(str(k), []).append(a[0])
        row["after"] = {k: round(float(np.mean(v)), 4) for k, v in row["after"].items()}
        per_file.append(row)
        n_total += n
        log.info("calibrate-eval: %s: %d eval windows, R@1 before %.3f, after %s", path.name, n, b[0],
                 ", ".join(f"k={k} {v:.3f}" for k, v in row["after"].items()))
    if n_total == 0:
        raise ConfigError(f"calibrate-eval: no evaluation windows in {len(files)} file(s)")
    pooled = after / n_total  # (R, K, 2)
    return {
        "unit": unit, "k0": k0, "beta": beta, "repeats": repeats, "seed": seed, "n_files": len(per_file),
        "n_eval_windows": n_total,
        "before": {"R@1": float(before[0] / n_total), "MRR": float(before[1] / n_total)},
        "after": {str(k): {"R@1": float(pooled[:, j, 0].mean()), "R@1_std": float(pooled[:, j, 0].std(ddof=1))
                           if repeats > 1 else 0.0, "MRR": float(pooled[:, j, 1].mean()),
                           "MRR_std": float(pooled[:, j, 1].std(ddof=1)) if repeats > 1 else 0.0}
                  for j, k in enumerate(ks)},
        "per_file": per_file,
    }


def reference_figure(ref_dir: str, protocol: str, data: Path, subjects: list[int] | None,
                     config: dict[str, Any]) -> dict[str, Any]:
    """The in-distribution model's EMG -> text figures on ``protocol``'s test split (these subjects)."""
    from myosem_rt.commands.eval import evaluate
    from myosem_rt.model import MyoSemModel
    from myosem_rt.protocols import split

    model = MyoSemModel.load(ref_dir)
    sp = split(protocol, data, **({"subjects": subjects} if subjects else {}))
    r = evaluate(model, ref_dir, sp.test_files, config, mask=sp.test_mask, n_resamples=0, episodes=1)
    e2t = r["emg_to_text"]
    return {"model": str(ref_dir), "protocol": protocol, "subjects": subjects, "n_windows": r["n_windows"],
            "R@1": e2t["R@1"], "MRR": e2t["MRR"], "chance_R@1": e2t["chance"]["R@1"]}


def recovered(entry: dict[str, Any], k: str) -> float | None:
    """(after - before) / (reference - before) for R@1, or None without a reference / drop."""
    ref = entry.get("reference")
    if not ref:
        return None
    drop = ref["R@1"] - entry["before"]["R@1"]
    return (entry["after"][k]["R@1"] - entry["before"]["R@1"]) / drop if drop > 0 else None


def _table(results: dict[str, Any]) -> list[str]:
    ks = sorted({k for e in results.values() for k in e["after"]}, key=int)
    lines = ["| protocol | in-distribution R@1 | before | " + " | ".join(f"k={k}" for k in ks)
             + " | share of drop recovered (largest k) |", "|" + "---|" * (4 + len(ks))]
    for name, e in results.items():
        ref = e.get("reference")
        cells = [name, f"{ref['R@1']:.3f}" if ref else "n/a", f"{e['before']['R@1']:.3f}"]
        cells += [f"{e['after'][k]['R@1']:.3f} ± {e['after'][k]['R@1_std']:.3f}" if k in e["after"] else "-"
                  for k in ks]
        share = recovered(e, max(e["after"], key=int))
        cells.append("n/a" if share is None else f"{share:.0%}" if share <= 1.005 else
                     f"all ({share:.0%}: above the reference)")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """docs/results/calibration.md: one row per protocol (rows labelled ``tuning...`` in a second table)."""
    main = {k: v for k, v in results.items() if not k.startswith("tuning")}
    tuning = {k: v for k, v in results.items() if k.startswith("tuning")}
    lines = ["# Per-user calibration (`myosem calibrate-eval`)", ""]
    if main:
        lines += _table(main)
    lines += ["", "EMG→text R@1 on the second half of every test recording's repetitions (recorded last); "
              "calibration examples drawn from the first half: k windows per class, or k whole trials per "
              "class where the row says so; ± = std over the draws; no calibration window is ever evaluated. "
              "Share of drop recovered = (after − before) / (in-distribution − before), at the largest k.",
              ""]
    if tuning:
        lines += ["Choice of k0 (tuning runs; the defaults above use config `calibration.k0`):", ""]
        lines += _table(tuning) + [""]
    for name, e in results.items():
        ref = e.get("reference")
        src = (f"`{ref['model']}` on {ref['protocol']} (subjects {ref['subjects'] or 'all'}, "
               f"{ref['n_windows']} windows)" if ref else "none available")
        k = max(e["after"], key=int)
        lines.append(f"- {name}: {e['n_eval_windows']} evaluated windows in {e['n_files']} recordings, "
                     f"{e['repeats']} draws, k0={e['k0']:g}, beta={e['beta']:g}; MRR before "
                     f"{e['before']['MRR']:.3f}, after k={k} {e['after'][k]['MRR']:.3f}; "
                     f"in-distribution reference: {src}. " + (f"{e['note']} " if e.get("note") else "")
                     + f"Command: `{e['command']}`")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    import shlex

    from myosem_rt.errors import ConfigError
    from myosem_rt.model import MyoSemModel
    from myosem_rt.protocols import options_from_args, split

    if args.json:
        check_new_file(args.json, "--json", force=args.force)
    if any(k < 1 for k in args.k) or args.repeats < 1:
        raise ConfigError("calibrate-eval: --k values and --repeats must be >= 1")
    if bool(args.reference) != bool(args.reference_protocol):
        raise ConfigError("calibrate-eval: --reference and --reference-protocol go together")
    model = MyoSemModel.load(args.model)
    options = options_from_args(args)
    sp = split(args.protocol, Path(args.data), **options)
    result = calibrate_eval(model, sp.test_files, config, mask=sp.test_mask, ks=args.k,
                            repeats=args.repeats, seed=args.seed, unit=args.unit,
                            k0=args.k0, beta=args.beta)
    result = {"protocol": args.protocol, "model": str(args.model), "data": str(args.data),
              "command": " ".join(shlex.quote(a) for a in _command(args)), "note": args.note, **result}
    if args.reference:
        subjects = sorted({int(s) for f in sp.test_files for s in _subjects_of(f)}) or None
        result["reference"] = reference_figure(args.reference, args.reference_protocol, Path(args.data),
                                               subjects, config)
    ks = sorted(result["after"], key=int)
    out = sys.stdout
    out.write(f"{args.protocol}: {result['n_eval_windows']} evaluated windows in {result['n_files']} "
              "recordings "
              f"({args.repeats} draws, k0={result['k0']:g}, beta={result['beta']:g})\n")
    if result.get("reference"):
        out.write(f"  in-distribution ({args.reference_protocol}): R@1 {result['reference']['R@1']:.3f}\n")
    out.write(f"  before calibration: R@1 {result['before']['R@1']:.3f}  MRR {result['before']['MRR']:.3f}\n")
    for k in ks:
        a = result["after"][k]
        share = recovered(result, k)
        out.write(f"  k={k:>2}: R@1 {a['R@1']:.3f} ± {a['R@1_std']:.3f}  "
                  f"MRR {a['MRR']:.3f} ± {a['MRR_std']:.3f}"
                  + (f"  ({share:.0%} of the drop recovered)" if share is not None else "") + "\n")
    if args.json:
        write_json(Path(args.json), result)
    if args.results:
        folder = Path(args.results)
        folder.mkdir(parents=True, exist_ok=True)
        store = folder / "calibration.json"
        merged = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
        key = args.label or (args.protocol if args.unit == "window" else f"{args.protocol} (k trials)")
        merged[key] = {k: v for k, v in result.items() if k != "per_file"}
        store.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        (folder / "calibration.md").write_text(markdown(merged), encoding="utf-8")
        log.info("calibrate-eval: %s and calibration.md updated", store)
    return 0


def _command(args: argparse.Namespace) -> list[str]:
    """The command line that reproduces this run (from the parsed options; --note left out)."""
    cmd = ["myosem", *(["--config", str(args.config)] if getattr(args, "config", None) else []),
           "calibrate-eval", "--model", str(args.model), "--data", str(args.data),
           "--protocol", args.protocol, "--k", *map(str, args.k), "--repeats", str(args.repeats)]
    for flag, value in (("--unit", None if args.unit == "window" else args.unit), ("--k0", args.k0),
                        ("--beta", args.beta),
                        ("--seed", args.seed or None), ("--max-files", args.max_files),
                        ("--reference", args.reference), ("--reference-protocol", args.reference_protocol),
                        ("--label", args.label), ("--results", args.results)):
        if value is not None:
            cmd += [flag, str(value)]
    for flag, values in (("--subjects", args.subjects), ("--test-subjects", args.test_subjects)):
        if values:
            cmd += [flag, *map(str, values)]
    return cmd


def _subjects_of(path: Path) -> list[int]:
    import re

    m = re.match(r"^S(\d+)_", path.name)
    return [int(m[1])] if m else []
