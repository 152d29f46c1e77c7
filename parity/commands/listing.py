"""`list` and `diff-profiles`: what the harness knows (scenarios, tiers, profiles, stages, faults)."""
from __future__ import annotations

import json

from .. import jsonsafe
from ..faults import FAULTS, TRAINING_FAULTS
from ..profiles import PROFILES, diff_markdown, diff_rows, get_profile
from ..records import STAGES
from ..scenarios import (SCENARIO_TIERS, SCENARIOS, SWEEPS, TIER_SCENARIOS, TIERS, resolve_config,
                         tier_scenarios)
from .common import EXIT_OK


def _learning_held(sizes) -> str:
    """The "learning held" column: whether the tier holds the learning checks, and
    legacy_ratio with them."""
    if not (sizes.trains and sizes.verify_training and sizes.verify_learning):
        return "no"
    return "yes" if sizes.verify_legacy_ratio else "yes (legacy_ratio reported)"


def _cmd_list(args) -> int:
    if args.json:
        doc = {
            "scenarios": {n: {"description": s.description, "gridsize": s.gridsize,
                              "probe": s.probe, "probe_scale": s.probe_scale,
                              "probe_mask": s.probe_mask, "nphotons": s.nphotons, "N": s.N}
                          for n, s in SCENARIOS.items()},
            "sweeps": {k: list(v) for k, v in SWEEPS.items()},
            "tiers": {f"{t}/gs{gs}": vars(sz) for (t, gs), sz in TIERS.items()},
            "scenario_tiers": {f"{t}/{n}": vars(sz) for (t, n), sz in SCENARIO_TIERS.items()},
            "profiles": {n: p.description for n, p in PROFILES.items()},
            "stages": list(STAGES),
            "tier_scenarios": {t: list(tier_scenarios(t)) for t in TIER_SCENARIOS},
            "faults": {n: {"stage": st, "what": w} for n, (st, w) in FAULTS.items()},
            "training_faults": {n: {"stage": st, "what": w}
                                for n, (st, w) in TRAINING_FAULTS.items()},
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print("## Scenarios\n")
    print("| name | gridsize | probe | probe_scale | mask | nphotons | description |")
    print("|---|---|---|---|---|---|---|")
    for n, s in SCENARIOS.items():
        print(f"| {n} | {s.gridsize} | {s.probe} | {s.probe_scale:g} | {s.probe_mask} | "
              f"{s.nphotons:.0e} | {s.description} |")
    print("\n## Sweeps\n")
    for k, v in SWEEPS.items():
        print(f"- {k}: {', '.join(v)}")
    print("\n## Tiers\n")
    print("| tier | gridsize | object | images | groups | batch | nepochs | width (nfs x base) "
          "| split | trains | learning held | scenarios |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [(t, gs, sz, [n for n in tier_scenarios(t) if SCENARIOS[n].gridsize == gs
                         and (t, n) not in SCENARIO_TIERS]) for (t, gs), sz in TIERS.items()]
    rows += [(t, SCENARIOS[n].gridsize, sz, [n]) for (t, n), sz in SCENARIO_TIERS.items()]
    for t, gs, sz, names in rows:
        print(f"| {t} | {gs} | {sz.object_size} | {sz.n_images} | {sz.n_groups} | "
              f"{sz.batch_size} | {sz.nepochs if sz.nepochs is not None else 'profile'} | "
              f"{sz.n_filters_scale} x {sz.base_filters} | {sz.split} | {sz.trains} | "
              f"{_learning_held(sz)} | "
              f"{', '.join(names) if names else '-'} |")
    print("\n## Profiles\n")
    for n, p in PROFILES.items():
        print(f"- {n}: {p.description}")
    print("\n## Stages\n")
    print(", ".join(STAGES))
    print("\n## Test hooks (PARITY_FAULT)\n")
    for n, (st, w) in FAULTS.items():
        print(f"- {n} (fails at {st}): {w}")
    for n, (st, w) in TRAINING_FAULTS.items():
        print(f"- {n} (training tiers only, fails at {st}): {w}")
    return EXIT_OK


def register_list(sub) -> None:
    p = sub.add_parser("list", help="scenarios, sweeps, tiers, profiles, stages",
                       description="List the built-in scenarios, sweeps, size tiers, profiles, "
                                   "stages and fault-injection test hooks.")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=_cmd_list)


def _cmd_diff_profiles(args) -> int:
    a, b = get_profile(args.a), get_profile(args.b)
    if args.scenario:
        ca = resolve_config(args.scenario, a, args.tier)
        cb = resolve_config(args.scenario, b, args.tier)
        rows = diff_rows(a, b, config_a=ca, config_b=cb)
    else:
        rows = diff_rows(a, b)
    if args.json:
        print(jsonsafe.dumps({"a": a.name, "b": b.name, "scenario": args.scenario,
                              "tier": args.tier if args.scenario else None, "differences": rows}),
              end="")
    else:
        where = f" for scenario {args.scenario} ({args.tier})" if args.scenario else ""
        print(f"# {a.name} vs {b.name}{where}: {len(rows)} differing parameters\n")
        print(diff_markdown(rows, a.name, b.name), end="")
    return EXIT_OK


def register_diff_profiles(sub) -> None:
    p = sub.add_parser("diff-profiles", help="every parameter that differs between two profiles",
                       description="Side-by-side table of every configuration parameter that "
                                   "differs between two profiles (default legacy vs current). "
                                   "With --scenario, compares the resolved replay configs "
                                   "(scenario and tier settings override the profile's).")
    p.add_argument("a", nargs="?", default="legacy", help="first profile (default legacy)")
    p.add_argument("b", nargs="?", default="current", help="second profile (default current)")
    p.add_argument("--scenario", help="resolve both profiles for this scenario")
    p.add_argument("--tier", default="tiny", help="size tier with --scenario (default tiny)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=_cmd_diff_profiles)
