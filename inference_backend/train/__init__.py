"""Training and evaluation of STR with TCMR's recipe and protocol.

Modules (each one job): ``safe_pickle`` (restricted unpickler for joblib/VIBE/TCMR ``.pt``
databases), ``joint_formats`` (joint orders, ``convert_kps``), ``windows`` (TCMR's
``split_into_chunks``), ``datasets`` (database readers, windowed samples, label masks, mixed
2D/3D batches), ``losses`` (TCMR loss), ``smpl_head`` (SMPL joints + SPIN projection of STR
outputs), ``metrics`` (MPJPE, PA-MPJPE, MPVPE, accel error), ``evaluation`` (the TCMR evaluation
protocol over a database), ``report_table`` (paper-style table), ``train_config`` (frozen config
from JSON), ``trainer`` (loop, checkpoints, resume, AMP, DDP), ``distributed`` (torchrun
helpers), ``logging_utils`` + ``tf_events`` (progress bar, JSONL/CSV, TensorBoard files),
``synthetic_db`` (a consistent synthetic database), ``features`` (SPIN feature precomputation),
``model_glue`` (STRNet / checkpoint / SMPL body adapters). Nothing is imported eagerly here.
"""
