"""Small simulated datasets for the model/training/inference tests (not a test module)."""
from ptycho.config import ModelConfig, TrainingConfig
from ptycho.objects import lines_object
from ptycho.probe import make_probe, probe_mask
from ptycho.simulate import simulate_scan_dataset
from ptycho.train import prepare_data


def small_setup(*, N=16, gridsize=1, n_points=48, n_groups=24, object_size=None,
                probe_source="ideal", nphotons=1e9, seed=1, **config_kw):
    """(raw, grouped, container, plan, config) for a lines object scanned at random positions.

    config_kw: TrainingConfig fields or 'model.<field>' ModelConfig fields.
    """
    model_kw = {k.split(".", 1)[1]: v for k, v in config_kw.items() if k.startswith("model.")}
    train_kw = {k: v for k, v in config_kw.items() if not k.startswith("model.")}
    model_kw.setdefault("n_filters_scale", 1)
    mc = ModelConfig(N=N, gridsize=gridsize, **model_kw)
    train_kw.setdefault("batch_size", 8)
    train_kw.setdefault("nepochs", 1)
    config = TrainingConfig(model=mc, nphotons=nphotons, n_groups=n_groups, seed=seed, **train_kw)
    probe = make_probe(mc, probe_source)
    size = object_size or 4 * N
    obj = lines_object(size, seed=seed)
    raw = simulate_scan_dataset(obj, probe, nphotons=nphotons, seed=seed, scan="random",
                                n_points=n_points,
                                mask=probe_mask(N) if mc.probe_mask else None)
    grouped, container, plan = prepare_data(raw, config)
    return raw, grouped, container, plan, config
