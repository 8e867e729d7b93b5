"""TCMR-format database readers, windows, label masks and mixed batches."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from inference_backend.train.datasets import (
    DatabaseError,
    DatasetSpec,
    MixedBatches,
    ShuffledBatches,
    WindowDataset,
    build_windows,
    find_db,
    load_db,
    normalise_keypoints,
    pixels_from_normalised,
    save_db_npz,
)
from inference_backend.train.joint_formats import convert_kps
from inference_backend.train.safe_pickle import UnsafePickleError, safe_load_pickle
from inference_backend.train.windows import (
    WindowSpec,
    centre_frame,
    split_into_chunks,
    stride_from_overlap,
)


def _names(*lengths: int) -> np.ndarray:
    return np.concatenate([np.array([f"v{i}_0"] * n) for i, n in enumerate(lengths)])


def _db_3dpw(lengths: tuple[int, ...], split: str = "train", seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    j2d = np.concatenate([rng.uniform(100, 500, (n, 14, 2)), np.ones((n, 14, 1))], axis=2)
    return {
        "vid_name": _names(*lengths),
        "frame_id": np.concatenate([np.arange(k) for k in lengths]),
        "features": rng.normal(size=(n, 2048)).astype(np.float32),
        "joints2D": j2d.astype(np.float32),
        "joints3D": rng.normal(size=(n, 49 if split == "train" else 14, 3)).astype(np.float32),
        "pose": rng.normal(size=(n, 72)).astype(np.float32),
        "shape": rng.normal(size=(n, 10)).astype(np.float32),
        "bbox": np.tile([300.0, 250.0, 200.0, 200.0], (n, 1)).astype(np.float32),
        "valid": np.ones(n, np.float32),
    }


# ---------------------------------------------------------------- windows
def test_stride_from_overlap_matches_tcmr() -> None:
    assert stride_from_overlap(16, 15 / 16) == 1
    assert stride_from_overlap(16, 0.0) == 16
    assert stride_from_overlap(16, 0.75) == 4


def test_eval_windows_centre_every_frame_once() -> None:
    names = _names(20, 10, 33)  # the 10-frame video is shorter than T: skipped
    wins = split_into_chunks(names, WindowSpec(16, 1, is_train=False))
    assert len(wins) == 20 + 33
    centres = [centre_frame(s, e, 16) for s, e in wins]
    assert centres == list(range(20)) + list(range(30, 63))
    # 8 leading and 7 trailing single-frame windows per video
    assert wins[:8] == [(i, i) for i in range(8)]
    assert wins[8] == (0, 15)
    assert wins[12] == (4, 19)
    assert wins[13:20] == [(i, i) for i in range(13, 20)]


def test_match_vibe_trims_to_vibe_chunks() -> None:
    wins = split_into_chunks(_names(20, 40), WindowSpec(16, 1, is_train=False, match_vibe=True))
    centres = [centre_frame(s, e, 16) for s, e in wins]
    # VIBE covers 16 of 20 and 32 of 40 frames
    assert centres == list(range(16)) + list(range(20, 52))


def test_train_windows_pad_with_real_windows_and_no_padding_at_stride_t() -> None:
    wins = split_into_chunks(_names(18), WindowSpec(16, 1, is_train=True))
    assert len(wins) == 3 + 8 + 7
    assert wins[:9] == [(0, 15)] * 9 and wins[-8:] == [(2, 17)] * 8
    assert split_into_chunks(_names(40), WindowSpec(16, 16, is_train=True)) == [(0, 15), (16, 31)]
    assert split_into_chunks(_names(40), WindowSpec(16, 4, is_train=False))[8] == (0, 15)


# ---------------------------------------------------------------- files
def test_joblib_db_loads_with_restricted_unpickler(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    db = _db_3dpw((20, 17))
    db["joints2D"] = np.asfortranarray(db["joints2D"])  # F-order arrays are stored transposed
    for compress, name in ((0, "3dpw_train_db.pt"), (3, "z.pt"), (("gzip", 3), "g.pt")):
        joblib.dump(db, tmp_path / name, compress=compress)
        out = load_db(tmp_path / name)
        assert sorted(out) == sorted(db)
        for key, value in db.items():
            np.testing.assert_array_equal(out[key], value)
    assert find_db(tmp_path, "3dpw", "train").name == "3dpw_train_db.pt"


def test_plain_pickle_db_loads(tmp_path: Path) -> None:
    db = _db_3dpw((17,))
    (tmp_path / "p.pt").write_bytes(pickle.dumps(db, protocol=2))
    np.testing.assert_array_equal(load_db(tmp_path / "p.pt")["features"], db["features"])


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_db_does_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil_train_db.pt"
    bad.write_bytes(pickle.dumps({"vid_name": np.array(["a"]), "features": _Payload(marker)}))
    with pytest.raises(UnsafePickleError, match="refusing"):
        safe_load_pickle(bad)
    with pytest.raises(DatabaseError, match="malicious"):
        load_db(bad)
    assert not marker.exists()
    # the same payload hidden in a joblib object array is refused too
    joblib = pytest.importorskip("joblib")
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(marker)
    joblib.dump({"vid_name": np.array(["a"]), "features": arr}, tmp_path / "j.pt")
    with pytest.raises(DatabaseError):
        load_db(tmp_path / "j.pt")
    assert not marker.exists()


def test_npz_roundtrip_atomic_and_errors(tmp_path: Path) -> None:
    db = _db_3dpw((17,))
    path = save_db_npz(tmp_path / "3dpw_val_db.npz", db)
    assert [p.name for p in tmp_path.iterdir()] == ["3dpw_val_db.npz"]  # no temp file left
    out = load_db(path)
    assert out["vid_name"].dtype.kind == "U"
    np.testing.assert_array_equal(out["pose"], db["pose"])
    with pytest.raises(DatabaseError, match="no database for mpii3d/val"):
        find_db(tmp_path, "mpii3d", "val")
    bad = dict(db)
    bad["pose"] = bad["pose"][:5]
    save_db_npz(tmp_path / "bad.npz", bad)
    with pytest.raises(DatabaseError, match="'pose' has 5 rows"):
        load_db(tmp_path / "bad.npz")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle at all")
    with pytest.raises(DatabaseError, match="cannot read"):
        load_db(tmp_path / "junk.pt")


# ---------------------------------------------------------------- labels
def test_keypoint_normalisation_uses_bbox_scale_1_2() -> None:
    bbox = np.array([[300.0, 250.0, 200.0, 100.0]])
    kp = np.array([[[300.0, 250.0, 1.0], [420.0, 310.0, 0.0], [180.0, 190.0, 1.0]]])
    n = normalise_keypoints(kp, bbox)
    np.testing.assert_allclose(n[0, :, :2], [[0, 0], [1, 1], [-1, -1]])
    np.testing.assert_allclose(n[0, :, 2], [1, 0, 1])
    np.testing.assert_allclose(pixels_from_normalised(n, bbox), kp, atol=1e-4)


def test_3dpw_train_and_test_labels_and_masks() -> None:
    db = _db_3dpw((20,))
    ds = WindowDataset(db, DatasetSpec("3dpw", "train"))
    item = ds[9]  # the first real window after 8 padding + ... (train padding duplicates)
    assert item["features"].shape == (16, 2048) and item["kp_2d"].shape == (16, 49, 3)
    assert item["kp_3d"].shape == (16, 49, 3) and item["theta"].shape == (16, 85)
    np.testing.assert_array_equal(item["w_3d"], 1) and np.testing.assert_array_equal(item["w_smpl"], 1)
    # common-14 2D labels land on spin indices 25..38, OpenPose joints have confidence 0
    assert np.all(item["kp_2d"][:, :25, 2] == 0) and np.all(item["kp_2d"][:, 25:39, 2] == 1)
    np.testing.assert_allclose(item["theta"][:, :3], [[1, 0, 0]] * 16)
    np.testing.assert_allclose(item["theta"][:, 3:75], db["pose"][item["index"]])
    test = WindowDataset(_db_3dpw((20,), "test"), DatasetSpec("3dpw", "test"), is_train=False)
    assert len(test) == 20 and test[0]["kp_3d"].shape == (16, 14, 3)
    assert np.all(test[0]["index"] == 0)  # single-frame padding window


def test_mpii3d_and_h36m_masks_and_eval_joints() -> None:
    rng = np.random.default_rng(1)
    n = 20
    base = {
        "vid_name": _names(n), "features": rng.normal(size=(n, 2048)).astype(np.float32),
        "joints2D": np.concatenate([rng.uniform(0, 500, (n, 49, 2)), np.ones((n, 49, 1))], 2),
        "joints3D": rng.normal(size=(n, 49, 3)), "bbox": np.tile([250.0, 250, 300, 300], (n, 1)),
    }
    mpii = WindowDataset(base, DatasetSpec("mpii3d"))
    assert mpii.w_3d.min() == 1 and mpii.w_smpl.max() == 0
    mpii_test = WindowDataset({**base, "valid_i": np.r_[np.zeros(3), np.ones(n - 3)][:, None]},
                              DatasetSpec("mpii3d", "val"), is_train=False)
    item = mpii_test[10]
    assert item["kp_3d"].shape == (16, 17, 3)
    np.testing.assert_allclose(item["kp_3d"][:, 14], base["joints3D"][item["index"], 39])  # pelvis
    assert mpii_test.valid[:3].sum() == 0
    h36m = {**base, "pose": rng.normal(size=(n, 72)), "shape": rng.normal(size=(n, 10))}
    assert WindowDataset(h36m, DatasetSpec("h36m")).w_smpl.min() == 1
    assert WindowDataset(h36m, DatasetSpec("h36m", has_smpl=False)).w_smpl.max() == 0
    h_test = WindowDataset(h36m, DatasetSpec("h36m", "test"), is_train=False)
    np.testing.assert_allclose(h_test.kp_3d, convert_kps(base["joints3D"], "spin", "common"))


def test_2d_only_dataset_has_no_3d_labels() -> None:
    rng = np.random.default_rng(2)
    n = 16
    db = {"vid_name": _names(n), "features": rng.normal(size=(n, 2048)).astype(np.float32),
          "joints2D": np.concatenate([rng.uniform(0, 500, (n, 49, 2)), np.ones((n, 49, 1))], 2),
          "bbox": np.tile([250.0, 250, 300, 300], (n, 1))}
    ds = WindowDataset(db, DatasetSpec("posetrack"))
    assert ds.w_3d.max() == 0 and ds.w_smpl.max() == 0 and np.all(ds.kp_3d == 0)


# ---------------------------------------------------------------- batches
def test_mixed_batches_19_plus_13_and_reshuffle(tmp_path: Path) -> None:
    save_db_npz(tmp_path / "3dpw_train_db.npz", _db_3dpw((20, 18)))
    pt = _db_3dpw((30,), seed=3)
    pt["joints2D"] = convert_kps(pt["joints2D"], "common", "spin")
    save_db_npz(tmp_path / "posetrack_train_db.npz", {k: pt[k] for k in
                ("vid_name", "frame_id", "features", "joints2D", "bbox")})
    d3 = build_windows(tmp_path, [DatasetSpec("3dpw")], seqlen=16, is_train=True)
    d2 = build_windows(tmp_path, [DatasetSpec("posetrack")], seqlen=16, is_train=True)
    assert len(d3) == 20 + 18 and len(d2) == 30
    mixed = MixedBatches(d2, d3, batch_size=32, ratio_2d=0.6, seed=1)
    batch, n2d = mixed.next()
    assert n2d == 19 and batch["features"].shape == (32, 16, 2048)
    assert np.all(batch["w_3d"][:19] == 0) and np.all(batch["w_3d"][19:] == 1)
    for _ in range(5):  # the 3D loader (38 windows) is exhausted and re-created on the way
        batch, n2d = mixed.next()
        assert batch["features"].shape[0] >= n2d
    state = mixed.state()
    ahead = [mixed.next()[0]["index"] for _ in range(3)]
    again = MixedBatches(d2, d3, batch_size=32, ratio_2d=0.6, seed=1)
    again.load_state(state)
    for expected in ahead:
        np.testing.assert_array_equal(again.next()[0]["index"], expected)


def test_shuffled_batches_split_the_global_batch_over_ranks() -> None:
    one = ShuffledBatches(10, 10, seed=4)
    full = one.next()
    assert sorted(full) == list(range(10))
    r0 = ShuffledBatches(10, 10, seed=4, rank=0, world=2).next()
    r1 = ShuffledBatches(10, 10, seed=4, rank=1, world=2).next()
    assert sorted(r0 + r1) == list(range(10)) and not set(r0) & set(r1)
    second = one.next()  # exhausted -> a new pass with a new permutation
    assert sorted(second) == list(range(10)) and second != full
    assert one.state() == [1, 10]


@pytest.mark.parametrize("world", [1, 2, 3, 4, 5, 8])
def test_mixed_batches_keep_the_global_19_13_mix_for_any_world_size(tmp_path: Path, world: int) -> None:
    """TCMR's batch 32 = 19 2D + 13 3D windows, globally, for any number of processes: the union
    of the ranks' shares is exactly the one-process batch, step after step (also across the end
    of a dataset pass, where the incomplete batch may leave a rank with nothing)."""
    save_db_npz(tmp_path / "3dpw_train_db.npz", _db_3dpw((20, 18)))
    pt = _db_3dpw((30,), seed=3)
    pt["joints2D"] = convert_kps(pt["joints2D"], "common", "spin")
    save_db_npz(tmp_path / "posetrack_train_db.npz", {k: pt[k] for k in
                ("vid_name", "frame_id", "features", "joints2D", "bbox")})
    d3 = build_windows(tmp_path, [DatasetSpec("3dpw")], seqlen=16, is_train=True)
    d2 = build_windows(tmp_path, [DatasetSpec("posetrack")], seqlen=16, is_train=True)
    single = MixedBatches(d2, d3, batch_size=32, ratio_2d=0.6, seed=1)
    ranks = [MixedBatches(d2, d3, batch_size=32, ratio_2d=0.6, seed=1, rank=r, world=world)
             for r in range(world)]
    for step in range(6):
        batch, n2d = single.next()
        shares = [m.next() for m in ranks]
        n2d_ranks = [n for _, n in shares]
        n3d_ranks = [len(b["features"]) - n for b, n in shares]
        assert sum(n2d_ranks) == n2d and sum(n3d_ranks) == len(batch["features"]) - n2d
        if step == 0:
            assert (n2d, len(batch["features"]) - n2d) == (19, 13)
            assert max(n2d_ranks) - min(n2d_ranks) <= 1 and max(n3d_ranks) - min(n3d_ranks) <= 1
        idx_2d = np.concatenate([b["index"][:n] for b, n in shares])
        idx_3d = np.concatenate([b["index"][n:] for b, n in shares])
        np.testing.assert_array_equal(np.sort(idx_2d, axis=0), np.sort(batch["index"][:n2d], axis=0))
        np.testing.assert_array_equal(np.sort(idx_3d, axis=0), np.sort(batch["index"][n2d:], axis=0))
        for b, n in shares:  # 2D-only windows first on every rank too
            assert np.all(b["w_3d"][:n] == 0) and np.all(b["w_3d"][n:] == 1)
    if world == 2:
        assert [(n, len(b["features"]) - n) for b, n in
                (MixedBatches(d2, d3, batch_size=32, ratio_2d=0.6, seed=1, rank=r, world=2).next()
                 for r in range(2))] == [(10, 7), (9, 6)]


# ---------------------------------------------------------------- precompute-features
def test_precompute_features_cli_on_sample_clip(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    clip = repo / "assets" / "sample" / "two_people_backlit.mp4"
    boxes = [{"frame": f, "bbox": [300.0 + 5 * f, 300.0, 120.0, 260.0], "person": "a"} for f in (0, 1, 2)]
    boxes.append({"frame": 1, "bbox": [700.0, 320.0, 100.0, 200.0], "person": "b"})
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="2")
    out = tmp_path / "clip_db.npz"
    run = subprocess.run(
        [sys.executable, "-m", "inference_backend", "precompute-features", str(clip), "--boxes",
         str(tmp_path / "boxes.json"), "--out", str(out), "--device", "cpu"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "RANDOMLY INITIALISED" in run.stderr
    db = load_db(out)
    assert db["features"].shape == (4, 2048) and db["features"].dtype == np.float32
    assert db["vid_name"].tolist() == ["two_people_backlit_a"] * 3 + ["two_people_backlit_b"]
    assert db["frame_id"].tolist() == [0, 1, 2, 1]
    np.testing.assert_allclose(db["bbox"][0], [300.0, 300.0, 260.0, 260.0])  # made square
    assert np.all(np.isfinite(db["features"])) and db["features"].std() > 0
    assert not np.allclose(db["features"][1], db["features"][3])  # different people
    # a malformed box file is a usage error, nothing written
    (tmp_path / "bad.csv").write_text("frame,cx\n0,1\n")
    run = subprocess.run(
        [sys.executable, "-m", "inference_backend", "precompute-features", str(clip), "--boxes",
         str(tmp_path / "bad.csv"), "--out", str(tmp_path / "bad.npz")],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 2 and "frame,cx,cy,w,h" in run.stderr
    assert not (tmp_path / "bad.npz").exists()


# ---------------------------------------------------------------- synthetic database
def test_synthetic_db_loads_through_reader_with_consistent_labels(tmp_path: Path) -> None:
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _train_helpers import write_tiny_db

    from inference_backend.train.losses import batch_rodrigues
    from inference_backend.train.model_glue import make_body

    db_dir = write_tiny_db(tmp_path, sequences=2, frames=20)
    train = build_windows(db_dir, [DatasetSpec("3dpw")], seqlen=16, is_train=True)
    assert len(train) == 2 * 20  # stride 1 + 15 padding windows per video
    part = train.parts[0]
    body, j_reg = make_body(db_dir / "smpl", torch.device("cpu"))
    db = part.db
    rot = batch_rodrigues(torch.from_numpy(db["pose"]).reshape(-1, 3)).reshape(-1, 24, 3, 3)
    verts, joints = body(rot, torch.from_numpy(db["shape"]))
    # 3D labels are the body model's 49 joints for the stored pose and shape
    np.testing.assert_allclose(part.kp_3d, joints.numpy(), atol=1e-5)
    # 2D labels (after TCMR's normalisation) are a weak-perspective view of those joints:
    # x = s (X + tx) per frame, fitted by least squares, residual ~ 0 (perspective ~ 1e-3)
    kp = part.kp_2d[:, 25:37]  # visible common joints (neck/headtop have confidence 0)
    assert np.all(kp[..., 2] == 1) and np.all(part.kp_2d[:, 37:39, 2] == 0)
    x3 = joints.numpy()[:, 25:37, 0]
    a = np.stack([x3, np.ones_like(x3)], axis=-1)
    for i in range(0, len(x3), 7):
        sol, *_ = np.linalg.lstsq(a[i], kp[i, :, 0], rcond=None)
        assert np.abs(a[i] @ sol - kp[i, :, 0]).max() < 0.02 and 0.7 < sol[0] < 1.2
    # evaluation labels: J_regressor_h36m on the mesh, common-14 order
    test = load_db(db_dir / "3dpw_test_db.npz")
    assert test["joints3D"].shape[1:] == (14, 3) and j_reg is not None
    two_d = build_windows(db_dir, [DatasetSpec("posetrack")], seqlen=16, is_train=True)
    assert two_d.parts[0].w_3d.max() == 0 and two_d.parts[0].kp_2d.shape[1] == 49


def test_features_from_image_folder_with_csv_boxes(tmp_path: Path) -> None:
    import cv2
    import torch

    from inference_backend.models.backbone import ResNet50Backbone
    from inference_backend.train.features import crop_224, extract_features, read_boxes

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i:04d}.png"), np.ascontiguousarray(img[:, :, ::-1]))
    (tmp_path / "b.csv").write_text("frame,cx,cy,w,h,person\n0,160,120,80,100,p\n1,160,120,80,100,p\n")
    boxes = read_boxes(tmp_path / "b.csv")
    torch.manual_seed(0)
    db = extract_features(frames, boxes, ResNet50Backbone(), torch.device("cpu"), scale=1.2)
    assert db["vid_name"].tolist() == ["frames_p", "frames_p"] and db["img_name"].tolist() == ["0000.png", "0001.png"]
    np.testing.assert_allclose(db["features"][0], db["features"][1], rtol=1e-5, atol=1e-6)  # same image
    # the crop: a square of side 1.2 * max(w, h) = 120 px centred on the box, scaled to 224
    crop = crop_224(img, 160.0, 120.0, 120.0)
    assert crop.shape == (224, 224, 3)
    np.testing.assert_array_equal(crop[112, 112], img[120, 160])
