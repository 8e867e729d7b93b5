"""Batch capture of many videos as Ray tasks (``python -m inference_backend batch``).

inputs (which videos, where each output goes) -> manifest (what happened, resume decisions)
-> runtime (the Ray runtime: local or a cluster) -> scheduler (submit, retry, cancel) with
task (one video through ``pipeline.run_capture`` inside a Ray worker) and display (progress).
Ray is imported only by ``runtime``, ``scheduler`` and ``task`` code that runs it.
"""
