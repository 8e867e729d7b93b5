"""SMPL model loading: synthetic SMPL-format .npz and .pkl (chumpy + scipy.sparse layout),
shape blending, and a malicious pickle that must not execute."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from str_blender_addon.core.smpl_model import (
    SmplLoadError,
    find_model_file,
    load_pickle_restricted,
    load_smpl_model,
)

V, F_ = 6890, 13776


def synthetic_smpl_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays with SMPL's exact shapes; J_regressor averages 20 vertices per joint."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(-0.3, 0.3, (V, 3))
    j_reg = np.zeros((24, V))
    for j in range(24):
        j_reg[j, rng.choice(V, 20, replace=False)] = 1.0 / 20
    weights = rng.uniform(0, 1, (V, 24))
    weights /= weights.sum(1, keepdims=True)
    return {
        "v_template": v, "shapedirs": 0.01 * rng.standard_normal((V, 3, 10)),
        "posedirs": 0.001 * rng.standard_normal((V, 3, 207)), "J_regressor": j_reg,
        "weights": weights,
        "kintree_table": np.array([[4294967295] + [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12,
                                                   13, 14, 16, 17, 18, 19, 20, 21],
                                   list(range(24))], np.int64),
        "f": rng.integers(0, V, (F_, 3)).astype(np.uint32),
    }


def _fake_class(module: str, name: str, **attrs) -> type:
    cls = type(name, (), attrs)
    cls.__module__, cls.__qualname__ = module, name
    return cls


def _csc_state(dense: np.ndarray) -> dict:
    """scipy's pickled csc_matrix state (used when scipy itself is not installed)."""
    cols = [np.nonzero(dense[:, c])[0] for c in range(dense.shape[1])]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])])
    indices = np.concatenate(cols)
    data = dense[indices, np.repeat(np.arange(dense.shape[1]), np.diff(indptr))]
    return {"_shape": dense.shape, "indices": indices.astype(np.int32),
            "indptr": indptr.astype(np.int32), "data": data, "maxprint": 50, "format": "csc"}


def write_smpl_pkl(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Pickle in the official layout: chumpy Ch objects and a scipy csc J_regressor.

    Throw-away ``chumpy.ch`` (and, without scipy, ``scipy.sparse._csc``) modules are registered
    only while pickling, so the pickle names the same classes as the real files; the loader
    must need neither package. With scipy installed, a genuine csc_matrix is pickled.
    """
    fakes: dict[str, types.ModuleType] = {}

    def fake_module(name: str) -> types.ModuleType:
        module = types.ModuleType(name)
        fakes[name] = module
        return module

    ch_cls = _fake_class("chumpy.ch", "Ch")
    fake_module("chumpy")
    fake_module("chumpy.ch").Ch = ch_cls

    def ch(x):
        obj = ch_cls()
        obj.__dict__.update(x=x, _dirty_vars=set())
        return obj

    try:
        import scipy.sparse

        j_reg = scipy.sparse.csc_matrix(arrays["J_regressor"])
    except ImportError:
        csc_cls = _fake_class("scipy.sparse._csc", "csc_matrix")
        for name in ("scipy", "scipy.sparse"):
            fake_module(name)
        fake_module("scipy.sparse._csc").csc_matrix = csc_cls
        j_reg = csc_cls()
        j_reg.__dict__.update(_csc_state(arrays["J_regressor"]))
    saved = {k: sys.modules.get(k) for k in fakes}
    sys.modules.update(fakes)
    try:
        data = {
            "v_template": ch(arrays["v_template"]), "shapedirs": ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"], "J_regressor": j_reg,
            "weights": ch(arrays["weights"]), "kintree_table": arrays["kintree_table"],
            "f": arrays["f"], "bs_type": "lrotmin", "bs_style": "lbs",
        }
        path.write_bytes(pickle.dumps(data, protocol=2))
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return path


def test_npz_model_shapes_and_blending(tmp_path):
    arrays = synthetic_smpl_arrays()
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    model = load_smpl_model(tmp_path)
    betas = np.linspace(-1, 1, 10)
    v = model.shaped_vertices(betas)
    assert v.shape == (V, 3) and model.faces.shape == (F_, 3)
    assert np.allclose(v, arrays["v_template"] + arrays["shapedirs"] @ betas)
    assert np.allclose(model.rest_joints(betas), arrays["J_regressor"] @ v)
    assert np.allclose(model.rest_joints(), arrays["J_regressor"] @ arrays["v_template"])


def test_pkl_with_chumpy_and_sparse_loads_without_them(tmp_path):
    arrays = synthetic_smpl_arrays(1)
    write_smpl_pkl(tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", arrays)
    assert "chumpy" not in sys.modules
    model = load_smpl_model(tmp_path, "neutral")
    assert np.array_equal(model.v_template, arrays["v_template"])
    assert np.array_equal(model.j_regressor, arrays["J_regressor"])
    assert np.array_equal(model.weights, arrays["weights"])
    assert np.array_equal(model.faces, arrays["f"].astype(np.int64))


def test_gender_lookup_and_fallback(tmp_path):
    arrays = synthetic_smpl_arrays()
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    assert find_model_file(tmp_path, "female").name == "SMPL_NEUTRAL.npz"
    np.savez(tmp_path / "SMPL_FEMALE.npz", **arrays)
    assert find_model_file(tmp_path, "female").name == "SMPL_FEMALE.npz"
    with pytest.raises(SmplLoadError, match="folder not found"):
        find_model_file(tmp_path / "missing", "male")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SmplLoadError, match="no SMPL model"):
        find_model_file(tmp_path / "empty", "male")


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "SMPL_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=2))
    with pytest.raises(SmplLoadError, match="refused"):
        load_smpl_model(tmp_path)
    assert not marker.exists()
    # builtins.eval via a plain REDUCE is refused too
    evil.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(SmplLoadError, match="builtins.eval"):
        load_pickle_restricted(evil)


def test_bad_files_give_clear_errors(tmp_path):
    bad = synthetic_smpl_arrays()
    bad["weights"] = bad["weights"][:, :10]
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **bad)
    with pytest.raises(SmplLoadError, match="weights"):
        load_smpl_model(tmp_path)
    (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SmplLoadError, match="readable"):
        load_smpl_model(tmp_path)
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", v_template=np.array([object()], dtype=object))
    with pytest.raises(SmplLoadError, match="pickled"):
        load_smpl_model(tmp_path)
